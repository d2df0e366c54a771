//! WeCom group robots, against a fake robot this test starts on 127.0.0.1 that answers as
//! WeCom does (200 with `errcode`) and refuses, as the real one would, a 21st message in any
//! minute of the service's (hand-moved) clock: markdown naming no resident, a grid's robot
//! hearing only its grid, at most 20 messages a minute with the overflow folded into one
//! summary, two hosts sharing one robot's minute, and a robot's refusals.

use std::sync::{Arc, Mutex};

use axum::{extract::State, routing::post, Json, Router};
use gongjian_core::domain::clock::{Clock, ManualClock};
use gongjian_host::notify::{run_once, Sender};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use crate::deadlines::Setup;
use crate::helpers::{demand_body, id};

const CONSOLE: &str = "https://gj.example.cn";

/// One message as the fake robot got it.
#[derive(Debug, Clone)]
struct Got {
    at: OffsetDateTime,
    key: String,
    body: Value,
    /// What the robot answered: 0 when it took it.
    errcode: i64,
}

impl Got {
    fn content(&self) -> &str {
        self.body["markdown"]["content"].as_str().unwrap()
    }
}

/// A fake WeCom robot: keeps what it is posted, by the service's clock, and answers with the
/// codes it is told, then as WeCom does: 0, or 45009 for a 21st message in a minute.
#[derive(Clone)]
struct Robot {
    clock: ManualClock,
    got: Arc<Mutex<Vec<Got>>>,
    answers: Arc<Mutex<Vec<i64>>>,
    url: String,
}

async fn take(
    State(r): State<Robot>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    body: String,
) -> Json<Value> {
    let at = r.clock.now();
    let body: Value = serde_json::from_str(&body).expect("a robot is posted JSON");
    let mut got = r.got.lock().unwrap();
    let told = {
        let mut answers = r.answers.lock().unwrap();
        (!answers.is_empty()).then(|| answers.remove(0))
    };
    let taken_in_minute = got
        .iter()
        .filter(|g| g.errcode == 0 && at - g.at < Duration::minutes(1))
        .count();
    let errcode = told.unwrap_or(if taken_in_minute >= 20 { 45009 } else { 0 });
    got.push(Got {
        at,
        key: q.get("key").cloned().unwrap_or_default(),
        body,
        errcode,
    });
    let errmsg = match errcode {
        0 => "ok",
        45009 => "api freq out of limit",
        93000 => "invalid webhook url",
        _ => "error",
    };
    Json(json!({"errcode": errcode, "errmsg": errmsg}))
}

impl Robot {
    async fn start(clock: ManualClock) -> Robot {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Robot {
            clock,
            got: Arc::default(),
            answers: Arc::default(),
            url: format!(
                "http://{}/cgi-bin/webhook/send",
                listener.local_addr().unwrap()
            ),
        };
        let app = Router::new()
            .route("/cgi-bin/webhook/send", post(take))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    fn got(&self, key: &str) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.key == key)
            .cloned()
            .collect()
    }

    fn answer(&self, codes: &[i64]) {
        self.answers.lock().unwrap().extend(codes);
    }
}

/// A street whose demands are dispatched on filing, with a second grid, served with
/// endpoints allowed on this machine and the console's public address set.
async fn street() -> (Setup, Sender, String) {
    let (mut s, sender) = crate::notifications::street().await;
    let mut state = s.app.state.clone();
    state.core.webhooks.console_url = Some(CONSOLE.into());
    s.app.router = gongjian_host::app(state.clone());
    s.app.state = state;
    let grids = s
        .app
        .get(&format!("/api/v1/streets/{}/grids", s.street), &s.admin)
        .await
        .expect(200);
    let community = grids["items"][0]["community_id"]
        .as_str()
        .unwrap()
        .to_string();
    let other_grid = id(&s.app.grid(&s.street, &community, "g02").await);
    (s, sender, other_grid)
}

