//! The rhai runtime, for rules written by street office staff.
//!
//! A script defines one of:
//!
//! ```rhai
//! // Per candidate: () leaves it out; a number or #{score: n, reason: "…"} ranks it.
//! fn score(candidate, demand, config) { … }
//!
//! // Over the whole list, column by column (see `columns`): a column of scores, or
//! // #{score: column, keep: flags, notes: #{name: column, …}}; optionally with the reason
//! // for each one ranked, given the notes about that candidate.
//! fn score_all(candidates, demand, config) { … }
//! fn reason(candidate, demand, config, notes) { … }
//!
//! // Over the whole list, candidate by candidate: an array of
//! // #{candidate: index, score: n, reason: "…"}.
//! fn rank(request) { … }
//! ```
//!
//! and may also define the hooks of contract 1.1.0:
//!
//! ```rhai
//! // Triage of a new demand: () keeps it as filed; a map corrects it.
//! fn triage(demand, config) { #{category: "…", urgency: "high", tags: […], note: "…"} }
//!
//! // Points for a completed order: () for the default; a number or #{points: n, reason: "…"}.
//! fn points(order, config) { … }
//! ```
//!
//! The engine is locked down: `import`, `eval` and `export` do not parse; there is no module
//! resolver; operations, call depth, expression depth and string, array and map sizes are
//! bounded; a call past its deadline is stopped; `print` and `debug` go to a bounded log
//! returned with the call. Scripts are compiled once per version.

use std::{
    cell::{Cell, RefCell},
    sync::Arc,
    time::{Duration, Instant},
};

use gongjian_plugin_sdk::{
    best_first, builder::OwnedRequest, Award, CandidateKind, PointsRequest, Ranked, TriageDecision,
    TriageRequest, Urgency,
};
use rhai::{
    Array, CallFnOptions, Dynamic, Engine, EvalAltResult, FuncArgs, ImmutableString, Map, Position,
    Scope, AST, FLOAT, INT,
};

use super::{CallLog, CompileError, Fault, Limits, Pace};

mod columns;

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static LOG: RefCell<(Vec<String>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

fn log_line(line: String) {
    LOG.with(|log| {
        let (lines, cap) = &mut *log.borrow_mut();
        if lines.len() < *cap {
            let mut line = line;
            if line.len() > 500 {
                let mut cut = 500;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push('…');
            }
            lines.push(line);
        }
    });
}

/// The shared rhai engine.
pub struct RhaiRuntime {
    engine: Arc<Engine>,
    limits: Limits,
}

/// What a script defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Score,
    /// `reason` takes the notes when `notes` is set.
    ScoreAll {
        reason: bool,
        notes: bool,
    },
    Rank,
}

/// A compiled script.
pub struct RhaiPlugin {
    engine: Arc<Engine>,
    ast: AST,
    entry: Entry,
    triage: bool,
    points: bool,
    limits: Limits,
    pace: Pace,
}

impl RhaiRuntime {
    pub fn new(limits: Limits) -> Self {
        let mut engine = Engine::new();
        engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
        for symbol in ["import", "export", "eval"] {
            engine.disable_symbol(symbol);
        }
        engine.set_max_operations(limits.rhai_operations);
        engine.set_max_call_levels(32);
        engine.set_max_expr_depths(64, 32);
        engine.set_max_string_size(10_000);
        engine.set_max_array_size(100_000);
        engine.set_max_map_size(1_000);
        engine.set_max_modules(0);
        engine.set_max_functions(500);
        engine.set_max_variables(1_000);
        engine.on_print(|text| log_line(text.to_string()));
        engine.on_debug(|text, _source, pos| log_line(format!("{pos:?}: {text}")));
        engine.on_progress(|ops| {
            if ops % 1024 == 0 {
                let late = DEADLINE.with(|d| d.get().is_some_and(|at| Instant::now() > at));
                if late {
                    return Some(Dynamic::from("deadline"));
                }
            }
            None
        });
        register_types(&mut engine);
        columns::register(&mut engine);
        // rhai interns property names in one table behind a write lock, so calls on several
        // threads queue on every property read. Without the table each read builds its name
        // afresh: some 7% slower alone, 1.7 times the work on two cores.
        engine.set_max_strings_interned(0);
        RhaiRuntime {
            engine: Arc::new(engine),
            limits,
        }
    }

