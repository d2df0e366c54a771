//! Contract 1.1.0: triage of new demands and points for completed orders, in both runtimes and
//! through the API; their faults; and plugins built for contract 1.0.0 still running.

use base64::Engine;
use gongjian_core::domain::access::RoleKind;
use gongjian_host::plugin::{wasm::WasmRuntime, Compiled, Fault, Limits};
use gongjian_plugin_sdk::{
    builder::{CandidateSpec, DemandSpec, RequestBuilder},
    Award, CandidateKind, Category, PointsRequest, TriageDecision, TriageRequest, Urgency,
};
use serde_json::{json, Value};

use crate::{
    compiled_plugins::{rhai, wasm},
    example_plugins::{rhai_source, wasm_bytes},
    helpers::{actions, id, TestApp},
};

/// 2026-05-01 08:00 at UTC+8.
const MAY_1_MORNING: i64 = 1_777_593_600;

fn triage_request(category: &str, description: &str, config: &str) -> TriageRequest {
    TriageRequest {
        street: "shixi".into(),
        category: category.into(),
        category_label: String::new(),
        urgency: Urgency::Normal,
        channel: "hotline".into(),
        description: description.into(),
        grid: "g01".into(),
        community: "魏鑫社区".into(),
        filed_at: MAY_1_MORNING,
        categories: ["other", "medical", "repair", "elderly_care"]
            .iter()
            .map(|c| Category {
                code: c.to_string(),
                label: c.to_string(),
            })
            .collect(),
        config: config.into(),
        now: MAY_1_MORNING,
        ..TriageRequest::default()
    }
}

fn points_request(category: &str, urgency: Urgency, minutes: u32, on_time: bool) -> PointsRequest {
    PointsRequest {
        street: "shixi".into(),
        category: category.into(),
        urgency,
        assignee_kind: CandidateKind::Volunteer,
        service_minutes: minutes,
        filed_at: MAY_1_MORNING,
        accepted_at: MAY_1_MORNING + 600,
        completed_at: MAY_1_MORNING + 7_200,
        complete_by: Some(if on_time {
            MAY_1_MORNING + 36_000
        } else {
            MAY_1_MORNING + 3_600
        }),
        ..PointsRequest::default()
    }
}

#[test]
fn same_day_raises_todays_demands_and_rewards_punctuality() {
    let plugin = wasm("same_day");
    assert_eq!(plugin.contract_version(), "1.2.0");
    assert!(plugin.has_triage() && plugin.has_points());
    let mut today = triage_request("repair", "水管漏水", "");
    today.window_start = Some(MAY_1_MORNING + 3_600);
    today.window_end = Some(MAY_1_MORNING + 7_200);
    let decision = plugin.triage(&today).0.unwrap().expect("raised");
    assert_eq!(decision.urgency, Some(Urgency::High));
    assert_eq!(decision.category, None, "the rest is kept");

    let mut tomorrow = today.clone();
    tomorrow.window_start = Some(MAY_1_MORNING + 86_400);
    tomorrow.window_end = Some(MAY_1_MORNING + 90_000);
    assert_eq!(plugin.triage(&tomorrow).0.unwrap(), None);
    let mut off = today.clone();
    off.config = r#"{"raise_same_day": false}"#.into();
    assert_eq!(plugin.triage(&off).0.unwrap(), None, "configurable");

    let on_time = plugin
        .points(&points_request("repair", Urgency::High, 90, true))
        .0
        .unwrap()
        .unwrap();
    assert_eq!(on_time.points, 2.5);
    assert_eq!(on_time.reason, "每小时 1 分 · 按时完成 +1");
    let late = plugin
        .points(&points_request("repair", Urgency::High, 90, false))
        .0
        .unwrap()
        .unwrap();
    assert_eq!(late.points, 1.5);
}

