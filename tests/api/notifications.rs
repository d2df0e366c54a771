//! Notifications: the outbox written with each event, webhooks delivered to a receiver this
//! test starts on 127.0.0.1 (each signature checked with an independent HMAC), retries on the
//! convention's schedule on a hand-moved clock, 410 disabling an endpoint, a rotated secret
//! signing beside the old one, two hosts delivering each message once, and a person's feed,
//! listed and followed as a stream.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
    Router,
};
use base64::Engine;
use gongjian_core::domain::{access::RoleKind, webhook::Reach};
use gongjian_host::notify::{run_once, Pass, Sender};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use time::Duration;

use crate::concurrency::open_offers;
use crate::deadlines::{setup, Setup};
use crate::helpers::id;

/// One message as the receiver got it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    path: String,
    pub id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap().to_string()
    }
}

/// A webhook receiver on 127.0.0.1: it keeps every message and answers with the statuses it
/// is told, in order, then 204.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
    pub url: String,
}

async fn receive(
    State(r): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    r.got.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body,
    });
    let status = r.answers.lock().unwrap().pop_front().unwrap_or(204);
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut r = Receiver {
            url: format!("http://{}", listener.local_addr().unwrap()),
            ..Receiver::default()
        };
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r.url = r.url.clone();
        r
    }

    pub fn answer(&self, statuses: &[u16]) {
        self.answers.lock().unwrap().extend(statuses);
    }

    pub fn got(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.path == path)
            .cloned()
            .collect()
    }
}

/// Checks a message's signatures with an HMAC this project does not implement itself: every
/// signature in the header must be `v1,` and verify with one of `secrets`; answers how many
/// there were.
pub(crate) fn verify(m: &Received, secrets: &[&str]) -> usize {
    let signed = format!("{}.{}.{}", m.id, m.timestamp, m.body);
    let signatures: Vec<&str> = m.signature.split(' ').collect();
    for s in &signatures {
        let sig = s.strip_prefix("v1,").expect("a v1 signature");
        let ok = secrets.iter().any(|secret| {
            let key = base64::engine::general_purpose::STANDARD
                .decode(secret.strip_prefix("whsec_").unwrap())
                .unwrap();
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
            mac.update(signed.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()) == sig
        });
        assert!(ok, "signature {s} of {} verifies with no secret", m.id);
    }
    signatures.len()
}

/// A street whose demands are dispatched on filing to two volunteers at once, served with
/// endpoints allowed on this machine.
pub(crate) async fn street() -> (Setup, Sender) {
    let mut s = setup(3).await;
    let mut state = s.app.state.clone();
    state.core.webhooks.reach = Reach::Local;
    s.app.router = gongjian_host::app(state.clone());
    s.app.state = state;
    s.settings(
        "default",
        json!({"auto_dispatch": true, "offer_count": 2, "accept_minutes": 30}),
    )
    .await;
    let sender = Sender::new(&s.app.state.core.webhooks).unwrap();
    (s, sender)
}

async fn pass(s: &Setup, sender: &Sender) -> Pass {
    run_once(&s.app.state.core, sender).await.unwrap()
}

async fn endpoint(s: &Setup, token: &str, body: Value) -> Value {
    s.app
        .post("/api/v1/webhooks", token, body)
        .await
        .expect(201)
}

async fn order_of(s: &Setup, demand: &str) -> Value {
    let orders = s
        .app
        .get(&format!("/api/v1/orders?demand_id={demand}"), &s.admin)
        .await
        .expect(200);
    orders["items"][0].clone()
}

