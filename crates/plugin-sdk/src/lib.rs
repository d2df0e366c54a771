//! Write a gongjian street matching plugin in Rust.
//!
//! A street's matching rules decide which volunteers and resources are offered a resident's
//! demand, and in what order. The host hands a plugin a [`Request`] — the demand (without
//! personal data), the candidates it has already filtered to the street, and the context —
//! and the plugin returns the candidates it ranks, best first, each with a score and a short
//! reason. A candidate left out is not offered the order.
//!
//! Since contract 1.1.0 a plugin may also triage a new demand ([`Triage`]: correct its
//! category, urgency or tags) and award the points a completed order earns ([`Points`]). A
//! plugin that only ranks implements [`Plugin`] alone, and the host then makes no call for
//! triage or points: it keeps the demand as filed and awards its default points.
//!
//! Implement [`Plugin`] and export it with [`export_plugin!`]; build with
//! `cargo build --release --target wasm32-unknown-unknown` and upload the `.wasm` file. Link
//! with a small stack and enough initial memory for the heap (`-C link-arg=-zstack-size=131072
//! -C link-arg=--initial-memory=524288`, as the repository's `plugins/.cargo/config.toml`
//! does): the SDK's allocator starts the heap there, and a call that never grows memory costs
//! the host about half as much. The
//! contract is `wit/matcher.wit` in this crate ([`CONTRACT_VERSION`]); plugins in other
//! languages implement that file.
//!
//! ```
//! use gongjian_plugin_sdk::{best_first, Plugin, Ranked, Request};
//!
//! /// Volunteers of the demand's own grid first, then the rest, among those with room.
//! struct SameGridFirst;
//!
//! impl Plugin for SameGridFirst {
//!     fn rank(req: &Request<'_>) -> Result<Vec<Ranked>, String> {
//!         let grid = req.demand().grid;
//!         let ranked = req
//!             .candidates()
//!             .filter(|c| c.has_room())
//!             .map(|c| match c.serves_grid(grid) {
//!                 true => Ranked::new(&c, 2.0, "同网格"),
//!                 false => Ranked::new(&c, 1.0, "其他网格"),
//!             })
//!             .collect();
//!         Ok(best_first(ranked, req.max_results()))
//!     }
//! }
//!
//! gongjian_plugin_sdk::export_plugin!(SameGridFirst);
//!
//! // Try it on a request, as a test would.
//! use gongjian_plugin_sdk::builder::{CandidateSpec, DemandSpec, RequestBuilder};
//! let demand = DemandSpec { grid: "g1".into(), ..DemandSpec::default() };
//! let mut b = RequestBuilder::new("shixi", &demand, "{}", 0, 10);
//! b.push(&CandidateSpec { home_grid: "g2".into(), ..CandidateSpec::default() });
//! b.push(&CandidateSpec { home_grid: "g1".into(), ..CandidateSpec::default() });
//! let ranked = SameGridFirst::rank(&b.finish().view()).unwrap();
//! assert_eq!(ranked[0].candidate, 1);
//! ```
#![deny(missing_docs)]

pub mod builder;
pub mod hooks;
mod request;
pub mod rules;

pub use hooks::{Award, Category, PointsRequest, TriageDecision, TriageRequest};
pub use request::{
    best_first, Candidate, CandidateKind, Demand, MalformedRequest, Ranked, Request, Urgency,
    CANDIDATE_SIZE, CONTRACT_VERSION,
};

/// A street's ranking rule, the one thing every plugin does.
pub trait Plugin {
    /// Ranks the request's candidates, best first. Leave out a candidate to exclude it. An
    /// error is reported against the plugin version, and the host falls back to its default
    /// rule for this match.
    fn rank(request: &Request<'_>) -> Result<Vec<Ranked>, String>;
}

/// Triage of a new demand (contract 1.1.0). Implement it beside [`Plugin`] and the host calls
/// it on every filing; [`export_plugin!`] tells the host whether the plugin has it, so a plugin
/// without it costs a filing no call.
pub trait Triage {
    /// A correction of the demand's category, urgency or tags, or `None` to keep it as filed.
    /// An error keeps it as filed and is reported against the plugin version.
    fn triage(request: &TriageRequest) -> Result<Option<TriageDecision>, String>;
}

/// The points a completed order earns (contract 1.1.0). Implement it beside [`Plugin`] and the
/// host calls it on every completion; without it the host's default applies, one point per
/// hour, and no call is made.
pub trait Points {
    /// The points, or `None` for the host's default. An error leaves the default and is
    /// reported against the plugin version.
    fn points(request: &PointsRequest) -> Result<Option<Award>, String>;
}

/// Which of the optional hooks a plugin implements, told apart in [`export_plugin!`] where
/// the plugin's type is known: an inherent function or constant of [`Probe`] (there only when
/// the plugin implements the hook) is found before the fallback traits' defaults. Not part of
/// the API.
#[doc(hidden)]
pub mod __hooks {
    use std::marker::PhantomData;

