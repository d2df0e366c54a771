//! The read side after a year of history: the street's figures, the lists with their filters,
//! deep paging, a volunteer's inbox and a demand's events, timed through the HTTP API in
//! process, one request at a time.
//!
//! The history is built once through the API itself, on a clock moved by hand through 365
//! days: two streets, each with 1,000 volunteers in 36 grids and `GONGJIAN_HISTORY_DEMANDS`
//! demands (100,000 unless told) filed by day, dispatched as they are filed, accepted, started,
//! completed (some late, some overdue and escalated), rated, some declined, some left to expire
//! and run out of candidates, some cancelled; residents file again, so there are repeats.
//! The database is kept (SQLite: a file under the target directory; PostgreSQL: a database
//! beside the one `GONGJIAN_BENCH_POSTGRES` names), named by its size, and built again only
//! when it is missing; opening it applies any migration added since, as an upgrade would. To
//! compare two commits, time the older one first (it cannot open a database the newer one
//! migrated), or give each its own copy.
//!
//! `cargo bench -p gongjian-host --bench history` (results in BENCHMARKS.md).

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::Method;
use criterion::{criterion_group, criterion_main, Criterion};
use gongjian_core::{
    domain::{access::RoleKind, clock::ManualClock, format_ts},
    service::scheduler,
    store::db::{Backend, Db, DbOptions},
};
use gongjian_host::AppState;
use serde_json::{json, Value};
use sqlx::Connection;
use time::{macros::datetime, OffsetDateTime};

#[path = "support/api.rs"]
mod api;

use api::{call, send, Street};

/// Bumped when what the history holds changes, so a kept one is built again.
const HISTORY_VERSION: u32 = 2;
const DAYS: i64 = 365;
const VOLUNTEERS: usize = 1_000;
const CLIENTS: usize = 32;
/// The history's first day (00:00 UTC is 08:00 in the streets' time).
const START: OffsetDateTime = datetime!(2025-12-01 00:00 UTC);
/// How residents rate, one in six each.
const RATINGS: [i64; 6] = [5, 5, 4, 4, 3, 2];
const CATEGORIES: [&str; 5] = [
    "repair",
    "elderly_care",
    "medical",
    "education",
    "environment",
];

fn demands_per_street() -> usize {
    std::env::var("GONGJIAN_HISTORY_DEMANDS")
        .ok()
        .map(|v| v.parse().expect("GONGJIAN_HISTORY_DEMANDS is a number"))
        .unwrap_or(100_000)
}

/// What names a kept history: its version and size. A kept history is opened like any
/// database, so migrations added since it was built are applied to it, as in an upgrade.
fn history_key(n: usize) -> String {
    format!("v{HISTORY_VERSION}_{n}")
}