#[tokio::test]
async fn the_loop_reaches_the_streets_endpoint_signed_and_each_message_once() {
    let (s, sender) = street().await;
    let receiver = Receiver::start().await;
    let street_hook = endpoint(
        &s,
        &s.admin,
        json!({"owner": "street", "owner_id": s.street, "url": format!("{}/street", receiver.url)}),
    )
    .await;
    let secret = street_hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let district_hook = endpoint(
        &s,
        &s.app.admin,
        json!({"owner": "district", "url": format!("{}/district", receiver.url),
               "event_types": ["demand.filed"]}),
    )
    .await;
    let district_secret = district_hook["secret"].as_str().unwrap().to_string();
    // The secret is shown once.
    let read = s
        .app
        .get(&format!("/api/v1/webhooks/{}", id(&street_hook)), &s.admin)
        .await
        .expect(200);
    assert!(read.get("secret").is_none(), "{read}");

    let demand = s.demand().await;
    let order = order_of(&s, &demand).await;
    let oid = id(&order);
    let offered = open_offers(&order);
    assert_eq!(offered.len(), 2);
    let taker = s.token(&offered[0]);
    for step in ["accept", "start"] {
        s.app
            .post(&format!("/api/v1/orders/{oid}/{step}"), &taker, json!({}))
            .await
            .expect(200);
    }
    s.app
        .post(
            &format!("/api/v1/orders/{oid}/complete"),
            &taker,
            json!({"service_minutes": 45}),
        )
        .await
        .expect(200);

    let first = pass(&s, &sender).await;
    assert!(first.attempts >= 5, "{first:?}");
    let street = receiver.got("/street");
    let kinds: Vec<String> = street.iter().map(Received::kind).collect();
    for kind in [
        "demand.filed",
        "order.offered",
        "order.accepted",
        "order.completed",
    ] {
        assert_eq!(
            kinds.iter().filter(|k| *k == kind).count(),
            1,
            "{kind} once in {kinds:?}"
        );
    }
    // What is addressed to a candidate (the withdrawn offer) is not the street's to hear.
    assert!(!kinds.contains(&"order.offer_withdrawn".to_string()));
    for m in &street {
        assert_eq!(verify(m, &[&secret]), 1);
        assert!(m.id.starts_with("msg_"));
        let body = m.json();
        assert_eq!(body["data"]["street_id"], s.street.as_str());
    }
    let filed = street.iter().find(|m| m.kind() == "demand.filed").unwrap();
    // The street's own endpoint sees its resident as the street's staff do; the district's,
    // masked, as the district does.
    assert_eq!(filed.json()["data"]["demand"]["resident_masked"], false);
    let district = receiver.got("/district");
    assert_eq!(district.len(), 1, "only the type it subscribes to");
    assert_eq!(verify(&district[0], &[&district_secret]), 1);
    let seen = district[0].json();
    assert_eq!(seen["data"]["demand"]["id"], demand.as_str());
    assert_eq!(seen["data"]["demand"]["resident_masked"], true);
    assert!(
        !district[0].body.contains("13912345678"),
        "{}",
        district[0].body
    );

    // Nothing is sent twice, and the log says what was delivered.
    assert_eq!(pass(&s, &sender).await.attempts, 0);
    assert_eq!(receiver.got("/street").len(), street.len());
    let log = s
        .app
        .get(
            &format!("/api/v1/webhooks/{}/deliveries", id(&street_hook)),
            &s.admin,
        )
        .await
        .expect(200);
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), street.len());
    for d in items {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["recent_attempts"][0]["status_code"], 204);
    }
}

/// An endpoint hears of the events that happen while it is enabled, of the types it subscribes
/// to; what no endpoint hears is written fanned out, and the worker never claims it.
#[tokio::test]
async fn only_what_an_enabled_endpoint_hears_waits_to_be_fanned_out() {
    let (s, sender) = street().await;
    let receiver = Receiver::start().await;
    // No endpoint: a filing and its offer (to the street and to each of two volunteers) leave
    // nothing to fan out.
    s.demand().await;
    assert_eq!(pass(&s, &sender).await, Pass::default());

    // The street's endpoint for filings: of the next filing, only the filing waits.
    let hook = endpoint(
        &s,
        &s.admin,
        json!({"owner": "street", "owner_id": s.street, "url": format!("{}/street", receiver.url),
               "event_types": ["demand.filed"]}),
    )
    .await;
    let heard = s.demand().await;
    let p = pass(&s, &sender).await;
    assert_eq!((p.fanned_out, p.attempts), (1, 1), "{p:?}");
    let got = receiver.got("/street");
    assert_eq!(got.len(), 1, "not the filing before it was registered");
    assert_eq!(got[0].kind(), "demand.filed");
    assert_eq!(got[0].json()["data"]["demand"]["id"], heard.as_str());

    // Disabled, it hears nothing; enabled again, it hears what follows.
    let status = |status: &'static str| {
        let (s, hook) = (&s, id(&hook));
        async move {
            s.app
                .patch(
                    &format!("/api/v1/webhooks/{hook}"),
                    &s.admin,
                    json!({ "status": status }),
                )
                .await
                .expect(200);
        }
    };
    status("disabled").await;
    s.demand().await;
    assert_eq!(pass(&s, &sender).await, Pass::default());
    status("enabled").await;
    let again = s.demand().await;
    assert_eq!(pass(&s, &sender).await.fanned_out, 1);
    let got = receiver.got("/street");
    assert_eq!(
        got.len(),
        2,
        "{:?}",
        got.iter().map(Received::kind).collect::<Vec<_>>()
    );
    assert_eq!(got[1].json()["data"]["demand"]["id"], again.as_str());
    s.app.assert_consistent().await;
}

