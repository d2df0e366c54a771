//! The plugin host: compiles versions once, finds a street's active version, runs it with
//! the built-in rule as the fallback, and records faults against the version, quarantining it
//! after too many in a row.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use gongjian_plugin_sdk::{
    builder::{CandidateSpec, DemandSpec, OwnedRequest, RequestBuilder},
    Award, CandidateKind, Category, PointsRequest, Ranked, TriageDecision, TriageRequest, Urgency,
};
use uuid::Uuid;

use super::{
    builtin, rhai::RhaiRuntime, wasm::WasmRuntime, CallLog, CompileError, Compiled, Fault, Hook,
    Limits,
};
/// How a plugin is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    Rhai,
    Wasm,
}

impl PluginKind {
    pub const ALL: &'static [PluginKind] = &[PluginKind::Rhai, PluginKind::Wasm];

    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Rhai => "rhai",
            PluginKind::Wasm => "wasm",
        }
    }

    /// Reads a value stored by the host; anything else is corruption.
    pub fn from_db(text: &str) -> anyhow::Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| anyhow::anyhow!("unknown PluginKind {text:?} in the database"))
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings of the plugin host, from configuration.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    pub limits: Limits,
    /// Consecutive faults after which a version is quarantined.
    pub quarantine_after: u32,
    /// Where compiled WebAssembly is kept across restarts; none keeps it in memory only.
    pub cache_dir: Option<PathBuf>,
    /// The most ranked candidates a match returns.
    pub max_results: u32,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            limits: Limits::default(),
            quarantine_after: 5,
            cache_dir: None,
            max_results: 20,
        }
    }
}

/// Why a version was refused at upload.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Compile(CompileError),
    #[error("the dry run on a sample request failed: {0}")]
    DryRun(Fault),
}

pub struct PluginHost {
    settings: PluginSettings,
    rhai: RhaiRuntime,
    wasm: OnceLock<Result<WasmRuntime, String>>,
    compiled: Mutex<HashMap<Uuid, Arc<Compiled>>>,
}

impl PluginHost {
    pub fn new(settings: PluginSettings) -> Self {
        PluginHost {
            rhai: RhaiRuntime::new(settings.limits.clone()),
            wasm: OnceLock::new(),
            compiled: Mutex::new(HashMap::new()),
            settings,
        }
    }

    pub fn settings(&self) -> &PluginSettings {
        &self.settings
    }

    /// The WebAssembly runtime, started on first use.
    fn wasm(&self) -> Result<&WasmRuntime, CompileError> {
        self.wasm
            .get_or_init(|| {
                WasmRuntime::new(self.settings.limits.clone()).map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| CompileError::new(format!("the WebAssembly runtime could not start: {e}")))
    }

    /// Compiles source of a kind.
    pub fn compile(&self, kind: PluginKind, source: &[u8]) -> Result<Compiled, CompileError> {
        match kind {
            PluginKind::Rhai => {
                let text = std::str::from_utf8(source)
                    .map_err(|_| CompileError::new("a rhai script must be UTF-8 text"))?;
                self.rhai.compile(text).map(Compiled::Rhai)
            }
            PluginKind::Wasm => {
                let rt = self.wasm()?;
                rt.compile_cached(source, self.settings.cache_dir.as_deref())
                    .map(Compiled::Wasm)
            }
        }
    }

    /// Compiles and dry-runs a candidate version on a sample request: it must rank without
    /// a fault before it is stored.
    pub fn validate(
        &self,
        kind: PluginKind,
        source: &[u8],
        config: &str,
    ) -> Result<Compiled, Refusal> {
        let compiled = self.compile(kind, source).map_err(Refusal::Compile)?;
        let (result, _log) = compiled.rank(&sample_request(config, self.settings.max_results));
        result.map_err(Refusal::DryRun)?;
        let (result, _log) = compiled.triage(&sample_triage(config));
        result.map_err(|f| Refusal::DryRun(hook_fault("triage", f)))?;
        let (result, _log) = compiled.points(&sample_points(config));
        result.map_err(|f| Refusal::DryRun(hook_fault("points", f)))?;
        Ok(compiled)
    }

    /// The compiled form of a stored version, compiling it on first use.
    pub fn load(
        &self,
        version: Uuid,
        kind: PluginKind,
        source: &[u8],
    ) -> Result<Arc<Compiled>, CompileError> {
        if let Some(c) = self.compiled.lock().expect("not poisoned").get(&version) {
            return Ok(c.clone());
        }
        let compiled = Arc::new(self.compile(kind, source)?);
        self.compiled
            .lock()
            .expect("not poisoned")
            .insert(version, compiled.clone());
        Ok(compiled)
    }

    /// The compiled form of a version, when it is in memory.
    pub fn loaded(&self, version: Uuid) -> Option<Arc<Compiled>> {
        self.compiled
            .lock()
            .expect("not poisoned")
            .get(&version)
            .cloned()
    }

    /// Keeps a freshly validated version's compiled form, so activation needs no compile.
    pub fn remember(&self, version: Uuid, compiled: Compiled) {
        self.compiled
            .lock()
            .expect("not poisoned")
            .insert(version, Arc::new(compiled));
    }

    /// Whether a version is compiled in memory.
    pub fn is_loaded(&self, version: Uuid) -> bool {
        self.compiled
            .lock()
            .expect("not poisoned")
            .contains_key(&version)
    }
}

/// Plugin calls that may run at once: one per core. A call's time limit is wall-clock, so a
/// call must not wait for a core while its clock runs; calls beyond this wait their turn
/// before their clock starts.
fn call_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        tokio::sync::Semaphore::new(cores)
    })
}

