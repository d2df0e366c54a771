//! The invariant checker (`gongjian check`): silent on a consistent database; on a broken one
//! it names every broken invariant with the rows at fault and exits non-zero.

use serde_json::json;

use crate::{
    cli::gongjian,
    concurrency::{open_offers, Scene},
    helpers::{id, TestApp},
};

/// Whether the report names `invariant` for a subject that mentions `row`.
fn reports(report: &gongjian_core::store::check::Report, invariant: &str, row: &str) -> bool {
    report
        .violations
        .iter()
        .any(|v| v.invariant == invariant && v.subject.ends_with(row))
}

async fn sql(app: &TestApp, statement: &str, binds: &[&str]) {
    let mut q = sqlx::query(statement);
    for b in binds {
        q = q.bind(b.to_string());
    }
    let done = q.execute(app.db.write()).await.expect("the statement runs");
    assert!(done.rows_affected() > 0, "{statement} changed nothing");
}

#[tokio::test]
async fn the_checker_names_every_broken_invariant_and_the_rows_at_fault() {
    let s = Scene::new(TestApp::spawn().await, 3, 100).await;
    let (v0, v1, v2) = (
        s.volunteers[0].0.clone(),
        s.volunteers[1].0.clone(),
        s.volunteers[2].0.clone(),
    );
    let demands = s.file(8).await;
    let mut orders = vec![];
    for d in &demands {
        let order = s.dispatch(d, 3).await;
        assert_eq!(open_offers(&order).len(), 3);
        orders.push(id(&order));
    }
    for (o, v) in [
        (&orders[2], &v1),
        (&orders[4], &v0),
        (&orders[5], &v0),
        (&orders[6], &v0),
        (&orders[7], &v0),
    ] {
        s.app
            .post(
                &format!("/api/v1/orders/{o}/accept"),
                &s.token(v),
                json!({}),
            )
            .await
            .expect(200);
    }
    let (_, _, resource) = s.unit_resource("维修公司", "工具箱", "repair", 3).await;
    let out = gongjian(&s.app.test_db).arg("check").output().unwrap();
    assert!(
        out.status.success(),
        "a consistent database passes: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invariants hold"));

    // Break one invariant per row.
    let copy = uuid::Uuid::now_v7().to_string();
    sql(
        &s.app,
        "INSERT INTO service_orders (id, demand_id, street_id, status, rule_kind, ranking, offer_count, next_rank, \
         created_by, created_at, updated_at) SELECT $1, demand_id, street_id, 'offered', rule_kind, ranking, \
         offer_count, next_rank, created_by, created_at, updated_at FROM service_orders WHERE id = $2",
        &[&copy, &orders[0]],
    )
    .await;
    sql(
        &s.app,
        "UPDATE demands SET status = 'open' WHERE id = $1",
        &[&demands[1]],
    )
    .await;
    sql(
        &s.app,
        "UPDATE service_orders SET assignee_id = $1 WHERE id = $2",
        &[&v2, &orders[2]],
    )
    .await;
    sql(
        &s.app,
        "UPDATE order_offers SET status = 'declined' WHERE order_id = $1",
        &[&orders[3]],
    )
    .await;
    // The schema's own check holds capacity within bounds; the checker is for a database
    // restored or migrated without it.
    if s.app.db.backend() == gongjian_core::store::db::Backend::Postgres {
        let name: String = sqlx::query_scalar(
            "SELECT conname::text FROM pg_constraint WHERE conrelid = 'resources'::regclass \
             AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%capacity_left%'",
        )
        .fetch_one(s.app.db.write())
        .await
        .unwrap();
        sqlx::query(&format!("ALTER TABLE resources DROP CONSTRAINT {name}"))
            .execute(s.app.db.write())
            .await
            .unwrap();
    } else {
        // One writer connection: the pragma holds for the update after it.
        sqlx::query("PRAGMA ignore_check_constraints = ON")
            .execute(s.app.db.write())
            .await
            .unwrap();
    }
    sql(
        &s.app,
        "UPDATE resources SET capacity_left = 4 WHERE id = $1",
        &[&resource],
    )
    .await;
    sql(
        &s.app,
        "UPDATE volunteers SET max_open_orders = 2, updated_at = '2000-01-01T00:00:00.000000Z' WHERE id = $1",
        &[&v0],
    )
    .await;
    sql(
        &s.app,
        "UPDATE candidate_loads SET service_minutes = 999 WHERE candidate_id = $1",
        &[&v0],
    )
    .await;
    sql(
        &s.app,
        "DELETE FROM events WHERE subject_id = $1 AND action = 'accepted'",
        &[&orders[6]],
    )
    .await;
    // An offer made after the accepted one: the order was accepted from a stale round.
    sql(
        &s.app,
        "UPDATE order_offers SET offered_at = '2999-01-01T00:00:00.000000Z' WHERE id = \
         (SELECT id FROM order_offers WHERE order_id = $1 AND status = 'withdrawn' ORDER BY rank LIMIT 1)",
        &[&orders[4]],
    )
    .await;

    let report = gongjian_core::store::check::check_database(&s.app.test_db.url)
        .await
        .unwrap();
    for (invariant, row) in [
        ("demand_has_one_live_order", &demands[0]),
        ("demand_status_matches_its_order", &demands[1]),
        ("accepted_offer_matches_assignee", &orders[2]),
        ("open_offers_only_on_offered_orders", &orders[3]),
        ("capacity_within_bounds", &resource),
        ("capacity_taken_by_orders", &resource),
        ("volunteer_within_order_limit", &v0),
        ("candidate_load_matches_orders", &v0),
        ("candidate_load_matches_orders", &v2),
        ("status_has_its_events", &orders[6]),
        ("accepted_offer_matches_assignee", &orders[4]),
    ] {
        assert!(
            reports(&report, invariant, row),
            "{invariant} for {row} not reported: {:#?}",
            report.violations
        );
    }
    // Rows left alone are not named.
    for row in [&demands[5], &orders[5]] {
        assert!(
            !report
                .violations
                .iter()
                .any(|v| v.subject.ends_with(row.as_str())),
            "{row} is consistent: {:#?}",
            report.violations
        );
    }

    // The command line prints the same list and fails.
    let out = gongjian(&s.app.test_db).arg("check").output().unwrap();
    assert!(!out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        printed.lines().count(),
        report.violations.len(),
        "{printed}"
    );
    assert!(printed.contains(&format!("volunteer_within_order_limit: volunteer {v0}")));

    // A limit lowered after the orders were accepted is no breach: they counted under the
    // limit of their day.
    sql(
        &s.app,
        "UPDATE volunteers SET updated_at = '2999-01-01T00:00:00.000000Z' WHERE id = $1",
        &[&v0],
    )
    .await;
    let report = gongjian_core::store::check::check_database(&s.app.test_db.url)
        .await
        .unwrap();
    assert!(!reports(&report, "volunteer_within_order_limit", &v0));
}