    /// Compiles a script and checks it defines one of `score(candidate, demand, config)`,
    /// `score_all(candidates, demand, config)` or `rank(request)`.
    pub fn compile(&self, source: &str) -> Result<RhaiPlugin, CompileError> {
        let ast = self.engine.compile(source).map_err(|e| {
            let pos = e.position();
            CompileError {
                message: format!(
                    "{} (line {}, column {})",
                    e.err_type(),
                    pos.line().unwrap_or(0),
                    pos.position().unwrap_or(0)
                ),
                position: pos.line().map(|l| (l, pos.position().unwrap_or(0))),
            }
        })?;
        let has = |name: &str, params: usize| {
            ast.iter_functions()
                .any(|f| f.name == name && f.params.len() == params)
        };
        let (notes, reason) = (has("reason", 4), has("reason", 3) || has("reason", 4));
        let entry = match (has("score", 3), has("score_all", 3), has("rank", 1)) {
            (true, false, false) => Entry::Score,
            (false, true, false) => Entry::ScoreAll { reason, notes },
            (false, false, true) => Entry::Rank,
            (false, false, false) => {
                return Err(CompileError::new(
                    "a rule defines fn score(candidate, demand, config), \
                     fn score_all(candidates, demand, config) or fn rank(request)",
                ))
            }
            _ => {
                return Err(CompileError::new(
                    "define only one of score(candidate, demand, config), \
                     score_all(candidates, demand, config) and rank(request)",
                ))
            }
        };
        if reason && !matches!(entry, Entry::ScoreAll { .. }) {
            return Err(CompileError::new(
                "fn reason(candidate, demand, config[, notes]) goes with \
                 fn score_all(candidates, demand, config); score and rank return their reasons",
            ));
        }
        let (triage, points) = (has("triage", 2), has("points", 2));
        Ok(RhaiPlugin {
            engine: self.engine.clone(),
            ast,
            entry,
            triage,
            points,
            limits: self.limits.clone(),
            pace: Pace::default(),
        })
    }
}

impl RhaiPlugin {
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How long its calls have taken lately.
    pub fn pace(&self) -> &Pace {
        &self.pace
    }

    /// Whether the script defines `triage(demand, config)`.
    pub fn has_triage(&self) -> bool {
        self.triage
    }

    /// Whether the script defines `points(order, config)`.
    pub fn has_points(&self) -> bool {
        self.points
    }

    /// Runs one call of the script, stopped `timeout` after it starts, collecting its log.
    fn call<T>(
        &self,
        timeout: Duration,
        f: impl FnOnce() -> Result<T, Fault>,
    ) -> (Result<T, Fault>, CallLog) {
        DEADLINE.with(|d| d.set(Some(Instant::now() + timeout)));
        LOG.with(|l| *l.borrow_mut() = (Vec::new(), self.limits.log_lines));
        columns::set_budget(self.limits.rhai_column_bytes);
        let result = f().map_err(|fault| match fault {
            Fault::Timeout(_) => Fault::Timeout(timeout),
            fault => fault,
        });
        DEADLINE.with(|d| d.set(None));
        let lines = LOG.with(|l| std::mem::take(&mut l.borrow_mut().0));
        (
            result,
            CallLog {
                lines,
                ..CallLog::default()
            },
        )
    }

    /// Runs the script on a request.
    pub fn rank(
        &self,
        req: &OwnedRequest,
        timeout: Duration,
    ) -> (Result<Vec<Ranked>, Fault>, CallLog) {
        self.call(timeout, || self.run(req))
    }

    /// Calls one of the script's functions; its top level is not run again.
    fn call_fn(
        &self,
        scope: &mut Scope,
        name: &str,
        args: impl FuncArgs,
    ) -> Result<Dynamic, Fault> {
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        self.engine
            .call_fn_with_options(options, scope, &self.ast, name, args)
            .map_err(|e| self.classify(*e))
    }

