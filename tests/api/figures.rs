//! The street's figures kept as history is made: every change to a demand or its order
//! reaches them, read before the folder has run or after, over whole months, whole days and
//! partial days alike; and folders on two hosts never count a change twice.

use std::sync::Arc;

use gongjian_core::service::scheduler;
use serde_json::{json, Value};
use time::{macros::datetime, Duration};

use crate::deadlines::{setup, Setup};
use crate::helpers::demand_body;

const GROUPS: [&str; 6] = [
    "street",
    "community",
    "grid",
    "category",
    "volunteer",
    "unit",
];

/// Ranges read at every step, local time UTC+8: the year, March, 10 March, 11 March, and
/// from 10:00 on 10 March to 12:00 on 11 March (partial days at both ends).
const RANGES: [(&str, &str); 5] = [
    ("2025-12-31T16:00:00Z", "2026-12-31T16:00:00Z"),
    ("2026-02-28T16:00:00Z", "2026-03-31T16:00:00Z"),
    ("2026-03-09T16:00:00Z", "2026-03-10T16:00:00Z"),
    ("2026-03-10T16:00:00Z", "2026-03-11T16:00:00Z"),
    ("2026-03-10T02:00:00Z", "2026-03-11T04:00:00Z"),
];

async fn figures(s: &Setup, (from, to): (&str, &str), group_by: &str) -> Value {
    s.app
        .get(
            &format!("/api/v1/stats?from={from}&to={to}&group_by={group_by}"),
            &s.admin,
        )
        .await
        .expect(200)
}

async fn all_figures(s: &Setup) -> Vec<Value> {
    let mut out = vec![];
    for range in RANGES {
        for group in GROUPS {
            out.push(figures(s, range, group).await);
        }
    }
    out
}

/// The figures read with the step's demands still marked equal those read once they are
/// folded, and the folded facts and rollups pass the checker.
async fn step(s: &Setup, what: &str) {
    let before = all_figures(s).await;
    assert!(s.app.fold().await > 0, "{what}: nothing was marked");
    let after = all_figures(s).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "{what}: the figures changed by folding");
    }
    s.app.assert_consistent().await;
}

fn total(v: &Value) -> &Value {
    &v["total"]
}

/// Files a demand of `category` with no window, by the street's grid worker, for a resident
/// of this phone number.
async fn file(s: &Setup, category: &str, phone: &str) {
    let mut body = demand_body(&s.grid);
    body["category"] = json!(category);
    body["resident"]["phone"] = json!(phone);
    body.as_object_mut().unwrap().remove("window_start");
    body.as_object_mut().unwrap().remove("window_end");
    s.app
        .post("/api/v1/demands", &s.grid_worker, body)
        .await
        .expect(201);
}