#[test]
fn rhai_triage_and_points_examples() {
    let medical = rhai(&rhai_source("medical-to-hospital"));
    assert!(medical.has_triage() && !medical.has_points());
    let d = medical
        .triage(&triage_request("other", "老人在家摔倒了，起不来", ""))
        .0
        .unwrap()
        .unwrap();
    assert_eq!(
        d,
        TriageDecision {
            category: Some("medical".into()),
            urgency: Some(Urgency::Critical),
            tags: None,
            note: "描述提到“摔倒”：医疗，特急".into(),
        }
    );
    assert_eq!(
        medical
            .triage(&triage_request("repair", "楼道灯坏了", ""))
            .0
            .unwrap(),
        None
    );

    let teams = rhai(&rhai_source("team-balance"));
    assert!(!teams.has_triage() && teams.has_points());
    let urgent = teams
        .points(&points_request("repair", Urgency::Critical, 120, true))
        .0
        .unwrap()
        .unwrap();
    assert_eq!(urgent, Award::new(3.0, "紧急需求按时完成 ×1.5"));
    let plain = teams
        .points(&points_request("repair", Urgency::Normal, 120, true))
        .0
        .unwrap()
        .unwrap();
    assert_eq!(plain.points, 2.0);
}

type Expect = fn(&Fault) -> bool;

#[test]
fn hook_faults_are_caught_in_webassembly() {
    let plugin = wasm("hostile");
    let config = |mode: &str| format!(r#"{{"mode": "ok", "hook_mode": "{mode}"}}"#);
    let triage: &[(&str, Expect)] = &[
        (
            "triage-error",
            |f| matches!(f, Fault::Plugin(m) if m == "triage refuses"),
        ),
        ("triage-loop", |f| matches!(f, Fault::Timeout(_))),
        ("triage-trap", |f| matches!(f, Fault::Trap(_))),
        (
            "triage-bad-category",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("no-such-category")),
        ),
        (
            "triage-bad-tag",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("tag")),
        ),
    ];
    for (mode, expect) in triage {
        let fault = plugin
            .triage(&triage_request("repair", "x", &config(mode)))
            .0
            .expect_err(mode);
        assert!(expect(&fault), "{mode}: {fault:?}");
    }
    let points: &[(&str, Expect)] = &[
        ("points-error", |f| matches!(f, Fault::Plugin(_))),
        ("points-loop", |f| matches!(f, Fault::Timeout(_))),
        ("points-nan", |f| matches!(f, Fault::InvalidOutput(_))),
        ("points-negative", |f| matches!(f, Fault::InvalidOutput(_))),
        (
            "points-huge",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("1000")),
        ),
    ];
    for (mode, expect) in points {
        let mut req = points_request("repair", Urgency::Normal, 60, true);
        req.config = config(mode);
        let fault = plugin.points(&req).0.expect_err(mode);
        assert!(expect(&fault), "{mode}: {fault:?}");
    }
    // Without a hook mode the hooks have no opinion.
    assert_eq!(
        plugin
            .triage(&triage_request("repair", "x", r#"{"mode": "ok"}"#))
            .0
            .unwrap(),
        None
    );
}

#[test]
fn hook_faults_are_caught_in_rhai() {
    let rank = "fn score(c, d, config) { 1.0 }\n";
    let cases: &[(&str, Expect)] = &[
        (
            "fn triage(d, config) { throw \"no\" }",
            |f| matches!(f, Fault::Plugin(m) if m.contains("no")),
        ),
        ("fn triage(d, config) { loop { } }", |f| {
            matches!(f, Fault::Timeout(_) | Fault::Limit(_))
        }),
        (
            "fn triage(d, config) { #{ urgency: \"extreme\" } }",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("extreme")),
        ),
        (
            "fn triage(d, config) { #{ category: \"nope\" } }",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("nope")),
        ),
        (
            "fn triage(d, config) { #{ colour: \"red\" } }",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("colour")),
        ),
        ("fn triage(d, config) { 42 }", |f| {
            matches!(f, Fault::InvalidOutput(_))
        }),
        (
            "fn triage(d, config) { #{ tags: [1, 2] } }",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("tags")),
        ),
    ];
    for (hook, expect) in cases {
        let plugin = rhai(&format!("{rank}{hook}"));
        let fault = plugin
            .triage(&triage_request("repair", "x", ""))
            .0
            .expect_err(hook);
        assert!(expect(&fault), "{hook}: {fault:?}");
    }
    let points: &[(&str, Expect)] = &[
        ("fn points(o, config) { -1 }", |f| {
            matches!(f, Fault::InvalidOutput(_))
        }),
        ("fn points(o, config) { 1.0 / 0.0 }", |f| {
            matches!(f, Fault::InvalidOutput(_) | Fault::Trap(_))
        }),
        ("fn points(o, config) { \"ten\" }", |f| {
            matches!(f, Fault::InvalidOutput(_))
        }),
        (
            "fn points(o, config) { #{ reason: \"x\" } }",
            |f| matches!(f, Fault::InvalidOutput(m) if m.contains("points")),
        ),
        ("fn points(o, config) { o.nothing.more }", |f| {
            matches!(f, Fault::Trap(_) | Fault::Plugin(_))
        }),
    ];
    for (hook, expect) in points {
        let plugin = rhai(&format!("{rank}{hook}"));
        let fault = plugin
            .points(&points_request("repair", Urgency::Normal, 60, true))
            .0
            .expect_err(hook);
        assert!(expect(&fault), "{hook}: {fault:?}");
    }
}