/// A unit's endpoint hears of the offers made to its resources, and of nothing else: not the
/// street's events, not another unit's resources.
#[tokio::test]
async fn a_units_endpoint_hears_the_offers_to_its_own_resources() {
    let (s, sender) = street().await;
    s.settings(
        "default",
        json!({"auto_dispatch": true, "offer_count": 10, "accept_minutes": 30}),
    )
    .await;
    let receiver = Receiver::start().await;
    let mut units = vec![];
    for (name, path) in [("红色物业", "/mine"), ("绿城物业", "/other")] {
        let unit = id(&s.app.unit(&[&s.street], name).await);
        let token = s.app.token(RoleKind::Unit, None, Some(&unit), None).await;
        endpoint(
            &s,
            &token,
            json!({"owner": "unit", "owner_id": unit, "url": format!("{}{path}", receiver.url)}),
        )
        .await;
        units.push(unit);
    }
    let resource = id(&s
        .app
        .post(
            "/api/v1/resources",
            &s.app.admin,
            json!({"owner_unit_id": units[0], "title": "维修队", "category": "repair", "capacity": 3,
                   "street_ids": [s.street]}),
        )
        .await
        .expect(201));
    let demand = s.demand().await;
    let order = order_of(&s, &demand).await;
    assert!(open_offers(&order).contains(&resource), "{order}");
    // Only the resource's offer waits to be fanned out: the street's notifications and the
    // volunteers' have no endpoint to reach.
    let p = pass(&s, &sender).await;
    assert_eq!((p.fanned_out, p.attempts), (1, 1), "{p:?}");
    let mine = receiver.got("/mine");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].kind(), "order.offered");
    assert_eq!(
        mine[0].json()["data"]["order_id"],
        id(&order).as_str(),
        "{}",
        mine[0].body
    );
    assert!(receiver.got("/other").is_empty());
}

