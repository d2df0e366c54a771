//! Notifications delivered per second: a street's filings fill the outbox (each filing, with
//! the street dispatching it at once, tells the street's endpoint of the demand and of its
//! order's offer), and the sender every host runs (`notify::run_once`: fan-out, claim, sign,
//! post, record) drains it to a receiver on 127.0.0.1 that answers 204. One measured iteration
//! is one delivery; the filings before each measurement are not timed. Measured on SQLite and,
//! when `GONGJIAN_BENCH_POSTGRES` is a PostgreSQL URL, on PostgreSQL; each database is
//! checked with the invariant checker afterwards.
//!
//! `cargo bench -p gongjian-host --bench notify` (results in BENCHMARKS.md).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{http::Method, http::StatusCode, routing::post, Router};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gongjian_core::{
    domain::{access::RoleKind, webhook::Reach},
    store::db::{Db, DbOptions},
};
use gongjian_host::{
    notify::{run_once, Sender},
    AppState,
};
use serde_json::json;

#[path = "support/api.rs"]
mod api;
#[path = "support/filing.rs"]
#[allow(dead_code)]
mod filing;

use api::{call, Street};
use filing::{engines, file_and_dispatch};

/// Deliveries a filing makes to the street's endpoint: the demand filed, its order offered.
const PER_FILING: u64 = 2;

/// A receiver on 127.0.0.1 that counts what it is sent and answers 204.
async fn receiver() -> (String, Arc<AtomicU64>) {
    let got = Arc::new(AtomicU64::new(0));
    let counted = got.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/hook",
        post(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::Relaxed);
                StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// A street that dispatches repairs on filing, with one endpoint that hears everything its
/// street is told; and the sender, allowed to reach this machine.
async fn street(url: &str, hook: &str) -> (Street, AppState, Sender) {
    let db = Db::open(url, &DbOptions::default()).await.unwrap();
    let district = api::token(&db, RoleKind::DistrictAdmin, None, None).await;
    let mut state = AppState::new(db.clone());
    state.core.webhooks.reach = Reach::Local;
    let router = gongjian_host::app(state.clone());
    let s = api::street(&db, &router, &district, 100, "builtin", false).await;
    api::dispatch_on_filing(&s, "repair").await;
    call(
        &s.router,
        Method::POST,
        "/api/v1/webhooks",
        &s.admin,
        json!({"owner": "street", "owner_id": s.id, "url": hook}),
    )
    .await;
    let sender = Sender::new(&state.core.webhooks).unwrap();
    (s, state, sender)
}

/// Runs the sender until it has nothing left to do; answers the attempts it made.
async fn drain(state: &AppState, sender: &Sender) -> u64 {
    let mut attempts = 0;
    loop {
        let pass = run_once(&state.core, sender).await.unwrap();
        attempts += pass.attempts as u64;
        if pass.attempts == 0 && pass.fanned_out == 0 {
            return attempts;
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engines = engines(dir.path(), "notify.db");
    let mut group = c.benchmark_group("deliver");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    for (engine, url) in &engines {
        let (hook, got) = rt.block_on(receiver());
        let (s, state, sender) = rt.block_on(street(url, &hook));
        group.bench_function(format!("{engine}/webhook"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    for _ in 0..iters.div_ceil(PER_FILING) {
                        file_and_dispatch(&s).await;
                    }
                    let before = got.load(Ordering::Relaxed);
                    let start = Instant::now();
                    let attempts = drain(&state, &sender).await;
                    let took = start.elapsed();
                    let delivered = got.load(Ordering::Relaxed) - before;
                    assert_eq!(attempts, delivered, "every attempt delivered once");
                    assert!(delivered >= iters, "{delivered} delivered of {iters}");
                    // The time of `iters` deliveries, at the rate measured.
                    took.mul_f64(iters as f64 / delivered as f64)
                })
            })
        });
        let report = rt
            .block_on(gongjian_core::store::check::check_database(url))
            .unwrap();
        assert!(report.is_clean(), "{:#?}", report.violations);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
