//! What the filing benchmarks share: the engines measured, the database of an engine with what
//! runs beside the requests, a street that dispatches repairs as soon as they are filed, a
//! filing, and clients filing at once.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use axum::http::Method;
use gongjian_core::{
    domain::access::RoleKind,
    store::db::{Db, DbOptions},
};
use gongjian_host::AppState;
use serde_json::json;

use super::api::{self, call, Street};

/// The engines measured: SQLite in a file `name` in `dir`, and PostgreSQL when
/// `GONGJIAN_BENCH_POSTGRES` is a URL (a fresh database is the caller's to make).
pub fn engines(dir: &Path, name: &str) -> Vec<(&'static str, String)> {
    let mut engines = vec![("sqlite", format!("sqlite://{}", dir.join(name).display()))];
    if let Ok(pg) = std::env::var("GONGJIAN_BENCH_POSTGRES") {
        engines.push(("postgres", pg));
    }
    engines
}

/// The database of an engine, with what runs beside the requests in `gongjian serve`: the
/// figures' folder and the notifications' sender. One for all the streets of an engine, as
/// one host keeps one (on SQLite, two would be two writers of one file).
pub async fn open(url: &str) -> Db {
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
pub async fn street(db: &Db, n: usize, rule: &str, tokens: bool) -> Street {
    let district = api::token(db, RoleKind::DistrictAdmin, None, None).await;
    let router = gongjian_host::app(AppState::new(db.clone()));
    let s = api::street(db, &router, &district, n, rule, tokens).await;
    api::dispatch_on_filing(&s, "repair").await;
    s
}

/// Files a repair; the street dispatches it before answering.
pub async fn file_and_dispatch(s: &Street) {
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
pub const CLIENTS: u64 = 32;

/// Runs `work` `iters` times, spread over `CLIENTS` clients at once; the time it took.
pub fn concurrently<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, work: F) -> Duration
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