/// A small deterministic generator, so every build of a history is the same.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Runs `work` on each item, `CLIENTS` at a time.
async fn each<T, F, Fut>(items: Vec<T>, work: F)
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let queue = Arc::new(std::sync::Mutex::new(items));
    let mut clients = vec![];
    for _ in 0..CLIENTS {
        let (queue, work) = (queue.clone(), work.clone());
        clients.push(tokio::spawn(async move {
            loop {
                let item = queue.lock().unwrap().pop();
                match item {
                    Some(item) => work(item).await,
                    None => break,
                }
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
}

/// An order in the day's work: its id, its demand's window end and its assignee's token.
#[derive(Clone)]
struct Taken {
    order: String,
    token: String,
}

/// One street's day: demands filed from 08:00 and worked through the day.
async fn day(
    state: &AppState,
    s: &Arc<Street>,
    clock: &ManualClock,
    dice: &mut Dice,
    per_day: usize,
    day: i64,
) {
    let morning = START + time::Duration::days(day);
    clock.set(morning);
    let mut filings = vec![];
    for _ in 0..per_day {
        let category = CATEGORIES[dice.below(CATEGORIES.len())];
        // 20,000 residents: one in five files again within a month.
        let phone = format!("139{:08}", dice.below(20_000));
        let urgency = ["low", "normal", "high"][dice.below(3)];
        let channel = ["grid_worker", "hotline", "app"][dice.below(3)];
        let window = (dice.below(10) < 3).then(|| format_ts(morning + time::Duration::hours(4)));
        filings.push(json!({
            "grid_id": s.grids[dice.below(s.grids.len())],
            "category": category,
            "urgency": urgency,
            "channel": channel,
            "description": "居民需要上门服务",
            "resident": {"name": "李秀英", "phone": phone, "address": "滨城区市西街道魏鑫家园"},
            "window_end": window,
        }));
    }
    let filed = Arc::new(std::sync::Mutex::new(vec![]));
    {
        let (s, filed) = (s.clone(), filed.clone());
        each(filings, move |body| {
            let (s, filed) = (s.clone(), filed.clone());
            async move {
                let d = call(&s.router, Method::POST, "/api/v1/demands", &s.admin, body).await;
                filed
                    .lock()
                    .unwrap()
                    .push(d["id"].as_str().unwrap().to_string());
            }
        })
        .await;
    }
    let mut filed = std::mem::take(&mut *filed.lock().unwrap());
    filed.sort();
    // Ten minutes later the offered answer: most accept, some decline first, some let the
    // offer expire, and a few demands are cancelled.
    clock.advance(time::Duration::minutes(10));
    let plan: Vec<(String, usize)> = filed.into_iter().map(|d| (d, dice.below(100))).collect();
    let taken = Arc::new(std::sync::Mutex::new(vec![]));
    {
        let (s, taken) = (s.clone(), taken.clone());
        each(plan, move |(demand, roll)| {
            let (s, taken) = (s.clone(), taken.clone());
            async move {
                let orders = call(
                    &s.router,
                    Method::GET,
                    &format!("/api/v1/orders?demand_id={demand}"),
                    &s.admin,
                    Value::Null,
                )
                .await;
                let Some(order) = orders["items"].get(0) else {
                    return; // nobody could take it: escalated on filing
                };
                let id = order["id"].as_str().unwrap();
                let offered: Vec<&str> = order["offers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["candidate_id"].as_str().unwrap())
                    .collect();
                let mut taker = offered[0];
                if roll < 2 {
                    call(
                        &s.router,
                        Method::PATCH,
                        &format!("/api/v1/demands/{demand}"),
                        &s.admin,
                        json!({"status": "cancelled"}),
                    )
                    .await;
                    return;
                }
                if roll < 5 {
                    return; // the offer expires: the scheduler offers it onward
                }
                if roll < 10 && offered.len() > 1 {
                    call(
                        &s.router,
                        Method::POST,
                        &format!("/api/v1/orders/{id}/decline"),
                        &s.volunteers[taker],
                        json!({"reason": "今天不在"}),
                    )
                    .await;
                    taker = offered[1];
                }
                let token = s.volunteers[taker].clone();
                call(
                    &s.router,
                    Method::POST,
                    &format!("/api/v1/orders/{id}/accept"),
                    &token,
                    json!({}),
                )
                .await;
                taken.lock().unwrap().push((
                    Taken {
                        order: id.to_string(),
                        token,
                    },
                    roll,
                ));
            }
        })
        .await;
    }
    let mut taken = std::mem::take(&mut *taken.lock().unwrap());
    taken.sort_by(|a, b| a.0.order.cmp(&b.0.order));
    // Started within the hour; most completed two hours later, some six hours later (past
    // a window), a few the next day (overdue, escalated by the scheduler first).
    clock.advance(time::Duration::minutes(50));
    let s2 = s.clone();
    each(taken.clone(), move |(t, _)| {
        let s = s2.clone();
        async move {
            call(
                &s.router,
                Method::POST,
                &format!("/api/v1/orders/{}/start", t.order),
                &t.token,
                json!({}),
            )
            .await;
        }
    })
    .await;
    let wave = |from: usize, to: usize| -> Vec<(Taken, usize)> {
        taken
            .iter()
            .filter(|(_, roll)| (from..to).contains(roll))
            .cloned()
            .collect()
    };
    clock.advance(time::Duration::hours(2));
    complete(s, wave(0, 85)).await;
    clock.advance(time::Duration::hours(4));
    complete(s, wave(85, 96)).await;
    // The night: deadlines pass, the scheduler escalates, offers expire onward.
    clock.set(morning + time::Duration::hours(23));
    scheduler::tick(state).await.unwrap();
    clock.set(morning + time::Duration::hours(23) + time::Duration::minutes(59));
    complete(s, wave(96, 100)).await;
}

/// Completes `orders` and rates seven in ten of them on the resident's behalf.
async fn complete(s: &Arc<Street>, orders: Vec<(Taken, usize)>) {
    let s = s.clone();
    each(orders, move |(t, roll)| {
        let s = s.clone();
        async move {
            call(
                &s.router,
                Method::POST,
                &format!("/api/v1/orders/{}/complete", t.order),
                &t.token,
                json!({"service_minutes": 30 + roll % 90}),
            )
            .await;
            if roll % 10 < 7 {
                call(
                    &s.router,
                    Method::POST,
                    &format!("/api/v1/orders/{}/rating", t.order),
                    &s.admin,
                    json!({"rating": RATINGS[roll % RATINGS.len()]}),
                )
                .await;
            }
        }
    })
    .await;
}

/// What the reads are timed with, kept beside the history: the streets, their admins' and a
/// volunteer's tokens, and the district's.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    streets: Vec<KeptStreet>,
    district: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeptStreet {
    id: String,
    admin: String,
    grid: String,
    volunteer: String,
}

/// Builds the history at `url` (an empty database), through the API.
async fn build(url: &str, n: usize) -> Kept {
    let db = Db::open(url, &DbOptions::default()).await.unwrap();
    let clock = ManualClock::new(START);
    let district = api::token(&db, RoleKind::DistrictAdmin, None, None).await;
    let state = AppState::new(db.clone()).with_clock(Arc::new(clock.clone()));
    let router = gongjian_host::app(state.clone());
    let mut streets = vec![];
    for _ in 0..2 {
        let s = api::street(&db, &router, &district, VOLUNTEERS, "builtin", true).await;
        for category in CATEGORIES {
            api::dispatch_on_filing(&s, category).await;
        }
        streets.push(Arc::new(s));
    }
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    for d in 0..DAYS {
        let per_day = n / DAYS as usize + usize::from((d as usize) < n % DAYS as usize);
        for s in &streets {
            day(&state, s, &clock, &mut dice, per_day, d).await;
        }
        // As the host's folder does, every second in service.
        gongjian_core::store::figures::fold_all(&db).await.unwrap();
        // As the scheduler does every hour in service: the planner's statistics follow the
        // history (without them SQLite reads a demand's orders through the street's index,
        // a scan of the street's history).
        db.optimize().await.unwrap();
        // As autovacuum does in service, which a test server may have turned off: without
        // statistics PostgreSQL's planner takes every equality as matching 0.5% of a table and
        // reads a volunteer's or a demand's orders by intersecting them with the street's
        // index, tens of milliseconds a statement by the autumn.
        if db.backend() == Backend::Postgres && d % 7 == 6 {
            let work = if d % 28 == 27 {
                "VACUUM ANALYZE"
            } else {
                "ANALYZE"
            };
            sqlx::raw_sql(work).execute(db.write()).await.unwrap();
        }
        if d % 30 == 29 {
            eprintln!(
                "history: day {} of {DAYS} after {:?}",
                d + 1,
                started.elapsed()
            );
        }
    }
    let report = gongjian_core::store::check::check_database(url)
        .await
        .unwrap();
    assert!(
        report.is_clean(),
        "the history breaks invariants: {:#?}",
        report.violations
    );
    db.close().await;
    Kept {
        streets: streets
            .iter()
            .map(|s| KeptStreet {
                id: s.id.clone(),
                admin: s.admin.clone(),
                grid: s.grids[7].clone(),
                volunteer: s.volunteers.values().min().unwrap().clone(),
            })
            .collect(),
        district,
    }
}

/// Where kept histories live.
fn kept_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("history");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The history on SQLite: its URL, built first if it is not kept.
async fn sqlite_history(key: &str, n: usize) -> (String, Kept) {
    let dir = kept_dir();
    let (file, notes) = (
        dir.join(format!("{key}.db")),
        dir.join(format!("{key}.sqlite.json")),
    );
    let url = |f: &PathBuf| format!("sqlite://{}", f.display());
    if !(file.exists() && notes.exists()) {
        let partial = dir.join(format!("{key}.partial.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
        }
        let kept = build(&url(&partial), n).await;
        std::fs::rename(&partial, &file).unwrap();
        std::fs::write(&notes, serde_json::to_vec(&kept).unwrap()).unwrap();
    }
    let kept = serde_json::from_slice(&std::fs::read(&notes).unwrap()).unwrap();
    (url(&file), kept)
}

/// The history on PostgreSQL, in a database beside the one `base` names: its URL, built
/// first if it is not kept.
async fn postgres_history(base: &str, key: &str, n: usize) -> (String, Kept) {
    sqlx::any::install_default_drivers();
    let server = &base[..base.rfind('/').expect("a PostgreSQL URL names a database")];
    let name = format!("gongjian_history_{key}");
    let notes = kept_dir().join(format!("{key}.postgres.json"));
    let mut admin = sqlx::AnyConnection::connect(base).await.unwrap();
    let exists = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name.clone())
        .fetch_optional(&mut admin)
        .await
        .unwrap()
        .is_some();
    if !(exists && notes.exists()) {
        let partial = format!("{name}_partial");
        for db in [&partial, &name] {
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        sqlx::query(&format!("CREATE DATABASE {partial}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let kept = build(&format!("{server}/{partial}"), n).await;
        sqlx::query(&format!("ALTER DATABASE {partial} RENAME TO {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        std::fs::write(&notes, serde_json::to_vec(&kept).unwrap()).unwrap();
    }
    admin.close().await.unwrap();
    let kept = serde_json::from_slice(&std::fs::read(&notes).unwrap()).unwrap();
    (format!("{server}/{name}"), kept)
}

/// The reads timed: a name and a request (path, and whose token).
fn reads(kept: &Kept, deep_cursor: &str, demand: &str) -> Vec<(String, String, String)> {
    let a = &kept.streets[0];
    let ts = |days: i64| format_ts(START + time::Duration::days(days));
    let (year, month, empty) = (
        (ts(0), ts(DAYS)),
        (ts(DAYS - 30), ts(DAYS)),
        (ts(DAYS + 30), ts(DAYS + 60)),
    );
    let stats = |(from, to): &(String, String), extra: &str| {
        format!(
            "/api/v1/stats?from={from}&to={to}&street_id={}{extra}",
            a.id
        )
    };
    let mut out = vec![];
    let mut add = |name: &str, path: String, token: &str| {
        out.push((name.to_string(), path, token.to_string()));
    };
    for group in ["street", "grid", "volunteer"] {
        add(
            &format!("stats/month/{group}"),
            stats(&month, &format!("&group_by={group}")),
            &a.admin,
        );
    }
    for group in [
        "street",
        "community",
        "grid",
        "category",
        "volunteer",
        "unit",
    ] {
        add(
            &format!("stats/year/{group}"),
            stats(&year, &format!("&group_by={group}")),
            &a.admin,
        );
    }
    add(
        "stats/year/csv",
        stats(&year, "&group_by=grid&format=csv"),
        &a.admin,
    );
    add("stats/empty_month", stats(&empty, ""), &a.admin);
    add(
        "stats/district/year",
        format!(
            "/api/v1/stats?from={}&to={}&group_by=street",
            year.0, year.1
        ),
        &kept.district,
    );
    let demands = |q: &str| format!("/api/v1/demands?limit=50{q}");
    add("demands/first", demands(""), &a.admin);
    add("demands/completed", demands("&status=completed"), &a.admin);
    add(
        "demands/grid",
        demands(&format!("&grid_id={}", a.grid)),
        &a.admin,
    );
    add("demands/category", demands("&category=medical"), &a.admin);
    add("demands/flagged", demands("&flagged=true"), &a.admin);
    add(
        "demands/filed_last_day",
        demands(&format!(
            "&filed_from={}&filed_to={}",
            ts(DAYS - 1),
            ts(DAYS)
        )),
        &a.admin,
    );
    add(
        "demands/filed_empty_window",
        demands(&format!("&filed_from={}&filed_to={}", empty.0, empty.1)),
        &a.admin,
    );
    add(
        "demands/page_40",
        demands(&format!("&cursor={deep_cursor}")),
        &a.admin,
    );
    add("orders/first", "/api/v1/orders?limit=50".into(), &a.admin);
    add(
        "orders/completed",
        "/api/v1/orders?limit=50&status=completed".into(),
        &a.admin,
    );
    add(
        "orders/of_demand",
        format!("/api/v1/orders?demand_id={demand}"),
        &a.admin,
    );
    add(
        "orders/volunteer_inbox",
        "/api/v1/orders?limit=50".into(),
        &a.volunteer,
    );
    add(
        "events/demand",
        format!("/api/v1/demands/{demand}/events"),
        &a.admin,
    );
    out
}

/// What a read's credential starts with when it is a console session rather than a token.
const SESSION: &str = "session:";

/// Signs in to the console with `token`; the session's secret.
async fn console_session(router: &axum::Router, token: &str) -> String {
    let req = axum::http::Request::post("/console/sign-in")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(axum::body::Body::from(format!("token={token}")))
        .unwrap();
    let res = tower::ServiceExt::oneshot(router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "the console signs the admin in");
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap()
}

/// A read through the API with a token, or of a console page with a session.
async fn read(
    router: &axum::Router,
    path: &str,
    credential: &str,
) -> (axum::http::StatusCode, Value) {
    match credential.strip_prefix(SESSION) {
        None => send(router, Method::GET, path, credential, None).await,
        Some(session) => {
            let req = axum::http::Request::get(path)
                .header("cookie", format!("gj_session={session}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let res = tower::ServiceExt::oneshot(router.clone(), req)
                .await
                .unwrap();
            let status = res.status();
            let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            )
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = demands_per_street();
    let key = history_key(n);
    let mut engines = vec![("sqlite", None)];
    if let Ok(pg) = std::env::var("GONGJIAN_BENCH_POSTGRES") {
        engines.push(("postgres", Some(pg)));
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut group = c.benchmark_group("history");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for (engine, base) in engines {
        // Building a history takes a while: skip the engine a filter names the other of.
        let other = if engine == "sqlite" {
            "postgres"
        } else {
            "sqlite"
        };
        if filter.as_ref().is_some_and(|f| f.contains(other)) {
            continue;
        }
        let (url, kept) = rt.block_on(async {
            match &base {
                None => sqlite_history(&key, n).await,
                Some(base) => postgres_history(base, &key, n).await,
            }
        });
        let db = rt.block_on(Db::open(&url, &DbOptions::default())).unwrap();
        // A history kept from before the figures were folded is folded once, as a host does
        // when it starts on it.
        let started = Instant::now();
        let folded = rt
            .block_on(gongjian_core::store::figures::fold_all(&db))
            .unwrap();
        if folded > 0 {
            eprintln!(
                "history: folded the figures of {folded} demands in {:?}",
                started.elapsed()
            );
        }
        if db.backend() == Backend::Postgres {
            // What autovacuum does in a deployment over a year: the dead row versions that
            // changes leave behind removed, the planner's statistics gathered. A server with
            // autovacuum off (the host warns of it at start) keeps every version, and its reads
            // walk them all.
            let started = Instant::now();
            rt.block_on(sqlx::raw_sql("VACUUM ANALYZE").execute(db.write()))
                .unwrap();
            eprintln!("history: VACUUM ANALYZE in {:?}", started.elapsed());
        }
        // The console's pages read "today", "this week" and "this month" from the service's
        // clock: the evening of the history's last Sunday (2026-11-29, 20:00 in the streets'
        // time), so the week has seven days of history and the month twenty-nine.
        let clock =
            ManualClock::new(START + time::Duration::days(DAYS - 2) + time::Duration::hours(12));
        let router = gongjian_host::app(AppState::new(db.clone()).with_clock(Arc::new(clock)));
        let a = &kept.streets[0];
        // Page 40 of the demand list, and a demand from the middle of the year.
        let (deep_cursor, demand) = rt.block_on(async {
            let mut cursor = String::new();
            let mut middle = String::new();
            for page in 0..40 {
                let path = match page {
                    0 => "/api/v1/demands?limit=50".to_string(),
                    _ => format!("/api/v1/demands?limit=50&cursor={cursor}"),
                };
                let p = call(&router, Method::GET, &path, &a.admin, Value::Null).await;
                cursor = p["next_cursor"].as_str().unwrap().to_string();
                if page == 0 {
                    middle = p["items"][25]["id"].as_str().unwrap().to_string();
                }
            }
            (cursor, middle)
        });
        // The console's pages, as the street's admin signed in to it sees them.
        let session = rt.block_on(console_session(&router, &a.admin));
        let mut reads = reads(&kept, &deep_cursor, &demand);
        for (name, path) in [
            ("console/dashboard", format!("/console/streets/{}", a.id)),
            ("console/demands", "/console/demands".to_string()),
            (
                "console/demands_filtered",
                "/console/demands?status=completed&category=repair".to_string(),
            ),
            ("console/demand", format!("/console/demands/{demand}")),
            (
                "console/resources",
                format!("/console/streets/{}/resources", a.id),
            ),
            (
                "console/projects",
                format!("/console/streets/{}/projects", a.id),
            ),
        ] {
            reads.push((name.to_string(), path, format!("{SESSION}{session}")));
        }
        for (name, path, token) in reads {
            let id = format!("{engine}/{name}");
            if filter
                .as_ref()
                .is_some_and(|f| !format!("history/{id}").contains(f.as_str()))
            {
                continue;
            }
            // Each read answers, and with something, before it is timed.
            let (status, body) = rt.block_on(read(&router, &path, &token));
            assert!(status.is_success(), "{path}: {status} {body}");
            group.bench_function(id, |b| {
                b.iter(|| {
                    rt.block_on(async {
                        let (status, _) = read(&router, &path, &token).await;
                        assert!(status.is_success());
                    })
                })
            });
        }
        rt.block_on(db.close());
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
