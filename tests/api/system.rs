//! Health, readiness, metrics, the OpenAPI document and the docs page.

use axum::http::{header, Method};

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None)
            .await
            .expect(200)["status"],
        "ok"
    );
    let ready = app
        .call(Method::GET, "/readyz", None, None)
        .await
        .expect(200);
    assert_eq!(ready["status"], "ready");
    let backend = if app.test_db.url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(ready["database"], backend);
    app.db.close().await;
    app.call(Method::GET, "/readyz", None, None)
        .await
        .problem(503, "unavailable", None);
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None)
            .await
            .expect(200)["status"],
        "ok"
    );
}

/// A connection PostgreSQL closed while it sat in the pool (a restarted server, an
/// administrator's `pg_terminate_backend`, a dropped link) is tested before a request gets it
/// and replaced: the requests after it succeed. A connection just returned is handed out
/// without that test, so every connection is closed here and left idle long enough to be
/// tested. SQLite has no server to close a connection.
#[tokio::test]
async fn connections_closed_by_the_server_while_idle_are_replaced_before_use() {
    let app = TestApp::spawn().await;
    if !app.test_db.url.starts_with("postgres") {
        return;
    }
    // Open a few connections and return them to the pool.
    let lists = ["/api/v1/streets", "/api/v1/units", "/api/v1/tokens"];
    let first = futures_util::future::join_all(lists.iter().map(|p| app.get(p, &app.admin))).await;
    for r in first {
        r.expect(200);
    }
    use sqlx::Connection;
    let mut admin = sqlx::AnyConnection::connect(&app.test_db.url)
        .await
        .unwrap();
    let closed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        !closed.is_empty() && closed.iter().all(|c| *c),
        "the pool's connections were closed: {closed:?}"
    );
    admin.close().await.unwrap();
    // Past the time a connection stays trusted without a test.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    for _ in 0..3 {
        let again =
            futures_util::future::join_all(lists.iter().map(|p| app.get(p, &app.admin))).await;
        for r in again {
            r.expect(200);
        }
    }
}

/// The pools' SQLite connections, readers and writer, read the whole database file through
/// their memory map (the committer's own connection is opened with the same settings, which
/// it cannot be asked back): the map is as large as the store asks for, not cut to SQLite's
/// own ceiling of 2 GiB, as it is in a SQLite built without the workspace's setting for it.
/// A year of a busy street's history is past 1 GiB, and every page beyond the map is a system
/// call and a copy.
/// This holds on every engine's run: SQLite is the embedded default whatever the tests use.
#[tokio::test]
async fn sqlite_maps_the_whole_database_file() {
    use gongjian_core::store::db::{Db, DbOptions, SQLITE_MMAP_BYTES};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("map.db").display());
    let db = Db::open(&url, &DbOptions::default()).await.unwrap();
    // Past SQLite's default ceiling, so that a SQLite built with it is told apart.
    const { assert!(SQLITE_MMAP_BYTES > 0x7fff_0000) };
    for pool in [db.read(), db.write()] {
        let mapped: i64 = sqlx::query_scalar("PRAGMA mmap_size")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(
            mapped as u64, SQLITE_MMAP_BYTES,
            "SQLite cut the map to {mapped} bytes"
        );
    }
    db.close().await;
}

