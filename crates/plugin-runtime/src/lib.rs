//! Street matching plugins: the runtimes (rhai and WebAssembly), their limits, and the checks
//! every plugin's output passes before the host believes it.
//!
//! A plugin is compiled once per version into a [`Compiled`] plugin and then called many
//! times, each call isolated: a fresh WebAssembly store, or a fresh rhai scope, with limits
//! on time, memory and work. A plugin fails in one of two ways, both reported as a
//! [`Fault`]: the outer failure (a trap, a timeout, a limit, malformed output) or the inner
//! one (the plugin's own error).

pub mod host;
pub mod rhai;
pub mod wasm;

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// The built-in category taxonomy every street starts with: (code, label). Plugins see a
/// street's categories in every request; the sample request at upload carries these.
pub const DEFAULT_CATEGORIES: &[(&str, &str)] = &[
    ("elderly_care", "养老助老"),
    ("medical", "医疗健康"),
    ("legal", "法律服务"),
    ("education", "教育辅导"),
    ("repair", "维修服务"),
    ("environment", "环境整治"),
    ("safety", "平安建设"),
    ("venue", "场地设施"),
    ("other", "其他"),
];

use gongjian_plugin_sdk::{
    builder::OwnedRequest, Award, PointsRequest, Ranked, TriageDecision, TriageRequest,
};

/// Limits that apply to every plugin call.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock time for one call.
    pub timeout: Duration,
    /// Linear memory a WebAssembly plugin may grow to.
    pub wasm_memory_bytes: usize,
    /// WebAssembly calls that may run at once (pooled instance slots).
    pub wasm_instances: u32,
    /// rhai operations for one call.
    pub rhai_operations: u64,
    /// Column data one rhai call may allocate, in bytes (see `score_all`).
    pub rhai_column_bytes: usize,
    /// Longest reason accepted, in bytes.
    pub reason_bytes: usize,
    /// Lines of print/debug output kept per call.
    pub log_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_millis(250),
            wasm_memory_bytes: 32 << 20,
            wasm_instances: 64,
            rhai_operations: 5_000_000,
            rhai_column_bytes: 256 << 20,
            reason_bytes: 200,
            log_lines: 50,
        }
    }
}

/// Why a plugin call produced no usable ranking.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Fault {
    /// The plugin trapped, panicked, overflowed its stack or failed at run time.
    #[error("trap: {0}")]
    Trap(String),
    /// It ran past its time limit.
    #[error("timeout: ran longer than {0:?}")]
    Timeout(Duration),
    /// It exceeded a limit on memory, operations or sizes.
    #[error("limit: {0}")]
    Limit(String),
    /// It returned its own error.
    #[error("plugin error: {0}")]
    Plugin(String),
    /// It returned output the host refuses.
    #[error("invalid output: {0}")]
    InvalidOutput(String),
    /// The host could not run it (no free instance slot, say); not the plugin's fault.
    #[error("host: {0}")]
    Host(String),
}

impl Fault {
    /// A stable name for metrics and records.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Trap(_) => "trap",
            Fault::Timeout(_) => "timeout",
            Fault::Limit(_) => "limit",
            Fault::Plugin(_) => "plugin_error",
            Fault::InvalidOutput(_) => "invalid_output",
            Fault::Host(_) => "host",
        }
    }

    /// Whether the fault counts against the plugin version (towards quarantine).
    pub fn is_plugins(&self) -> bool {
        !matches!(self, Fault::Host(_))
    }
}

/// Why a plugin could not be compiled or does not implement the contract. Messages carry
/// line and column where the source has them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub message: String,
    /// 1-based line and column in the source, for scripts.
    pub position: Option<(usize, usize)>,
}

impl CompileError {
    pub fn new(message: impl Into<String>) -> Self {
        CompileError {
            message: message.into(),
            position: None,
        }
    }
}

/// What a call produced besides its answer: the plugin's print/debug lines, and how long it
/// took.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CallLog {
    pub lines: Vec<String>,
    /// The call's time, its answer's checks included; zero when no call was made (a hook
    /// the plugin does not have).
    pub took: Duration,
}

/// A plugin version compiled and ready to call.
pub enum Compiled {
    Rhai(rhai::RhaiPlugin),
    Wasm(wasm::WasmPlugin),
}

impl Compiled {
    fn limits(&self) -> &Limits {
        match self {
            Compiled::Rhai(p) => p.limits(),
            Compiled::Wasm(p) => p.limits(),
        }
    }