#[test]
fn a_plugin_built_for_contract_1_1_keeps_working() {
    let rt = WasmRuntime::new(Limits::default()).unwrap();
    let old = Compiled::Wasm(rt.compile(&contract_1_1_plugin()).unwrap());
    assert_eq!(old.contract_version(), "1.1.0");
    assert!(old.has_triage() && old.has_points());
    // Its strings arrive as a list, those of the same plugin built today in one block: the
    // two give the same answers.
    let new = wasm("same_day");
    let mut b = RequestBuilder::new(
        "shixi",
        &DemandSpec {
            category: "repair".into(),
            grid: "g1".into(),
            urgency: Urgency::High,
            window_start: Some(MAY_1_MORNING + 3_600),
            window_end: Some(MAY_1_MORNING + 7_200),
            ..DemandSpec::default()
        },
        "",
        MAY_1_MORNING,
        20,
    );
    for i in 0..30u32 {
        b.push(&CandidateSpec {
            home_grid: format!("g{}", i % 4),
            community: format!("社区{}", i % 2),
            labels: vec![["维修", "陪护"][i as usize % 2].into()],
            open_orders: i % 3,
            availability_fits: i % 5 != 0,
            ..CandidateSpec::default()
        });
    }
    let req = b.finish();
    let ranked = old.rank(&req).0.unwrap();
    assert!(ranked.len() > 5, "{ranked:?}");
    assert_eq!(ranked, new.rank(&req).0.unwrap());
    let mut today = triage_request("repair", "水管漏水", "");
    today.window_start = Some(MAY_1_MORNING + 3_600);
    today.window_end = Some(MAY_1_MORNING + 7_200);
    assert_eq!(
        old.triage(&today).0.unwrap().and_then(|d| d.urgency),
        Some(Urgency::High)
    );
    let request = points_request("repair", Urgency::High, 90, true);
    assert_eq!(old.points(&request).0.unwrap().unwrap().points, 2.5);
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        crate::example_plugins::root()
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap()
}

fn contract_1_0_plugin() -> Vec<u8> {
    fixture("contract-1.0.0/default_rule.wasm")
}

fn contract_1_1_plugin() -> Vec<u8> {
    fixture("contract-1.1.0/same_day.wasm")
}

#[test]
fn a_plugin_built_for_contract_1_0_keeps_working() {
    let rt = WasmRuntime::new(Limits::default()).unwrap();
    let old = Compiled::Wasm(rt.compile(&contract_1_0_plugin()).unwrap());
    assert_eq!(old.contract_version(), "1.0.0");
    assert!(!old.has_triage() && !old.has_points());
    // It ranks exactly as the built-in rule does, as it did when it was built.
    let mut b = RequestBuilder::new(
        "shixi",
        &DemandSpec {
            category: "repair".into(),
            grid: "g1".into(),
            ..DemandSpec::default()
        },
        "",
        0,
        20,
    );
    for i in 0..30u32 {
        b.push(&CandidateSpec {
            home_grid: format!("g{}", i % 4),
            labels: vec![["维修", "陪护"][i as usize % 2].into()],
            open_orders: i % 3,
            ..CandidateSpec::default()
        });
    }
    let req = b.finish();
    let ranked = old.rank(&req).0.unwrap();
    assert!(!ranked.is_empty());
    assert_eq!(ranked, gongjian_host::plugin::builtin(&req).unwrap());
    // Its missing hooks are no opinion, not a fault.
    assert_eq!(
        old.triage(&triage_request("repair", "x", "")).0.unwrap(),
        None
    );
    assert_eq!(
        old.points(&points_request("repair", Urgency::Normal, 60, true))
            .0
            .unwrap(),
        None
    );
}