    fn hook(&self, name: &str, subject: Map, config: &str) -> Result<Dynamic, Fault> {
        let config = parse_config(&self.engine, config)?;
        self.call_fn(
            &mut Scope::new(),
            name,
            (Dynamic::from_map(subject), config),
        )
    }

    /// Runs `triage(demand, config)`.
    pub fn triage(
        &self,
        req: &TriageRequest,
        timeout: Duration,
    ) -> (Result<Option<TriageDecision>, Fault>, CallLog) {
        self.call(timeout, || {
            let out = self.hook("triage", triage_map(req), &req.config)?;
            triage_decision(out)
        })
    }

    /// Runs `points(order, config)`.
    pub fn points(
        &self,
        req: &PointsRequest,
        timeout: Duration,
    ) -> (Result<Option<Award>, Fault>, CallLog) {
        self.call(timeout, || {
            let out = self.hook("points", points_map(req), &req.config)?;
            award(out)
        })
    }

    fn run(&self, req: &OwnedRequest) -> Result<Vec<Ranked>, Fault> {
        let shared = Arc::new(Shared::new(req));
        let config = parse_config(&self.engine, &req.config)?;
        let demand = RDemand {
            shared: shared.clone(),
        };
        let mut scope = Scope::new();
        match self.entry {
            Entry::Score => {
                let mut ranked = Vec::new();
                for index in 0..req.candidate_count {
                    let candidate = RCandidate::new(&shared, index);
                    let out = self.call_fn(
                        &mut scope,
                        "score",
                        (candidate, demand.clone(), config.clone()),
                    )?;
                    if let Some(r) = scored(index, out)? {
                        ranked.push(r);
                    }
                }
                // All of them: validation counts what the script returned.
                Ok(best_first(ranked, usize::MAX))
            }
            Entry::ScoreAll { reason, notes } => {
                let candidates = columns::Candidates {
                    shared: shared.clone(),
                };
                let out = self.call_fn(
                    &mut scope,
                    "score_all",
                    (candidates, demand.clone(), config.clone()),
                )?;
                let scored = columns::scores(out, req.candidate_count as usize)?;
                let mut ranked = Vec::new();
                for (i, score) in scored.scores.iter().copied().enumerate() {
                    if !scored.keep[i] {
                        continue;
                    }
                    if !score.is_finite() {
                        return Err(Fault::InvalidOutput(format!(
                            "candidate {i} has score {score}"
                        )));
                    }
                    ranked.push(Ranked {
                        candidate: i as u32,
                        score,
                        reason: String::new(),
                    });
                }
                // Reasons only for those who will be shown.
                let mut ranked = best_first(ranked, req.max_results as usize);
                if reason {
                    for r in &mut ranked {
                        let mut args = vec![
                            Dynamic::from(RCandidate::new(&shared, r.candidate)),
                            Dynamic::from(demand.clone()),
                            config.clone(),
                        ];
                        if notes {
                            args.push(Dynamic::from_map(scored.notes_for(r.candidate as usize)));
                        }
                        let out = self.call_fn(&mut scope, "reason", args)?;
                        r.reason = match out {
                            out if out.is_unit() => String::new(),
                            out if out.is_string() => out.to_string(),
                            out => {
                                return Err(Fault::InvalidOutput(format!(
                                    "reason for candidate {} must return a string or (), not {}",
                                    r.candidate,
                                    out.type_name()
                                )))
                            }
                        };
                    }
                }
                Ok(ranked)
            }
            Entry::Rank => {
                let request = RRequest { shared, config };
                let out = self.call_fn(&mut scope, "rank", (request,))?;
                let items = out
                    .try_cast::<Array>()
                    .ok_or_else(|| Fault::InvalidOutput("rank must return an array".into()))?;
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| ranked_entry(i, item))
                    .collect()
            }
        }
    }

    fn classify(&self, err: EvalAltResult) -> Fault {
        let at = |pos: Position| match (pos.line(), pos.position()) {
            (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
            (Some(l), None) => format!(" (line {l})"),
            _ => String::new(),
        };
        match err {
            EvalAltResult::ErrorTerminated(_, _) => Fault::Timeout(self.limits.timeout),
            EvalAltResult::ErrorTooManyOperations(pos) => Fault::Limit(format!(
                "more than {} operations{}",
                self.limits.rhai_operations,
                at(pos)
            )),
            EvalAltResult::ErrorStackOverflow(pos) => {
                Fault::Limit(format!("calls nested too deep{}", at(pos)))
            }
            EvalAltResult::ErrorDataTooLarge(what, pos) => {
                Fault::Limit(format!("{what} too large{}", at(pos)))
            }
            EvalAltResult::ErrorTooManyVariables(pos) | EvalAltResult::ErrorTooManyModules(pos) => {
                Fault::Limit(format!("too many variables or modules{}", at(pos)))
            }
            EvalAltResult::ErrorRuntime(value, pos) => Fault::Plugin(format!("{value}{}", at(pos))),
            other => {
                let pos = other.position();
                Fault::Trap(format!("{other}{}", at(pos)).replace(&format!(" ({pos})"), ""))
            }
        }
    }
}