    /// The contract version the plugin implements: 1.1.0 when it has the triage and points
    /// hooks (a rhai script, which may define either, always runs under 1.1.0).
    pub fn contract_version(&self) -> &'static str {
        match self {
            Compiled::Rhai(_) => "1.1.0",
            Compiled::Wasm(p) => p.contract_version(),
        }
    }

    /// Whether it triages new demands.
    pub fn has_triage(&self) -> bool {
        match self {
            Compiled::Rhai(p) => p.has_triage(),
            Compiled::Wasm(p) => p.triages(),
        }
    }

    /// Whether it has a points rule.
    pub fn has_points(&self) -> bool {
        match self {
            Compiled::Rhai(p) => p.has_points(),
            Compiled::Wasm(p) => p.awards_points(),
        }
    }

    /// The time limit of one call.
    pub fn timeout(&self) -> Duration {
        self.limits().timeout
    }

    /// How long its calls have taken lately.
    pub fn pace(&self) -> &Pace {
        match self {
            Compiled::Rhai(p) => p.pace(),
            Compiled::Wasm(p) => p.pace(),
        }
    }

    /// Triages a demand, the decision checked against the request. `None` (also from a
    /// plugin without the hook) keeps the demand as filed.
    pub fn triage(&self, req: &TriageRequest) -> (Result<Option<TriageDecision>, Fault>, CallLog) {
        self.triage_within(req, self.timeout())
    }

    /// [`Compiled::triage`], stopped `timeout` after it starts.
    pub fn triage_within(
        &self,
        req: &TriageRequest,
        timeout: Duration,
    ) -> (Result<Option<TriageDecision>, Fault>, CallLog) {
        if !self.has_triage() {
            return (Ok(None), CallLog::default());
        }
        timed(|| {
            let (result, log) = match self {
                Compiled::Rhai(p) => p.triage(req, timeout),
                Compiled::Wasm(p) => (p.triage(req, timeout), CallLog::default()),
            };
            let limits = self.limits();
            (
                result.and_then(|d| d.map(|d| validate_triage(d, req, limits)).transpose()),
                log,
            )
        })
    }

    /// The points for a completed order, checked. `None` (also from a plugin without the
    /// rule) leaves the host's default.
    pub fn points(&self, req: &PointsRequest) -> (Result<Option<Award>, Fault>, CallLog) {
        self.points_within(req, self.timeout())
    }

    /// [`Compiled::points`], stopped `timeout` after it starts.
    pub fn points_within(
        &self,
        req: &PointsRequest,
        timeout: Duration,
    ) -> (Result<Option<Award>, Fault>, CallLog) {
        if !self.has_points() {
            return (Ok(None), CallLog::default());
        }
        timed(|| {
            let (result, log) = match self {
                Compiled::Rhai(p) => p.points(req, timeout),
                Compiled::Wasm(p) => (p.points(req, timeout), CallLog::default()),
            };
            let limits = self.limits();
            (
                result.and_then(|a| a.map(|a| validate_award(a, limits)).transpose()),
                log,
            )
        })
    }

    /// Ranks a request, with the output checked against it.
    pub fn rank(&self, req: &OwnedRequest) -> (Result<Vec<Ranked>, Fault>, CallLog) {
        self.rank_within(req, self.timeout())
    }

    /// [`Compiled::rank`], stopped `timeout` after it starts.
    pub fn rank_within(
        &self,
        req: &OwnedRequest,
        timeout: Duration,
    ) -> (Result<Vec<Ranked>, Fault>, CallLog) {
        timed(|| {
            let (result, log) = match self {
                Compiled::Rhai(p) => p.rank(req, timeout),
                Compiled::Wasm(p) => (p.rank(req, timeout), CallLog::default()),
            };
            (result.and_then(|r| validate(r, req, self.limits())), log)
        })
    }
}

/// Makes a call and checks its answer (`call`), recording in its log how long both took.
fn timed<T>(call: impl FnOnce() -> (Result<T, Fault>, CallLog)) -> (Result<T, Fault>, CallLog) {
    let started = Instant::now();
    let (result, mut log) = call();
    log.took = started.elapsed();
    (result, log)
}

/// A plugin's entry points: ranking and the 1.1.0 hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Rank,
    Triage,
    Points,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Rank => "rank",
            Hook::Triage => "triage",
            Hook::Points => "points",
        }
    }
}

/// How long a plugin's calls have taken lately: each entry point's last call's time, which
/// the host reads to decide where the next call of it runs.
#[derive(Debug, Default)]
pub struct Pace([AtomicU64; 3]);

impl Pace {
    /// The last call's time of `hook`; zero before the first.
    pub fn last(&self, hook: Hook) -> Duration {
        Duration::from_nanos(self.0[hook as usize].load(Ordering::Relaxed))
    }

    /// Records a call's time.
    pub fn record(&self, hook: Hook, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.0[hook as usize].store(nanos, Ordering::Relaxed);
    }
}