/// Files a demand in `grid` whose description carries a phone number.
async fn file(s: &Setup, grid: &str) -> String {
    let mut body = demand_body(grid);
    body["description"] = json!("独居老人需要助浴,家属电话 137-0000-1234");
    id(&s
        .app
        .post("/api/v1/demands", &s.grid_worker, body)
        .await
        .expect(201))
}

async fn robot(s: &Setup, r: &Robot, key: &str, grid: Option<&str>) -> Value {
    let mut body = json!({
        "owner": "street", "owner_id": s.street, "channel": "wecom",
        "url": format!("{}?key={key}", r.url),
        "event_types": ["demand.filed", "demand.escalated", "order.overdue"],
    });
    if let Some(g) = grid {
        body["grid_id"] = json!(g);
    }
    s.app
        .post("/api/v1/webhooks", &s.admin, body)
        .await
        .expect(201)
}

/// Runs the sender until it has nothing to do now.
async fn drain(s: &Setup, sender: &Sender) -> usize {
    let mut attempts = 0;
    loop {
        let p = run_once(&s.app.state.core, sender).await.unwrap();
        attempts += p.attempts;
        if p.attempts == 0 && p.fanned_out == 0 {
            return attempts;
        }
    }
}

/// No 60-second window of the robot's clock holds more than 20 messages it took.
fn at_most_20_a_minute(got: &[Got]) {
    let taken: Vec<OffsetDateTime> = got
        .iter()
        .filter(|g| g.errcode == 0)
        .map(|g| g.at)
        .collect();
    for (i, start) in taken.iter().enumerate() {
        let within = taken[i..]
            .iter()
            .filter(|t| **t - *start < Duration::minutes(1))
            .count();
        assert!(
            within <= 20,
            "{within} messages within a minute from {start}"
        );
    }
    assert!(
        got.iter().all(|g| g.errcode != 45009),
        "the robot refused a message over its limit"
    );
}

#[tokio::test]
async fn a_grids_robot_hears_its_grid_in_markdown_naming_no_resident_20_a_minute() {
    let (s, sender, other_grid) = street().await;
    let r = Robot::start(s.clock.clone()).await;
    let made = robot(&s, &r, "g01-robot-key", Some(&s.grid)).await;
    // The key is the robot's credential: shown masked, and there is no secret.
    assert!(
        made["url"].as_str().unwrap().ends_with("?key=g01-****"),
        "{made}"
    );
    assert!(made.get("secret").is_none(), "{made}");
    assert_eq!(made["channel"], "wecom");
    assert_eq!(made["grid_id"], s.grid.as_str());
    s.app
        .post(
            &format!("/api/v1/webhooks/{}/rotate-secret", id(&made)),
            &s.admin,
            json!({}),
        )
        .await
        .problem(409, "not_signed", None);

    let mut filed = vec![];
    for _ in 0..30 {
        filed.push(file(&s, &s.grid).await);
    }
    for _ in 0..2 {
        file(&s, &other_grid).await;
    }
    drain(&s, &sender).await;
    let got = r.got("g01-robot-key");
    assert_eq!(got.len(), 20, "19 messages and a summary: {got:?}");
    at_most_20_a_minute(&got);
    let (singles, summary) = got.split_at(19);
    for g in singles {
        assert_eq!(g.body["msgtype"], "markdown");
        let c = g.content();
        assert!(c.starts_with("**新诉求** shixi街道 · 第g01网格"), "{c}");
        assert!(c.contains("> 类别:"), "{c}");
        assert!(
            c.contains("> 紧急程度:<font color=\"warning\">紧急</font>"),
            "{c}"
        );
        assert!(c.contains("> 期望时间:05-01 09:00 至 05-01 11:00"), "{c}");
        let link = c
            .rsplit("[查看详情](")
            .next()
            .unwrap()
            .trim_end_matches(')');
        let demand = link
            .strip_prefix(&format!("{CONSOLE}/console/demands/"))
            .unwrap_or_else(|| panic!("a link to the demand's page: {c}"));
        assert!(filed.iter().any(|f| f == demand), "{c}");
    }
    let c = summary[0].content();
    assert!(c.starts_with("**另有 11 条通知**"), "{c}");
    assert!(c.contains("> 新诉求:11 条"), "{c}");
    assert!(c.contains(&format!("({CONSOLE}/console/demands)")), "{c}");
    for g in &got {
        let text = g.body.to_string();
        for private in ["李秀英", "13912345678", "魏鑫家园", "137-0000-1234", "助浴"] {
            assert!(!text.contains(private), "{private} in {text}");
        }
        assert!(!text.contains("第g02网格"), "another grid's demand: {text}");
    }
    // Every delivery of the 30 was made, the folded ones by the summary.
    let log = s
        .app
        .get(
            &format!("/api/v1/webhooks/{}/deliveries?limit=100", id(&made)),
            &s.admin,
        )
        .await
        .expect(200);
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 30);
    assert!(items.iter().all(|d| d["status"] == "delivered"), "{log}");

    // Within the same minute the robot is sent nothing more; once it has passed, the next
    // three go one by one.
    s.clock.advance(Duration::seconds(30));
    for _ in 0..3 {
        file(&s, &s.grid).await;
    }
    drain(&s, &sender).await;
    assert_eq!(r.got("g01-robot-key").len(), 20);
    s.clock.advance(Duration::seconds(31));
    drain(&s, &sender).await;
    let got = r.got("g01-robot-key");
    assert_eq!(got.len(), 23);
    assert!(got[20..]
        .iter()
        .all(|g| g.content().starts_with("**新诉求**")));
    at_most_20_a_minute(&got);
    s.app.assert_consistent().await;
}