#[tokio::test]
async fn every_change_reaches_the_figures_folded_or_not() {
    let s = setup(2).await;
    s.settings(
        "repair",
        json!({"auto_dispatch": false, "offer_count": 2, "accept_minutes": 30, "complete_minutes": 60}),
    )
    .await;
    // 10:00 local on 10 March.
    s.clock.set(datetime!(2026-03-10 02:00 UTC));

    let d1 = s.demand().await;
    step(&s, "filed").await;
    let o1 = s.dispatch(&d1).await;
    step(&s, "dispatched").await;
    s.clock.advance(Duration::minutes(5));
    let v1 = s.volunteers[0].1.clone();
    s.app
        .post(&format!("/api/v1/orders/{o1}/accept"), &v1, json!({}))
        .await
        .expect(200);
    step(&s, "accepted").await;
    s.app
        .post(&format!("/api/v1/orders/{o1}/start"), &v1, json!({}))
        .await
        .expect(200);
    s.clock.advance(Duration::minutes(25));
    s.app
        .post(
            &format!("/api/v1/orders/{o1}/complete"),
            &v1,
            json!({"service_minutes": 25}),
        )
        .await
        .expect(200);
    step(&s, "completed").await;
    s.app
        .post(
            &format!("/api/v1/orders/{o1}/rating"),
            &s.grid_worker,
            json!({"rating": 5}),
        )
        .await
        .expect(200);
    step(&s, "rated").await;

    // The same resident and category an hour later: a repeat; accepted, not done in time,
    // escalated, then cancelled by the admins.
    s.clock.advance(Duration::hours(1));
    let d2 = s.demand().await;
    let o2 = s.dispatch(&d2).await;
    let v2 = s.volunteers[1].1.clone();
    s.app
        .post(&format!("/api/v1/orders/{o2}/accept"), &v2, json!({}))
        .await
        .expect(200);
    step(&s, "a repeat accepted").await;
    let march = figures(&s, RANGES[1], "street").await;
    assert_eq!(total(&march)["repeat_demands"], 1, "{march}");
    s.clock.advance(Duration::minutes(65));
    assert_eq!(scheduler::tick(&s.app.state).await.unwrap().overdue, 1);
    step(&s, "escalated").await;
    s.app
        .post(
            &format!("/api/v1/orders/{o2}/cancel"),
            &s.admin,
            json!({"reason": "the resident moved"}),
        )
        .await
        .expect(200);
    step(&s, "cancelled").await;

    // The next day another resident files; the repeat's resident is corrected, so it is a
    // repeat no more.
    s.clock.set(datetime!(2026-03-11 01:00 UTC));
    let mut other = demand_body(&s.grid);
    other["category"] = json!("repair");
    other["resident"]["phone"] = json!("13700000003");
    other.as_object_mut().unwrap().remove("window_start");
    other.as_object_mut().unwrap().remove("window_end");
    s.app
        .post("/api/v1/demands", &s.grid_worker, other)
        .await
        .expect(201);
    let mut resident = demand_body(&s.grid)["resident"].clone();
    resident["phone"] = json!("13700000009");
    s.app
        .patch(
            &format!("/api/v1/demands/{d2}"),
            &s.admin,
            json!({"resident": resident}),
        )
        .await
        .expect(200);
    step(&s, "filed the next day; a resident corrected").await;

    let march = figures(&s, RANGES[1], "street").await;
    let t = total(&march);
    let counts = |t: &Value| {
        [
            "received",
            "dispatched",
            "accepted",
            "completed",
            "rated",
            "escalations",
            "repeat_demands",
        ]
        .map(|k| t[k].as_u64().unwrap())
    };
    assert_eq!(counts(t), [3, 1, 1, 1, 1, 1, 0], "{march}");
    assert_eq!(
        (
            t["on_time_rate"].as_f64(),
            t["satisfaction_rate"].as_f64(),
            t["median_minutes_to_accept"].as_f64(),
            t["median_minutes_to_complete"].as_f64()
        ),
        (Some(1.0), Some(1.0), Some(5.0), Some(30.0)),
        "{march}"
    );
    assert_eq!(march["rows"].as_array().unwrap().len(), 1);
    assert_eq!(march["rows"][0], {
        let mut row = t.clone();
        row["key"] = json!(s.street);
        row["label"] = march["rows"][0]["label"].clone();
        row
    });
    // 10 March alone, 11 March alone, and the partial days between.
    assert_eq!(
        total(&figures(&s, RANGES[2], "street").await)["received"],
        2
    );
    assert_eq!(
        total(&figures(&s, RANGES[3], "street").await)["received"],
        1
    );
    let partial = figures(&s, RANGES[4], "grid").await;
    assert_eq!(total(&partial)["received"], 3, "{partial}");
    assert_eq!(partial["rows"][0]["key"], s.grid.as_str());
    // Only the volunteer whose order stands is a group.
    let by_volunteer = figures(&s, RANGES[0], "volunteer").await;
    let rows = by_volunteer["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{by_volunteer}");
    assert_eq!(rows[0]["key"], s.volunteers[0].0.as_str());
    assert_eq!(rows[0]["label"], "志愿者0");
    assert_eq!(total(&by_volunteer)["received"], 3);
    // Nothing in April; nothing before the range's first instant.
    let april = figures(
        &s,
        ("2026-03-31T16:00:00Z", "2026-04-30T16:00:00Z"),
        "category",
    )
    .await;
    assert_eq!(total(&april)["received"], 0);
    assert!(april["rows"].as_array().unwrap().is_empty());
    let after_first = figures(
        &s,
        ("2026-03-10T02:00:00.000001Z", "2026-03-31T16:00:00Z"),
        "street",
    )
    .await;
    assert_eq!(total(&after_first)["received"], 2);

    // Three weeks later, in April: over the year, April's rollup rows add to March's, the
    // minutes to accept too (5 in March, 7 in April).
    s.clock.set(datetime!(2026-04-02 02:00 UTC));
    let d3 = s.demand().await;
    let o3 = s.dispatch(&d3).await;
    s.clock.advance(Duration::minutes(7));
    s.app
        .post(&format!("/api/v1/orders/{o3}/accept"), &v1, json!({}))
        .await
        .expect(200);
    step(&s, "accepted in April").await;
    let year = figures(&s, RANGES[0], "volunteer").await;
    let rows = year["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{year}");
    for t in [total(&year), &rows[0]] {
        assert_eq!(t["received"], if t == total(&year) { 4 } else { 2 });
        assert_eq!(t["accepted"], 2, "{year}");
        assert_eq!(t["median_minutes_to_accept"].as_f64(), Some(6.0), "{year}");
    }
}

