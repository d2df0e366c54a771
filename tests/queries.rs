//! Every list answers with a number of queries that does not grow with the page: a page of 2
//! orders and a page of 12 are read with the same queries, for the street's staff (who see the
//! ranking and every offer) and for a unit (which sees the orders offered to it).
//!
//! Queries are counted from sqlx's own statement log (`sqlx::query` events), so this test is
//! its own binary: the counting subscriber is process-wide, and no other test runs beside it.
//! A new connection's setup (SQLite's `PRAGMA`s) is not counted: whether the pool opens one
//! during a request depends on timing, not on the request.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt, Layer};

use helpers::{id, Street, TestApp, World};

static QUERIES: AtomicUsize = AtomicUsize::new(0);

struct CountQueries;

/// The text of a logged statement (sqlx logs it as `db.statement`, and a short `summary`).
#[derive(Default)]
struct Statement(String);

impl tracing::field::Visit for Statement {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if matches!(field.name(), "db.statement" | "summary") {
            self.0.push_str(value);
            self.0.push(' ');
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "db.statement" | "summary") {
            self.0.push_str(&format!("{value:?} "));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for CountQueries {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut statement = Statement::default();
        event.record(&mut statement);
        // A pool opens a connection when it has none idle (under load, one may not yet be back
        // from the last request); the connection's setup is not a query of the list.
        if !statement.0.trim_start().starts_with("PRAGMA") {
            QUERIES.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The queries `run` makes.
async fn queries_of<F: std::future::Future<Output = ()>>(run: F) -> usize {
    let before = QUERIES.load(Ordering::SeqCst);
    run.await;
    QUERIES.load(Ordering::SeqCst) - before
}

/// Files `n` demands in street `a` and dispatches each as an order.
async fn orders(app: &TestApp, a: &Street, n: usize) {
    for _ in 0..n {
        let demand = id(&app.demand(&a.grid, &a.grid_worker).await);
        app.post(
            &format!("/api/v1/demands/{demand}/dispatch"),
            &a.admin,
            json!({}),
        )
        .await
        .expect(201);
    }
}

/// The orders the caller of `token` lists on the first page.
async fn list(app: &TestApp, token: &str) -> usize {
    let page = app.get("/api/v1/orders", token).await.expect(200);
    page["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn the_order_list_reads_a_page_in_a_fixed_number_of_queries() {
    tracing_subscriber::registry()
        .with(
            CountQueries
                .with_filter(Targets::new().with_target("sqlx::query", tracing::Level::TRACE)),
        )
        .init();
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let a = &w.a;
    orders(&app, a, 2).await;
    let callers = [&a.admin, &app.admin, &a.unit_token];
    let mut small = Vec::new();
    for token in callers {
        assert_eq!(list(&app, token).await, 2);
        small.push(
            queries_of(async {
                list(&app, token).await;
            })
            .await,
        );
    }
    assert!(
        small.iter().all(|n| *n > 0),
        "no query was counted: {small:?}"
    );
    orders(&app, a, 10).await;
    for (i, token) in callers.into_iter().enumerate() {
        assert_eq!(list(&app, token).await, 12);
        let large = queries_of(async {
            list(&app, token).await;
        })
        .await;
        assert_eq!(
            large, small[i],
            "caller {i}: {} queries for 2 orders, {large} for 12",
            small[i]
        );
    }
}