fn parse_config(engine: &Engine, text: &str) -> Result<Dynamic, Fault> {
    // Shared, so handing it to the script for every candidate is a reference count, not a
    // copy of the map.
    if text.trim().is_empty() {
        return Ok(Dynamic::from_map(Map::new()).into_shared());
    }
    engine
        .parse_json(text, true)
        .map(|m| Dynamic::from_map(m).into_shared())
        .map_err(|e| Fault::Plugin(format!("the configuration is not a JSON object: {e}")))
}

fn number(value: &Dynamic) -> Option<f64> {
    if let Some(f) = value.clone().try_cast::<FLOAT>() {
        Some(f)
    } else {
        value.clone().try_cast::<INT>().map(|i| i as f64)
    }
}

fn urgency_name(u: Urgency) -> &'static str {
    match u {
        Urgency::Low => "low",
        Urgency::Normal => "normal",
        Urgency::High => "high",
        Urgency::Critical => "critical",
    }
}

fn text_list(items: &[String]) -> Dynamic {
    Dynamic::from_array(items.iter().map(|t| Dynamic::from(t.clone())).collect())
}

fn opt_int(v: Option<i64>) -> Dynamic {
    v.map(Dynamic::from).unwrap_or(Dynamic::UNIT)
}

/// The demand a triage sees, as a map.
fn triage_map(r: &TriageRequest) -> Map {
    let mut m = Map::new();
    let mut put = |k: &str, v: Dynamic| {
        m.insert(k.into(), v);
    };
    put("street", r.street.clone().into());
    put("category", r.category.clone().into());
    put("category_label", r.category_label.clone().into());
    put("tags", text_list(&r.tags));
    put("urgency", urgency_name(r.urgency).into());
    put("channel", r.channel.clone().into());
    put("description", r.description.clone().into());
    put("grid", r.grid.clone().into());
    put("community", r.community.clone().into());
    put("window_start", opt_int(r.window_start));
    put("window_end", opt_int(r.window_end));
    put("filed_at", r.filed_at.into());
    put("now", r.now.into());
    put(
        "categories",
        Dynamic::from_array(
            r.categories
                .iter()
                .map(|c| {
                    let mut cm = Map::new();
                    cm.insert("code".into(), c.code.clone().into());
                    cm.insert("label".into(), c.label.clone().into());
                    Dynamic::from_map(cm)
                })
                .collect(),
        ),
    );
    m
}

