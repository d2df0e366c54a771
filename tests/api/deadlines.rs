//! Deadlines on a controllable clock: offers nobody answers go to the next candidate, work
//! not done in time is escalated, a restart loses no deadline, and two instances never act on
//! the same one twice.

use std::sync::Arc;

use gongjian_core::service::scheduler;
use gongjian_core::{domain::access::RoleKind, domain::clock::ManualClock};
use gongjian_host::AppState;
use serde_json::{json, Value};
use time::Duration;

use crate::concurrency::open_offers;
use crate::helpers::{actions, demand_body, id, TestApp};

pub(crate) struct Setup {
    pub app: TestApp,
    pub clock: ManualClock,
    pub street: String,
    pub grid: String,
    pub admin: String,
    pub grid_worker: String,
    pub volunteers: Vec<(String, String)>,
}

pub(crate) async fn setup(volunteers: usize) -> Setup {
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let app = TestApp::spawn_with_clock(Arc::new(clock.clone())).await;
    let street = id(&app.street("shixi").await);
    let c = id(&app.community(&street, "魏鑫社区").await);
    let grid = id(&app.grid(&street, &c, "g01").await);
    let mut vs = vec![];
    for i in 0..volunteers {
        let v = id(&app
            .post("/api/v1/volunteers", &app.admin, json!({"name": format!("志愿者{i}"), "phone": "13800001111", "home_grid_id": grid, "skills": ["维修"]}))
            .await
            .expect(201));
        vs.push((
            v.clone(),
            app.token(RoleKind::Volunteer, None, None, Some(&v)).await,
        ));
    }
    Setup {
        admin: app
            .token(RoleKind::StreetAdmin, Some(&street), None, None)
            .await,
        grid_worker: app
            .token(RoleKind::GridWorker, Some(&street), None, None)
            .await,
        app,
        clock,
        street,
        grid,
        volunteers: vs,
    }
}

impl Setup {
    pub async fn settings(&self, category: &str, body: Value) -> Value {
        self.app
            .put(
                &format!(
                    "/api/v1/streets/{}/dispatch-settings/{category}",
                    self.street
                ),
                &self.admin,
                body,
            )
            .await
            .expect(200)
    }

    pub async fn demand(&self) -> String {
        let mut body = demand_body(&self.grid);
        body["category"] = json!("repair");
        body.as_object_mut().unwrap().remove("window_start");
        body.as_object_mut().unwrap().remove("window_end");
        id(&self
            .app
            .post("/api/v1/demands", &self.grid_worker, body)
            .await
            .expect(201))
    }

    /// Dispatches `demand` as the street's admin; the order's id.
    pub async fn dispatch(&self, demand: &str) -> String {
        id(&self
            .app
            .post(
                &format!("/api/v1/demands/{demand}/dispatch"),
                &self.admin,
                json!({}),
            )
            .await
            .expect(201))
    }

    async fn order(&self, oid: &str) -> Value {
        self.app
            .get(&format!("/api/v1/orders/{oid}"), &self.admin)
            .await
            .expect(200)
    }

    async fn events(&self, path: &str) -> Vec<String> {
        actions(
            &self
                .app
                .get(&format!("{path}?limit=200"), &self.admin)
                .await
                .expect(200),
        )
    }

    pub fn token(&self, volunteer: &str) -> String {
        self.volunteers
            .iter()
            .find(|(v, _)| v == volunteer)
            .unwrap()
            .1
            .clone()
    }
}

