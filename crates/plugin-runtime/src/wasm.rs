//! The WebAssembly runtime: components implementing `wit/matcher.wit`, run by wasmtime.
//!
//! Every plugin exports `ranking` (contract 1.0.0, world `ranker`); a plugin of contract 1.1.0
//! also exports `triage` and `points` (world `matcher`); one of 1.2.0 also exports
//! `packed-ranking` (world `plugin`), which the host calls instead of `ranking`: the request's
//! strings go in one block rather than one allocation in the plugin each. Wasmtime finds
//! exports by semver-compatible name, so one set of bindings at 1.2.0 calls `ranking@1.0.0`
//! of older plugins.
//!
//! One engine per process, with a pooling allocator (instances are slots reused call after
//! call) and epoch interruption (a ticker thread advances the epoch every millisecond while
//! calls run, and parks when none has run for a while; each call gets a deadline). A plugin
//! is compiled once into an `InstancePre`; every call gets a fresh store with its own memory
//! and table limits, so calls share nothing, and loads only the export it calls. Plugins may
//! import nothing: no clock, randomness, filesystem, network or environment.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Condvar, Mutex, PoisonError,
    },
    time::Duration,
};

use gongjian_plugin_sdk::{
    __hooks as sdk_hooks, builder::OwnedRequest, Award, CandidateKind, PointsRequest, Ranked,
    TriageDecision, TriageRequest, Urgency,
};
use wasmtime::{
    component::{Component, Instance, InstancePre, Linker},
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    StoreLimits, StoreLimitsBuilder, Trap,
};

use super::{CompileError, Fault, Limits, Pace};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "ranker",
        ownership: Borrowing { duplicate_if_necessary: true },
    });
}

mod hook_bindings {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "matcher",
        ownership: Borrowing { duplicate_if_necessary: true },
    });
}

mod packed_bindings {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "plugin",
        ownership: Borrowing { duplicate_if_necessary: true },
    });
}

use bindings::exports::gongjian::matcher::ranking as wit;
use hook_bindings::exports::gongjian::matcher::{points as wit_points, triage as wit_triage};
use packed_bindings::exports::gongjian::matcher::{
    packed_ranking as wit_packed, ranking as wit_packed_types,
};

/// The interface every plugin exports; 1.0.0 is the oldest contract version this host runs.
pub const RANKING_EXPORT: &str = "gongjian:matcher/ranking@1.0.0";

/// The minor version at which `export` names `interface` of contract 1.x, e.g. 2 for
/// `gongjian:matcher/ranking@1.2.0`. A plugin built for a later 1.x than this host knows is
/// accepted: versions only add interfaces, so what the host calls is there unchanged.
fn exports_at(export: &str, interface: &str) -> Option<u64> {
    let version = export
        .strip_prefix("gongjian:matcher/")?
        .strip_prefix(interface)?
        .strip_prefix("@1.")?;
    version.split('.').next()?.parse().ok()
}

const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks without a call after which the ticker parks.
const IDLE_TICKS: u32 = 100;

/// Advances the engine's epoch every [`EPOCH_TICK`] while calls run, so that a call's deadline
/// (a number of ticks) passes. After [`IDLE_TICKS`] ticks without a call it parks, so an idle
/// service does not wake a thousand times a second; the next call wakes it.
struct Ticker {
    engine: Engine,
    /// Calls running now.
    running: AtomicUsize,
    /// Whether the thread waits on `wake`; guards the check of `running` before it does.
    parked: Mutex<bool>,
    wake: Condvar,
    stop: AtomicBool,
}