/// The order a points rule sees, as a map.
fn points_map(r: &PointsRequest) -> Map {
    let mut m = Map::new();
    let mut put = |k: &str, v: Dynamic| {
        m.insert(k.into(), v);
    };
    put("street", r.street.clone().into());
    put("category", r.category.clone().into());
    put("urgency", urgency_name(r.urgency).into());
    put(
        "assignee_kind",
        match r.assignee_kind {
            CandidateKind::Volunteer => "volunteer",
            CandidateKind::Resource => "resource",
        }
        .into(),
    );
    put("service_minutes", INT::from(r.service_minutes).into());
    put("filed_at", r.filed_at.into());
    put("accepted_at", r.accepted_at.into());
    put("completed_at", r.completed_at.into());
    put("complete_by", opt_int(r.complete_by));
    put("on_time", r.on_time().into());
    put("escalations", INT::from(r.escalations).into());
    put("completed_before", INT::from(r.completed_before).into());
    m
}

/// Reads what `triage` returned.
fn triage_decision(out: Dynamic) -> Result<Option<TriageDecision>, Fault> {
    if out.is_unit() {
        return Ok(None);
    }
    let bad = |what: String| Fault::InvalidOutput(format!("triage: {what}"));
    let map = out
        .try_cast::<Map>()
        .ok_or_else(|| bad("must return () or a map #{category, urgency, tags, note}".into()))?;
    let mut d = TriageDecision::default();
    for (key, value) in map {
        match key.as_str() {
            "category" => {
                d.category = Some(
                    value
                        .into_immutable_string()
                        .map_err(|_| bad("`category` must be a string".into()))?
                        .to_string(),
                )
            }
            "urgency" => {
                let text = value
                    .into_immutable_string()
                    .map_err(|_| bad("`urgency` must be a string".into()))?;
                d.urgency = Some(match text.as_str() {
                    "low" => Urgency::Low,
                    "normal" => Urgency::Normal,
                    "high" => Urgency::High,
                    "critical" => Urgency::Critical,
                    other => {
                        return Err(bad(format!(
                            "`urgency` is low, normal, high or critical, not {other:?}"
                        )))
                    }
                });
            }
            "tags" => {
                let items = value
                    .try_cast::<Array>()
                    .ok_or_else(|| bad("`tags` must be an array of strings".into()))?;
                d.tags = Some(
                    items
                        .into_iter()
                        .map(|t| {
                            t.into_immutable_string()
                                .map(|t| t.to_string())
                                .map_err(|_| bad("`tags` must be an array of strings".into()))
                        })
                        .collect::<Result<_, _>>()?,
                );
            }
            "note" => d.note = value.to_string(),
            other => {
                return Err(bad(format!(
                    "unknown key {other:?}; a decision has category, urgency, tags and note"
                )))
            }
        }
    }
    Ok(Some(d))
}

/// Reads what `points` returned.
fn award(out: Dynamic) -> Result<Option<Award>, Fault> {
    if out.is_unit() {
        return Ok(None);
    }
    if let Some(points) = number(&out) {
        return Ok(Some(Award::new(points, "")));
    }
    let map = out.try_cast::<Map>().ok_or_else(|| {
        Fault::InvalidOutput("points must return (), a number or #{points, reason}".into())
    })?;
    let points = map
        .get("points")
        .and_then(number)
        .ok_or_else(|| Fault::InvalidOutput("points: the map needs a numeric `points`".into()))?;
    let reason = map.get("reason").map(|r| r.to_string()).unwrap_or_default();
    Ok(Some(Award::new(points, reason)))
}

/// Reads what `score` returned for one candidate.
fn scored(index: u32, out: Dynamic) -> Result<Option<Ranked>, Fault> {
    if out.is_unit() {
        return Ok(None);
    }
    if let Some(score) = number(&out) {
        return Ok(Some(Ranked {
            candidate: index,
            score,
            reason: String::new(),
        }));
    }
    if let Some(map) = out.try_cast::<Map>() {
        let score = map.get("score").and_then(number).ok_or_else(|| {
            Fault::InvalidOutput(format!(
                "score for candidate {index}: the map needs a numeric `score`"
            ))
        })?;
        let reason = map.get("reason").map(|r| r.to_string()).unwrap_or_default();
        return Ok(Some(Ranked {
            candidate: index,
            score,
            reason,
        }));
    }
    Err(Fault::InvalidOutput(format!(
        "score for candidate {index} must return (), a number or a map"
    )))
}

