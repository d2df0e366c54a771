//! A plugin that misbehaves on purpose, for the host's fault tests. The configuration's
//! `mode` picks how: `ok`, `error`, `loop`, `trap`, `panic`, `oom`, `recurse`, `bad-index`,
//! `duplicate`, `nan`, `huge`, `long-reason`. With `only_category`, it misbehaves only for
//! demands of that category and ranks everyone with score 1 otherwise.

use gongjian_plugin_sdk::{Plugin, Ranked, Request};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    mode: String,
    only_category: Option<String>,
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
            "loop" => {
                let mut i = 0u64;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
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

gongjian_plugin_sdk::export_plugin!(Hostile);