impl Ticker {
    fn start(engine: Engine) -> std::io::Result<Arc<Ticker>> {
        let ticker = Arc::new(Ticker {
            engine,
            running: AtomicUsize::new(0),
            parked: Mutex::new(false),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread = ticker.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || thread.run())?;
        Ok(ticker)
    }

    fn run(&self) {
        let mut idle = 0;
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(EPOCH_TICK);
            self.engine.increment_epoch();
            if self.running.load(Ordering::SeqCst) > 0 {
                idle = 0;
                continue;
            }
            idle += 1;
            if idle < IDLE_TICKS {
                continue;
            }
            // A call that starts after this check finds `parked` set (it takes the lock
            // after counting itself) and wakes the thread.
            let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
            while self.running.load(Ordering::SeqCst) == 0 && !self.stop.load(Ordering::SeqCst) {
                *parked = true;
                parked = self
                    .wake
                    .wait(parked)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            *parked = false;
            idle = 0;
        }
    }

    /// Counts a call as running until the returned guard drops, waking the ticker if parked.
    fn enter(self: &Arc<Self>) -> Running {
        if self.running.fetch_add(1, Ordering::SeqCst) == 0 {
            let parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
            if *parked {
                self.wake.notify_one();
            }
        }
        Running(self.clone())
    }

    fn is_parked(&self) -> bool {
        *self.parked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_one();
    }
}

/// A call counted by [`Ticker::enter`].
struct Running(Arc<Ticker>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The process-wide WebAssembly engine.
pub struct WasmRuntime {
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
    ticker: Arc<Ticker>,
    engine_fingerprint: String,
}

struct CallState {
    limits: StoreLimits,
    /// Keeps the epoch ticking for as long as the call's store lives.
    _running: Running,
}

impl WasmRuntime {
    pub fn new(limits: Limits) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(limits.wasm_instances)
            .total_core_instances(limits.wasm_instances * 2)
            .total_memories(limits.wasm_instances)
            .total_tables(limits.wasm_instances * 2)
            .max_memories_per_component(1)
            .max_tables_per_component(2)
            .max_memory_size(limits.wasm_memory_bytes)
            .table_elements(20_000)
            // Reset the first megabytes of a slot by zeroing rather than unmapping, so a fresh
            // call does not page-fault its request into memory again.
            .linear_memory_keep_resident(4 << 20)
            .table_keep_resident(64 << 10)
            // Where the kernel can say which pages a call wrote (Linux 6.7 and later), reset
            // only those instead of every accessible page.
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .max_wasm_stack(512 << 10)
            .wasm_component_model(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let ticker = Ticker::start(engine.clone())?;
        let linker = Linker::new(&engine);
        let engine_fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            format!("{:016x}", h.finish())
        };
        Ok(WasmRuntime {
            engine,
            linker,
            limits,
            ticker,
            engine_fingerprint,
        })
    }

    /// Whether the epoch ticker is running; it parks after 100 ms without a call.
    pub fn ticking(&self) -> bool {
        !self.ticker.is_parked()
    }

    /// Compiles plugin bytes: a component, or a core module built with the SDK (which embeds
    /// the contract and is turned into a component here). Checks that it exports the ranking
    /// interface of a contract version this host runs and imports nothing.
    pub fn compile(&self, bytes: &[u8]) -> Result<WasmPlugin, CompileError> {
        self.compile_cached(bytes, None)
    }

    /// Like [`WasmRuntime::compile`], keeping the compiled artifact in `cache` (a directory
    /// this process owns) so the same bytes compile once, across restarts too.
    pub fn compile_cached(
        &self,
        bytes: &[u8],
        cache: Option<&Path>,
    ) -> Result<WasmPlugin, CompileError> {
        let file = cache.map(|dir| {
            dir.join(format!(
                "{}-{}.cwasm",
                content_hash(bytes),
                self.engine_fingerprint
            ))
        });
        if let Some(file) = &file {
            // SAFETY: the cache directory holds only artifacts this runtime serialised; the
            // file name carries the engine's compatibility fingerprint, and wasmtime checks
            // the artifact's own header before using it.
            if let Ok(component) = unsafe { Component::deserialize_file(&self.engine, file) } {
                return self.finish(component, declared_hooks(bytes));
            }
        }
        let component_bytes = if wasmparser_is_core(bytes) {
            componentize(bytes)?
        } else {
            bytes.to_vec()
        };
        let component = Component::new(&self.engine, &component_bytes)
            .map_err(|e| CompileError::new(format!("not a valid WebAssembly component: {e:#}")))?;
        let plugin = self.finish(component.clone(), declared_hooks(bytes))?;
        if let Some(file) = &file {
            if let Err(e) = write_artifact(file, &component) {
                tracing::warn!(error = %e, file = %file.display(), "cannot cache a compiled plugin");
            }
        }
        Ok(plugin)
    }

    /// Checks a compiled component against the contract and prepares its calls; `declared`
    /// is what the plugin says of its hooks ([`declared_hooks`]).
    fn finish(
        &self,
        component: Component,
        declared: Option<u8>,
    ) -> Result<WasmPlugin, CompileError> {
        let Exports {
            hooks: has_hooks,
            packed,
        } = self.check_contract(&component)?;
        let misfit = |e: wasmtime::Error| {
            CompileError::new(format!("the component does not fit the contract: {e:#}"))
        };
        let pre = self.linker.instantiate_pre(&component).map_err(misfit)?;
        // Each call loads (and type-checks) only the function it calls; the whole world is
        // checked here, once.
        let ranker = if packed {
            packed_bindings::PluginIndices::new(&pre).map_err(|e| {
                CompileError::new(format!(
                    "a plugin of contract 1.2.0 exports ranking, packed-ranking, triage and points (world plugin): {e:#}"
                ))
            })?;
            Ranker::Packed(wit_packed::GuestIndices::new(&pre).map_err(misfit)?)
        } else {
            bindings::RankerIndices::new(&pre).map_err(misfit)?;
            Ranker::List(wit::GuestIndices::new(&pre).map_err(misfit)?)
        };
        let hooks = if has_hooks {
            hook_bindings::MatcherIndices::new(&pre).map_err(|e| {
                CompileError::new(format!(
                    "a plugin of contract 1.1.0 exports ranking, triage and points (world matcher): {e:#}"
                ))
            })?;
            Some(Hooks {
                triage: wit_triage::GuestIndices::new(&pre).map_err(misfit)?,
                points: wit_points::GuestIndices::new(&pre).map_err(misfit)?,
            })
        } else {
            None
        };
        let says = |flag: u8| hooks.is_some() && declared.is_none_or(|d| d & flag != 0);
        Ok(WasmPlugin {
            triages: says(sdk_hooks::TRIAGE),
            awards_points: says(sdk_hooks::POINTS),
            pre,
            ranker,
            hooks,
            engine: self.engine.clone(),
            ticker: self.ticker.clone(),
            limits: self.limits.clone(),
            pace: Pace::default(),
        })
    }

    /// Checks imports and exports; returns which interfaces beyond `ranking` it has.
    fn check_contract(&self, component: &Component) -> Result<Exports, CompileError> {
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        if !imports.is_empty() {
            return Err(CompileError::new(format!(
                "plugins may import nothing, but this one imports {}",
                imports.join(", ")
            )));
        }
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let has = |interface: &str, since_minor: u64| {
            exports
                .iter()
                .any(|e| exports_at(e, interface).is_some_and(|minor| minor >= since_minor))
        };
        let (ranks, hooks, packed) = (
            has("ranking", 0),
            has("triage", 1) && has("points", 1),
            has("packed-ranking", 2),
        );
        if ranks {
            return Ok(Exports { hooks, packed });
        }
        let found = exports
            .iter()
            .find(|e| e.starts_with("gongjian:matcher/ranking"))
            .map(|e| format!("it exports {e}, a contract version this host does not run"))
            .unwrap_or_else(|| {
                format!(
                    "it exports {}",
                    if exports.is_empty() {
                        "nothing".into()
                    } else {
                        exports.join(", ")
                    }
                )
            });
        Err(CompileError::new(format!(
            "a plugin must export {RANKING_EXPORT}; {found}"
        )))
    }
}

impl Drop for WasmRuntime {
    fn drop(&mut self) {
        self.ticker.stop();
    }
}

/// Turns a core module built with the SDK (which embeds the contract in a custom section)
/// into a component. The encoder is not hardened against hostile input, so the module is
/// validated first and a panic in the encoder is contained and reported as a refusal.
fn componentize(bytes: &[u8]) -> Result<Vec<u8>, CompileError> {
    wasmparser::Validator::new()
        .validate_all(bytes)
        .map_err(|e| CompileError::new(format!("not a valid WebAssembly module: {e}")))?;
    let encoded = std::panic::catch_unwind(|| {
        wit_component::ComponentEncoder::default()
            .module(bytes)
            .and_then(|e| e.validate(true).encode())
    });
    match encoded {
        Ok(Ok(component)) => Ok(component),
        Ok(Err(e)) => Err(CompileError::new(format!(
            "a core WebAssembly module must be built with the plugin SDK (it embeds the contract): {e:#}"
        ))),
        Err(_) => Err(CompileError::new(
            "the module's embedded contract is malformed; build it with the plugin SDK",
        )),
    }
}

/// SHA-256 of plugin bytes, hex: the version's content hash.
pub fn content_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a compiled artifact atomically: to a temporary name, then renamed.
fn write_artifact(file: &Path, component: &Component) -> anyhow::Result<()> {
    let dir = file.parent().expect("a cache file has a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::now_v7()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

/// The hooks a plugin built with the SDK says it implements (the flags of
/// `gongjian_plugin_sdk::__hooks`), from its custom section in the uploaded bytes, the module
/// itself or one a component nests. `None` when it says nothing (built before the SDK wrote
/// the section, or without the SDK): then every hook its contract exports is called.
fn declared_hooks(bytes: &[u8]) -> Option<u8> {
    wasmparser::Parser::new(0)
        .parse_all(bytes)
        .map_while(Result::ok)
        .find_map(|payload| match payload {
            wasmparser::Payload::CustomSection(section) if section.name() == sdk_hooks::SECTION => {
                match section.data() {
                    [sdk_hooks::FORMAT, flags] => Some(*flags),
                    _ => None,
                }
            }
            _ => None,
        })
}

fn wasmparser_is_core(bytes: &[u8]) -> bool {
    // The preamble: magic, then version 1 with layer 0 (core module) or layer 1 (component).
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [0, 0]
}

/// What a plugin exports beyond `ranking`.
struct Exports {
    /// `triage` and `points` (1.1.0).
    hooks: bool,
    /// `packed-ranking` (1.2.0).
    packed: bool,
}

/// How the host calls a plugin's ranking.
enum Ranker {
    /// `ranking.rank`, strings as a list (1.0.0 and 1.1.0).
    List(wit::GuestIndices),
    /// `packed-ranking.rank`, strings in one block (1.2.0).
    Packed(wit_packed::GuestIndices),
}

/// The 1.1.0 hooks, each loaded on its own by the call that uses it.
struct Hooks {
    triage: wit_triage::GuestIndices,
    points: wit_points::GuestIndices,
}

/// A compiled WebAssembly plugin.
pub struct WasmPlugin {
    pre: InstancePre<CallState>,
    ranker: Ranker,
    /// The 1.1.0 hooks, when it exports them.
    hooks: Option<Hooks>,
    /// Whether it exports triage and implements it (a plugin built with the SDK says which
    /// hooks it implements; one that says nothing is taken to implement what it exports).
    triages: bool,
    /// The same for points.
    awards_points: bool,
    engine: Engine,
    ticker: Arc<Ticker>,
    limits: Limits,
    pace: Pace,
}

/// The urgency as one of the bindings' enums: each set of bindings has its own copy.
macro_rules! urgency_into {
    ($($name:ident -> $t:ty),*) => {$(
        fn $name(u: Urgency) -> $t {
            match u {
                Urgency::Low => <$t>::Low,
                Urgency::Normal => <$t>::Normal,
                Urgency::High => <$t>::High,
                Urgency::Critical => <$t>::Critical,
            }
        }
    )*};
}

urgency_into!(
    wit_urgency -> wit::Urgency,
    packed_urgency -> wit_packed_types::Urgency,
    hook_urgency -> hook_bindings::exports::gongjian::matcher::ranking::Urgency
);

fn from_hook_urgency(u: hook_bindings::exports::gongjian::matcher::ranking::Urgency) -> Urgency {
    use hook_bindings::exports::gongjian::matcher::ranking::Urgency as U;
    match u {
        U::Low => Urgency::Low,
        U::Normal => Urgency::Normal,
        U::High => Urgency::High,
        U::Critical => Urgency::Critical,
    }
}

impl WasmPlugin {
    /// How long its calls have taken lately.
    pub fn pace(&self) -> &Pace {
        &self.pace
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The contract version it was built for.
    pub fn contract_version(&self) -> &'static str {
        match (&self.ranker, &self.hooks) {
            (Ranker::Packed(_), _) => "1.2.0",
            (Ranker::List(_), Some(_)) => "1.1.0",
            (Ranker::List(_), None) => "1.0.0",
        }
    }

    /// Whether it exports the 1.1.0 hooks (triage and points).
    pub fn has_hooks(&self) -> bool {
        self.hooks.is_some()
    }

    /// Whether its triage is worth a call: exported, and implemented by the plugin.
    pub fn triages(&self) -> bool {
        self.triages
    }

    /// Whether its points rule is worth a call: exported, and implemented by the plugin.
    pub fn awards_points(&self) -> bool {
        self.awards_points
    }

    /// A fresh store and instance for one call, with the call's limits and its deadline,
    /// `timeout` from now (whole milliseconds, the epoch's tick).
    fn instantiate(&self, timeout: Duration) -> Result<(Store<CallState>, Instance), Fault> {
        let state = CallState {
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.wasm_memory_bytes)
                .memories(1)
                .tables(2)
                .table_elements(20_000)
                .instances(4)
                .trap_on_grow_failure(true)
                .build(),
            _running: self.ticker.enter(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = (timeout.as_millis() as u64).max(1);
        store.set_epoch_deadline(ticks);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, &self.limits, timeout))?;
        Ok((store, instance))
    }

    /// Calls the plugin's ranking in a fresh store, stopped `timeout` after it starts.
    pub fn rank(&self, req: &OwnedRequest, timeout: Duration) -> Result<Vec<Ranked>, Fault> {
        let indices = match &self.ranker {
            Ranker::List(indices) => indices,
            Ranker::Packed(indices) => return self.rank_packed(indices, req, timeout),
        };
        let (mut store, instance) = self.instantiate(timeout)?;
        let ranker = indices
            .load(&mut store, &instance)
            .map_err(|e| classify(e, &self.limits, timeout))?;
        let strings: Vec<&str> = req.strings.iter().map(String::as_str).collect();
        let request = wit::RankRequest {
            strings: &strings,
            street: req.street,
            demand: wit::Demand {
                category: req.category,
                category_label: req.category_label,
                tags: &req.tags,
                urgency: wit_urgency(req.urgency),
                grid: req.grid,
                community: req.community,
                window_start: req.window_start,
                window_end: req.window_end,
                filed_at: req.filed_at,
            },
            candidate_count: req.candidate_count,
            candidates: &req.candidates,
            labels: &req.labels,
            config: &req.config,
            now: req.now,
            max_results: req.max_results,
        };
        let answer = ranker
            .call_rank(&mut store, request)
            .map_err(|e| classify(e, &self.limits, timeout))?;
        let ranked = answer.map_err(Fault::Plugin)?;
        Ok(ranked
            .into_iter()
            .map(|r| Ranked {
                candidate: r.candidate,
                score: r.score,
                reason: r.reason,
            })
            .collect())
    }

    fn rank_packed(
        &self,
        indices: &wit_packed::GuestIndices,
        req: &OwnedRequest,
        timeout: Duration,
    ) -> Result<Vec<Ranked>, Fault> {
        let (mut store, instance) = self.instantiate(timeout)?;
        let plugin = indices
            .load(&mut store, &instance)
            .map_err(|e| classify(e, &self.limits, timeout))?;
        let (text, text_ends) = req.packed_text();
        let request = wit_packed::PackedRequest {
            text: &text,
            text_ends: &text_ends,
            street: req.street,
            demand: wit_packed_types::Demand {
                category: req.category,
                category_label: req.category_label,
                tags: &req.tags,
                urgency: packed_urgency(req.urgency),
                grid: req.grid,
                community: req.community,
                window_start: req.window_start,
                window_end: req.window_end,
                filed_at: req.filed_at,
            },
            candidate_count: req.candidate_count,
            candidates: &req.candidates,
            labels: &req.labels,
            config: &req.config,
            now: req.now,
            max_results: req.max_results,
        };
        let answer = plugin
            .call_rank(&mut store, request)
            .map_err(|e| classify(e, &self.limits, timeout))?;
        Ok(answer
            .map_err(Fault::Plugin)?
            .into_iter()
            .map(|r| Ranked {
                candidate: r.candidate,
                score: r.score,
                reason: r.reason,
            })
            .collect())
    }

    fn hooks(&self) -> &Hooks {
        self.hooks
            .as_ref()
            .expect("hooks are called only on plugins that have them")
    }

    /// Calls the plugin's triage in a fresh store. Only for a plugin with hooks.
    pub fn triage(
        &self,
        req: &TriageRequest,
        timeout: Duration,
    ) -> Result<Option<TriageDecision>, Fault> {
        let (mut store, instance) = self.instantiate(timeout)?;
        let triage = self
            .hooks()
            .triage
            .load(&mut store, &instance)
            .map_err(|e| classify(e, &self.limits, timeout))?;
        let tags: Vec<&str> = req.tags.iter().map(String::as_str).collect();
        let categories: Vec<wit_triage::Category> = req
            .categories
            .iter()
            .map(|c| wit_triage::Category {
                code: &c.code,
                label: &c.label,
            })
            .collect();
        let request = wit_triage::TriageRequest {
            street: &req.street,
            category: &req.category,
            category_label: &req.category_label,
            tags: &tags,
            urgency: hook_urgency(req.urgency),
            channel: &req.channel,
            description: &req.description,
            grid: &req.grid,
            community: &req.community,
            window_start: req.window_start,
            window_end: req.window_end,
            filed_at: req.filed_at,
            categories: &categories,
            config: &req.config,
            now: req.now,
        };
        let answer = triage
            .call_triage(&mut store, request)
            .map_err(|e| classify(e, &self.limits, timeout))?;
        Ok(answer.map_err(Fault::Plugin)?.map(|d| TriageDecision {
            category: d.category,
            urgency: d.urgency.map(from_hook_urgency),
            tags: d.tags,
            note: d.note,
        }))
    }

    /// Calls the plugin's points rule in a fresh store. Only for a plugin with hooks.
    pub fn points(&self, req: &PointsRequest, timeout: Duration) -> Result<Option<Award>, Fault> {
        let (mut store, instance) = self.instantiate(timeout)?;
        let points = self
            .hooks()
            .points
            .load(&mut store, &instance)
            .map_err(|e| classify(e, &self.limits, timeout))?;
        let request = wit_points::PointsRequest {
            street: &req.street,
            category: &req.category,
            urgency: hook_urgency(req.urgency),
            assignee_kind: match req.assignee_kind {
                CandidateKind::Volunteer => wit_points::AssigneeKind::Volunteer,
                CandidateKind::Resource => wit_points::AssigneeKind::Resource,
            },
            service_minutes: req.service_minutes,
            filed_at: req.filed_at,
            accepted_at: req.accepted_at,
            completed_at: req.completed_at,
            complete_by: req.complete_by,
            escalations: req.escalations,
            completed_before: req.completed_before,
            config: &req.config,
        };
        let answer = points
            .call_points(&mut store, request)
            .map_err(|e| classify(e, &self.limits, timeout))?;
        Ok(answer.map_err(Fault::Plugin)?.map(|a| Award {
            points: a.points,
            reason: a.reason,
        }))
    }
}

/// Sorts a wasmtime error into the kind of fault it is.
fn classify(err: wasmtime::Error, limits: &Limits, timeout: Duration) -> Fault {
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Fault::Timeout(timeout),
        Some(Trap::StackOverflow) => Fault::Trap("stack overflow (recursion too deep)".into()),
        Some(Trap::AllocationTooLarge) => Fault::Limit("memory limit".into()),
        Some(trap) => Fault::Trap(trap.to_string()),
        None => {
            let text = format!("{err:#}");
            if text.contains("forcing a memory growth failure")
                || text.contains("memory") && text.contains("limit")
            {
                Fault::Limit(format!(
                    "memory limit of {} bytes: {text}",
                    limits.wasm_memory_bytes
                ))
            } else if text.contains("maximum concurrent") || text.contains("pooling") {
                Fault::Host(format!("no free instance slot: {text}"))
            } else {
                Fault::Trap(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::exports_at;

    #[test]
    fn export_names_give_their_contract_minor_version() {
        assert_eq!(
            exports_at("gongjian:matcher/ranking@1.0.0", "ranking"),
            Some(0)
        );
        assert_eq!(
            exports_at("gongjian:matcher/ranking@1.2.0", "ranking"),
            Some(2)
        );
        assert_eq!(
            exports_at("gongjian:matcher/packed-ranking@1.2.0", "packed-ranking"),
            Some(2)
        );
        assert_eq!(
            exports_at("gongjian:matcher/packed-ranking@1.2.0", "ranking"),
            None
        );
        assert_eq!(
            exports_at("gongjian:matcher/ranking@2.0.0", "ranking"),
            None
        );
        assert_eq!(exports_at("other:matcher/ranking@1.0.0", "ranking"), None);
        assert_eq!(exports_at("gongjian:matcher/ranking", "ranking"), None);
    }
}