/// Reads one element of what `rank` returned.
fn ranked_entry(i: usize, item: Dynamic) -> Result<Ranked, Fault> {
    let bad = |what: &str| Fault::InvalidOutput(format!("rank result {i}: {what}"));
    let map = item
        .try_cast::<Map>()
        .ok_or_else(|| bad("must be a map #{candidate, score, reason}"))?;
    let candidate = map
        .get("candidate")
        .and_then(|c| c.clone().try_cast::<INT>())
        .ok_or_else(|| bad("needs an integer `candidate`"))?;
    let candidate = u32::try_from(candidate).map_err(|_| bad("`candidate` is out of range"))?;
    let score = map
        .get("score")
        .and_then(number)
        .ok_or_else(|| bad("needs a numeric `score`"))?;
    let reason = map.get("reason").map(|r| r.to_string()).unwrap_or_default();
    Ok(Ranked {
        candidate,
        score,
        reason,
    })
}

/// The request's data, shared by the values a script sees.
struct Shared {
    req: OwnedRequest,
    strings: Vec<ImmutableString>,
}

impl Shared {
    fn new(req: &OwnedRequest) -> Self {
        Shared {
            strings: req
                .strings
                .iter()
                .map(|s| ImmutableString::from(s.as_str()))
                .collect(),
            req: req.clone(),
        }
    }

    fn s(&self, index: u32) -> ImmutableString {
        self.strings[index as usize].clone()
    }

    fn list(&self, items: &[u32]) -> Array {
        items.iter().map(|i| Dynamic::from(self.s(*i))).collect()
    }
}

#[derive(Clone)]
struct RDemand {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct RCandidate {
    shared: Arc<Shared>,
    index: u32,
}

impl RCandidate {
    fn new(shared: &Arc<Shared>, index: u32) -> Self {
        RCandidate {
            shared: shared.clone(),
            index,
        }
    }

