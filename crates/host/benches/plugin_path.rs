//! What a street's own rule costs a filing beyond the rule's call. Streets of 1,000 and 10,000
//! volunteers that dispatch repairs as soon as they are filed, one with the built-in rule, one
//! with the default rule as a rhai script and one as a WebAssembly plugin, on SQLite (and on
//! PostgreSQL when `GONGJIAN_BENCH_POSTGRES` is a URL). Each round files demands through the
//! HTTP API in each street, one at a time and from 32 clients at once, and times the rule's
//! own call as the plugin benchmark does (the same rule, compiled here, on a request of as
//! many candidates), so every figure of a round sees the same machine. The path around a plugin costs nothing when a filing with the plugin takes the
//! built-in filing's time plus the call's.
//!
//! Reported per street size and mode: the median round of the built-in filing, the plugin's
//! filing and its call, and `extra ÷ call`, round by round what the plugin's filing took
//! beyond the built-in one over the call's time (1.0: the path adds nothing to the call; the
//! goal is at most 1.2), its median and quartiles over the rounds. One at a time, a round's
//! extra is the median of its turns' differences (each turn files once in every street, one
//! after the other), so that one slow fsync moves it by one turn rather than by its length;
//! `means`, beside it, is the ratio by the difference of the streets' mean filings. With the
//! clients at once it is the difference of the means. Beside them, from each street's
//! `/metrics` (`gongjian_plugin_call_duration_seconds`), the mean time of the ranking calls
//! the filings made, the built-in rule's and the plugin's (`in service`), and what is left of
//! the extra once their difference is taken away (`around`: the path's own cost).
//!
//! `cargo bench -p gongjian-host --bench plugin_path` (results in BENCHMARKS.md); an argument
//! of `1000` or `10000` measures that size only.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use gongjian_core::store::db::Db;
use gongjian_host::plugin::{rhai::RhaiRuntime, wasm::WasmRuntime, Compiled, Limits};
use gongjian_plugin_sdk::builder::OwnedRequest;

#[path = "support/api.rs"]
mod api;
#[path = "support/filing.rs"]
mod filing;
#[path = "support/street.rs"]
mod street;

use api::{example_plugins, send, Street};
use axum::http::Method;
use filing::{concurrently, engines, file_and_dispatch, open, street, CLIENTS};

/// Rounds per street size, after two that warm up.
const ROUNDS: usize = 15;

/// Filings per street and round one at a time; turns of a batch per street and round with the
/// clients at once.
const ONE_AT_A_TIME: u32 = 60;
const TURNS: u32 = 4;
const BATCH: u64 = 64;

/// Plugin calls timed per round.
const CALLS: u32 = 40;

/// The times of single filings in each street, one at a time: `iters` turns, each filing once
/// in every street in turn, so that all see the same moments of the machine (a filing waits on
/// its fsync, whose time moves by a third from one moment to the next). `[street][turn]`.
fn one_at_a_time(
    rt: &tokio::runtime::Runtime,
    streets: &[Arc<Street>],
    iters: u32,
) -> Vec<Vec<f64>> {
    let mut took = vec![Vec::with_capacity(iters as usize); streets.len()];
    rt.block_on(async {
        for _ in 0..iters {
            for (s, t) in streets.iter().zip(&mut took) {
                let start = Instant::now();
                file_and_dispatch(s).await;
                t.push(start.elapsed().as_secs_f64() * 1e6);
            }
        }
    });
    took
}

/// The time of one filing in each street with the clients filing at once: `turns` batches of
/// `batch` filings in every street in turn.
fn at_once(
    rt: &tokio::runtime::Runtime,
    streets: &[Arc<Street>],
    turns: u32,
    batch: u64,
) -> Vec<Duration> {
    let mut took = vec![Duration::ZERO; streets.len()];
    for _ in 0..turns {
        for (s, t) in streets.iter().zip(&mut took) {
            let s = s.clone();
            *t += concurrently(rt, batch, move || {
                let s = s.clone();
                async move { file_and_dispatch(&s).await }
            });
        }
    }
    took.into_iter()
        .map(|t| t / (turns * batch as u32))
        .collect()
}

/// The time of one call of `plugin` on `request`, made as the plugin benchmark makes it: on
/// this thread, nothing around it.
fn call_time(plugin: &Compiled, request: &OwnedRequest) -> Duration {
    let start = Instant::now();
    for _ in 0..CALLS {
        let (ranked, _) = plugin.rank(request);
        assert!(!ranked.unwrap().is_empty());
    }
    start.elapsed() / CALLS
}

