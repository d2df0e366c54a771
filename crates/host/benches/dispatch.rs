//! Filing and dispatching demands through the HTTP API, in process. The street dispatches
//! repairs as soon as they are filed, so one request files a demand, ranks its candidates with
//! the street's rule and writes the order and its offers. Measured one request at a time (the
//! latency from filing to offer) and with 32 clients filing at once (the rate), with 1,000 and
//! 10,000 volunteers, the built-in rule, rhai and WebAssembly, on SQLite and, when
//! `GONGJIAN_BENCH_POSTGRES` is a PostgreSQL URL, on PostgreSQL.
//!
//! A second group dispatches on an admin's request and accepts: one iteration files a demand
//! (not dispatched automatically), dispatches it and has the first offered volunteer accept
//! it — the transactions that lock the demand, the order and the volunteer's row. After the
//! load, each database is checked with the invariant checker.
//!
//! `cargo bench -p gongjian-host --bench dispatch` (results in BENCHMARKS.md).

use std::time::Duration;

use axum::http::Method;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gongjian_core::store::db::Db;
use serde_json::json;

#[path = "support/api.rs"]
mod api;
#[path = "support/filing.rs"]
mod filing;

use api::{call, Street};
use filing::{concurrently, engines, file_and_dispatch, open, street, CLIENTS};

/// Files an elderly-care demand (not dispatched on filing), dispatches it and has the first
/// offered volunteer accept it.
async fn dispatch_and_accept(s: &Street) {
    let d = call(
        &s.router,
        Method::POST,
        "/api/v1/demands",
        &s.admin,
        json!({"grid_id": s.grids[7], "category": "elderly_care", "urgency": "high", "channel": "grid_worker",
               "description": "独居老人需要助浴",
               "resident": {"name": "李秀英", "phone": "13912345678", "address": "滨城区市西街道魏鑫家园"}}),
    )
    .await;
    let order = call(
        &s.router,
        Method::POST,
        &format!("/api/v1/demands/{}/dispatch", d["id"].as_str().unwrap()),
        &s.admin,
        json!({"offer_count": 3}),
    )
    .await;
    let first = order["offers"][0]["candidate_id"].as_str().unwrap();
    let accepted = call(
        &s.router,
        Method::POST,
        &format!("/api/v1/orders/{}/accept", order["id"].as_str().unwrap()),
        &s.volunteers[first],
        json!({}),
    )
    .await;
    assert_eq!(accepted["status"], "accepted", "{accepted}");
}

/// Checks the database after the load: nothing the load did breaks an invariant.
fn assert_consistent(rt: &tokio::runtime::Runtime, url: &str) {
    let report = rt
        .block_on(gongjian_core::store::check::check_database(url))
        .unwrap();
    assert!(
        report.is_clean(),
        "the load broke invariants: {:#?}",
        report.violations
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engines = engines(dir.path(), "bench.db");
    let mut group = c.benchmark_group("file_and_dispatch");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    // Setting a street up takes a while: skip those a filter on the command line (taken as a
    // plain substring of the benchmark's name) leaves out.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let dbs: Vec<Db> = engines
        .iter()
        .map(|(_, url)| rt.block_on(open(url)))
        .collect();
    for ((engine, url), db) in engines.iter().zip(&dbs) {
        let mut loaded = false;
        for n in [1_000usize, 10_000] {
            for rule in ["builtin", "rhai", "wasm"] {
                let wanted = |mode: &str| {
                    filter.as_ref().is_none_or(|f| {
                        format!("file_and_dispatch/{engine}/{rule}/{mode}/{n}").contains(f.as_str())
                    })
                };
                if !wanted("one") && !wanted(&CLIENTS.to_string()) {
                    continue;
                }
                let s = std::sync::Arc::new(rt.block_on(street(db, n, rule, false)));
                loaded = true;
                group.bench_function(BenchmarkId::new(format!("{engine}/{rule}/one"), n), |b| {
                    b.iter(|| rt.block_on(file_and_dispatch(&s)))
                });
                // Each measured iteration is one demand, filed by one of CLIENTS clients.
                group.bench_function(
                    BenchmarkId::new(format!("{engine}/{rule}/{CLIENTS}"), n),
                    |b| {
                        b.iter_custom(|iters| {
                            let s = s.clone();
                            concurrently(&rt, iters, move || {
                                let s = s.clone();
                                async move { file_and_dispatch(&s).await }
                            })
                        })
                    },
                );
            }
        }
        if loaded {
            assert_consistent(&rt, url);
        }
    }
    group.finish();

    let mut group = c.benchmark_group("dispatch_and_accept");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    for ((engine, url), db) in engines.iter().zip(&dbs) {
        let n = 1_000usize;
        let wanted = |mode: &str| {
            filter.as_ref().is_none_or(|f| {
                format!("dispatch_and_accept/{engine}/{mode}/{n}").contains(f.as_str())
            })
        };
        if !wanted("one") && !wanted(&CLIENTS.to_string()) {
            continue;
        }
        let s = std::sync::Arc::new(rt.block_on(street(db, n, "builtin", true)));
        group.bench_function(BenchmarkId::new(format!("{engine}/one"), n), |b| {
            b.iter(|| rt.block_on(dispatch_and_accept(&s)))
        });
        group.bench_function(BenchmarkId::new(format!("{engine}/{CLIENTS}"), n), |b| {
            b.iter_custom(|iters| {
                let s = s.clone();
                concurrently(&rt, iters, move || {
                    let s = s.clone();
                    async move { dispatch_and_accept(&s).await }
                })
            })
        });
        assert_consistent(&rt, url);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
