//! Write a gongjian street matching plugin in Rust.
//!
//! A street's matching rules decide which volunteers and resources are offered a resident's
//! demand, and in what order. The host hands a plugin a [`Request`] — the demand (without
//! personal data), the candidates it has already filtered to the street, and the context —
//! and the plugin returns the candidates it ranks, best first, each with a score and a short
//! reason. A candidate left out is not offered the order.
//!
//! Implement [`Plugin`] and export it with [`export_plugin!`]; build with
//! `cargo build --release --target wasm32-unknown-unknown` and upload the `.wasm` file. The
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
mod request;
pub mod rules;

pub use request::{
    best_first, Candidate, CandidateKind, Demand, MalformedRequest, Ranked, Request, Urgency,
    CANDIDATE_SIZE, CONTRACT_VERSION,
};

/// A matching rule.
pub trait Plugin {
    /// Ranks the request's candidates, best first. Leave out a candidate to exclude it. An
    /// error is reported against the plugin version, and the host falls back to its default
    /// rule for this match.
    fn rank(request: &Request<'_>) -> Result<Vec<Ranked>, String>;
}

/// The bindings generated from `wit/matcher.wit`. Used by [`export_plugin!`].
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "matcher",
        pub_export_macro: true,
        export_macro_name: "__export_matcher",
        default_bindings_module: "gongjian_plugin_sdk::bindings",
    });
}

/// Glue between the generated bindings and [`Plugin`]; not part of the API.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private {
    use crate::bindings::exports::gongjian::matcher::ranking as wit;
    use crate::{Demand, Plugin, Request, Urgency};

    pub fn run<P: Plugin>(r: wit::RankRequest) -> Result<Vec<wit::Ranked>, String> {
        let d = &r.demand;
        let demand = Demand {
            category: d.category,
            category_label: d.category_label,
            tags: &d.tags,
            urgency: match d.urgency {
                wit::Urgency::Low => Urgency::Low,
                wit::Urgency::Normal => Urgency::Normal,
                wit::Urgency::High => Urgency::High,
                wit::Urgency::Critical => Urgency::Critical,
            },
            grid: d.grid,
            community: d.community,
            window_start: d.window_start,
            window_end: d.window_end,
            filed_at: d.filed_at,
        };
        let req = Request::new(
            &r.strings,
            r.street,
            demand,
            r.candidate_count,
            &r.candidates,
            &r.labels,
            &r.config,
            r.now,
            r.max_results,
        )
        .map_err(|e| e.to_string())?;
        Ok(P::rank(&req)?
            .into_iter()
            .map(|x| wit::Ranked {
                candidate: x.candidate,
                score: x.score,
                reason: x.reason,
            })
            .collect())
    }
}

/// Exports a [`Plugin`] as the plugin's implementation of the contract. Use it once, at the
/// root of the plugin crate. It does nothing when not building for WebAssembly, so the same
/// crate can be tested natively.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct GongjianExport;
            impl $crate::bindings::exports::gongjian::matcher::ranking::Guest for GongjianExport {
                fn rank(
                    request: $crate::bindings::exports::gongjian::matcher::ranking::RankRequest,
                ) -> ::core::result::Result<
                    ::std::vec::Vec<$crate::bindings::exports::gongjian::matcher::ranking::Ranked>,
                    ::std::string::String,
                > {
                    $crate::__private::run::<$plugin>(request)
                }
            }
    $crate::bindings::__export_matcher!(GongjianExport with_types_in $crate::bindings);
        };
    };
}
