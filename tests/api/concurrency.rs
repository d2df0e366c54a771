//! Correctness under concurrency. Every state change is a compare-and-set inside the
//! transaction that makes it, every limit is taken under a lock, and no transaction waits for
//! a second connection. Each test races real concurrent requests — tasks on a multi-threaded
//! runtime, each its own request through the router and its own database connection — in
//! their hundreds, then asserts what every client was told against what the database holds,
//! and ends with the invariant checker.

use std::{future::Future, sync::Arc, time::Duration as StdDuration};

use gongjian_core::domain::clock::ManualClock;
use gongjian_core::service::scheduler;
use gongjian_host::AppState;
use serde_json::{json, Value};
use time::{macros::datetime, Duration, OffsetDateTime};

use crate::helpers::{actions, demand_body, id, Resp, TestApp};

/// A street with volunteers in one grid who repair things, each with a token and room for
/// `limit` open orders.
pub struct Scene {
    pub app: Arc<TestApp>,
    pub street: String,
    pub grid: String,
    pub admin: String,
    pub worker: String,
    pub volunteers: Vec<(String, String)>,
}

impl Scene {
    pub async fn new(app: TestApp, volunteers: usize, limit: i64) -> Scene {
        use gongjian_core::domain::access::RoleKind;
        let street = id(&app.street("shixi").await);
        let community = id(&app.community(&street, "魏鑫社区").await);
        let grid = id(&app.grid(&street, &community, "g01").await);
        let mut vs = vec![];
        for i in 0..volunteers {
            let v = id(&app
                .post(
                    "/api/v1/volunteers",
                    &app.admin,
                    json!({"name": format!("志愿者{i}"), "phone": "13800001111", "home_grid_id": grid,
                           "skills": ["维修"], "max_open_orders": limit}),
                )
                .await
                .expect(201));
            let t = app.token(RoleKind::Volunteer, None, None, Some(&v)).await;
            vs.push((v, t));
        }
        Scene {
            admin: app
                .token(RoleKind::StreetAdmin, Some(&street), None, None)
                .await,
            worker: app
                .token(RoleKind::GridWorker, Some(&street), None, None)
                .await,
            app: Arc::new(app),
            street,
            grid,
            volunteers: vs,
        }
    }

    pub fn token(&self, volunteer: &str) -> String {
        self.volunteers
            .iter()
            .find(|(v, _)| v == volunteer)
            .expect("a volunteer of the street")
            .1
            .clone()
    }

    /// Files `n` repair demands at once; their ids in filing order.
    pub async fn file(&self, n: usize) -> Vec<String> {
        let mut body = demand_body(&self.grid);
        body["category"] = json!("repair");
        body.as_object_mut().unwrap().remove("window_start");
        body.as_object_mut().unwrap().remove("window_end");
        let filed = at_once((0..n).map(|_| {
            let (app, worker, body) = (self.app.clone(), self.worker.clone(), body.clone());
            async move { app.post("/api/v1/demands", &worker, body).await.expect(201) }
        }))
        .await;
        filed.iter().map(id).collect()
    }

    /// Dispatches a demand to `offer_count` candidates; the order.
    pub async fn dispatch(&self, demand: &str, offer_count: i64) -> Value {
        self.app
            .post(
                &format!("/api/v1/demands/{demand}/dispatch"),
                &self.admin,
                json!({"offer_count": offer_count}),
            )
            .await
            .expect(201)
    }

    /// A scene whose service's clock stands at 08:00 in the street until moved.
    pub async fn at_morning(volunteers: usize, limit: i64) -> (Scene, ManualClock) {
        let clock = ManualClock::new(morning());
        let app = TestApp::spawn_with_clock(Arc::new(clock.clone())).await;
        (Scene::new(app, volunteers, limit).await, clock)
    }

    /// Another host on the scene's database whose clock stands at `at`.
    pub fn host_at(&self, at: OffsetDateTime) -> AppState {
        AppState::new(self.app.db.clone()).with_clock(Arc::new(ManualClock::new(at)))
    }

    /// Files `n` demands and dispatches each to one candidate: (demand, order, the token of
    /// the candidate offered it).
    pub async fn offered_one_each(&self, n: usize) -> Vec<(String, String, String)> {
        let mut orders = vec![];
        for d in self.file(n).await {
            let order = self.dispatch(&d, 1).await;
            let taker = self.token(&open_offers(&order)[0]);
            orders.push((d, id(&order), taker));
        }
        orders
    }

