//! A day of a street, end to end through the API on a hand-moved clock: repairs dispatched
//! as they are filed, declines and re-offers, offers nobody answers, a demand cancelled while
//! offered, an order cancelled and dispatched again, a demand whose candidates all decline,
//! overdue work escalated, a hospital's resource, ratings by staff and by the resident's own
//! link — and at the end the invariant checker finds the database consistent and the
//! street's figures say what happened.

use axum::http::Method;
use gongjian_core::service::scheduler;
use serde_json::{json, Value};
use time::Duration;

use crate::{
    concurrency::{open_offers, Scene},
    helpers::{actions, demand_body, id},
};

impl Scene {
    /// The demand's latest order.
    async fn order_of(&self, demand: &str) -> Value {
        let page = self
            .app
            .get(&format!("/api/v1/orders?demand_id={demand}"), &self.admin)
            .await
            .expect(200);
        page["items"].as_array().unwrap().last().unwrap().clone()
    }

    async fn decline_all(&self, order: &str) -> Value {
        let mut last = Value::Null;
        for v in open_offers(&self.order(order).await) {
            last = self
                .act(
                    order,
                    "decline",
                    &self.token(&v),
                    json!({"reason": "不在家"}),
                )
                .await;
        }
        last
    }
}

#[tokio::test]
async fn a_day_of_a_street_leaves_the_database_consistent() {
    let (s, clock) = Scene::at_morning(5, 3).await;
    s.app
        .call(
            Method::PUT,
            &format!("/api/v1/streets/{}/dispatch-settings/repair", s.street),
            Some(&s.admin),
            Some(json!({"auto_dispatch": true, "offer_count": 2, "accept_minutes": 30, "complete_minutes": 120})),
        )
        .await
        .expect(200);
    let (_, unit_token, resource) = s.unit_resource("市立医院", "上门体检", "medical", 2).await;

    // 08:00: five repairs, each offered to two volunteers as it is filed.
    let repairs = s.file(5).await;
    for d in &repairs {
        assert_eq!(s.demand(d).await["status"], "dispatched");
    }
    let order = |i: usize| {
        let d = repairs[i].clone();
        let s = &s;
        async move { id(&s.order_of(&d).await) }
    };
    let (a, b, c, d, e) = (
        order(0).await,
        order(1).await,
        order(2).await,
        order(3).await,
        order(4).await,
    );

    // A: both decline, the next two are offered, one accepts, does it, and is rated.
    let next = s.decline_all(&a).await;
    let taker_a = open_offers(&s.order(&a).await).remove(0);
    assert_eq!(next["status"], "offered");
    s.act(&a, "accept", &s.token(&taker_a), json!({})).await;
    s.act(&a, "start", &s.token(&taker_a), json!({})).await;

    // C: the resident no longer needs it; cancelled while offered.
    s.app
        .patch(
            &format!("/api/v1/demands/{}", repairs[2]),
            &s.admin,
            json!({"status": "cancelled"}),
        )
        .await
        .expect(200);
    assert_eq!(s.order(&c).await["status"], "cancelled");

    // D: accepted, then taken back by the street, dispatched again and accepted.
    let first_d = open_offers(&s.order(&d).await).remove(0);
    s.act(&d, "accept", &s.token(&first_d), json!({})).await;
    s.act(&d, "cancel", &s.admin, json!({"reason": "志愿者临时有事"}))
        .await;
    assert_eq!(s.demand(&repairs[3]).await["status"], "open");
    let d2 = s.dispatch(&repairs[3], 1).await;
    let taker_d = open_offers(&d2).remove(0);
    let d2 = id(&d2);
    s.act(&d2, "accept", &s.token(&taker_d), json!({})).await;

    // E: everyone declines; the order runs out of candidates and the case is escalated, and
    // dispatching again finds nobody who has not declined.
    while s.order(&e).await["status"] == "offered" {
        s.decline_all(&e).await;
    }
    assert_eq!(s.order(&e).await["status"], "unassigned");
    s.app
        .post(
            &format!("/api/v1/demands/{}/dispatch", repairs[4]),
            &s.admin,
            json!({}),
        )
        .await
        .problem(409, "no_candidates", None);
    s.app
        .patch(
            &format!("/api/v1/demands/{}", repairs[4]),
            &s.admin,
            json!({"status": "cancelled"}),
        )
        .await
        .expect(200);

    // M: a medical need goes to the hospital's resource.
    let mut body = demand_body(&s.grid);
    body.as_object_mut().unwrap().remove("window_start");
    body.as_object_mut().unwrap().remove("window_end");
    body["category"] = json!("medical");
    let medical = id(&s
        .app
        .post("/api/v1/demands", &s.worker, body)
        .await
        .expect(201));
    let m = s.dispatch(&medical, 10).await;
    assert!(open_offers(&m).contains(&resource), "{m}");
    let m = id(&m);
    s.act(&m, "accept", &unit_token, json!({})).await;
    s.act(&m, "start", &unit_token, json!({})).await;

    // 08:40: A and D are done, M too.
    clock.advance(Duration::minutes(40));
    s.act(
        &a,
        "complete",
        &s.token(&taker_a),
        json!({"service_minutes": 40}),
    )
    .await;
    s.act(&d2, "start", &s.token(&taker_d), json!({})).await;
    s.act(
        &d2,
        "complete",
        &s.token(&taker_d),
        json!({"service_minutes": 30}),
    )
    .await;
    s.act(
        &m,
        "complete",
        &unit_token,
        json!({"service_minutes": 25, "note": "血压正常"}),
    )
    .await;
    s.act(&a, "rating", &s.admin, json!({"rating": 5})).await;
    s.act(&m, "rating", &s.worker, json!({"rating": 4})).await;

    // B: nobody answered; past the deadline the scheduler offers it to the next two.
    let unanswered = open_offers(&s.order(&b).await);
    let moved = scheduler::tick(&s.app.state).await.unwrap();
    assert_eq!(moved.expired_offers, 1, "only B is still waiting");
    let reoffered = open_offers(&s.order(&b).await);
    assert!(reoffered.iter().all(|v| !unanswered.contains(v)));
    let taker_b = reoffered[0].clone();
    s.act(&b, "accept", &s.token(&taker_b), json!({})).await;
    s.act(&b, "start", &s.token(&taker_b), json!({})).await;

    // Three hours on, B is overdue and escalated; then it is done, late, and the resident
    // rates it low through the link.
    clock.advance(Duration::hours(3));
    assert_eq!(scheduler::tick(&s.app.state).await.unwrap().overdue, 1);
    s.act(
        &b,
        "complete",
        &s.token(&taker_b),
        json!({"service_minutes": 90}),
    )
    .await;
    let link = s
        .app
        .post(
            &format!("/api/v1/orders/{b}/feedback-link"),
            &s.worker,
            json!({}),
        )
        .await
        .expect(201);
    s.app
        .call(
            Method::POST,
            link["path"].as_str().unwrap(),
            None,
            Some(json!({"rating": 2, "comment": "来得太晚"})),
        )
        .await
        .expect(200);

    // What happened, as the records tell it.
    assert_eq!(s.demand(&repairs[1]).await["flagged"], true);
    let events = s
        .app
        .get(&format!("/api/v1/orders/{b}/events"), &s.admin)
        .await
        .expect(200);
    assert_eq!(
        actions(&events),
        [
            "offered",
            "offer_expired",
            "offered",
            "accepted",
            "started",
            "escalated",
            "completed",
            "rated"
        ]
    );
    let events = s
        .app
        .get(&format!("/api/v1/demands/{}/events", repairs[3]), &s.admin)
        .await
        .expect(200);
    assert_eq!(
        actions(&events),
        [
            "filed",
            "dispatched",
            "accepted",
            "reopened",
            "dispatched",
            "accepted",
            "completed"
        ]
    );
    let left = s
        .app
        .get(&format!("/api/v1/resources/{resource}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(left["capacity_left"], 1);
    let stats = s
        .app
        .get(
            "/api/v1/stats?from=2026-05-01T00:00:00Z&to=2026-05-08T00:00:00Z",
            &s.admin,
        )
        .await
        .expect(200);
    let t = &stats["total"];
    assert_eq!(
        (
            t["received"].as_u64(),
            t["completed"].as_u64(),
            t["rated"].as_u64()
        ),
        (Some(6), Some(4), Some(3)),
        "{stats}"
    );
    assert_eq!(
        t["escalations"].as_u64(),
        Some(3),
        "E ran out and then found nobody, B was late: {t}"
    );
    s.app.assert_consistent().await;
}