struct Street {
    id: String,
    grid: String,
    admin: String,
    volunteer: String,
}

async fn street(app: &TestApp) -> Street {
    let s = id(&app.street("shixi").await);
    let c = id(&app.community(&s, "魏鑫社区").await);
    let g = id(&app.grid(&s, &c, "g01").await);
    let v = id(&app
        .post(
            "/api/v1/volunteers",
            &app.admin,
            json!({"name": "志愿者", "phone": "13800001111", "home_grid_id": g, "skills": ["维修", "义诊"]}),
        )
        .await
        .expect(201));
    Street {
        admin: app.token(RoleKind::StreetAdmin, Some(&s), None, None).await,
        volunteer: app.token(RoleKind::Volunteer, None, None, Some(&v)).await,
        id: s,
        grid: g,
    }
}

async fn deploy(app: &TestApp, s: &Street, upload: Value) -> Value {
    let v = app
        .post(
            &format!("/api/v1/streets/{}/plugins", s.id),
            &s.admin,
            upload,
        )
        .await
        .expect(201);
    app.post(
        &format!("/api/v1/streets/{}/plugins/{}/activate", s.id, id(&v)),
        &s.admin,
        json!({}),
    )
    .await
    .expect(200);
    v
}

fn wasm_upload(bytes: &[u8], config: Value) -> Value {
    json!({"kind": "wasm", "wasm_base64": base64::engine::general_purpose::STANDARD.encode(bytes), "config": config})
}

async fn file(app: &TestApp, s: &Street, category: &str, description: &str) -> Value {
    app.post(
        "/api/v1/demands",
        &s.admin,
        json!({"grid_id": s.grid, "category": category, "urgency": "normal", "channel": "hotline",
               "description": description,
               "resident": {"name": "李秀英", "phone": "13912345678", "address": "魏鑫家园3号楼"}}),
    )
    .await
    .expect(201)
}

async fn match_now(app: &TestApp, s: &Street, demand: &Value) -> Value {
    app.post(
        &format!("/api/v1/demands/{}/match", id(demand)),
        &s.admin,
        json!({}),
    )
    .await
    .expect(200)
}

async fn demand_actions(app: &TestApp, s: &Street, demand: &str) -> Vec<String> {
    actions(
        &app.get(&format!("/api/v1/demands/{demand}/events"), &s.admin)
            .await
            .expect(200),
    )
}

#[tokio::test]
async fn triage_on_intake_is_recorded_either_way() {
    let app = TestApp::spawn().await;
    let s = street(&app).await;

    // No plugin: kept as filed, and the record says why.
    let plain = file(&app, &s, "other", "老人摔倒了").await;
    assert_eq!(plain["category"], "other");
    assert_eq!(plain["triage"]["rule"], "none");
    assert_eq!(plain["triage"]["changed"], json!([]));
    assert_eq!(plain["triage"]["filed"]["category"], "other");
    assert_eq!(demand_actions(&app, &s, &id(&plain)).await, ["filed"]);

    // The street's rhai rule triages: an emergency in the description becomes medical and
    // critical, and the demand is matched as such.
    let v = deploy(
        &app,
        &s,
        json!({"kind": "rhai", "source": rhai_source("medical-to-hospital")}),
    )
    .await;
    assert_eq!(v["hooks"], json!(["triage"]));
    let urgent = file(&app, &s, "other", "独居老人在家摔倒了，起不来").await;
    assert_eq!(
        (urgent["category"].as_str(), urgent["urgency"].as_str()),
        (Some("medical"), Some("critical"))
    );
    let t = &urgent["triage"];
    assert_eq!(t["rule"], "rhai");
    assert_eq!(t["version_id"], v["id"]);
    assert_eq!(t["version_number"], 1);
    assert_eq!(
        t["filed"],
        json!({"category": "other", "urgency": "normal", "tags": []})
    );
    assert_eq!(t["changed"], json!(["category", "urgency"]));
    assert_eq!(t["note"], "描述提到“摔倒”：医疗，特急");
    // The answer to the filing is what was stored.
    let stored = app
        .get(&format!("/api/v1/demands/{}", id(&urgent)), &s.admin)
        .await
        .expect(200);
    assert_eq!(stored, urgent);
    let events = app
        .get(&format!("/api/v1/demands/{}/events", id(&urgent)), &s.admin)
        .await
        .expect(200);
    let triaged = &events["items"][1];
    assert_eq!(triaged["action"], "triaged");
    assert_eq!(
        triaged["note"],
        "rhai v1: category, urgency changed; 描述提到“摔倒”：医疗，特急"
    );
    // Nothing to correct: kept as filed by the rule.
    let ordinary = file(&app, &s, "repair", "楼道灯坏了").await;
    assert_eq!(ordinary["category"], "repair");
    assert_eq!(ordinary["triage"]["rule"], "rhai");
    assert_eq!(ordinary["triage"]["changed"], json!([]));
    assert_eq!(ordinary["triage"]["note"], "the rule kept it as filed");
}