    /// A unit co-building with the street, its token, and a resource of `capacity` it offers
    /// in `category`.
    pub async fn unit_resource(
        &self,
        name: &str,
        title: &str,
        category: &str,
        capacity: i64,
    ) -> (String, String, String) {
        use gongjian_core::domain::access::RoleKind;
        let unit = id(&self.app.unit(&[&self.street], name).await);
        let token = self
            .app
            .token(RoleKind::Unit, None, Some(&unit), None)
            .await;
        let resource = id(&self
            .app
            .post(
                "/api/v1/resources",
                &self.app.admin,
                json!({"owner_unit_id": unit, "title": title, "category": category, "capacity": capacity,
                       "street_ids": [self.street]}),
            )
            .await
            .expect(201));
        (unit, token, resource)
    }

    /// For each (demand, order, taker) at once: the demand edited with `edit` while the taker
    /// accepts the order. (demand, order, the edit's answer, the accept's answer).
    async fn edit_while_accepting(
        &self,
        orders: Vec<(String, String, String)>,
        edit: Value,
    ) -> Vec<(String, String, Resp, Resp)> {
        at_once(orders.into_iter().map(|(d, o, taker)| {
            let edit = patch(
                &self.app,
                format!("/api/v1/demands/{d}"),
                &self.admin,
                edit.clone(),
            );
            let accept = post(
                &self.app,
                format!("/api/v1/orders/{o}/accept"),
                &taker,
                json!({}),
            );
            async move {
                let (edit, accept) = both(edit, accept).await;
                (d, o, edit, accept)
            }
        }))
        .await
    }

    /// Takes `action` on an order as `token`, which must succeed; the order as answered.
    pub async fn act(&self, order: &str, action: &str, token: &str, body: Value) -> Value {
        self.app
            .post(&format!("/api/v1/orders/{order}/{action}"), token, body)
            .await
            .expect(200)
    }

    pub async fn order(&self, order: &str) -> Value {
        self.app
            .get(&format!("/api/v1/orders/{order}"), &self.admin)
            .await
            .expect(200)
    }

    pub async fn demand(&self, demand: &str) -> Value {
        self.app
            .get(&format!("/api/v1/demands/{demand}"), &self.admin)
            .await
            .expect(200)
    }
}

/// Runs every future at once, each in a task of its own; their outputs in order.
pub async fn at_once<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("the task finishes"));
    }
    out
}

/// Runs two futures at once, each in a task of its own.
async fn both<A, B>(a: A, b: B) -> (A::Output, B::Output)
where
    A: Future + Send + 'static,
    A::Output: Send + 'static,
    B: Future + Send + 'static,
    B::Output: Send + 'static,
{
    let (a, b) = (tokio::spawn(a), tokio::spawn(b));
    (a.await.expect("a finishes"), b.await.expect("b finishes"))
}

/// A request as a future that owns what it needs, to run in a task of its own.
fn post(
    app: &Arc<TestApp>,
    path: String,
    token: &str,
    body: Value,
) -> impl Future<Output = Resp> + Send + 'static {
    let (app, token) = (app.clone(), token.to_string());
    async move { app.post(&path, &token, body).await }
}

fn patch(
    app: &Arc<TestApp>,
    path: String,
    token: &str,
    body: Value,
) -> impl Future<Output = Resp> + Send + 'static {
    let (app, token) = (app.clone(), token.to_string());
    async move { app.patch(&path, &token, body).await }
}

/// The candidates an order is open to.
pub fn open_offers(order: &Value) -> Vec<String> {
    order["offers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"] == "open")
        .map(|o| o["candidate_id"].as_str().unwrap().to_string())
        .collect()
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_racing_a_dispatch_never_undoes_it() {
    let s = Scene::new(TestApp::spawn().await, 3, 100).await;
    let demands = s.file(200).await;
    // Each demand is edited and dispatched at the same moment, all 200 at once.
    let raced = at_once(demands.iter().map(|d| {
        let (app, admin, d) = (s.app.clone(), s.admin.clone(), d.clone());
        async move {
            let (edit, dispatch) = both(
                patch(
                    &app,
                    format!("/api/v1/demands/{d}"),
                    &admin,
                    json!({"urgency": "low"}),
                ),
                post(
                    &app,
                    format!("/api/v1/demands/{d}/dispatch"),
                    &admin,
                    json!({"offer_count": 1}),
                ),
            )
            .await;
            (d, edit, dispatch)
        }
    }))
    .await;
    let mut dispatched = 0;
    for (d, edit, dispatch) in raced {
        assert_eq!(edit.status, 200, "the edit: {}", edit.body);
        assert_eq!(edit.body["urgency"], "low");
        let demand = s.demand(&d).await;
        assert_eq!(demand["urgency"], "low", "the edit is kept");
        match dispatch.status.as_u16() {
            201 => {
                dispatched += 1;
                assert_eq!(
                    demand["status"], "dispatched",
                    "a dispatch answered 201 stays dispatched"
                );
                // Nobody can dispatch it a second time.
                s.app
                    .post(
                        &format!("/api/v1/demands/{d}/dispatch"),
                        &s.admin,
                        json!({}),
                    )
                    .await
                    .problem(409, "not_open", None);
            }
            // Ranked on what the demand said before the edit: nothing written.
            409 => {
                assert_eq!(code(&dispatch.body), "demand_changed");
                assert_eq!(demand["status"], "open");
                s.dispatch(&d, 1).await;
            }
            other => panic!("dispatch answered {other}: {}", dispatch.body),
        }
    }
    eprintln!("{dispatched} of 200 dispatched as ranked, the rest ranked again after the edit");
    s.app.assert_consistent().await;
}

