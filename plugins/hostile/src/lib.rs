//! A plugin that misbehaves on purpose, for the host's fault tests. The configuration's
//! `mode` picks how: `ok`, `error`, `loop`, `trap`, `panic`, `oom`, `recurse`, `bad-index`,
//! `duplicate`, `nan`, `huge`, `long-reason`. With `only_category`, it misbehaves only for
//! demands of that category and ranks everyone with score 1 otherwise.
//!
//! `hook_mode` does the same to the 1.1.0 hooks (again only for `only_category`, when given):
//! `triage-error`, `triage-loop`, `triage-trap`, `triage-bad-category`, `triage-bad-tag`,
//! `points-error`, `points-loop`, `points-nan`, `points-negative`, `points-huge`. Otherwise
//! triage keeps what was filed and points are left to the host.

use gongjian_plugin_sdk::{
    Award, Plugin, Points, PointsRequest, Ranked, Request, Triage, TriageDecision, TriageRequest,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    mode: String,
    only_category: Option<String>,
    hook_mode: Option<String>,
}

impl Config {
    /// The hook mode, when it applies to a demand of `category`.
    fn hook(&self, category: &str) -> &str {
        match (&self.hook_mode, &self.only_category) {
            (Some(m), Some(only)) if only == category => m,
            (Some(m), None) => m,
            _ => "",
        }
    }
}

fn spin() -> ! {
    let mut i = 0u64;
    loop {
        i = std::hint::black_box(i.wrapping_add(1));
    }
}

fn recurse(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 + recurse(std::hint::black_box(n - 1))
    }
}

fn first(reason: &str) -> Ranked {
    Ranked {
        candidate: 0,
        score: 1.0,
        reason: reason.into(),
    }
}

pub struct Hostile;

impl Plugin for Hostile {
    fn rank(req: &Request<'_>) -> Result<Vec<Ranked>, String> {
        let cfg: Config = req.config()?;
        let applies = match &cfg.only_category {
            Some(category) => req.str(req.demand().category) == category,
            None => true,
        };
        let mode = if applies { cfg.mode.as_str() } else { "ok" };
        match mode {
            "ok" => Ok(req
                .candidates()
                .map(|c| Ranked::new(&c, 1.0, "ok"))
                .collect()),
            "error" => Err("the rule refuses".into()),
            "loop" => spin(),
            "trap" => std::process::abort(),
            "panic" => panic!("the rule panics"),
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "recurse" => Ok(vec![Ranked {
                candidate: 0,
                score: recurse(u64::MAX) as f64,
                reason: String::new(),
            }]),
            "bad-index" => Ok(vec![Ranked {
                candidate: req.len() as u32 + 7,
                score: 1.0,
                reason: "?".into(),
            }]),
            "duplicate" => Ok(vec![first("a"), first("b")]),
            "nan" => Ok(vec![Ranked {
                candidate: 0,
                score: f64::NAN,
                reason: "nan".into(),
            }]),
            "huge" => Ok((0..2_000_000).map(|_| first("")).collect()),
            "long-reason" => Ok(vec![first(&"长".repeat(5_000))]),
            other => Err(format!("unknown mode {other}")),
        }
    }
}

impl Triage for Hostile {
    fn triage(req: &TriageRequest) -> Result<Option<TriageDecision>, String> {
        let cfg: Config = req.config()?;
        let decide = |d: TriageDecision| Ok(Some(d));
        match cfg.hook(&req.category) {
            "triage-error" => Err("triage refuses".into()),
            "triage-loop" => spin(),
            "triage-trap" => std::process::abort(),
            "triage-bad-category" => decide(TriageDecision {
                category: Some("no-such-category".into()),
                ..TriageDecision::default()
            }),
            "triage-bad-tag" => decide(TriageDecision {
                tags: Some(vec![" ".into()]),
                ..TriageDecision::default()
            }),
            _ => Ok(None),
        }
    }
}

impl Points for Hostile {
    fn points(req: &PointsRequest) -> Result<Option<Award>, String> {
        let cfg: Config = req.config()?;
        match cfg.hook(&req.category) {
            "points-error" => Err("points refuses".into()),
            "points-loop" => spin(),
            "points-nan" => Ok(Some(Award::new(f64::NAN, "nan"))),
            "points-negative" => Ok(Some(Award::new(-5.0, "negative"))),
            "points-huge" => Ok(Some(Award::new(1e9, "huge"))),
            _ => Ok(None),
        }
    }
}

gongjian_plugin_sdk::export_plugin!(Hostile);