    use crate::{Award, Points, PointsRequest, Triage, TriageDecision, TriageRequest};

    /// The custom section in which a plugin built with the SDK names its hooks: a format
    /// version ([`FORMAT`]), then a byte of flags, [`TRIAGE`] and [`POINTS`].
    pub const SECTION: &str = "gongjian:hooks";
    /// The section's format, its first byte.
    pub const FORMAT: u8 = 1;
    /// The flag of a plugin that implements [`Triage`].
    pub const TRIAGE: u8 = 1;
    /// The flag of a plugin that implements [`Points`].
    pub const POINTS: u8 = 2;

    /// Stands for the plugin `P` in the export glue.
    pub struct Probe<P>(PhantomData<P>);

    /// What a plugin without [`Triage`] answers: no opinion.
    pub trait NoTriage {
        const TRIAGES: bool = false;
        fn triage(_: &TriageRequest) -> Result<Option<TriageDecision>, String> {
            Ok(None)
        }
    }

    /// What a plugin without [`Points`] answers: the host's default.
    pub trait NoPoints {
        const POINTS: bool = false;
        fn points(_: &PointsRequest) -> Result<Option<Award>, String> {
            Ok(None)
        }
    }

    impl<P> NoTriage for Probe<P> {}
    impl<P> NoPoints for Probe<P> {}

    impl<P: Triage> Probe<P> {
        pub const TRIAGES: bool = true;
        pub fn triage(request: &TriageRequest) -> Result<Option<TriageDecision>, String> {
            P::triage(request)
        }
    }

    impl<P: Points> Probe<P> {
        pub const POINTS: bool = true;
        pub fn points(request: &PointsRequest) -> Result<Option<Award>, String> {
            P::points(request)
        }
    }

    /// The section's bytes for a plugin with the given hooks.
    pub const fn section(triages: bool, points: bool) -> [u8; 2] {
        [
            FORMAT,
            if triages { TRIAGE } else { 0 } | if points { POINTS } else { 0 },
        ]
    }
}

/// The plugin's heap: dlmalloc, as the standard library has on `wasm32-unknown-unknown`, but
/// starting in the memory the module declares beyond its data (`__heap_base` to `__heap_end`)
/// before it grows any. The host gives every call a fresh instance and must re-protect the
/// pages a call grew, which costs system calls; a plugin built with enough initial memory
/// (`-C link-arg=--initial-memory=...`, as `plugins/.cargo/config.toml` does) never grows for
/// a usual request. Turn off the `allocator` feature to bring another global allocator.
#[cfg(all(target_arch = "wasm32", feature = "allocator"))]
#[global_allocator]
static HEAP: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// The bindings generated from `wit/matcher.wit` (world `plugin`). Used by [`export_plugin!`].
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "gongjian_plugin_sdk::bindings",
    });
}