#[tokio::test]
async fn unanswered_offers_move_on_and_survive_a_restart() {
    let s = setup(3).await;
    s.settings(
        "default",
        json!({"auto_dispatch": false, "offer_count": 1, "accept_minutes": 30}),
    )
    .await;
    let demand = s.demand().await;
    let oid = s.dispatch(&demand).await;
    let first = open_offers(&s.order(&oid).await);
    assert_eq!(first.len(), 1, "one after another");

    assert_eq!(
        scheduler::tick(&s.app.state).await.unwrap(),
        scheduler::Tick::default(),
        "nothing is due yet"
    );
    s.clock.advance(Duration::minutes(31));
    assert_eq!(
        scheduler::tick(&s.app.state).await.unwrap().expired_offers,
        1
    );
    let second = open_offers(&s.order(&oid).await);
    assert_eq!(second.len(), 1);
    assert_ne!(second, first);
    assert_eq!(
        scheduler::tick(&s.app.state).await.unwrap().expired_offers,
        0,
        "acted on once"
    );
    let withdrawn = s.order(&oid).await["offers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["candidate_id"] == first[0].as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (withdrawn["status"].as_str(), withdrawn["reason"].as_str()),
        (Some("withdrawn"), Some("no answer in time"))
    );
    s.app
        .post(
            &format!("/api/v1/orders/{oid}/accept"),
            &s.token(&first[0]),
            json!({}),
        )
        .await
        .problem(409, "not_offered", None);

    // A restart: a new instance of the service on the same database finds the deadline.
    let restarted = AppState::new(s.app.db.clone()).with_clock(Arc::new(s.clock.clone()));
    s.clock.advance(Duration::minutes(31));
    assert_eq!(scheduler::tick(&restarted).await.unwrap().expired_offers, 1);
    let third = open_offers(&s.order(&oid).await);
    assert!(third != first && third != second && third.len() == 1);
    // The last one does not answer either: the order is unassigned and escalated.
    s.clock.advance(Duration::minutes(31));
    assert_eq!(scheduler::tick(&restarted).await.unwrap().expired_offers, 1);
    let order = s.order(&oid).await;
    assert_eq!(order["status"], "unassigned");
    let events = s.events(&format!("/api/v1/orders/{oid}/events")).await;
    assert_eq!(
        events,
        [
            "offered",
            "offer_expired",
            "offered",
            "offer_expired",
            "offered",
            "offer_expired",
            "unassigned",
            "escalated"
        ]
    );
    assert_eq!(
        s.events(&format!("/api/v1/demands/{demand}/events"))
            .await
            .last()
            .unwrap(),
        "escalated"
    );
    let stats = s
        .app
        .get(
            "/api/v1/stats?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
            &s.admin,
        )
        .await
        .expect(200);
    assert_eq!(stats["total"]["escalations"], 1);
}

#[tokio::test]
async fn two_instances_never_act_on_the_same_deadline_twice() {
    let s = setup(4).await;
    s.settings(
        "default",
        json!({"auto_dispatch": false, "offer_count": 2, "accept_minutes": 10}),
    )
    .await;
    let mut orders = vec![];
    for _ in 0..3 {
        let d = s.demand().await;
        orders.push(s.dispatch(&d).await);
    }
    s.clock.advance(Duration::minutes(11));
    let other = AppState::new(s.app.db.clone()).with_clock(Arc::new(s.clock.clone()));
    let (a, b) = tokio::join!(scheduler::tick(&s.app.state), scheduler::tick(&other));
    assert_eq!(a.unwrap().expired_offers + b.unwrap().expired_offers, 3);
    for oid in &orders {
        let events = s.events(&format!("/api/v1/orders/{oid}/events")).await;
        assert_eq!(
            events.iter().filter(|e| *e == "offer_expired").count(),
            1,
            "{events:?}"
        );
        assert_eq!(
            open_offers(&s.order(oid).await).len(),
            2,
            "the next two are offered"
        );
    }
}