#[tokio::test]
async fn triage_never_sees_the_residents_personal_data() {
    let app = TestApp::spawn().await;
    let s = street(&app).await;
    // A rule that repeats what it was given.
    deploy(
        &app,
        &s,
        json!({"kind": "rhai", "source": "fn score(c, d, config) { 1.0 }\nfn triage(d, config) { #{ tags: [\"seen\"], note: d.description } }"}),
    )
    .await;
    let d = file(
        &app,
        &s,
        "repair",
        "李秀英家（魏鑫家园3号楼）水管漏水，回电13912345678或0543-3212345",
    )
    .await;
    assert_eq!(d["tags"], json!(["seen"]));
    assert_eq!(
        d["triage"]["note"],
        "＊＊＊家（＊＊＊）水管漏水，回电＊＊＊或＊＊＊"
    );
    // The description itself is stored as filed, for the street's staff.
    assert_eq!(
        d["description"],
        "李秀英家（魏鑫家园3号楼）水管漏水，回电13912345678或0543-3212345"
    );
}

/// Files a repair, dispatches it to the street's one volunteer, who accepts, starts and
/// completes it in 90 minutes; returns the completed order.
async fn complete_one(app: &TestApp, s: &Street, category: &str) -> Value {
    let d = id(&file(app, s, category, "水管漏水").await);
    let order = id(&app
        .post(
            &format!("/api/v1/demands/{d}/dispatch"),
            &s.admin,
            json!({"offer_count": 1}),
        )
        .await
        .expect(201));
    for step in ["accept", "start"] {
        app.post(
            &format!("/api/v1/orders/{order}/{step}"),
            &s.volunteer,
            json!({}),
        )
        .await
        .expect(200);
    }
    app.post(
        &format!("/api/v1/orders/{order}/complete"),
        &s.volunteer,
        json!({"service_minutes": 90}),
    )
    .await
    .expect(200)
}

#[tokio::test]
async fn points_come_from_the_streets_rule_or_one_per_hour() {
    let app = TestApp::spawn().await;
    let s = street(&app).await;

    let plain = complete_one(&app, &s, "repair").await;
    assert_eq!(plain["points"], 1.5);
    assert_eq!(plain["points_rule"], "builtin");
    assert_eq!(plain["points_reason"], "one point per hour of service");

    // The same-day plugin adds a bonus for finishing by the deadline (same day by default).
    deploy(
        &app,
        &s,
        wasm_upload(&wasm_bytes("same_day"), json!({"on_time_bonus": 2})),
    )
    .await;
    let bonus = complete_one(&app, &s, "repair").await;
    assert_eq!(bonus["points"], 3.5);
    assert_eq!(bonus["points_rule"], "wasm v1");
    assert_eq!(bonus["points_reason"], "每小时 1 分 · 按时完成 +2");
    let events = app
        .get(&format!("/api/v1/orders/{}/events", id(&bonus)), &s.admin)
        .await
        .expect(200);
    let completed = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "completed")
        .unwrap()
        .clone();
    assert_eq!(
        completed["note"],
        "90 minutes; 3.5 points (wasm v1: 每小时 1 分 · 按时完成 +2)"
    );
}

