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

use std::time::{Duration, Instant};

use axum::http::Method;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gongjian_core::{
    domain::access::RoleKind,
    store::db::{Db, DbOptions},
};
use gongjian_host::AppState;
use serde_json::json;

#[path = "support/api.rs"]
mod api;

use api::{call, Street};

/// The database of an engine, with what runs beside the requests in `gongjian serve`: the
/// figures' folder and the notifications' sender. One for all the streets of an engine, as
/// one host keeps one (on SQLite, two would be two writers of one file).
async fn open(url: &str) -> Db {
    let db = Db::open(url, &DbOptions::default()).await.unwrap();
    let core = AppState::new(db.clone()).core;
    gongjian_core::service::stats::fold_in_background(
        core.clone(),
        std::time::Duration::from_secs(1),
    );
    gongjian_host::notify::spawn(
        core.clone(),
        gongjian_host::notify::Sender::new(&core.webhooks).unwrap(),
        std::time::Duration::from_secs(1),
    );
    db
}

/// A street with `n` volunteers in 36 grids, and the given rule active, that dispatches
/// repairs as soon as they are filed; with `tokens`, a token for every volunteer.
async fn street(db: &Db, n: usize, rule: &str, tokens: bool) -> Street {
    let district = api::token(db, RoleKind::DistrictAdmin, None, None).await;
    let router = gongjian_host::app(AppState::new(db.clone()));
    let s = api::street(db, &router, &district, n, rule, tokens).await;
    call(
        &s.router,
        Method::PUT,
        &format!("/api/v1/streets/{}/dispatch-settings/repair", s.id),
        &s.admin,
        json!({"auto_dispatch": true, "offer_count": 3, "accept_minutes": 30}),
    )
    .await;
    s
}

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

/// Runs `work` `iters` times, spread over `CLIENTS` clients at once; the time it took.
fn concurrently<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, work: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async {
        let start = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|k| {
                let work = work.clone();
                let mine = iters / CLIENTS + u64::from(k < iters % CLIENTS);
                tokio::spawn(async move {
                    for _ in 0..mine {
                        work().await;
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        start.elapsed()
    })
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

/// Files a repair; the street dispatches it before answering.
async fn file_and_dispatch(s: &Street) {
    let d = call(
        &s.router,
        Method::POST,
        "/api/v1/demands",
        &s.admin,
        json!({"grid_id": s.grids[7], "category": "repair", "urgency": "high", "channel": "hotline", "description": "水管漏水",
               "resident": {"name": "李秀英", "phone": "13912345678", "address": "滨城区市西街道魏鑫家园"}}),
    )
    .await;
    assert_eq!(d["status"], "dispatched", "{d}");
}

/// Clients filing at once in the concurrent measurement.
const CLIENTS: u64 = 32;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut engines = vec![(
        "sqlite".to_string(),
        format!("sqlite://{}", dir.path().join("bench.db").display()),
    )];
    if let Ok(pg) = std::env::var("GONGJIAN_BENCH_POSTGRES") {
        engines.push(("postgres".to_string(), pg));
    }
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