    fn with<T>(&self, f: impl FnOnce(gongjian_plugin_sdk::Candidate<'_>) -> T) -> T {
        f(self.shared.req.view_unchecked().candidate(self.index))
    }
}

#[derive(Clone)]
struct RRequest {
    shared: Arc<Shared>,
    config: Dynamic,
}

fn register_types(engine: &mut Engine) {
    engine.register_type_with_name::<RDemand>("Demand");
    engine.register_get("category", |d: &mut RDemand| {
        d.shared.s(d.shared.req.category)
    });
    engine.register_get("category_label", |d: &mut RDemand| {
        d.shared.s(d.shared.req.category_label)
    });
    engine.register_get("tags", |d: &mut RDemand| d.shared.list(&d.shared.req.tags));
    engine.register_get("grid", |d: &mut RDemand| d.shared.s(d.shared.req.grid));
    engine.register_get("community", |d: &mut RDemand| {
        d.shared.s(d.shared.req.community)
    });
    engine.register_get("urgency", |d: &mut RDemand| {
        ImmutableString::from(match d.shared.req.urgency {
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
            Urgency::Critical => "critical",
        })
    });
    engine.register_get("window_start", |d: &mut RDemand| {
        d.shared
            .req
            .window_start
            .map(Dynamic::from)
            .unwrap_or(Dynamic::UNIT)
    });
    engine.register_get("window_end", |d: &mut RDemand| {
        d.shared
            .req
            .window_end
            .map(Dynamic::from)
            .unwrap_or(Dynamic::UNIT)
    });
    engine.register_get("filed_at", |d: &mut RDemand| d.shared.req.filed_at);
    engine.register_fn("has_tag", |d: &mut RDemand, tag: ImmutableString| {
        d.shared
            .req
            .tags
            .iter()
            .any(|t| d.shared.strings[*t as usize] == tag)
    });

    engine.register_type_with_name::<RCandidate>("Candidate");
    engine.register_get("index", |c: &mut RCandidate| INT::from(c.index));
    engine.register_get("kind", |c: &mut RCandidate| {
        ImmutableString::from(match c.with(|x| x.kind()) {
            CandidateKind::Volunteer => "volunteer",
            CandidateKind::Resource => "resource",
        })
    });
    engine.register_get("party_member", |c: &mut RCandidate| {
        c.with(|x| x.party_member())
    });
    engine.register_get("availability_fits", |c: &mut RCandidate| {
        c.with(|x| x.availability_fits())
    });
    engine.register_get("has_ratings", |c: &mut RCandidate| {
        c.with(|x| x.has_ratings())
    });
    engine.register_get("owned_by_unit", |c: &mut RCandidate| {
        c.with(|x| x.owned_by_unit())
    });
    engine.register_get("home_grid", |c: &mut RCandidate| {
        c.shared.s(c.with(|x| x.home_grid()))
    });
    engine.register_get("community", |c: &mut RCandidate| {
        c.shared.s(c.with(|x| x.community()))
    });
    engine.register_get("team", |c: &mut RCandidate| {
        c.shared.s(c.with(|x| x.team()))
    });
    engine.register_get("category", |c: &mut RCandidate| {
        c.shared.s(c.with(|x| x.category()))
    });
    engine.register_get("owner_kind", |c: &mut RCandidate| {
        c.shared.s(c.with(|x| x.owner_kind()))
    });
    engine.register_get("skills", |c: &mut RCandidate| {
        let shared = c.shared.clone();
        c.with(|x| shared.list(x.labels()))
    });
    engine.register_get("tags", |c: &mut RCandidate| {
        let shared = c.shared.clone();
        c.with(|x| shared.list(x.labels()))
    });
    engine.register_get("served_grids", |c: &mut RCandidate| {
        let shared = c.shared.clone();
        c.with(|x| shared.list(x.served_grids()))
    });
    engine.register_get("open_orders", |c: &mut RCandidate| {
        INT::from(c.with(|x| x.open_orders()))
    });
    engine.register_get("max_open_orders", |c: &mut RCandidate| {
        INT::from(c.with(|x| x.max_open_orders()))
    });
    engine.register_get("completed_orders", |c: &mut RCandidate| {
        INT::from(c.with(|x| x.completed_orders()))
    });
    engine.register_get("capacity_left", |c: &mut RCandidate| {
        INT::from(c.with(|x| x.capacity_left()))
    });
    engine.register_get("average_rating", |c: &mut RCandidate| {
        FLOAT::from(c.with(|x| x.average_rating()))
    });
    engine.register_get("service_minutes", |c: &mut RCandidate| {
        INT::from(c.with(|x| x.service_minutes()))
    });
    engine.register_get("last_order_at", |c: &mut RCandidate| {
        c.with(|x| x.last_order_at())
    });
    engine.register_fn("has_skill", |c: &mut RCandidate, skill: ImmutableString| {
        let shared = c.shared.clone();
        c.with(|x| {
            x.labels()
                .iter()
                .any(|l| shared.strings[*l as usize] == skill)
        })
    });
    engine.register_fn(
        "serves_grid",
        |c: &mut RCandidate, grid: ImmutableString| {
            let shared = c.shared.clone();
            c.with(|x| match shared.strings.iter().position(|s| *s == grid) {
                Some(g) => x.serves_grid(g as u32),
                None => x.kind() == CandidateKind::Resource && x.served_grids().is_empty(),
            })
        },
    );
    engine.register_fn("has_room", |c: &mut RCandidate| c.with(|x| x.has_room()));

    engine.register_type_with_name::<RRequest>("Request");
    engine.register_get("demand", |r: &mut RRequest| RDemand {
        shared: r.shared.clone(),
    });
    engine.register_get("candidates", |r: &mut RRequest| -> Array {
        (0..r.shared.req.candidate_count)
            .map(|i| Dynamic::from(RCandidate::new(&r.shared, i)))
            .collect()
    });
    engine.register_get("config", |r: &mut RRequest| r.config.clone());
    engine.register_get("now", |r: &mut RRequest| r.shared.req.now);
    engine.register_get("max_results", |r: &mut RRequest| {
        INT::from(r.shared.req.max_results)
    });
    engine.register_get("street", |r: &mut RRequest| r.shared.s(r.shared.req.street));
}