#[tokio::test]
async fn hook_faults_fall_back_and_count_against_the_version() {
    let app = TestApp::spawn().await;
    let s = street(&app).await;
    // Misbehaves only for elderly care, so it passes the upload's dry runs.
    let v = deploy(
        &app,
        &s,
        wasm_upload(
            &wasm_bytes("hostile"),
            json!({"mode": "ok", "only_category": "elderly_care", "hook_mode": "triage-bad-category"}),
        ),
    )
    .await;
    let d = file(&app, &s, "elderly_care", "需要助浴").await;
    assert_eq!(d["category"], "elderly_care", "kept as filed");
    assert_eq!(d["triage"]["fault"]["kind"], "invalid_output");
    assert_eq!(d["triage"]["changed"], json!([]));
    let faults = app
        .get(
            &format!("/api/v1/streets/{}/plugins/{}/faults", s.id, id(&v)),
            &s.admin,
        )
        .await
        .expect(200);
    assert_eq!(faults["items"][0]["kind"], "invalid_output");

    let v2 = deploy(
        &app,
        &s,
        wasm_upload(
            &wasm_bytes("hostile"),
            json!({"mode": "ok", "only_category": "elderly_care", "hook_mode": "points-nan"}),
        ),
    )
    .await;
    let order = complete_one(&app, &s, "elderly_care").await;
    assert_eq!(order["points"], 1.5, "one per hour instead");
    assert_eq!(order["points_rule"], "builtin");
    assert_eq!(
        order["points_reason"],
        "wasm v2 faulted (invalid_output); one point per hour"
    );
    let faults = app
        .get(
            &format!("/api/v1/streets/{}/plugins/{}/faults", s.id, id(&v2)),
            &s.admin,
        )
        .await
        .expect(200);
    assert_eq!(faults["items"][0]["kind"], "invalid_output");
}

#[tokio::test]
async fn uploads_are_dry_run_and_plugins_of_every_contract_version_deploy() {
    let app = TestApp::spawn().await;
    let s = street(&app).await;
    let base = format!("/api/v1/streets/{}/plugins", s.id);
    let problem = app
        .post(
            &base,
            &s.admin,
            json!({"kind": "rhai", "source": "fn score(c, d, config) { 1.0 }\nfn points(o, config) { -3 }"}),
        )
        .await
        .problem(422, "plugin_dry_run_failed", Some("source"));
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("points"),
        "{problem}"
    );

    let old = deploy(&app, &s, wasm_upload(&contract_1_0_plugin(), json!({}))).await;
    assert_eq!(old["contract_version"], "1.0.0");
    assert_eq!(old["hooks"], json!([]));
    let d = file(&app, &s, "repair", "水管漏水").await;
    assert_eq!(d["triage"]["rule"], "none");
    let m = match_now(&app, &s, &d).await;
    assert_eq!(m["rule"]["kind"], "wasm");
    assert_eq!(m["ranked"].as_array().unwrap().len(), 1);
    assert!(m["fault"].is_null());

    // A plugin of 1.1.0 deploys with its hooks; its strings still arrive as a list.
    let v11 = deploy(&app, &s, wasm_upload(&contract_1_1_plugin(), json!({}))).await;
    assert_eq!(v11["contract_version"], "1.1.0");
    assert_eq!(v11["hooks"], json!(["triage", "points"]));

    // A rhai rule over the whole list: a broken one is refused at upload, the default rule
    // in that form deploys and ranks with its reasons.
    app.post(
        &base,
        &s.admin,
        json!({"kind": "rhai", "source": "fn score_all(c, d, config) { c.team }"}),
    )
    .await
    .problem(422, "plugin_dry_run_failed", Some("source"));
    deploy(
        &app,
        &s,
        json!({"kind": "rhai", "source": crate::example_plugins::rhai_source("default-rule")}),
    )
    .await;
    let m = match_now(&app, &s, &d).await;
    assert_eq!(m["rule"]["kind"], "rhai");
    assert!(m["fault"].is_null(), "{m}");
    let reason = m["ranked"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("技能/类别匹配 · 同网格 · 在办 0/"),
        "{m}"
    );
}