/// A call runs on the async runtime itself when the plugin's last call took less than this:
/// handing a call to a blocking thread and back costs about a tenth of a millisecond on a
/// small machine, as much as a WebAssembly rule over a thousand candidates.
const IN_PLACE_UNDER: Duration = Duration::from_millis(1);

/// How long a call made in place may run. Past it the call is stopped and made again on a
/// blocking thread under the plugin's own time limit: a call has no effect but its answer (a
/// fresh store or scope, nothing imported), so making it again is safe. A slow or hostile
/// plugin holds an async worker this long at most, and its next calls of that entry point go
/// to a blocking thread until one of them takes less than [`IN_PLACE_UNDER`].
const IN_PLACE_LIMIT: Duration = Duration::from_millis(3);

/// One call of a plugin: `call` runs `req` under a time limit.
type Call<R, T> = fn(&Compiled, &R, Duration) -> (Result<T, Fault>, CallLog);

/// Makes a call of `hook` once a core is free for it: in place when the hook's last call was
/// fast, on a blocking thread otherwise (plugin calls are CPU-bound), recording how long it
/// took. The log's time is the plugin's whole time, a call stopped early included; not the
/// wait for a core.
async fn run_call<R, T>(
    plugin: Arc<Compiled>,
    hook: Hook,
    req: R,
    call: Call<R, T>,
) -> (R, Result<T, Fault>, CallLog)
where
    R: Send + 'static,
    T: Send + 'static,
{
    let _slot = call_slots()
        .acquire()
        .await
        .expect("the call slots are never closed");
    let limit = plugin.timeout();
    // The time of a call stopped early, which the call made again adds to.
    let mut spent = Duration::ZERO;
    if plugin.pace().last(hook) < IN_PLACE_UNDER {
        let budget = IN_PLACE_LIMIT.min(limit);
        let (result, log) = call(&plugin, &req, budget);
        let stopped_early = budget < limit && matches!(result, Err(Fault::Timeout(_)));
        if !stopped_early {
            plugin.pace().record(hook, log.took);
            return (req, result, log);
        }
        // Until the call below says otherwise, this plugin is slow.
        plugin.pace().record(hook, budget);
        spent = log.took;
    }
    tokio::task::spawn_blocking(move || {
        let (result, mut log) = call(&plugin, &req, limit);
        plugin.pace().record(hook, log.took);
        log.took += spent;
        (req, result, log)
    })
    .await
    .unwrap_or_else(|e| panic!("a plugin call's thread failed: {e}"))
}

/// Runs a compiled plugin's ranking.
pub async fn run_rank(
    plugin: Arc<Compiled>,
    req: OwnedRequest,
) -> (OwnedRequest, Result<Vec<Ranked>, Fault>, CallLog) {
    run_call(plugin, Hook::Rank, req, Compiled::rank_within).await
}

/// Runs a plugin's triage.
pub async fn run_triage(
    plugin: Arc<Compiled>,
    req: TriageRequest,
) -> (
    TriageRequest,
    Result<Option<TriageDecision>, Fault>,
    CallLog,
) {
    run_call(plugin, Hook::Triage, req, Compiled::triage_within).await
}