/// The same race, decided: on PostgreSQL the test holds the demand's row while the dispatch
/// queues for it, then the edit starts (reading the demand as still open) and queues behind
/// the dispatch; the dispatch is written first, and the edit must keep it. On SQLite the two
/// simply race.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_queued_behind_a_dispatch_keeps_it() {
    let s = Scene::new(TestApp::spawn().await, 3, 100).await;
    let d = s.file(1).await.remove(0);
    let hold = hold_row(&s.app, "demands", &d).await;
    let dispatch = tokio::spawn(post(
        &s.app,
        format!("/api/v1/demands/{d}/dispatch"),
        &s.admin,
        json!({"offer_count": 1}),
    ));
    if hold.is_some() {
        waiting_on_locks(&s.app, 1).await;
    }
    let edit = tokio::spawn(patch(
        &s.app,
        format!("/api/v1/demands/{d}"),
        &s.admin,
        json!({"urgency": "low"}),
    ));
    if let Some(hold) = hold {
        waiting_on_locks(&s.app, 2).await;
        hold.rollback().await.unwrap();
    }
    let (dispatch, edit) = (dispatch.await.unwrap(), edit.await.unwrap());
    assert_eq!(edit.status, 200, "{}", edit.body);
    let demand = s.demand(&d).await;
    assert_eq!(demand["urgency"], "low");
    if s.app.db.backend() == gongjian_core::store::db::Backend::Postgres {
        assert_eq!(dispatch.status, 201, "{}", dispatch.body);
    }
    match dispatch.status.as_u16() {
        201 => assert_eq!(demand["status"], "dispatched", "the edit kept the dispatch"),
        _ => {
            assert_eq!(code(&dispatch.body), "demand_changed", "{}", dispatch.body);
            assert_eq!(demand["status"], "open");
        }
    }
    s.app.assert_consistent().await;
}