/// Glue between the generated bindings and [`Plugin`]; not part of the API.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private {
    use crate::bindings::exports::gongjian::matcher::{
        packed_ranking as wit_packed, points as wit_points, ranking as wit, triage as wit_triage,
    };
    use crate::{
        Award, CandidateKind, Category, Demand, Plugin, PointsRequest, Request, TriageDecision,
        TriageRequest, Urgency,
    };

    /// A hook's function, as [`crate::__hooks::Probe`] resolves it for the exported plugin.
    pub type TriageFn = fn(&TriageRequest) -> Result<Option<TriageDecision>, String>;
    /// See [`TriageFn`].
    pub type PointsFn = fn(&PointsRequest) -> Result<Option<Award>, String>;

    fn urgency(u: wit::Urgency) -> Urgency {
        match u {
            wit::Urgency::Low => Urgency::Low,
            wit::Urgency::Normal => Urgency::Normal,
            wit::Urgency::High => Urgency::High,
            wit::Urgency::Critical => Urgency::Critical,
        }
    }

    fn wit_urgency(u: Urgency) -> wit::Urgency {
        match u {
            Urgency::Low => wit::Urgency::Low,
            Urgency::Normal => wit::Urgency::Normal,
            Urgency::High => wit::Urgency::High,
            Urgency::Critical => wit::Urgency::Critical,
        }
    }

    fn demand(d: &wit::Demand) -> Demand<'_> {
        Demand {
            category: d.category,
            category_label: d.category_label,
            tags: &d.tags,
            urgency: urgency(d.urgency),
            grid: d.grid,
            community: d.community,
            window_start: d.window_start,
            window_end: d.window_end,
            filed_at: d.filed_at,
        }
    }

    fn answer<P: Plugin>(req: &Request<'_>) -> Result<Vec<wit::Ranked>, String> {
        Ok(P::rank(req)?
            .into_iter()
            .map(|x| wit::Ranked {
                candidate: x.candidate,
                score: x.score,
                reason: x.reason,
            })
            .collect())
    }

    pub fn run<P: Plugin>(r: wit::RankRequest) -> Result<Vec<wit::Ranked>, String> {
        let req = Request::new(
            &r.strings,
            r.street,
            demand(&r.demand),
            r.candidate_count,
            &r.candidates,
            &r.labels,
            &r.config,
            r.now,
            r.max_results,
        )
        .map_err(|e| e.to_string())?;
        answer::<P>(&req)
    }

    pub fn run_packed<P: Plugin>(r: wit_packed::PackedRequest) -> Result<Vec<wit::Ranked>, String> {
        let req = Request::new_packed(
            &r.text,
            &r.text_ends,
            r.street,
            demand(&r.demand),
            r.candidate_count,
            &r.candidates,
            &r.labels,
            &r.config,
            r.now,
            r.max_results,
        )
        .map_err(|e| e.to_string())?;
        answer::<P>(&req)
    }

    pub fn triage(
        r: wit_triage::TriageRequest,
        hook: TriageFn,
    ) -> Result<Option<wit_triage::TriageDecision>, String> {
        let req = TriageRequest {
            street: r.street,
            category: r.category,
            category_label: r.category_label,
            tags: r.tags,
            urgency: urgency(r.urgency),
            channel: r.channel,
            description: r.description,
            grid: r.grid,
            community: r.community,
            window_start: r.window_start,
            window_end: r.window_end,
            filed_at: r.filed_at,
            categories: r
                .categories
                .into_iter()
                .map(|c| Category {
                    code: c.code,
                    label: c.label,
                })
                .collect(),
            config: r.config,
            now: r.now,
        };
        Ok(
            hook(&req)?.map(|d: TriageDecision| wit_triage::TriageDecision {
                category: d.category,
                urgency: d.urgency.map(wit_urgency),
                tags: d.tags,
                note: d.note,
            }),
        )
    }

    pub fn points(
        r: wit_points::PointsRequest,
        hook: PointsFn,
    ) -> Result<Option<wit_points::Award>, String> {
        let req = PointsRequest {
            street: r.street,
            category: r.category,
            urgency: urgency(r.urgency),
            assignee_kind: match r.assignee_kind {
                wit_points::AssigneeKind::Volunteer => CandidateKind::Volunteer,
                wit_points::AssigneeKind::Resource => CandidateKind::Resource,
            },
            service_minutes: r.service_minutes,
            filed_at: r.filed_at,
            accepted_at: r.accepted_at,
            completed_at: r.completed_at,
            complete_by: r.complete_by,
            escalations: r.escalations,
            completed_before: r.completed_before,
            config: r.config,
        };
        Ok(hook(&req)?.map(|a: Award| wit_points::Award {
            points: a.points,
            reason: a.reason,
        }))
    }
}

/// Exports a [`Plugin`] as the plugin's implementation of the contract (world `plugin`:
/// ranking, on a list of strings and on a packed request, triage and points). Triage and
/// points are the plugin's [`Triage`] and [`Points`] where it implements them, and no opinion
/// where it does not; a custom section tells the host which it implements, so the host calls
/// only those. Use it once, at the root of the plugin crate. It does nothing when not building
/// for WebAssembly, so the same crate can be tested natively.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[allow(unused_imports)]
            use $crate::__hooks::{NoPoints as _, NoTriage as _};
            use $crate::bindings::exports::gongjian::matcher::{
                packed_ranking, points, ranking, triage,
            };
            type GongjianHooks = $crate::__hooks::Probe<$plugin>;
            #[used]
            #[link_section = "gongjian:hooks"]
            static GONGJIAN_HOOKS: [u8; 2] =
                $crate::__hooks::section(GongjianHooks::TRIAGES, GongjianHooks::POINTS);
            struct GongjianExport;
            impl ranking::Guest for GongjianExport {
                fn rank(
                    request: ranking::RankRequest,
                ) -> ::core::result::Result<::std::vec::Vec<ranking::Ranked>, ::std::string::String>
                {
                    $crate::__private::run::<$plugin>(request)
                }
            }
            impl packed_ranking::Guest for GongjianExport {
                fn rank(
                    request: packed_ranking::PackedRequest,
                ) -> ::core::result::Result<::std::vec::Vec<ranking::Ranked>, ::std::string::String>
                {
                    $crate::__private::run_packed::<$plugin>(request)
                }
            }
            impl triage::Guest for GongjianExport {
                fn triage(
                    request: triage::TriageRequest,
                ) -> ::core::result::Result<
                    ::core::option::Option<triage::TriageDecision>,
                    ::std::string::String,
                > {
                    $crate::__private::triage(request, GongjianHooks::triage)
                }
            }
            impl points::Guest for GongjianExport {
                fn points(
                    request: points::PointsRequest,
                ) -> ::core::result::Result<
                    ::core::option::Option<points::Award>,
                    ::std::string::String,
                > {
                    $crate::__private::points(request, GongjianHooks::points)
                }
            }
    $crate::bindings::__export_plugin!(GongjianExport with_types_in $crate::bindings);
        };
    };
}
