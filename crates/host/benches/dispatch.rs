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

use axum::{
    body::Body,
    http::{header, Method, Request},
    Router,
};
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gongjian_core::domain::format_ts;
use gongjian_core::{
    domain::{access::RoleKind, token::CreateToken},
    service::tokens::{issue, TokenSubject},
    store::db::{Db, DbOptions},
};
use gongjian_host::AppState;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tower::ServiceExt;
use uuid::Uuid;

#[path = "../../../tests/support/example_plugins.rs"]
mod example_plugins;

async fn call(router: &Router, method: Method, path: &str, token: &str, body: Value) -> Value {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

struct Street {
    router: Router,
    admin: String,
    grid: String,
    /// Each volunteer's token by id, when asked for.
    volunteers: std::collections::HashMap<String, String>,
}

/// A street with `n` volunteers in 36 grids, and the given rule active; with `tokens`, a token
/// for every volunteer.
async fn street(url: &str, n: usize, rule: &str, tokens: bool) -> Street {
    let db = Db::open(url, &DbOptions::default()).await.unwrap();
    let subject = TokenSubject::resolve(
        db.write(),
        CreateToken {
            role: RoleKind::DistrictAdmin,
            name: "bench".into(),
            street_id: None,
            unit_id: None,
            volunteer_id: None,
        },
    )
    .await
    .unwrap();
    let district = issue(&db, subject, None, OffsetDateTime::now_utc())
        .await
        .unwrap()
        .token;
    let router = gongjian_host::app(AppState::new(db.clone()));
    let simple = Uuid::now_v7().simple().to_string();
    let code = format!("s{}", &simple[20..]);
    let s = call(
        &router,
        Method::POST,
        "/api/v1/streets",
        &district,
        json!({"name": "压测街道", "code": code, "district": "滨城区"}),
    )
    .await;
    let sid = s["id"].as_str().unwrap().to_string();
    let c = call(
        &router,
        Method::POST,
        &format!("/api/v1/streets/{sid}/communities"),
        &district,
        json!({"name": "社区"}),
    )
    .await;
    let cid = c["id"].as_str().unwrap().to_string();
    let mut grids = vec![];
    for g in 0..36 {
        let grid = call(
            &router,
            Method::POST,
            &format!("/api/v1/streets/{sid}/grids"),
            &district,
            json!({"community_id": cid, "code": format!("g{g:02}"), "name": format!("网格{g}")}),
        )
        .await;
        grids.push(grid["id"].as_str().unwrap().to_string());
    }
    // Volunteers straight into the table: setting up 10,000 through the API is not the point.
    let skills = ["维修", "陪护", "义诊", "书法", "水电", "法律"];
    let mut ids = vec![];
    let mut tx = db.write().begin().await.unwrap();
    for i in 0..n {
        let id = Uuid::now_v7().to_string();
        ids.push(id.clone());
        sqlx::query(
            "INSERT INTO volunteers (id, street_id, home_grid_id, name, phone, skills, team, party_member, availability, \
             max_open_orders, active, created_at, updated_at) VALUES ($1, $2, $3, $4, '13800000000', $5, $6, $7, '[]', 1000000, 1, $8, $8)",
        )
        .bind(id)
        .bind(sid.clone())
        .bind(grids[i % 36].clone())
        .bind(format!("志愿者{i}"))
        .bind(json!([skills[i % 6], skills[(i / 6) % 6]]).to_string())
        .bind(format!("队{}", i % 131))
        .bind((i % 3 == 0) as i64)
        .bind(format_ts(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut volunteers = std::collections::HashMap::new();
    for id in ids.iter().filter(|_| tokens) {
        let subject = TokenSubject::resolve(
            db.write(),
            CreateToken {
                role: RoleKind::Volunteer,
                name: "bench".into(),
                street_id: None,
                unit_id: None,
                volunteer_id: Some(id.parse().unwrap()),
            },
        )
        .await
        .unwrap();
        let token = issue(&db, subject, None, OffsetDateTime::now_utc())
            .await
            .unwrap()
            .token;
        volunteers.insert(id.clone(), token);
    }
    let admin = {
        let subject = TokenSubject::resolve(
            db.write(),
            CreateToken {
                role: RoleKind::StreetAdmin,
                name: "bench".into(),
                street_id: Some(sid.parse().unwrap()),
                unit_id: None,
                volunteer_id: None,
            },
        )
        .await
        .unwrap();
        issue(&db, subject, None, OffsetDateTime::now_utc())
            .await
            .unwrap()
            .token
    };
    let upload = match rule {
        "builtin" => None,
        "rhai" => {
            Some(json!({"kind": "rhai", "source": example_plugins::rhai_source("default-rule")}))
        }
        "wasm" => Some(
            json!({"kind": "wasm", "wasm_base64": base64::engine::general_purpose::STANDARD.encode(example_plugins::wasm_bytes("default_rule"))}),
        ),
        other => panic!("unknown rule {other}"),
    };
    if let Some(upload) = upload {
        let v = call(
            &router,
            Method::POST,
            &format!("/api/v1/streets/{sid}/plugins"),
            &admin,
            upload,
        )
        .await;
        call(
            &router,
            Method::POST,
            &format!(
                "/api/v1/streets/{sid}/plugins/{}/activate",
                v["id"].as_str().unwrap()
            ),
            &admin,
            json!({}),
        )
        .await;
    }
    call(
        &router,
        Method::PUT,
        &format!("/api/v1/streets/{sid}/dispatch-settings/repair"),
        &admin,
        json!({"auto_dispatch": true, "offer_count": 3, "accept_minutes": 30}),
    )
    .await;
    Street {
        router,
        admin,
        grid: grids[7].clone(),
        volunteers,
    }
}

/// Files an elderly-care demand (not dispatched on filing), dispatches it and has the first
/// offered volunteer accept it.
async fn dispatch_and_accept(s: &Street) {
    let d = call(
        &s.router,
        Method::POST,
        "/api/v1/demands",
        &s.admin,
        json!({"grid_id": s.grid, "category": "elderly_care", "urgency": "high", "channel": "grid_worker",
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
        json!({"grid_id": s.grid, "category": "repair", "urgency": "high", "channel": "hotline", "description": "水管漏水",
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
    for (engine, url) in &engines {
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
                let s = std::sync::Arc::new(rt.block_on(street(url, n, rule, false)));
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
    for (engine, url) in &engines {
        let n = 1_000usize;
        let wanted = |mode: &str| {
            filter.as_ref().is_none_or(|f| {
                format!("dispatch_and_accept/{engine}/{mode}/{n}").contains(f.as_str())
            })
        };
        if !wanted("one") && !wanted(&CLIENTS.to_string()) {
            continue;
        }
        let s = std::sync::Arc::new(rt.block_on(street(url, n, "builtin", true)));
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