#[tokio::test]
async fn endpoints_are_the_owners_and_may_not_point_inward() {
    let (s, _) = street().await;
    let volunteer = s.token(&s.volunteers[0].0);
    let body = json!({"owner": "street", "owner_id": s.street, "url": "https://example.org/hook"});
    s.app
        .post("/api/v1/webhooks", &volunteer, body.clone())
        .await
        .problem(403, "forbidden", None);
    s.app
        .post("/api/v1/webhooks", &s.grid_worker, body.clone())
        .await
        .problem(403, "forbidden", None);
    let other = id(&s.app.street("other").await);
    s.app
        .post(
            "/api/v1/webhooks",
            &s.admin,
            json!({"owner": "street", "owner_id": other, "url": "https://example.org/hook"}),
        )
        .await
        .problem(403, "forbidden", None);
    for (url, code) in [
        (
            "http://169.254.169.254/latest/meta-data",
            "address_not_allowed",
        ),
        ("http://[fe80::1]/hook", "address_not_allowed"),
        ("http://0.0.0.0/hook", "address_not_allowed"),
        ("ftp://example.org/hook", "invalid_url"),
        ("https://user:pw@example.org/hook", "invalid_url"),
        ("not a url", "invalid_url"),
    ] {
        s.app
            .post(
                "/api/v1/webhooks",
                &s.admin,
                json!({"owner": "street", "owner_id": s.street, "url": url}),
            )
            .await
            .problem(422, code, Some("url"));
    }
    s.app
        .post(
            "/api/v1/webhooks",
            &s.admin,
            json!({"owner": "street", "url": "https://example.org/hook"}),
        )
        .await
        .problem(422, "required", Some("owner_id"));
    // With the default reach, this machine and private ranges are refused too.
    let public = gongjian_host::app(gongjian_host::AppState::new(s.app.db.clone()));
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
    ] {
        let req = axum::http::Request::post("/api/v1/webhooks")
            .header("authorization", format!("Bearer {}", s.admin))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                json!({"owner": "street", "owner_id": s.street, "url": url}).to_string(),
            ))
            .unwrap();
        let answer = tower::ServiceExt::oneshot(public.clone(), req)
            .await
            .unwrap();
        assert_eq!(answer.status(), 422, "{url}");
    }

    let mine = endpoint(&s, &s.admin, body).await;
    // Another street's admin does not see it, nor does a volunteer.
    let other_admin = s
        .app
        .token(
            gongjian_core::domain::access::RoleKind::StreetAdmin,
            Some(&other),
            None,
            None,
        )
        .await;
    for token in [&other_admin, &volunteer] {
        s.app
            .get(&format!("/api/v1/webhooks/{}", id(&mine)), token)
            .await
            .problem(404, "not_found", None);
        let listed = s.app.get("/api/v1/webhooks", token).await.expect(200);
        assert!(listed["items"].as_array().unwrap().is_empty());
    }
    let listed = s.app.get("/api/v1/webhooks", &s.admin).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_on_schedule_and_410_disables_the_endpoint() {
    let (s, sender) = street().await;
    let receiver = Receiver::start().await;
    let hook = endpoint(
        &s,
        &s.admin,
        json!({"owner": "street", "owner_id": s.street, "url": format!("{}/h", receiver.url),
               "event_types": ["demand.filed"]}),
    )
    .await;
    let hid = id(&hook);
    receiver.answer(&[500]);
    s.demand().await;
    assert_eq!(pass(&s, &sender).await.attempts, 1);
    // Not due again until the schedule says: 5 seconds (and at most a tenth more).
    assert_eq!(pass(&s, &sender).await.attempts, 0);
    let log = s
        .app
        .get(&format!("/api/v1/webhooks/{hid}/deliveries"), &s.admin)
        .await
        .expect(200);
    let d = &log["items"][0];
    assert_eq!(d["status"], "pending");
    assert_eq!(d["last_status"], 500);
    s.clock.advance(Duration::seconds(4));
    assert_eq!(pass(&s, &sender).await.attempts, 0);
    assert_eq!(
        metric(&s, r#"webhook_attempts_total{outcome="retry"}"#).await,
        1.0
    );
    assert_eq!(
        metric(&s, r#"webhook_deliveries{status="pending"}"#).await,
        1.0
    );
    let age = metric(&s, "notifications_oldest_undelivered_seconds").await;
    assert!((4.0..4.1).contains(&age), "{age}");
    s.clock.advance(Duration::seconds(2));
    assert_eq!(pass(&s, &sender).await.attempts, 1);
    assert_eq!(
        metric(&s, r#"webhook_deliveries{status="pending"}"#).await,
        0.0
    );
    assert_eq!(
        metric(&s, "notifications_oldest_undelivered_seconds").await,
        0.0
    );
    let got = receiver.got("/h");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id, "a retry carries the same id");
    assert_eq!(got[0].body, got[1].body);
    let d = s
        .app
        .get(
            &format!("/api/v1/webhooks/{hid}/deliveries/{}", id(d)),
            &s.admin,
        )
        .await
        .expect(200);
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempts"], 2);
    let codes: Vec<i64> = d["recent_attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [204, 500], "newest first");

    // 410 Gone: the endpoint is disabled, and hears of nothing more.
    receiver.answer(&[410]);
    s.demand().await;
    assert_eq!(pass(&s, &sender).await.attempts, 1);
    let disabled = s
        .app
        .get(&format!("/api/v1/webhooks/{hid}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(disabled["status"], "disabled");
    assert!(disabled["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("410"));
    s.demand().await;
    pass(&s, &sender).await;
    assert_eq!(receiver.got("/h").len(), 3);
    let log = s
        .app
        .get(
            &format!("/api/v1/webhooks/{hid}/deliveries?status=failed"),
            &s.admin,
        )
        .await
        .expect(200);
    let gone = id(&log["items"][0]);
    s.app
        .post(
            &format!("/api/v1/webhooks/{hid}/deliveries/{gone}/redeliver"),
            &s.admin,
            json!({}),
        )
        .await
        .problem(409, "endpoint_disabled", None);
    // Enabled again, the failed message can be sent again.
    s.app
        .patch(
            &format!("/api/v1/webhooks/{hid}"),
            &s.admin,
            json!({"status": "enabled"}),
        )
        .await
        .expect(200);
    let again = s
        .app
        .post(
            &format!("/api/v1/webhooks/{hid}/deliveries/{gone}/redeliver"),
            &s.admin,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(again["status"], "pending");
    assert_eq!(pass(&s, &sender).await.attempts, 1);
    assert_eq!(receiver.got("/h").len(), 4);
    for (outcome, n) in [
        ("retry", 1.0),
        ("delivered", 2.0),
        ("gone", 1.0),
        ("failed", 0.0),
    ] {
        let name = format!(r#"webhook_attempts_total{{outcome="{outcome}"}}"#);
        assert_eq!(metric(&s, &name).await, n, "{outcome}");
    }
    assert_eq!(
        metric(&s, r#"webhook_deliveries{status="failed"}"#).await,
        0.0
    );
    s.app.assert_consistent().await;

    // The checker sees an outbox broken by hand.
    let delivered = id(&d);
    for statement in [
        "UPDATE webhook_deliveries SET attempts = attempts + 1 WHERE id = $1",
        "UPDATE notifications SET fanned_out_at = NULL WHERE id = \
         (SELECT notification_id FROM webhook_deliveries WHERE id = $1)",
    ] {
        let done = sqlx::query(statement)
            .bind(delivered.clone())
            .execute(s.app.db.write())
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1, "{statement}");
    }
    let report = gongjian_core::store::check::check_database(&s.app.test_db.url)
        .await
        .unwrap();
    let subject = format!("delivery {delivered}");
    for invariant in [
        "delivery_state_agrees_with_attempts",
        "delivery_follows_fan_out",
    ] {
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.invariant == invariant && v.subject == subject),
            "{invariant}: {:?}",
            report.violations
        );
    }
}

/// One sample of the metrics, read by the district (0 when the process has none yet).
async fn metric(s: &Setup, name: &str) -> f64 {
    let text = s.app.get("/metrics", &s.app.admin).await.expect(200);
    let text = text.as_str().expect("metrics are text");
    let line = format!("gongjian_{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends() {
    let (s, sender) = street().await;
    let receiver = Receiver::start().await;
    let hook = endpoint(
        &s,
        &s.admin,
        json!({"owner": "street", "owner_id": s.street, "url": format!("{}/r", receiver.url),
               "event_types": ["demand.filed"]}),
    )
    .await;
    let old = hook["secret"].as_str().unwrap().to_string();
    let rotated = s
        .app
        .post(
            &format!("/api/v1/webhooks/{}/rotate-secret", id(&hook)),
            &s.admin,
            json!({}),
        )
        .await
        .expect(200);
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_until"].is_string());
    s.demand().await;
    pass(&s, &sender).await;
    let got = receiver.got("/r");
    assert_eq!(verify(&got[0], &[&new, &old]), 2, "signed with both");
    s.clock.advance(Duration::hours(25));
    s.demand().await;
    pass(&s, &sender).await;
    let got = receiver.got("/r");
    assert_eq!(
        verify(&got[1], &[&new]),
        1,
        "the old secret no longer signs"
    );
}

#[tokio::test]
async fn two_hosts_deliver_each_message_once() {
    let (s, sender) = street().await;
    let receiver = Receiver::start().await;
    endpoint(
        &s,
        &s.admin,
        json!({"owner": "street", "owner_id": s.street, "url": format!("{}/two", receiver.url)}),
    )
    .await;
    for _ in 0..30 {
        s.demand().await;
    }
    let other = {
        let mut state = gongjian_host::AppState::new(s.app.db.clone());
        state.core.clock = s.app.state.core.clock.clone();
        state.core
    };
    let hosts = [s.app.state.core.clone(), other];
    let mut workers = vec![];
    for core in hosts {
        let sender = sender.clone();
        workers.push(tokio::spawn(async move {
            let mut attempts = 0;
            loop {
                let p = run_once(&core, &sender).await.unwrap();
                attempts += p.attempts;
                if p.attempts == 0 && p.fanned_out == 0 {
                    return attempts;
                }
            }
        }));
    }
    let mut attempts = 0;
    for w in workers {
        attempts += w.await.unwrap();
    }
    let got = receiver.got("/two");
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for m in &got {
        *by_id.entry(&m.id).or_default() += 1;
    }
    // 30 filed and 30 offered.
    assert_eq!(
        by_id.len(),
        60,
        "{:?}",
        got.iter().map(Received::kind).collect::<Vec<_>>()
    );
    assert!(by_id.values().all(|n| *n == 1), "a message sent twice");
    assert_eq!(attempts, 60);
}

#[tokio::test]
async fn a_volunteer_reads_their_offers_and_their_withdrawal_in_their_feed() {
    let (s, _) = street().await;
    let demand = s.demand().await;
    let order = order_of(&s, &demand).await;
    let oid = id(&order);
    let offered = open_offers(&order);
    let (taker, passed) = (s.token(&offered[0]), s.token(&offered[1]));
    let outsider = s
        .volunteers
        .iter()
        .find(|(v, _)| !offered.contains(v))
        .map(|(_, t)| t.clone())
        .unwrap();
    s.app
        .post(&format!("/api/v1/orders/{oid}/accept"), &taker, json!({}))
        .await
        .expect(200);
    let kinds = |feed: &Value| -> Vec<String> {
        feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect()
    };
    let feed = s
        .app
        .get("/api/v1/notifications", &passed)
        .await
        .expect(200);
    assert_eq!(
        kinds(&feed),
        ["order.offer_withdrawn", "order.offered"],
        "newest first"
    );
    assert!(feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["subject_id"] == oid.as_str() && n["read"] == false));
    let taker_feed = s.app.get("/api/v1/notifications", &taker).await.expect(200);
    assert_eq!(kinds(&taker_feed), ["order.offered"]);
    let none = s
        .app
        .get("/api/v1/notifications", &outsider)
        .await
        .expect(200);
    assert!(kinds(&none).is_empty());
    // The street's staff read the street's.
    let staff = s
        .app
        .get("/api/v1/notifications", &s.admin)
        .await
        .expect(200);
    assert_eq!(
        kinds(&staff),
        ["order.accepted", "order.offered", "demand.filed"]
    );

    // Marking read: one of another's is 404; one's own, then everything.
    let first = id(&feed["items"][1]);
    s.app
        .post(
            "/api/v1/notifications/read",
            &outsider,
            json!({"ids": [first]}),
        )
        .await
        .problem(404, "not_found", None);
    s.app
        .post(
            "/api/v1/notifications/read",
            &passed,
            json!({"ids": [first]}),
        )
        .await
        .expect(204);
    let unread = s
        .app
        .get("/api/v1/notifications?unread=true", &passed)
        .await
        .expect(200);
    assert_eq!(kinds(&unread), ["order.offer_withdrawn"]);
    let newest = id(&feed["items"][0]);
    s.app
        .post(
            "/api/v1/notifications/read",
            &passed,
            json!({"through": newest}),
        )
        .await
        .expect(204);
    let unread = || async {
        let page = s
            .app
            .get("/api/v1/notifications?unread=true", &passed)
            .await
            .expect(200);
        kinds(&page)
    };
    assert!(unread().await.is_empty());
    // Marking nothing read changes nothing.
    s.app
        .post("/api/v1/notifications/read", &passed, json!({}))
        .await
        .expect(204);
    assert!(unread().await.is_empty());
}

/// An open notifications stream, read as a client reads it.
struct Stream {
    body: axum::body::BodyDataStream,
    buffer: String,
}

impl Stream {
    async fn open(s: &Setup, token: &str, last_event_id: Option<&str>) -> Stream {
        use tower::ServiceExt;
        let mut req = axum::http::Request::get("/api/v1/notifications/stream")
            .header("authorization", format!("Bearer {token}"));
        if let Some(last) = last_event_id {
            req = req.header("last-event-id", last);
        }
        let resp = s
            .app
            .router
            .clone()
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Stream {
            body: resp.into_body().into_data_stream(),
            buffer: String::new(),
        }
    }

    /// The next notification (`id`, the notification), or `None` when the stream ended.
    async fn next(&mut self) -> Option<(String, Value)> {
        let (event, id, data) = self.next_event().await?;
        assert_eq!(event, "notification");
        Some((id, data))
    }

    /// The next event (its name, `id`, its data), or `None` when the stream ended. A stream
    /// that sends nothing for a minute fails the test rather than hang it.
    async fn next_event(&mut self) -> Option<(String, String, Value)> {
        use futures_util::StreamExt;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    frame
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim_start().to_string())
                };
                // Keep-alive comments carry no event.
                if let (Some(id), Some(data)) = (field("id:"), field("data:")) {
                    let event = field("event:").unwrap_or_default();
                    return Some((event, id, serde_json::from_str(&data).unwrap()));
                }
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(60), self.body.next())
                .await
                .expect("the stream sent nothing for a minute");
            match chunk {
                Some(bytes) => self
                    .buffer
                    .push_str(std::str::from_utf8(&bytes.unwrap()).unwrap()),
                None => return None,
            }
        }
    }

    /// The next notification after `last` (one sent again around a reconnect is skipped).
    async fn next_after(&mut self, last: &str) -> (String, Value) {
        loop {
            let (id, n) = self.next().await.expect("the stream ended");
            if id.as_str() > last {
                return (id, n);
            }
        }
    }
}

#[tokio::test]
async fn a_person_follows_their_feed_as_a_stream_resumed_with_last_event_id() {
    let (s, _) = street().await;
    // A grid worker's own token, to revoke at the end.
    let issued = s
        .app
        .post(
            "/api/v1/tokens",
            &s.admin,
            json!({"role": "grid_worker", "name": "王网格员", "street_id": s.street}),
        )
        .await
        .expect(201);
    let worker = issued["token"].as_str().unwrap().to_string();
    let mut stream = Stream::open(&s, &worker, None).await;
    let demand = s.demand().await;
    let (first, filed) = stream.next().await.unwrap();
    assert_eq!(filed["type"], "demand.filed");
    assert_eq!(filed["subject_id"], demand.as_str());
    assert_eq!(first, filed["id"].as_str().unwrap());
    let (second, offered) = stream.next_after(&first).await;
    assert_eq!(offered["type"], "order.offered");
    let listed = s
        .app
        .get("/api/v1/notifications", &worker)
        .await
        .expect(200);
    assert_eq!(
        listed["items"][0], offered,
        "the stream sends what the list shows"
    );
    assert_eq!(listed["items"][1], filed);
    drop(stream);

    // Disconnected while the order is accepted; resumed, the stream sends what was missed.
    let order = order_of(&s, &demand).await;
    let candidates = open_offers(&order);
    let taker = s.token(&candidates[0]);
    s.app
        .post(
            &format!("/api/v1/orders/{}/accept", id(&order)),
            &taker,
            json!({}),
        )
        .await
        .expect(200);
    let mut stream = Stream::open(&s, &worker, Some(&second)).await;
    let (_, accepted) = stream.next_after(&second).await;
    assert_eq!(accepted["type"], "order.accepted");

    // A volunteer's stream from the start holds their offer, and nothing of the street's.
    let mut theirs = Stream::open(&s, &taker, Some(&uuid::Uuid::nil().to_string())).await;
    let (_, mine) = theirs.next().await.unwrap();
    assert_eq!(mine["type"], "order.offered");
    assert_eq!(mine["subject_id"], id(&order).as_str());

    // Revoking the token ends the stream.
    s.app
        .delete(&format!("/api/v1/tokens/{}", id(&issued)), &s.admin)
        .await
        .expect(204);
    while let Some((_, n)) = stream.next().await {
        assert_ne!(n["type"], "demand.filed", "nothing new was filed");
    }
}

#[tokio::test]
async fn a_person_chooses_what_they_hear_of_and_a_daily_digest_instead() {
    let (s, _) = street().await;
    s.clock.set(time::macros::datetime!(2026-12-06 09:00 UTC));
    let path = "/api/v1/notifications/preferences";
    let defaults = s.app.get(path, &s.admin).await.expect(200);
    assert_eq!(
        defaults,
        json!({"event_types": [], "delivery": "immediate", "digest_hour": 8})
    );
    s.app
        .put(path, &s.admin, json!({"digest_hour": 24}))
        .await
        .problem(422, "validation_failed", Some("digest_hour"));
    s.app
        .put(path, &s.admin, json!({"delivery": "hourly"}))
        .await
        .problem(422, "validation_failed", Some("delivery"));

    // Only the types chosen are listed.
    let chosen = s
        .app
        .put(path, &s.admin, json!({"event_types": ["demand.filed"]}))
        .await
        .expect(200);
    assert_eq!(chosen["delivery"], "immediate", "the rest kept its value");
    s.demand().await;
    let feed = s
        .app
        .get("/api/v1/notifications", &s.admin)
        .await
        .expect(200);
    let kinds: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(!kinds.is_empty());
    assert!(kinds.iter().all(|k| *k == "demand.filed"), "{kinds:?}");

    // A daily digest at 08:00 local (00:00 UTC): chosen at 18:00 local, the first one is made
    // at the next 08:00, of what came in between.
    s.clock.set(time::macros::datetime!(2026-12-06 10:00 UTC));
    s.app
        .put(
            path,
            &s.admin,
            json!({"event_types": [], "delivery": "daily_digest", "digest_hour": 8}),
        )
        .await
        .expect(200);
    for _ in 0..3 {
        s.clock.advance(Duration::minutes(10));
        s.demand().await;
    }
    let digests = "/api/v1/notifications/digests";
    let none = s.app.get(digests, &s.admin).await.expect(200);
    assert_eq!(none["items"], json!([]), "not due before its hour");
    // A digest reader's badge does not count one by one.
    let feed_after = s
        .app
        .get("/api/v1/notifications?limit=200", &s.admin)
        .await
        .expect(200);
    let since_switch: Vec<&Value> = feed_after["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["at"].as_str().unwrap() > "2026-12-06T10:00:00")
        .collect();
    assert_eq!(
        since_switch
            .iter()
            .filter(|n| n["type"] == "demand.filed")
            .count(),
        3
    );
    s.clock
        .set(time::macros::datetime!(2026-12-07 00:00:30 UTC));
    // Readers at once make one digest between them.
    let mut readers = vec![];
    for _ in 0..8 {
        let (router, admin) = (s.app.router.clone(), s.admin.clone());
        readers.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let req = axum::http::Request::get("/api/v1/notifications/digests")
                .header("authorization", format!("Bearer {admin}"))
                .body(axum::body::Body::empty())
                .unwrap();
            router.oneshot(req).await.unwrap().status()
        }));
    }
    for r in readers {
        assert_eq!(r.await.unwrap(), StatusCode::OK);
    }
    let made = s.app.get(digests, &s.admin).await.expect(200);
    let items = made["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{made}");
    let d = &items[0];
    assert_eq!(d["since"], "2026-12-06T10:00:00.000000Z");
    assert_eq!(d["until"], "2026-12-07T00:00:00.000000Z");
    assert_eq!(d["total"], since_switch.len() as i64, "{d}");
    let filed = d["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "demand.filed")
        .unwrap();
    assert_eq!(filed["count"], 3);

    // The stream sends digests, not each notification.
    let mut stream = Stream::open(&s, &s.admin, Some("00000000-0000-7000-8000-000000000000")).await;
    let (event, id, data) = stream.next_event().await.unwrap();
    assert_eq!(event, "digest");
    assert_eq!(id, d["id"].as_str().unwrap());
    assert_eq!(data["total"], d["total"]);

    // Back to one by one: no more digests.
    s.app
        .put(path, &s.admin, json!({"delivery": "immediate"}))
        .await
        .expect(200);
    s.clock.advance(Duration::days(1));
    s.demand().await;
    let after = s.app.get(digests, &s.admin).await.expect(200);
    assert_eq!(after["items"].as_array().unwrap().len(), 1);
}