#[tokio::test]
async fn work_not_done_in_time_is_escalated_with_a_new_deadline() {
    let s = setup(1).await;
    s.settings("repair", json!({"auto_dispatch": false, "offer_count": 1, "accept_minutes": 30, "complete_minutes": 60})).await;
    let demand = s.demand().await;
    let oid = s.dispatch(&demand).await;
    let t = s.volunteers[0].1.clone();
    s.app
        .post(&format!("/api/v1/orders/{oid}/accept"), &t, json!({}))
        .await
        .expect(200);
    s.clock.advance(Duration::minutes(45));
    assert_eq!(
        scheduler::tick(&s.app.state).await.unwrap(),
        scheduler::Tick::default(),
        "accepted orders do not expire as offers"
    );
    s.clock.advance(Duration::minutes(20));
    assert_eq!(scheduler::tick(&s.app.state).await.unwrap().overdue, 1);
    assert_eq!(
        scheduler::tick(&s.app.state).await.unwrap().overdue,
        0,
        "escalated once per deadline"
    );
    let events = s.events(&format!("/api/v1/orders/{oid}/events")).await;
    assert_eq!(events.last().unwrap(), "escalated");
    let page = s
        .app
        .get(&format!("/api/v1/orders/{oid}/events"), &s.admin)
        .await
        .expect(200);
    let note = page["items"].as_array().unwrap().last().unwrap()["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains("not completed by its deadline") && note.contains("new deadline"),
        "{note}"
    );
    // Past the new deadline it is escalated again; completing it ends the deadlines.
    s.clock.advance(Duration::minutes(121));
    assert_eq!(scheduler::tick(&s.app.state).await.unwrap().overdue, 1);
    s.app
        .post(&format!("/api/v1/orders/{oid}/start"), &t, json!({}))
        .await
        .expect(200);
    s.app
        .post(
            &format!("/api/v1/orders/{oid}/complete"),
            &t,
            json!({"service_minutes": 30}),
        )
        .await
        .expect(200);
    s.clock.advance(Duration::days(3));
    assert_eq!(
        scheduler::tick(&s.app.state).await.unwrap(),
        scheduler::Tick::default()
    );
}

#[tokio::test]
async fn auto_dispatch_on_filing_and_settings_validation() {
    let s = setup(2).await;
    let base = format!("/api/v1/streets/{}/dispatch-settings", s.street);
    let put = |category: &str, body: Value, token: &str| {
        let path = format!("{base}/{category}");
        let token = token.to_string();
        let app = &s.app;
        async move {
            app.call(axum::http::Method::PUT, &path, Some(&token), Some(body))
                .await
        }
    };
    put(
        "repair",
        json!({"auto_dispatch": true, "offer_count": 0, "accept_minutes": 30}),
        &s.admin,
    )
    .await
    .problem(422, "out_of_range", Some("offer_count"));
    put(
        "astrology",
        json!({"auto_dispatch": true, "offer_count": 1, "accept_minutes": 30}),
        &s.admin,
    )
    .await
    .problem(422, "unknown_category", Some("category"));
    put(
        "repair",
        json!({"auto_dispatch": true, "offer_count": 1, "accept_minutes": 30}),
        &s.grid_worker,
    )
    .await
    .problem(403, "forbidden", None);
    put(
        "repair",
        json!({"auto_dispatch": true, "offer_count": 2, "accept_minutes": 15}),
        &s.admin,
    )
    .await
    .expect(200);
    let listed = s.app.get(&base, &s.grid_worker).await.expect(200);
    assert_eq!(listed["default"]["offer_count"], 3);
    assert_eq!(listed["categories"][0]["category"], "repair");
    assert_eq!(listed["categories"][0]["settings"]["auto_dispatch"], true);

    let demand = s.demand().await;
    let d = s
        .app
        .get(&format!("/api/v1/demands/{demand}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(d["status"], "dispatched", "dispatched as it was filed");
    let orders = s
        .app
        .get(&format!("/api/v1/orders?demand_id={demand}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(open_offers(&orders["items"][0]).len(), 2);
    // The filing and the dispatch are recorded in the order they happened.
    let events = |path: String| {
        let app = &s.app;
        let admin = s.admin.clone();
        async move { actions(&app.get(&path, &admin).await.expect(200)) }
    };
    assert_eq!(
        events(format!("/api/v1/demands/{demand}/events")).await,
        ["filed", "dispatched"]
    );
    assert_eq!(
        events(format!("/api/v1/orders/{}/events", id(&orders["items"][0]))).await,
        ["offered"]
    );
    // Other categories keep the street's default: no automatic dispatch.
    let mut body = demand_body(&s.grid);
    body["category"] = json!("legal");
    let other = id(&s
        .app
        .post("/api/v1/demands", &s.grid_worker, body)
        .await
        .expect(201));
    assert_eq!(
        s.app
            .get(&format!("/api/v1/demands/{other}"), &s.admin)
            .await
            .expect(200)["status"],
        "open"
    );
    assert_eq!(
        events(format!("/api/v1/demands/{other}/events")).await,
        ["filed"]
    );
}