#[tokio::test]
async fn two_hosts_share_one_robots_minute() {
    let (s, sender, _) = street().await;
    let r = Robot::start(s.clock.clone()).await;
    robot(&s, &r, "shared", None).await;
    for _ in 0..40 {
        file(&s, &s.grid).await;
    }
    // Everything is made due first, so that the two hosts race for the robot's minute only.
    gongjian_core::service::notifications::fan_out(&s.app.state.core)
        .await
        .unwrap();
    let other = {
        let mut state = gongjian_host::AppState::new(s.app.db.clone());
        state.core.clock = s.app.state.core.clock.clone();
        state.core.webhooks = s.app.state.core.webhooks.clone();
        state.core
    };
    let hosts = [s.app.state.core.clone(), other];
    let mut workers = vec![];
    for core in hosts {
        let sender = sender.clone();
        workers.push(tokio::spawn(async move {
            for _ in 0..5 {
                run_once(&core, &sender).await.unwrap();
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let got = r.got("shared");
    assert_eq!(got.len(), 20, "{got:?}");
    at_most_20_a_minute(&got);
    let announced: usize = got
        .iter()
        .map(|g| {
            let c = g.content();
            match c.strip_prefix("**另有 ") {
                Some(rest) => rest.split(' ').next().unwrap().parse::<usize>().unwrap(),
                None => 1,
            }
        })
        .sum();
    assert_eq!(announced, 40, "every filing told once");
}

#[tokio::test]
async fn a_robot_that_refuses_is_tried_again_and_one_that_is_gone_is_disabled() {
    let (s, sender, _) = street().await;
    let r = Robot::start(s.clock.clone()).await;
    let made = robot(&s, &r, "refusing", None).await;
    let rid = id(&made);
    // Over its limit (another sender shares the group's robot): tried again after a minute.
    r.answer(&[45009]);
    file(&s, &s.grid).await;
    drain(&s, &sender).await;
    let log = s
        .app
        .get(&format!("/api/v1/webhooks/{rid}/deliveries"), &s.admin)
        .await
        .expect(200);
    let d = &log["items"][0];
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["last_status"], 200);
    assert!(d["last_error"].as_str().unwrap().contains("45009"), "{d}");
    s.clock.advance(Duration::seconds(59));
    drain(&s, &sender).await;
    assert_eq!(r.got("refusing").len(), 1);
    s.clock.advance(Duration::seconds(2));
    drain(&s, &sender).await;
    assert_eq!(r.got("refusing").len(), 2);
    let d = s
        .app
        .get(&format!("/api/v1/webhooks/{rid}/deliveries"), &s.admin)
        .await
        .expect(200)["items"][0]
        .clone();
    assert_eq!(d["status"], "delivered", "{d}");

    // Removed from its group: the endpoint is disabled, saying why.
    r.answer(&[93000]);
    file(&s, &s.grid).await;
    drain(&s, &sender).await;
    let e = s
        .app
        .get(&format!("/api/v1/webhooks/{rid}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(e["status"], "disabled", "{e}");
    assert!(
        e["disabled_reason"].as_str().unwrap().contains("no more"),
        "{e}"
    );
    file(&s, &s.grid).await;
    drain(&s, &sender).await;
    assert_eq!(
        r.got("refusing").len(),
        3,
        "nothing sent to a disabled robot"
    );
}

#[tokio::test]
async fn a_robot_is_registered_with_its_key_for_a_grid_of_its_street() {
    let (mut s, _, _) = street().await;
    let r = Robot::start(s.clock.clone()).await;
    let post = |body: Value| s.app.post("/api/v1/webhooks", &s.admin, body);
    post(json!({"owner": "street", "owner_id": s.street, "channel": "wecom", "url": r.url}))
        .await
        .problem(422, "validation_failed", Some("url"));
    post(
        json!({"owner": "street", "owner_id": s.street, "channel": "wecom",
                "url": format!("{}?key=abcd****", r.url)}),
    )
    .await
    .problem(422, "validation_failed", Some("url"));
    post(json!({"owner": "street", "owner_id": s.street,
                "url": format!("{}?key=k", r.url), "grid_id": s.grid}))
    .await
    .problem(422, "validation_failed", Some("grid_id"));
    let other = id(&s.app.street("other").await);
    let c = id(&s.app.community(&other, "另一社区").await);
    let foreign_grid = id(&s.app.grid(&other, &c, "x01").await);
    post(
        json!({"owner": "street", "owner_id": s.street, "channel": "wecom",
                "url": format!("{}?key=k", r.url), "grid_id": foreign_grid}),
    )
    .await
    .problem(422, "validation_failed", Some("grid_id"));
    // A grid with a robot is in use.
    let made = post(
        json!({"owner": "street", "owner_id": s.street, "channel": "wecom",
                           "url": format!("{}?key=k", r.url), "grid_id": s.grid}),
    )
    .await
    .expect(201);
    s.app
        .delete(
            &format!("/api/v1/streets/{}/grids/{}", s.street, s.grid),
            &s.admin,
        )
        .await
        .problem(409, "in_use", None);
    // A new address keeps the key out of every answer; a masked one is refused.
    let changed = s
        .app
        .patch(
            &format!("/api/v1/webhooks/{}", id(&made)),
            &s.admin,
            json!({"url": format!("{}?key=new-key", r.url)}),
        )
        .await
        .expect(200);
    assert!(
        changed["url"].as_str().unwrap().ends_with("?key=new-****"),
        "{changed}"
    );
    s.app
        .patch(
            &format!("/api/v1/webhooks/{}", id(&made)),
            &s.admin,
            json!({"url": changed["url"]}),
        )
        .await
        .problem(422, "validation_failed", Some("url"));

    // Without the console's public address a robot's messages could not link to it.
    let mut state = s.app.state.clone();
    state.core.webhooks.console_url = None;
    s.app.router = gongjian_host::app(state);
    s.app
        .post(
            "/api/v1/webhooks",
            &s.admin,
            json!({"owner": "street", "owner_id": s.street, "channel": "wecom",
               "url": format!("{}?key=k", r.url)}),
        )
        .await
        .problem(409, "public_url_not_set", None);
}