/// On PostgreSQL, a transaction of the test's own holding `table`'s row `id` until it is
/// rolled back; on SQLite none (a test cannot hold the one writer without stopping the app).
async fn hold_row(
    app: &TestApp,
    table: &str,
    id: &str,
) -> Option<sqlx::Transaction<'static, sqlx::Any>> {
    if app.db.backend() != gongjian_core::store::db::Backend::Postgres {
        return None;
    }
    let mut tx = app.db.write().begin().await.unwrap();
    sqlx::query(&format!("SELECT id FROM {table} WHERE id = $1 FOR UPDATE"))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    Some(tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_racing_an_accept_never_undoes_it() {
    let s = Scene::new(TestApp::spawn().await, 4, 100).await;
    let orders = s.offered_one_each(100).await;
    let raced = s
        .edit_while_accepting(
            orders,
            json!({"urgency": "low", "description": "独居老人家中水管漏水"}),
        )
        .await;
    for (d, o, edit, accept) in raced {
        assert_eq!(edit.status, 200, "the edit: {}", edit.body);
        assert_eq!(accept.status, 200, "the accept: {}", accept.body);
        let demand = s.demand(&d).await;
        assert_eq!(demand["status"], "in_progress", "the accept is kept");
        assert_eq!(
            demand["description"], "独居老人家中水管漏水",
            "the edit is kept"
        );
        assert_eq!(s.order(&o).await["status"], "accepted");
    }
    s.app.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_dispatched_demand_withdraws_its_order() {
    let s = Scene::new(TestApp::spawn().await, 3, 100).await;
    let d = s.file(1).await.remove(0);
    let order = s.dispatch(&d, 2).await;
    let oid = id(&order);
    let offered = open_offers(&order);
    s.app
        .patch(
            &format!("/api/v1/demands/{d}"),
            &s.admin,
            json!({"status": "cancelled"}),
        )
        .await
        .expect(200);
    let after = s.order(&oid).await;
    assert_eq!(after["status"], "cancelled");
    assert!(open_offers(&after).is_empty(), "its offers are withdrawn");
    for v in &offered {
        s.app
            .post(
                &format!("/api/v1/orders/{oid}/accept"),
                &s.token(v),
                json!({}),
            )
            .await
            .problem(409, "not_offered", None);
    }
    assert_eq!(s.demand(&d).await["status"], "cancelled");
    let events = s
        .app
        .get(&format!("/api/v1/demands/{d}/events"), &s.admin)
        .await
        .expect(200);
    assert_eq!(actions(&events), ["filed", "dispatched", "cancelled"]);
    let events = s
        .app
        .get(&format!("/api/v1/orders/{oid}/events"), &s.admin)
        .await
        .expect(200);
    assert_eq!(actions(&events), ["offered", "cancelled"]);

    // Reopened, it is dispatched as a new order.
    s.app
        .patch(
            &format!("/api/v1/demands/{d}"),
            &s.admin,
            json!({"status": "open"}),
        )
        .await
        .expect(200);
    let again = s.dispatch(&d, 1).await;
    let taker = open_offers(&again)[0].clone();
    s.app
        .post(
            &format!("/api/v1/orders/{}/accept", id(&again)),
            &s.token(&taker),
            json!({}),
        )
        .await
        .expect(200);
    // Someone is on it now: the demand is cancelled by cancelling the order first.
    s.app
        .patch(
            &format!("/api/v1/demands/{d}"),
            &s.admin,
            json!({"status": "cancelled"}),
        )
        .await
        .problem(409, "invalid_transition", Some("status"));
    s.app.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_racing_an_accept_lets_exactly_one_win() {
    let s = Scene::new(TestApp::spawn().await, 4, 100).await;
    let orders = s.offered_one_each(100).await;
    let raced = s
        .edit_while_accepting(orders, json!({"status": "cancelled"}))
        .await;
    for (d, o, cancel, accept) in raced {
        let (demand, order) = (s.demand(&d).await, s.order(&o).await);
        match (cancel.status.as_u16(), accept.status.as_u16()) {
            (200, 409) => {
                assert_eq!(code(&accept.body), "not_offered", "{}", accept.body);
                assert_eq!(demand["status"], "cancelled");
                assert_eq!(order["status"], "cancelled");
            }
            (409, 200) => {
                assert_eq!(code(&cancel.body), "invalid_transition");
                assert_eq!(demand["status"], "in_progress");
                assert_eq!(order["status"], "accepted");
            }
            other => panic!(
                "exactly one of cancel and accept wins, got {other:?}: {} / {}",
                cancel.body, accept.body
            ),
        }
    }
    s.app.assert_consistent().await;
}

/// The service's clock for the deadline tests: 08:00 in the street.
pub fn morning() -> OffsetDateTime {
    datetime!(2026-05-04 08:00 +8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_past_its_deadline_cannot_be_accepted() {
    let (s, clock) = Scene::at_morning(3, 100).await;
    let d = s.file(1).await.remove(0);
    let order = s.dispatch(&d, 1).await;
    let oid = id(&order);
    let first = open_offers(&order).remove(0);
    // The default gives 30 minutes to accept. Past them, the offer is gone, whether or not
    // the scheduler has moved the order on yet.
    clock.advance(Duration::minutes(31));
    s.app
        .post(
            &format!("/api/v1/orders/{oid}/accept"),
            &s.token(&first),
            json!({}),
        )
        .await
        .problem(409, "offer_expired", None);
    assert_eq!(
        scheduler::tick(&s.app.state).await.unwrap().expired_offers,
        1
    );
    let moved = s.order(&oid).await;
    let next = open_offers(&moved).remove(0);
    assert_ne!(next, first);
    s.app
        .post(
            &format!("/api/v1/orders/{oid}/accept"),
            &s.token(&first),
            json!({}),
        )
        .await
        .problem(409, "not_offered", None);
    s.app
        .post(
            &format!("/api/v1/orders/{oid}/accept"),
            &s.token(&next),
            json!({}),
        )
        .await
        .expect(200);
    s.app.assert_consistent().await;
}

/// A host whose clock is past every offer's deadline moves the orders on while volunteers,
/// served by a host whose clock is still inside it, accept them: each order goes to exactly
/// one of them, and an accept that lost its offer is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accepts_racing_the_scheduler_never_take_a_withdrawn_offer() {
    let (s, clock) = Scene::at_morning(3, 100).await;
    let demands = s.file(90).await;
    let mut orders = vec![];
    for d in &demands {
        let order = s.dispatch(d, 1).await;
        orders.push((id(&order), open_offers(&order).remove(0)));
    }
    clock.advance(Duration::minutes(29));
    let late = s.host_at(morning() + Duration::minutes(31));
    // Two hosts move the orders on, oldest deadline first, while the accepts arrive newest
    // first: they cross.
    let ticks: Vec<_> = (0..2)
        .map(|_| {
            let late = late.clone();
            tokio::spawn(async move {
                let mut moved = 0;
                for _ in 0..3 {
                    moved += scheduler::tick(&late).await.unwrap().expired_offers;
                }
                moved
            })
        })
        .collect();
    let accepts = at_once(orders.iter().rev().map(|(o, v)| {
        let (app, o, token) = (s.app.clone(), o.clone(), s.token(v));
        async move {
            app.post(&format!("/api/v1/orders/{o}/accept"), &token, json!({}))
                .await
        }
    }))
    .await;
    let mut accepts = accepts;
    accepts.reverse();
    let mut moved = 0;
    for t in ticks {
        moved += t.await.unwrap();
    }
    let mut won = 0;
    for ((o, first), accept) in orders.iter().zip(&accepts) {
        let order = s.order(o).await;
        let offers = order["offers"].as_array().unwrap();
        match accept.status.as_u16() {
            200 => {
                won += 1;
                assert_eq!(order["status"], "accepted");
                assert_eq!(order["assignee_id"], first.as_str());
                assert_eq!(
                    offers.len(),
                    1,
                    "an accepted order was not offered on: {order}"
                );
                assert_eq!(offers[0]["status"], "accepted");
                assert!(offers[0]["reason"].is_null(), "{order}");
            }
            409 => {
                assert_eq!(code(&accept.body), "not_offered", "{}", accept.body);
                assert_eq!(order["status"], "offered");
                assert_eq!(offers[0]["status"], "withdrawn");
                assert_eq!(offers[0]["reason"], "no answer in time");
                assert_eq!(open_offers(&order).len(), 1);
                assert_ne!(open_offers(&order)[0], *first);
            }
            other => panic!("accept answered {other}: {}", accept.body),
        }
    }
    assert_eq!(won + moved, orders.len(), "each order went one way");
    eprintln!("{won} accepted in time, {moved} moved on");
    s.app.assert_consistent().await;
}

/// The scheduler's transaction is held open after it has withdrawn an expired offer and while
/// it offers the order to the next candidate; the first candidate's accept arrives then. It
/// must wait for that transaction and be refused, not take the order from the next candidate.
/// On PostgreSQL the test holds the scheduler there with an uncommitted row that the next
/// offer's unique key must wait for; on SQLite, whose one writer runs the scheduler's
/// transaction alone, the accept simply comes after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_accept_behind_the_schedulers_open_transaction_is_refused() {
    let (s, clock) = Scene::at_morning(3, 100).await;
    let d = s.file(1).await.remove(0);
    let order = s.dispatch(&d, 1).await;
    let (oid, first) = (id(&order), open_offers(&order).remove(0));
    let next = order["ranking"][1]["id"].as_str().unwrap().to_string();
    clock.advance(Duration::minutes(29));
    let late = s.host_at(morning() + Duration::minutes(31));
    let postgres = s.app.db.backend() == gongjian_core::store::db::Backend::Postgres;
    let accept = if postgres {
        let mut hold = s.app.db.write().begin().await.unwrap();
        sqlx::query(
            "INSERT INTO order_offers (id, order_id, candidate_kind, candidate_id, rank, status, offered_at) \
             VALUES ($1, $2, 'volunteer', $3, 99, 'declined', '2026-05-04T00:00:00.000000Z')",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(oid.clone())
        .bind(next.clone())
        .execute(&mut *hold)
        .await
        .unwrap();
        let tick = tokio::spawn(async move { scheduler::tick(&late).await });
        waiting_on_locks(&s.app, 1).await;
        let accept = tokio::spawn(post(
            &s.app,
            format!("/api/v1/orders/{oid}/accept"),
            &s.token(&first),
            json!({}),
        ));
        waiting_on_locks(&s.app, 2).await;
        hold.rollback().await.unwrap();
        assert_eq!(tick.await.unwrap().unwrap().expired_offers, 1);
        accept.await.unwrap()
    } else {
        assert_eq!(scheduler::tick(&late).await.unwrap().expired_offers, 1);
        s.app
            .post(
                &format!("/api/v1/orders/{oid}/accept"),
                &s.token(&first),
                json!({}),
            )
            .await
    };
    accept.problem(409, "not_offered", None);
    let order = s.order(&oid).await;
    assert_eq!(order["status"], "offered");
    assert_eq!(open_offers(&order), [next]);
    assert_eq!(order["offers"][0]["status"], "withdrawn");
    s.app.assert_consistent().await;
}

/// Waits until at least `n` of the test database's sessions wait for a lock.
async fn waiting_on_locks(app: &TestApp, n: i64) {
    for _ in 0..6000 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(app.db.read())
        .await
        .unwrap();
        if waiting >= n {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    panic!("{n} sessions never came to wait for a lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_volunteer_never_holds_more_open_orders_than_the_limit() {
    let s = Scene::new(TestApp::spawn().await, 1, 2).await;
    let volunteer = s.volunteers[0].1.clone();
    for round in 0..3 {
        let demands = s.file(30).await;
        let mut orders = vec![];
        for d in &demands {
            orders.push(id(&s.dispatch(d, 1).await));
        }
        let accepts = at_once(orders.iter().map(|o| {
            let (app, o, token) = (s.app.clone(), o.clone(), volunteer.clone());
            async move {
                app.post(&format!("/api/v1/orders/{o}/accept"), &token, json!({}))
                    .await
            }
        }))
        .await;
        let mut won = vec![];
        for (o, a) in orders.iter().zip(&accepts) {
            match a.status.as_u16() {
                200 => won.push(o.clone()),
                409 => assert_eq!(code(&a.body), "order_limit", "{}", a.body),
                other => panic!("accept answered {other}: {}", a.body),
            }
        }
        assert_eq!(won.len(), 2, "round {round}: the limit is 2");
        s.app.assert_consistent().await;
        // The street takes them back; the volunteer has room again.
        for o in won {
            s.app
                .post(
                    &format!("/api/v1/orders/{o}/cancel"),
                    &s.admin,
                    json!({"reason": "改派"}),
                )
                .await
                .expect(200);
        }
    }
}

/// A unit's resource is accepted for order after order while the street changes its capacity:
/// what is left always equals the capacity less what the accepted orders took.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resources_capacity_follows_accepts_and_edits_at_once() {
    let s = Scene::new(TestApp::spawn().await, 0, 1).await;
    let (_, unit_token, resource) = s.unit_resource("维修公司", "上门维修", "repair", 20).await;
    let demands = s.file(30).await;
    let mut orders = vec![];
    for d in &demands {
        let order = s.dispatch(d, 1).await;
        assert_eq!(open_offers(&order), std::slice::from_ref(&resource));
        orders.push(id(&order));
    }
    let accepts = orders.iter().map(|o| {
        post(
            &s.app,
            format!("/api/v1/orders/{o}/accept"),
            &unit_token,
            json!({}),
        )
    });
    let edits = (0..20).map(|i| {
        patch(
            &s.app,
            format!("/api/v1/resources/{resource}"),
            &s.admin,
            json!({"capacity": if i % 2 == 0 { 24 } else { 22 }}),
        )
    });
    let (accepted, edited) = tokio::join!(at_once(accepts), at_once(edits));
    let won = accepted.iter().filter(|a| a.status == 200).count();
    for a in accepted.iter().filter(|a| a.status != 200) {
        assert_eq!(a.status, 409, "{}", a.body);
        assert_eq!(code(&a.body), "no_capacity", "{}", a.body);
    }
    for e in &edited {
        match e.status.as_u16() {
            200 => {}
            409 => assert_eq!(code(&e.body), "capacity_in_use", "{}", e.body),
            other => panic!("edit answered {other}: {}", e.body),
        }
    }
    let r = s
        .app
        .get(&format!("/api/v1/resources/{resource}"), &s.admin)
        .await
        .expect(200);
    let (capacity, left) = (
        r["capacity"].as_i64().unwrap(),
        r["capacity_left"].as_i64().unwrap(),
    );
    assert_eq!(capacity - left, won as i64, "{r}");
    assert!(won >= 20, "at least the first capacity was taken: {won}");
    s.app.assert_consistent().await;
}

/// One volunteer finishes thirty orders while accepting thirty others, all at once: the
/// volunteer's record in the candidate pool (open and completed orders, minutes) counts every
/// one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_candidates_record_counts_every_change_made_at_once() {
    let s = Scene::new(TestApp::spawn().await, 1, 100).await;
    let volunteer = s.volunteers[0].1.clone();
    let mut started = vec![];
    for d in s.file(30).await {
        let o = id(&s.dispatch(&d, 1).await);
        for action in ["accept", "start"] {
            s.act(&o, action, &volunteer, json!({})).await;
        }
        started.push(o);
    }
    let mut offered = vec![];
    for d in s.file(30).await {
        offered.push(id(&s.dispatch(&d, 1).await));
    }
    let completes = started.iter().map(|o| {
        post(
            &s.app,
            format!("/api/v1/orders/{o}/complete"),
            &volunteer,
            json!({"service_minutes": 30}),
        )
    });
    let accepts = offered.iter().map(|o| {
        post(
            &s.app,
            format!("/api/v1/orders/{o}/accept"),
            &volunteer,
            json!({}),
        )
    });
    let (completed, accepted) = tokio::join!(at_once(completes), at_once(accepts));
    for r in completed.iter().chain(&accepted) {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let ratings = started.iter().enumerate().map(|(i, o)| {
        post(
            &s.app,
            format!("/api/v1/orders/{o}/rating"),
            &s.admin,
            json!({"rating": 1 + (i % 5)}),
        )
    });
    for r in at_once(ratings).await {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    s.app.assert_consistent().await;
}

/// With a pool of two connections, 64 declines, 64 accepts and the scheduler's re-offers at
/// once all finish, and none fails: no transaction waits for a second connection, so none
/// starves the pool. A request that waits 5 s for a connection fails with 503, which fails
/// the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_of_two_serves_declines_accepts_and_reoffers_at_once() {
    let clock = ManualClock::new(morning());
    let s = Scene::new(
        TestApp::spawn_with_pool(2, StdDuration::from_secs(5), Arc::new(clock.clone())).await,
        6,
        100,
    )
    .await;
    let first = s.file(64).await;
    let mut expiring = vec![];
    for d in &first {
        expiring.push(id(&s.dispatch(d, 1).await));
    }
    clock.advance(Duration::minutes(20));
    let second = s.file(128).await;
    let mut offered = vec![];
    for d in &second {
        let order = s.dispatch(d, 1).await;
        offered.push((id(&order), open_offers(&order).remove(0)));
    }
    let (declines, accepts) = offered.split_at(64);
    let late = s.host_at(morning() + Duration::minutes(31));
    let ticks = at_once((0..4).map(|_| {
        let late = late.clone();
        async move { scheduler::tick(&late).await }
    }));
    let requests = at_once(
        declines
            .iter()
            .map(|o| (o, "decline", json!({"reason": "今天不在家"})))
            .chain(accepts.iter().map(|o| (o, "accept", json!({}))))
            .map(|((o, v), action, body)| {
                let (app, o, token) = (s.app.clone(), o.clone(), s.token(v));
                async move {
                    app.post(&format!("/api/v1/orders/{o}/{action}"), &token, body)
                        .await
                }
            }),
    );
    let (ticks, answers) = tokio::join!(ticks, requests);
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let moved: usize = ticks
        .into_iter()
        .map(|t| t.expect("the scheduler's pass succeeds").expired_offers)
        .sum();
    assert_eq!(moved, expiring.len(), "every expired order moved on once");
    for o in &expiring {
        let order = s.order(o).await;
        assert_eq!(order["offers"].as_array().unwrap().len(), 2, "{order}");
    }
    s.app.assert_consistent().await;
}

#[tokio::test]
async fn every_instant_recorded_comes_from_the_service_clock() {
    // 08:00 in the street is midnight UTC.
    let (s, clock) = Scene::at_morning(1, 5).await;
    let d = s.file(1).await.remove(0);
    assert_eq!(
        s.demand(&d).await["created_at"],
        "2026-05-04T00:00:00.000000Z"
    );
    let order = s.dispatch(&d, 1).await;
    let oid = id(&order);
    let taker = s.token(&open_offers(&order)[0]);
    clock.advance(Duration::minutes(5));
    let accepted = s.act(&oid, "accept", &taker, json!({})).await;
    assert_eq!(accepted["accepted_at"], "2026-05-04T00:05:00.000000Z");
    clock.advance(Duration::minutes(10));
    let started = s.act(&oid, "start", &taker, json!({})).await;
    assert_eq!(started["started_at"], "2026-05-04T00:15:00.000000Z");
    clock.advance(Duration::minutes(60));
    let done = s
        .act(&oid, "complete", &taker, json!({"service_minutes": 60}))
        .await;
    assert_eq!(done["completed_at"], "2026-05-04T01:15:00.000000Z");
    assert_eq!(done["updated_at"], "2026-05-04T01:15:00.000000Z");
    let events = s
        .app
        .get(&format!("/api/v1/orders/{oid}/events"), &s.admin)
        .await
        .expect(200);
    let at: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap())
        .collect();
    assert_eq!(
        at,
        [
            "2026-05-04T00:00:00.000000Z",
            "2026-05-04T00:05:00.000000Z",
            "2026-05-04T00:15:00.000000Z",
            "2026-05-04T01:15:00.000000Z"
        ]
    );
    s.app.assert_consistent().await;
}

/// Edits of different fields of one record, made at once, all hold: every edit merges into
/// the record as it stands when it is written (locked in the transaction that writes it),
/// never into a copy read before, so no edit writes back another's old value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edits_of_different_fields_at_once_all_hold() {
    let s = Scene::new(TestApp::spawn().await, 0, 1).await;
    let (unit, _, resource) = s.unit_resource("维修公司", "上门维修", "repair", 5).await;
    let community = id(&s.app.community(&s.street, "新村社区").await);
    let grid = id(&s.app.grid(&s.street, &community, "g02").await);
    let project = id(&s
        .app
        .post(
            "/api/v1/projects",
            &s.admin,
            json!({"street_id": s.street, "title": "加装电梯", "description": "老旧小区加装电梯",
                   "goal": "三个单元", "budget_fen": 100}),
        )
        .await
        .expect(201));
    let records = [
        (
            format!("/api/v1/streets/{}", s.street),
            s.app.admin.clone(),
            &["name", "district"][..],
        ),
        (
            format!("/api/v1/units/{unit}"),
            s.admin.clone(),
            &["name", "contact_name", "address", "description"][..],
        ),
        (
            format!("/api/v1/streets/{}/grids/{grid}", s.street),
            s.admin.clone(),
            &["name", "code"][..],
        ),
        (
            format!("/api/v1/resources/{resource}"),
            s.admin.clone(),
            &["title", "description"][..],
        ),
        (
            format!("/api/v1/projects/{project}"),
            s.admin.clone(),
            &["title", "description", "goal"][..],
        ),
    ];
    for round in 0..12 {
        for (path, token, fields) in &records {
            let value = |field: &str| match field {
                "code" => format!("c{round}"),
                _ => format!("{field}{round}"),
            };
            let answers =
                at_once(fields.iter().map(|field| {
                    patch(&s.app, path.clone(), token, json!({ *field: value(field) }))
                }))
                .await;
            for a in &answers {
                assert_eq!(a.status, 200, "{path}: {}", a.body);
            }
            let now = s.app.get(path, token).await.expect(200);
            for field in *fields {
                assert_eq!(now[*field], value(field), "{path} lost {field}: {now}");
            }
        }
    }
    s.app.assert_consistent().await;
}

/// No pool runs sqlx's reaper, whose sweep can start from an idle count read while it wraps
/// below zero and then never yield (a core at 100% and the service stalled); PostgreSQL's
/// connections are retired by age as they go back to the pool instead, and SQLite's kept.
#[tokio::test]
async fn the_pools_run_no_reaper_and_retire_old_connections_as_they_return() {
    use gongjian_core::store::db::{Backend, Db, DbOptions};
    let test_db = crate::helpers::TestDb::new().await;
    for lifetime in [StdDuration::ZERO, StdDuration::from_secs(3600)] {
        let opts = DbOptions {
            connection_lifetime: lifetime,
            ..DbOptions::default()
        };
        let db = Db::open(&test_db.url, &opts).await.unwrap();
        for pool in [db.read(), db.write()] {
            assert_eq!(pool.options().get_idle_timeout(), None);
            assert_eq!(pool.options().get_max_lifetime(), None);
        }
        if db.backend() == Backend::Postgres {
            let before = db.read().size();
            let mut pids = std::collections::BTreeSet::new();
            for _ in 0..10 {
                pids.insert(
                    sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
                        .fetch_one(db.read())
                        .await
                        .unwrap(),
                );
            }
            if lifetime.is_zero() {
                // Each connection was past its lifetime when it went back, so each query
                // had a fresh one.
                assert_eq!(pids.len(), 10, "{pids:?}");
            } else {
                // Young connections are kept and reused.
                let after = db.read().size();
                assert!(
                    after >= before && pids.len() <= after as usize,
                    "{pids:?}, {before} → {after}"
                );
                assert!(pids.len() < 10, "{pids:?}");
            }
        }
        db.close().await;
    }
}