/// Runs a plugin's points rule.
pub async fn run_points(
    plugin: Arc<Compiled>,
    req: PointsRequest,
) -> (Result<Option<Award>, Fault>, CallLog) {
    let (_, result, log) = run_call(plugin, Hook::Points, req, Compiled::points_within).await;
    (result, log)
}

/// Names the hook in a fault of one.
fn hook_fault(hook: &str, f: Fault) -> Fault {
    match f {
        Fault::Trap(m) => Fault::Trap(format!("{hook}: {m}")),
        Fault::Limit(m) => Fault::Limit(format!("{hook}: {m}")),
        Fault::Plugin(m) => Fault::Plugin(format!("{hook}: {m}")),
        Fault::InvalidOutput(m) => Fault::InvalidOutput(format!("{hook}: {m}")),
        other => other,
    }
}

/// The demand a new version's triage must handle without a fault.
pub fn sample_triage(config: &str) -> TriageRequest {
    TriageRequest {
        street: "sample".into(),
        category: "other".into(),
        category_label: "其他".into(),
        tags: vec!["样例".into()],
        urgency: Urgency::Normal,
        channel: "hotline".into(),
        description: "楼道灯坏了，晚上看不见".into(),
        grid: "g-01".into(),
        community: "样例社区".into(),
        window_start: Some(1_767_225_600),
        window_end: Some(1_767_232_800),
        filed_at: 1_767_200_000,
        categories: crate::DEFAULT_CATEGORIES
            .iter()
            .map(|(code, label)| Category {
                code: code.to_string(),
                label: label.to_string(),
            })
            .collect(),
        config: config.to_string(),
        now: 1_767_210_000,
    }
}

/// The order a new version's points rule must handle without a fault.
pub fn sample_points(config: &str) -> PointsRequest {
    PointsRequest {
        street: "sample".into(),
        category: "repair".into(),
        urgency: Urgency::High,
        assignee_kind: CandidateKind::Volunteer,
        service_minutes: 90,
        filed_at: 1_767_200_000,
        accepted_at: 1_767_201_000,
        completed_at: 1_767_210_000,
        complete_by: Some(1_767_225_600),
        escalations: 0,
        completed_before: 3,
        config: config.to_string(),
    }
}

/// Up to this many candidates the built-in rule (some 20 ns a candidate) runs on the async
/// runtime itself: handing it to a blocking thread would cost more than the rule.
const INLINE_BUILTIN: u32 = 2_000;

/// Runs the built-in rule; off the async runtime for large requests.
pub async fn run_builtin(req: OwnedRequest) -> (OwnedRequest, Result<Vec<Ranked>, Fault>) {
    if req.candidate_count <= INLINE_BUILTIN {
        let result = builtin(&req);
        return (req, result);
    }
    tokio::task::spawn_blocking(move || {
        let result = builtin(&req);
        (req, result)
    })
    .await
    .expect("the built-in rule does not panic")
}

/// The request a new version must rank without a fault before it is stored: a small street
/// with volunteers and resources of several kinds.
pub fn sample_request(config: &str, max_results: u32) -> OwnedRequest {
    let demand = DemandSpec {
        category: "other".into(),
        category_label: "其他".into(),
        tags: vec!["样例".into()],
        grid: "g-01".into(),
        community: "样例社区".into(),
        window_start: Some(1_767_225_600),
        window_end: Some(1_767_232_800),
        filed_at: 1_767_200_000,
        ..DemandSpec::default()
    };
    let mut b = RequestBuilder::new("sample", &demand, config, 1_767_210_000, max_results);
    for i in 0..6u32 {
        b.push(&CandidateSpec {
            home_grid: format!("g-0{}", i % 3 + 1),
            community: "样例社区".into(),
            team: Some(format!("队{}", i % 2)),
            labels: vec![["维修", "陪护", "其他"][i as usize % 3].into()],
            party_member: i % 2 == 0,
            open_orders: i % 3,
            average_rating: (i % 2 == 1).then_some(4.5),
            last_order_at: i64::from(i) * 3600,
            ..CandidateSpec::default()
        });
    }
    b.push(&CandidateSpec {
        kind: CandidateKind::Resource,
        owned_by_unit: true,
        category: Some("other".into()),
        owner_kind: Some("hospital".into()),
        capacity_left: 3,
        home_grid: String::new(),
        community: String::new(),
        ..CandidateSpec::default()
    });
    b.finish()
}