/// Checks a ranking against its request: only candidates it was given, each once, finite
/// scores, bounded reasons; at most `max_results` are kept.
pub fn validate(
    mut ranked: Vec<Ranked>,
    req: &OwnedRequest,
    limits: &Limits,
) -> Result<Vec<Ranked>, Fault> {
    let n = req.candidate_count as usize;
    if ranked.len() > n {
        return Err(Fault::InvalidOutput(format!(
            "{} results for {n} candidates",
            ranked.len()
        )));
    }
    let mut seen = vec![false; n];
    for (i, r) in ranked.iter().enumerate() {
        let c = r.candidate as usize;
        if c >= n {
            return Err(Fault::InvalidOutput(format!(
                "result {i} names candidate {c}, but there are {n}"
            )));
        }
        if std::mem::replace(&mut seen[c], true) {
            return Err(Fault::InvalidOutput(format!(
                "candidate {c} is ranked twice"
            )));
        }
        if !r.score.is_finite() {
            return Err(Fault::InvalidOutput(format!(
                "candidate {c} has score {}",
                r.score
            )));
        }
        if r.reason.len() > limits.reason_bytes {
            return Err(Fault::InvalidOutput(format!(
                "the reason for candidate {c} is {} bytes; at most {} are allowed",
                r.reason.len(),
                limits.reason_bytes
            )));
        }
    }
    ranked.truncate(req.max_results as usize);
    Ok(ranked)
}

/// Checks a triage decision: a category of the street, valid tags, a bounded note. A decision
/// that changes nothing is as good as none.
pub fn validate_triage(
    d: TriageDecision,
    req: &TriageRequest,
    limits: &Limits,
) -> Result<TriageDecision, Fault> {
    if let Some(c) = &d.category {
        if !req.is_category(c) {
            return Err(Fault::InvalidOutput(format!(
                "triage chose category {c:?}, which is not one of the street's"
            )));
        }
    }
    if let Some(tags) = &d.tags {
        if tags.len() > 20 {
            return Err(Fault::InvalidOutput(format!(
                "triage gave {} tags; at most 20 are allowed",
                tags.len()
            )));
        }
        if let Some(t) = tags
            .iter()
            .find(|t| t.trim().is_empty() || t.chars().count() > 32 || t.trim() != t.as_str())
        {
            return Err(Fault::InvalidOutput(format!(
                "triage gave the tag {t:?}; a tag is 1 to 32 characters without surrounding spaces"
            )));
        }
    }
    if d.note.len() > limits.reason_bytes {
        return Err(Fault::InvalidOutput(format!(
            "the triage note is {} bytes; at most {} are allowed",
            d.note.len(),
            limits.reason_bytes
        )));
    }
    Ok(d)
}

/// The most points one order may earn.
pub const MAX_POINTS: f64 = 1000.0;

/// Checks an award: finite, 0 to [`MAX_POINTS`], a bounded reason.
pub fn validate_award(a: Award, limits: &Limits) -> Result<Award, Fault> {
    if !a.points.is_finite() || !(0.0..=MAX_POINTS).contains(&a.points) {
        return Err(Fault::InvalidOutput(format!(
            "points must be a finite number from 0 to {MAX_POINTS}, not {}",
            a.points
        )));
    }
    if a.reason.len() > limits.reason_bytes {
        return Err(Fault::InvalidOutput(format!(
            "the points reason is {} bytes; at most {} are allowed",
            a.reason.len(),
            limits.reason_bytes
        )));
    }
    Ok(a)
}

/// Runs the built-in default rule natively.
pub fn builtin(req: &OwnedRequest) -> Result<Vec<Ranked>, Fault> {
    gongjian_plugin_sdk::rules::default_rule(&req.view()).map_err(Fault::Plugin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gongjian_plugin_sdk::builder::{CandidateSpec, DemandSpec, RequestBuilder};

    fn request(n: usize, max: u32) -> OwnedRequest {
        let mut b = RequestBuilder::new("s", &DemandSpec::default(), "", 0, max);
        for _ in 0..n {
            b.push(&CandidateSpec::default());
        }
        b.finish()
    }

    fn r(candidate: u32, score: f64, reason: &str) -> Ranked {
        Ranked {
            candidate,
            score,
            reason: reason.into(),
        }
    }

    #[test]
    fn validation_refuses_lies_and_caps_results() {
        let req = request(3, 2);
        let l = Limits::default();
        let check = |v: Vec<Ranked>| validate(v, &req, &l);
        assert_eq!(
            check(vec![r(2, 1.0, "a"), r(0, 0.5, "b"), r(1, 0.1, "c")])
                .unwrap()
                .len(),
            2
        );
        for bad in [
            vec![r(3, 1.0, "")],
            vec![r(0, 1.0, ""), r(0, 2.0, "")],
            vec![r(0, f64::NAN, "")],
            vec![r(0, f64::INFINITY, "")],
            vec![r(0, 1.0, &"x".repeat(201))],
            vec![r(0, 1.0, ""), r(1, 1.0, ""), r(2, 1.0, ""), r(2, 1.0, "")],
        ] {
            assert!(
                matches!(check(bad.clone()), Err(Fault::InvalidOutput(_))),
                "{bad:?}"
            );
        }
        assert!(
            check(vec![]).unwrap().is_empty(),
            "an empty ranking excludes everyone"
        );
    }
}