/// SQLite's reader connections plan by the planner's statistics gathered after they opened.
/// A connection reads the statistics only as it first reads the schema, and gathering them
/// does not change it: a reader opened on a new database went on reading a demand's orders
/// by the street's index, every order the street ever had, though the statistics said the
/// demand's index finds them directly. Each reader opened before the statistics changed is
/// replaced as it is next taken.
#[tokio::test]
async fn sqlite_readers_plan_by_statistics_gathered_after_they_opened() {
    use gongjian_core::store::db::{Db, DbOptions};
    use sqlx::{Executor, Row};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stats.db").display());
    // One reader, so that the same connection is asked before and after, unless replaced.
    let opts = DbOptions {
        max_connections: 1,
        ..DbOptions::default()
    };
    let db = Db::open(&url, &opts).await.unwrap();
    // Orders by text ids, as the store's: one street, two orders a demand.
    db.write()
        .execute(
            "CREATE TABLE o (id TEXT PRIMARY KEY, street TEXT NOT NULL, demand TEXT NOT NULL); \
             CREATE INDEX o_street ON o (street, id); CREATE INDEX o_demand ON o (demand); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO o (id, street, demand) SELECT printf('%05d', i), 's', 'd' || (i / 2) \
             FROM n",
        )
        .await
        .unwrap();
    let plan = || async {
        let steps = sqlx::query(
            "EXPLAIN QUERY PLAN SELECT * FROM o WHERE street IN ($1) AND demand = $2 \
             ORDER BY id LIMIT $3",
        )
        .bind("s")
        .bind("d7")
        .bind(10_i64)
        .fetch_all(db.read())
        .await
        .unwrap();
        steps
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    // No statistics yet: the street's index, which gives the order for free.
    let before = plan().await;
    assert!(before.contains("o_street"), "{before}");
    db.optimize().await.unwrap();
    let after = plan().await;
    assert!(after.contains("o_demand"), "{after}");
    db.close().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn().await;
    app.street("shixi").await;
    app.get(
        &format!("/api/v1/streets/{}", uuid::Uuid::now_v7()),
        &app.admin,
    )
    .await
    .expect(404);
    app.call(Method::GET, "/api/v1/streets", None, None)
        .await
        .expect(401);
    let resp = app.get("/metrics", &app.admin).await;
    assert!(resp.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.body.as_str().unwrap().to_string();
    assert!(
        text.contains(
            r#"gongjian_http_requests_total{method="POST",route="/api/v1/streets",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/streets/{id}",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/streets",status="401"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("gongjian_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

/// The API description, as a client fetches it.
async fn document(app: &TestApp) -> serde_json::Value {
    app.call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200)
}

#[tokio::test]
async fn openapi_document_describes_every_collection() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/streets",
        "/api/v1/streets/{id}",
        "/api/v1/streets/{id}/grids",
        "/api/v1/streets/{id}/communities",
        "/api/v1/streets/{id}/categories",
        "/api/v1/units",
        "/api/v1/units/{id}",
        "/api/v1/volunteers",
        "/api/v1/volunteers/{id}",
        "/api/v1/resources",
        "/api/v1/resources/{id}",
        "/api/v1/demands",
        "/api/v1/demands/{id}",
        "/api/v1/projects",
        "/api/v1/projects/{id}",
        "/api/v1/projects/{id}/claim",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/me",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert!(paths["/api/v1/demands"]["post"]["requestBody"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // What contract 1.1.0 added to demands and orders is described too.
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["Demand"]["properties"]["triage"].is_object());
    assert!(schemas["Triage"]["properties"]["filed"].is_object());
    assert!(schemas["Order"]["properties"]["points_rule"].is_object());
    assert!(schemas["PluginVersion"]["properties"]["hooks"].is_object());
    let page = app
        .call(Method::GET, "/api/v1/docs", None, None)
        .await
        .expect(200);
    let html = page.as_str().unwrap();
    assert!(html.contains("/api/v1/demands/{id}") && html.contains("schema-CreateDemand"));
}

/// Errors are published with the content type they are served with.
#[tokio::test]
async fn every_error_response_is_documented_as_a_problem() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let mut errors = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(responses) = op["responses"].as_object() else {
                continue;
            };
            for (status, response) in responses {
                let content = response["content"].as_object();
                if status.starts_with('4') || status.starts_with('5') {
                    errors += 1;
                    let types: Vec<&String> =
                        content.map(|c| c.keys().collect()).unwrap_or_default();
                    assert_eq!(
                        types,
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert!(errors > 50, "{errors} error responses documented");
    // What the edge answers for any operation is documented where it applies.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let has = |status: &str| op["responses"][status].is_object();
            assert!(has("400") && has("503"), "{method} {path}");
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                assert!(has("401"), "{method} {path}");
            }
            if path.contains('{') {
                assert!(has("404"), "{method} {path}");
            }
            if op["requestBody"].is_object() {
                for status in ["408", "413", "415", "422"] {
                    assert!(has(status), "{method} {path} {status}");
                }
            }
        }
    }
    let demands = &doc["paths"]["/api/v1/demands/{id}"]["patch"]["responses"];
    assert!(demands["401"].is_object() && demands["415"].is_object());
    // And that is what an error is served as.
    app.get("/api/v1/streets/not-a-uuid", &app.admin)
        .await
        .problem(400, "invalid_id", Some("id"));
}

/// Every closed set of values is published as the strings the API reads and writes, so a
/// client generated from the document sends and parses what the service does.
#[tokio::test]
async fn every_enum_in_the_document_is_the_wire_form() {
    use gongjian_core::domain::stats::GroupBy;
    use gongjian_core::{
        domain::access::RoleKind,
        domain::{
            CandidateKind, Channel, DemandStatus, FaultKind, OfferStatus, OrderStatus,
            ProjectStatus, ResourceStatus, RuleKind, UnitKind, Urgency, Weekday,
        },
    };
    use gongjian_host::plugin::host::PluginKind;
    fn wire<T: serde::Serialize>(all: &[T]) -> Vec<serde_json::Value> {
        all.iter()
            .map(|v| serde_json::to_value(v).unwrap())
            .collect()
    }
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    for (name, values) in [
        ("RoleKind", wire(RoleKind::ALL)),
        ("UnitKind", wire(UnitKind::ALL)),
        ("Channel", wire(Channel::ALL)),
        ("Urgency", wire(Urgency::ALL)),
        ("DemandStatus", wire(DemandStatus::ALL)),
        ("ResourceStatus", wire(ResourceStatus::ALL)),
        ("ProjectStatus", wire(ProjectStatus::ALL)),
        ("Weekday", wire(Weekday::ALL)),
        ("OrderStatus", wire(OrderStatus::ALL)),
        ("CandidateKind", wire(CandidateKind::ALL)),
        ("OfferStatus", wire(OfferStatus::ALL)),
        ("RuleKind", wire(RuleKind::ALL)),
        ("FaultKind", wire(FaultKind::ALL)),
        ("PluginKind", wire(PluginKind::ALL)),
        ("GroupBy", wire(GroupBy::ALL)),
    ] {
        assert_eq!(
            schemas[name]["enum"].as_array(),
            Some(&values),
            "{name}: {}",
            schemas[name]
        );
        assert!(values.iter().all(|v| v
            .as_str()
            .is_some_and(|s| s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))));
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let resp = app.call(Method::GET, "/healthz", None, None).await;
    let id = resp
        .headers
        .get("x-request-id")
        .expect("a request id")
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
}