#[tokio::test]
async fn folders_on_two_hosts_with_filings_meanwhile_count_each_change_once() {
    let s = Arc::new(setup(2).await);
    s.settings(
        "repair",
        json!({"auto_dispatch": true, "offer_count": 2, "accept_minutes": 30, "complete_minutes": 60}),
    )
    .await;
    s.clock.set(datetime!(2026-03-10 02:00 UTC));
    let filings = 40;
    let mut tasks = vec![];
    for w in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..filings / 4 {
                file(&s, "repair", &format!("1370000{w}{i:03}")).await;
            }
        }));
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut folders = vec![];
    for _ in 0..2 {
        let (s, stop) = (s.clone(), stop.clone());
        folders.push(tokio::spawn(async move {
            let mut folded = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                folded += s.app.fold().await;
                tokio::task::yield_now().await;
            }
            folded
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for f in folders {
        f.await.unwrap();
    }
    s.app.assert_consistent().await;
    let year = figures(&s, RANGES[0], "street").await;
    assert_eq!(total(&year)["received"], filings, "{year}");
    assert_eq!(total(&year)["dispatched"], filings, "{year}");
}

/// A fold of more demands than one statement writes — their facts and their rollup rows
/// written in several statements each — folds every one of them once, and reads back the same
/// figures as before it ran.
#[tokio::test]
async fn a_fold_of_many_demands_writes_them_all() {
    let s = setup(2).await;
    s.settings(
        "repair",
        json!({"auto_dispatch": true, "offer_count": 2, "accept_minutes": 30, "complete_minutes": 60}),
    )
    .await;
    s.clock.set(datetime!(2026-03-10 02:00 UTC));
    s.app.fold().await;
    let filings = 60;
    for i in 0..filings {
        let category = if i % 3 == 0 { "legal" } else { "repair" };
        file(&s, category, &format!("1380000{i:04}")).await;
    }
    let before = all_figures(&s).await;
    assert_eq!(s.app.fold().await, filings, "each filing folded once");
    assert_eq!(
        all_figures(&s).await,
        before,
        "the figures changed by folding"
    );
    s.app.assert_consistent().await;
    let year = figures(&s, RANGES[0], "street").await;
    assert_eq!(total(&year)["received"], filings, "{year}");
    assert_eq!(total(&year)["dispatched"], 40, "{year}");
}

/// Migration 0017 moves the marks out of the demands' rows: a demand marked before it is
/// marked after, with its mark, and one folded is not.
#[tokio::test]
async fn the_marks_move_out_of_the_demands_rows_with_their_migration() {
    use std::borrow::Cow;

    use gongjian_core::store::db::MIGRATOR;
    use sqlx::{migrate::Migrator, AnyConnection, Connection};

    sqlx::any::install_default_drivers();
    let db = crate::helpers::TestDb::new().await;
    let url = if db.url.starts_with("sqlite") {
        format!("{}?mode=rwc", db.url)
    } else {
        db.url.clone()
    };
    let mut conn = AnyConnection::connect(&url).await.unwrap();
    let before = Migrator {
        migrations: Cow::Owned(
            MIGRATOR
                .migrations
                .iter()
                .filter(|m| m.version < 17)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    before.run(&mut conn).await.unwrap();
    let at = "2026-03-10T02:00:00Z";
    for place in [
        "INSERT INTO streets (id, name, code, district, created_at, updated_at) \
         VALUES ('s', '市西街道', 'shixi', '滨城区', $1, $1)",
        "INSERT INTO communities (id, street_id, name, created_at, updated_at) \
         VALUES ('c', 's', '魏鑫社区', $1, $1)",
        "INSERT INTO grids (id, street_id, community_id, code, name, created_at, updated_at) \
         VALUES ('g', 's', 'c', 'g01', '一网格', $1, $1)",
    ] {
        sqlx::query(place)
            .bind(at)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    for (id, mark) in [("marked", 3_i64), ("folded", 0), ("new", 1)] {
        sqlx::query(
            "INSERT INTO demands (id, street_id, grid_id, category, tags, urgency, channel, \
             description, resident_name, resident_phone, resident_address, status, filed_by, \
             created_at, updated_at, figures_mark) \
             VALUES ($2, 's', 'g', 'repair', '[]', 'normal', 'hotline', '水管漏水', '李秀英', \
             '13912345678', '魏鑫家园', 'open', 'system', $1, $1, $3)",
        )
        .bind(at)
        .bind(id)
        .bind(mark)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    MIGRATOR.run(&mut conn).await.unwrap();
    let marks: Vec<(String, i64)> =
        sqlx::query_as("SELECT demand_id, mark FROM figure_marks ORDER BY demand_id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(marks, [("marked".to_string(), 3), ("new".to_string(), 1)]);
    let gone = sqlx::query("SELECT figures_mark FROM demands")
        .fetch_all(&mut conn)
        .await;
    assert!(gone.is_err(), "the demands keep no mark of their own");
    conn.close().await.unwrap();
}