/// The ranking calls a street's filings have made so far, from its `/metrics`: their total
/// time in seconds and their number.
fn rank_calls(rt: &tokio::runtime::Runtime, s: &Street, runtime: &str) -> (f64, f64) {
    let (_, text) = rt.block_on(send(&s.router, Method::GET, "/metrics", &s.district, None));
    let text = text.as_str().expect("metrics are text");
    let labels = format!(r#"{{runtime="{runtime}",hook="rank"}}"#);
    let read = |name: &str| -> f64 {
        let key = format!("gongjian_plugin_call_duration_seconds_{name}{labels} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .map_or(0.0, |v| v.trim().parse().expect("a number"))
    };
    (read("sum"), read("count"))
}

/// The mean time of the ranking calls made between two readings of [`rank_calls`], in µs.
fn mean_call(before: (f64, f64), after: (f64, f64)) -> f64 {
    let calls = after.1 - before.1;
    assert!(calls > 0.0, "the filings made no ranking call");
    (after.0 - before.0) / calls * 1e6
}

/// The median of a side's rounds.
fn median(v: &[f64]) -> f64 {
    quartiles(v.to_vec()).1
}

/// The first quartile, the median and the third quartile.
fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: usize| v[(v.len() - 1) * q / 4];
    (at(1), at(2), at(3))
}

fn main() {
    // `cargo bench` passes `--bench`; a number is a filter on the street size.
    let only: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engines = engines(dir.path(), "bench.db");
    // The rules as the streets run them, with the streets' limits.
    let rules = [
        Compiled::Rhai(
            RhaiRuntime::new(Limits::default())
                .compile(&example_plugins::rhai_source("default-rule"))
                .unwrap(),
        ),
        Compiled::Wasm(
            WasmRuntime::new(Limits::default())
                .unwrap()
                .compile(&example_plugins::wasm_bytes("default_rule"))
                .unwrap(),
        ),
    ];
    println!(
        "{:<9} {:>6} {:<5} {:<5} {:>12} {:>12} {:>10} {:>22} {:>24} {:>10} {:>6}",
        "engine",
        "n",
        "mode",
        "rule",
        "built-in",
        "plugin",
        "call",
        "in service: built-in",
        "extra ÷ call [quartiles]",
        "around",
        "means"
    );
    for (engine, url) in &engines {
        let db: Db = rt.block_on(open(url));
        for n in [1_000usize, 10_000] {
            if !only.is_empty() && !only.contains(&n) {
                continue;
            }
            // The built-in rule's street first, then one for each of `rules`.
            let streets: Vec<Arc<Street>> = ["builtin", "rhai", "wasm"]
                .into_iter()
                .map(|rule| Arc::new(rt.block_on(street(&db, n, rule, false))))
                .collect();
            let request = street::street(n);
            let runtimes = ["builtin", "rhai", "wasm"];
            let readings = || -> Vec<(f64, f64)> {
                streets
                    .iter()
                    .zip(runtimes)
                    .map(|(s, r)| rank_calls(&rt, s, r))
                    .collect()
            };
            // [mode][street]: rounds of the mean filing time, of what a filing took beyond
            // the built-in one's, and of the mean ranking call in service; calls[rule].
            let mut filings = vec![vec![Vec::new(); streets.len()]; 2];
            let mut extras = vec![vec![Vec::new(); streets.len()]; 2];
            let mut in_service = vec![vec![Vec::new(); streets.len()]; 2];
            let mut calls = vec![Vec::new(); rules.len()];
            for round in 0..ROUNDS + 2 {
                let start = readings();
                let one = one_at_a_time(&rt, &streets, ONE_AT_A_TIME);
                let middle = readings();
                let many = at_once(&rt, &streets, TURNS, BATCH);
                let end = readings();
                let call: Vec<Duration> = rules.iter().map(|r| call_time(r, &request)).collect();
                // The first rounds warm up.
                if round < 2 {
                    continue;
                }
                for (i, turns) in one.iter().enumerate() {
                    filings[0][i].push(turns.iter().sum::<f64>() / turns.len() as f64);
                    // One at a time, the filings of a turn are paired: the median of the
                    // turns' differences, which an fsync slower than the rest (a filing's
                    // time moves by a third, several calls) moves by one turn, not by its
                    // length.
                    let paired: Vec<f64> = turns.iter().zip(&one[0]).map(|(p, b)| p - b).collect();
                    extras[0][i].push(median(&paired));
                }
                let many: Vec<f64> = many.iter().map(|t| t.as_secs_f64() * 1e6).collect();
                for (i, t) in many.iter().enumerate() {
                    filings[1][i].push(*t);
                    extras[1][i].push(t - many[0]);
                }
                for (mode, (from, to)) in
                    [(&start, &middle), (&middle, &end)].into_iter().enumerate()
                {
                    for i in 0..streets.len() {
                        in_service[mode][i].push(mean_call(from[i], to[i]));
                    }
                }
                for (i, t) in call.into_iter().enumerate() {
                    calls[i].push(t.as_secs_f64() * 1e6);
                }
            }
            for (mode, name) in ["one", &CLIENTS.to_string()].iter().enumerate() {
                let base = &filings[mode][0];
                let base_call = &in_service[mode][0];
                for (i, rule) in ["rhai", "wasm"].iter().enumerate() {
                    let plugin = &filings[mode][i + 1];
                    let extra = &extras[mode][i + 1];
                    let plugin_call = &in_service[mode][i + 1];
                    // Round by round: what the plugin's filing took beyond the built-in one's,
                    // over the call's time in the same round.
                    let ratios: Vec<f64> = (0..ROUNDS).map(|r| extra[r] / calls[i][r]).collect();
                    // And that extra less what the calls in service took beyond the built-in
                    // rule's.
                    let around: Vec<f64> = (0..ROUNDS)
                        .map(|r| extra[r] - (plugin_call[r] - base_call[r]))
                        .collect();
                    let q = quartiles(ratios);
                    // One at a time, the ratio by the difference of the streets' mean filings
                    // beside it, as measured before the turns were paired.
                    let means = match mode {
                        0 => {
                            let r: Vec<f64> = (0..ROUNDS)
                                .map(|r| (plugin[r] - base[r]) / calls[i][r])
                                .collect();
                            format!("{:>6.2}", median(&r))
                        }
                        _ => format!("{:>6}", "-"),
                    };
                    println!(
                        "{engine:<9} {n:>6} {name:<5} {rule:<5} {:>9.0} µs {:>9.0} µs {:>7.0} µs {:>7.0} µs → {:>7.0} µs {:>7.2} [{:.2}, {:.2}] {:>7.0} µs {means}",
                        median(base),
                        median(plugin),
                        median(&calls[i]),
                        median(base_call),
                        median(plugin_call),
                        q.1,
                        q.0,
                        q.2,
                        median(&around),
                    );
                }
            }
        }
    }
}