/// A plugin built with the SDK says in its module which hooks it implements, and the service
/// calls only those: the default rule exports triage and points (every plugin of contract 1.2.0
/// does) but implements neither, so its filings make one call, not two, and its completions
/// none. A plugin that says nothing (built before the SDK wrote it, or without the SDK) is
/// called for every hook it exports, as `a_plugin_built_for_contract_1_1_keeps_working` shows.
#[tokio::test]
async fn only_the_hooks_a_plugin_implements_are_called() {
    let rt = WasmRuntime::new(Limits::default()).unwrap();
    let compile = |bytes: &[u8]| Compiled::Wasm(rt.compile(bytes).unwrap());
    let ranks_only = wasm_bytes("default_rule");
    let plugin = compile(&ranks_only);
    assert_eq!(plugin.contract_version(), "1.2.0");
    assert!(!plugin.has_triage() && !plugin.has_points());
    let plugin = wasm("same_day");
    assert!(plugin.has_triage() && plugin.has_points());
    // The section's flags, one at a time; a section of a format this host does not know says
    // nothing.
    let said = |section: [u8; 2]| {
        let mut bytes = ranks_only.clone();
        let at = bytes
            .windows(16)
            .position(|w| w == b"gongjian:hooks\x01\x00")
            .expect("the SDK names the hooks the plugin implements");
        bytes[at + 14..at + 16].copy_from_slice(&section);
        let p = compile(&bytes);
        (p.has_triage(), p.has_points())
    };
    assert_eq!(said([1, 1]), (true, false));
    assert_eq!(said([1, 2]), (false, true));
    assert_eq!(said([1, 3]), (true, true));
    assert_eq!(said([2, 0]), (true, true));

    let app = TestApp::spawn().await;
    let s = street(&app).await;
    let v = deploy(&app, &s, wasm_upload(&ranks_only, json!({}))).await;
    assert_eq!(v["contract_version"], "1.2.0");
    assert_eq!(v["hooks"], json!([]));
    let d = file(&app, &s, "repair", "水管漏水").await;
    assert_eq!(d["triage"]["rule"], "none");
    assert_eq!(d["triage"]["note"], "the street's rule does not triage");
    let done = complete_one(&app, &s, "repair").await;
    assert_eq!(done["points_rule"], "builtin");
    assert_eq!(done["points"], 1.5);
}

/// A value of `/metrics`: the sample `name{labels}`, absent as 0.
fn sample(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn every_call_of_a_rule_is_timed_by_runtime_and_entry_point() {
    let app = TestApp::spawn().await;
    let s = street(&app).await;
    let metrics = || async {
        app.get("/metrics", &app.admin)
            .await
            .expect(200)
            .as_str()
            .unwrap()
            .to_string()
    };
    let time = "gongjian_plugin_call_duration_seconds";
    let calls = |text: &str, runtime: &str, hook: &str| {
        sample(
            text,
            &format!(r#"{time}_count{{runtime="{runtime}",hook="{hook}"}}"#),
        )
    };

    // The built-in rule ranks: one call, timed.
    let d = file(&app, &s, "repair", "水管漏水").await;
    match_now(&app, &s, &d).await;
    let text = metrics().await;
    assert_eq!(calls(&text, "builtin", "rank"), 1.0, "{text}");
    assert_eq!(
        sample(
            &text,
            &format!(r#"{time}_bucket{{le="+Inf",runtime="builtin",hook="rank"}}"#)
        ),
        1.0,
        "{text}"
    );

    // A plugin with both hooks: triage on filing, ranking on dispatch, points on completion,
    // each timed under its own entry point; the plugin's dry run at upload is not a call in
    // service.
    deploy(
        &app,
        &s,
        wasm_upload(&wasm_bytes("same_day"), json!({"on_time_bonus": 2})),
    )
    .await;
    assert_eq!(calls(&metrics().await, "wasm", "rank"), 0.0);
    complete_one(&app, &s, "repair").await;
    let text = metrics().await;
    for hook in ["triage", "rank", "points"] {
        assert_eq!(calls(&text, "wasm", hook), 1.0, "{hook}: {text}");
        let sum = sample(
            &text,
            &format!(r#"{time}_sum{{runtime="wasm",hook="{hook}"}}"#),
        );
        assert!(
            sum > 0.0 && sum < 1.0,
            "{hook} took {sum} s, by the metrics"
        );
    }
    assert_eq!(calls(&text, "builtin", "rank"), 1.0, "{text}");
    // The calls are counted by outcome as before.
    assert_eq!(
        sample(
            &text,
            r#"gongjian_plugin_calls_total{runtime="wasm",outcome="ok"}"#
        ),
        3.0,
        "{text}"
    );
}
