//! Deploying matching plugins through the API: upload with validation, activate, roll back,
//! dry-run, faults with fallback and quarantine, isolation between streets, and switching
//! versions while matches run.

use std::sync::Arc;

use base64::Engine;
use gongjian_host::plugin::host::PluginSettings;
use gongjian_plugin_sdk::builder::{CandidateSpec, DemandSpec};
use serde_json::{json, Value};

use crate::{
    example_plugins::{rhai_source, wasm_bytes},
    helpers::{demand_body, id, TestApp, World},
};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn rhai_upload(source: &str) -> Value {
    json!({"kind": "rhai", "source": source, "note": "test"})
}

fn wasm_upload(name: &str, config: Value) -> Value {
    json!({"kind": "wasm", "wasm_base64": b64(&wasm_bytes(name)), "config": config})
}

/// A rule whose every reason names it, to tell versions apart.
fn tagged(tag: &str) -> String {
    format!("fn score(c, d, config) {{ if c.kind == \"volunteer\" {{ #{{ score: 1.0, reason: \"{tag}\" }} }} else {{ () }} }}")
}

async fn repair_demand(app: &TestApp, w: &World) -> String {
    let mut body = demand_body(&w.a.grid);
    body["category"] = json!("repair");
    id(&app
        .post("/api/v1/demands", &w.a.admin, body)
        .await
        .expect(201))
}

#[tokio::test]
async fn upload_validates_and_stores_immutable_versions() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let base = format!("/api/v1/streets/{}/plugins", w.a.id);
    let source = rhai_source("elderly-party-members");
    let v1 = app
        .post(&base, &w.a.admin, rhai_upload(&source))
        .await
        .expect(201);
    assert_eq!(v1["number"], 1);
    assert_eq!(v1["kind"], "rhai");
    assert_eq!(v1["status"], "ready");
    assert_eq!(v1["active"], false);
    assert_eq!(v1["contract_version"], "1.1.0");
    assert_eq!(v1["hooks"], json!([]));
    assert_eq!(v1["source"], source.as_str());
    assert_eq!(
        v1["content_hash"],
        gongjian_host::plugin::wasm::content_hash(source.as_bytes())
    );
    let v2 = app
        .post(
            &base,
            &w.a.admin,
            wasm_upload("same_day", json!({"max_distance": 1})),
        )
        .await
        .expect(201);
    assert_eq!(v2["number"], 2);
    assert_eq!(v2["config"], json!({"max_distance": 1}));
    assert!(v2.get("source").is_none(), "WebAssembly is not echoed");
    let listed = app.get(&base, &w.a.admin).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(listed["items"][0].get("source").is_none());
    assert!(app
        .get(&format!("{base}/active"), &w.a.admin)
        .await
        .expect(200)["version"]
        .is_null());

    // Refusals name the field and say why.
    let bad = app
        .post(
            &base,
            &w.a.admin,
            rhai_upload("fn score(c, d, config) {\n  let = 1;\n}"),
        )
        .await;
    let problem = bad.problem(422, "plugin_invalid", Some("source"));
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{problem}"
    );
    app.post(
        &base,
        &w.a.admin,
        rhai_upload("fn score(c, d, config) {\n  import \"x\" as y;\n  1\n}"),
    )
    .await
    .problem(422, "plugin_invalid", Some("source"));
    app.post(
        &base,
        &w.a.admin,
        wasm_upload("hostile", json!({"mode": "loop"})),
    )
    .await
    .problem(422, "plugin_dry_run_failed", Some("wasm_base64"));
    app.post(
        &base,
        &w.a.admin,
        json!({"kind": "wasm", "wasm_base64": b64(b"not wasm")}),
    )
    .await
    .problem(422, "plugin_invalid", Some("wasm_base64"));
    app.post(
        &base,
        &w.a.admin,
        json!({"kind": "wasm", "wasm_base64": "%%%"}),
    )
    .await
    .problem(422, "invalid_base64", Some("wasm_base64"));
    app.post(
        &base,
        &w.a.admin,
        json!({"kind": "rhai", "source": "x", "wasm_base64": "AA=="}),
    )
    .await
    .problem(422, "required", Some("source"));
    app.post(
        &base,
        &w.a.admin,
        json!({"kind": "rhai", "source": SCORE_ONE, "config": [1]}),
    )
    .await
    .problem(422, "invalid_type", Some("config"));
    app.post(&base, &w.a.admin, json!({"kind": "lua", "source": "x"}))
        .await
        .problem(422, "invalid_choice", Some("kind"));
    // Nothing refused was stored.
    assert_eq!(
        app.get(&base, &w.a.admin).await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

const SCORE_ONE: &str = "fn score(c, d, config) { 1.0 }";

#[tokio::test]
async fn only_the_streets_admins_manage_its_plugins() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let base = format!("/api/v1/streets/{}/plugins", w.a.id);
    for token in [
        &w.a.grid_worker,
        &w.a.unit_token,
        &w.a.volunteer_token,
        &w.b.admin,
    ] {
        app.post(&base, token, rhai_upload(SCORE_ONE))
            .await
            .problem(403, "forbidden", None);
        app.get(&base, token).await.problem(403, "forbidden", None);
    }
    let v = id(&app
        .post(&base, &app.admin, rhai_upload(SCORE_ONE))
        .await
        .expect(201));
    app.post(&format!("{base}/{v}/activate"), &w.b.admin, json!({}))
        .await
        .problem(403, "forbidden", None);
    app.post(
        &format!("/api/v1/streets/{}/plugins/{v}/activate", w.b.id),
        &w.b.admin,
        json!({}),
    )
    .await
    .problem(404, "not_found", None);
    app.post(&format!("{base}/{v}/activate"), &w.a.admin, json!({}))
        .await
        .expect(200);
    // Matching is for the street's staff.
    let d = format!("/api/v1/demands/{}/match", w.a.demand);
    app.post(&d, &w.a.grid_worker, json!({})).await.expect(200);
    app.post(&d, &w.a.unit_token, json!({}))
        .await
        .problem(403, "forbidden", None);
    app.post(&d, &w.b.admin, json!({}))
        .await
        .problem(404, "not_found", None);
}

async fn matched(app: &TestApp, demand: &str, token: &str) -> Value {
    app.post(&format!("/api/v1/demands/{demand}/match"), token, json!({}))
        .await
        .expect(200)
}

#[tokio::test]
async fn activate_roll_back_and_deactivate() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let base = format!("/api/v1/streets/{}/plugins", w.a.id);
    let admin = &w.a.admin;
    let demand = repair_demand(&app, &w).await;
    let m = matched(&app, &demand, admin).await;
    assert_eq!(m["rule"]["kind"], "builtin");
    assert!(!m["ranked"].as_array().unwrap().is_empty(), "{m}");
    assert!(m["candidates_considered"].as_u64().unwrap() >= 2);

    let v1 = id(&app
        .post(&base, admin, rhai_upload(&tagged("v1")))
        .await
        .expect(201));
    let v2 = id(&app
        .post(&base, admin, wasm_upload("same_day", json!({})))
        .await
        .expect(201));
    app.post(
        &base.replace("/plugins", "/plugins/rollback"),
        admin,
        json!({}),
    )
    .await
    .problem(409, "nothing_to_roll_back", None);
    let active = app
        .post(&format!("{base}/{v1}/activate"), admin, json!({}))
        .await
        .expect(200);
    assert_eq!(active["version"]["number"], 1);
    let m = matched(&app, &demand, admin).await;
    assert_eq!(m["rule"]["kind"], "rhai");
    assert_eq!(m["rule"]["version_number"], 1);
    assert!(
        m["ranked"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["reason"] == "v1"),
        "{m}"
    );
    assert!(m["ranked"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["kind"] == "volunteer" && r["name"].is_string()));

    app.post(&format!("{base}/{v2}/activate"), admin, json!({}))
        .await
        .expect(200);
    let m = matched(&app, &demand, admin).await;
    assert_eq!(
        (
            m["rule"]["kind"].as_str(),
            m["rule"]["version_number"].as_i64()
        ),
        (Some("wasm"), Some(2))
    );
    assert!(m["rule"]["content_hash"].as_str().unwrap().len() == 64);

    let back = app
        .post(&format!("{base}/rollback"), admin, json!({}))
        .await
        .expect(200);
    assert_eq!(back["version"]["number"], 1);
    assert_eq!(
        matched(&app, &demand, admin).await["rule"]["version_number"],
        1
    );
    app.post(&format!("{base}/deactivate"), admin, json!({}))
        .await
        .expect(200);
    assert_eq!(
        matched(&app, &demand, admin).await["rule"]["kind"],
        "builtin"
    );
    assert!(app.get(&format!("{base}/active"), admin).await.expect(200)["version"].is_null());
    let back = app
        .post(&format!("{base}/rollback"), admin, json!({}))
        .await
        .expect(200);
    assert_eq!(
        back["version"]["number"], 1,
        "rolling back undoes the deactivation"
    );
}

#[tokio::test]
async fn dry_runs_rank_without_recording() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let base = format!("/api/v1/streets/{}/plugins", w.a.id);
    let admin = &w.a.admin;
    let demand = repair_demand(&app, &w).await;
    let v = id(&app
        .post(
            &base,
            admin,
            wasm_upload(
                "hostile",
                json!({"mode": "trap", "only_category": "repair"}),
            ),
        )
        .await
        .expect(201));
    let run = app
        .post(
            &format!("{base}/{v}/dry-run"),
            admin,
            json!({"demand_id": demand}),
        )
        .await
        .expect(200);
    assert_eq!(run["fault"]["kind"], "trap", "{run}");
    assert!(run["ranked"].as_array().unwrap().is_empty());
    let ok = app
        .post(
            &format!("{base}/{v}/dry-run"),
            admin,
            json!({"demand_id": w.a.demand}),
        )
        .await
        .expect(200);
    assert!(ok["fault"].is_null(), "{ok}");
    assert_eq!(ok["rule"]["version_id"], v.as_str());
    // Dry runs are not held against the version.
    let faults = app
        .get(&format!("{base}/{v}/faults"), admin)
        .await
        .expect(200);
    assert!(faults["items"].as_array().unwrap().is_empty());
    // Inline demand and candidates, as a rule's author would try them.
    let s = id(&app
        .post(
            &base,
            admin,
            rhai_upload(&rhai_source("elderly-party-members")),
        )
        .await
        .expect(201));
    let inline = json!({
        "demand": DemandSpec { category: "elderly_care".into(), grid: "g1".into(), community: "c1".into(), ..DemandSpec::default() },
        "candidates": [
            CandidateSpec { home_grid: "g2".into(), community: "c1".into(), ..CandidateSpec::default() },
            CandidateSpec { home_grid: "g1".into(), community: "c1".into(), party_member: true, ..CandidateSpec::default() },
        ],
    });
    let run = app
        .post(&format!("{base}/{s}/dry-run"), admin, inline)
        .await
        .expect(200);
    assert_eq!(run["ranked"][0]["name"], "#1");
    assert_eq!(run["ranked"][0]["reason"], "党员 同网格 在办 0/3");
    // Another street's demand is not found; a request needs a demand.
    app.post(
        &format!("{base}/{s}/dry-run"),
        admin,
        json!({"demand_id": w.b.demand}),
    )
    .await
    .problem(404, "not_found", None);
    app.post(&format!("{base}/{s}/dry-run"), admin, json!({}))
        .await
        .problem(422, "required", Some("demand_id"));
}

#[tokio::test]
async fn faults_fall_back_and_quarantine_without_touching_other_streets() {
    let app = TestApp::spawn_with(PluginSettings {
        quarantine_after: 3,
        ..PluginSettings::default()
    })
    .await;
    let w = World::build(&app).await;
    let (a, b) = (&w.a, &w.b);
    let base_a = format!("/api/v1/streets/{}/plugins", a.id);
    let base_b = format!("/api/v1/streets/{}/plugins", b.id);
    let bad = id(&app
        .post(
            &base_a,
            &a.admin,
            wasm_upload(
                "hostile",
                json!({"mode": "loop", "only_category": "repair"}),
            ),
        )
        .await
        .expect(201));
    app.post(&format!("{base_a}/{bad}/activate"), &a.admin, json!({}))
        .await
        .expect(200);
    let good_b = id(&app
        .post(&base_b, &b.admin, rhai_upload(&tagged("b")))
        .await
        .expect(201));
    app.post(&format!("{base_b}/{good_b}/activate"), &b.admin, json!({}))
        .await
        .expect(200);
    let demand = repair_demand(&app, &w).await;
    let path = format!("/api/v1/demands/{demand}/match");
    for round in 1..=3 {
        let m = app.post(&path, &a.admin, json!({})).await.expect(200);
        assert_eq!(m["rule"]["kind"], "builtin", "round {round}: {m}");
        assert_eq!(m["fault"]["kind"], "timeout");
        assert_eq!(m["fault"]["version_id"], bad.as_str());
        assert_eq!(m["fault"]["quarantined"], round == 3, "round {round}");
        assert!(
            !m["ranked"].as_array().unwrap().is_empty(),
            "the built-in rule ranked instead"
        );
        // Street B is untouched while A's plugin fails.
        let mb = app
            .post(
                &format!("/api/v1/demands/{}/match", b.demand),
                &b.admin,
                json!({}),
            )
            .await
            .expect(200);
        assert_eq!(mb["rule"]["kind"], "rhai");
        assert!(mb["fault"].is_null());
    }
    let m = app.post(&path, &a.admin, json!({})).await.expect(200);
    assert_eq!(m["rule"]["kind"], "builtin");
    assert!(
        m["fault"].is_null(),
        "a quarantined version is not called: {m}"
    );
    let version = app
        .get(&format!("{base_a}/{bad}"), &a.admin)
        .await
        .expect(200);
    assert_eq!(version["status"], "quarantined");
    assert_eq!(version["total_faults"], 3);
    let active = app
        .get(&format!("{base_a}/active"), &a.admin)
        .await
        .expect(200);
    assert_eq!(active["falling_back"], true);
    let faults = app
        .get(&format!("{base_a}/{bad}/faults"), &a.admin)
        .await
        .expect(200);
    let faults = faults["items"].as_array().unwrap();
    assert_eq!(faults.len(), 3);
    assert!(faults
        .iter()
        .all(|f| f["kind"] == "timeout" && f["message"].as_str().unwrap().contains("timeout")));
    app.post(&format!("{base_a}/{bad}/activate"), &a.admin, json!({}))
        .await
        .problem(409, "quarantined", None);
    // A filing dispatched at once is ranked by the built-in rule, without calling the
    // quarantined version.
    app.put(
        &format!("/api/v1/streets/{}/dispatch-settings/repair", a.id),
        &a.admin,
        json!({"auto_dispatch": true, "offer_count": 1, "accept_minutes": 30}),
    )
    .await
    .expect(200);
    let filed_rule = |demand: String| {
        let app = &app;
        let admin = a.admin.clone();
        async move {
            let orders = app
                .get(&format!("/api/v1/orders?demand_id={demand}"), &admin)
                .await
                .expect(200);
            orders["items"][0]["rule"]["kind"].clone()
        }
    };
    assert_eq!(filed_rule(repair_demand(&app, &w).await).await, "builtin");
    let version = app
        .get(&format!("{base_a}/{bad}"), &a.admin)
        .await
        .expect(200);
    assert_eq!(
        version["total_faults"], 3,
        "the quarantined version was called"
    );
    // Deploying a fix ends the fallback.
    let fix = id(&app
        .post(&base_a, &a.admin, rhai_upload(&tagged("fixed")))
        .await
        .expect(201));
    app.post(&format!("{base_a}/{fix}/activate"), &a.admin, json!({}))
        .await
        .expect(200);
    assert_eq!(
        app.post(&path, &a.admin, json!({})).await.expect(200)["rule"]["kind"],
        "rhai"
    );
    assert_eq!(filed_rule(repair_demand(&app, &w).await).await, "rhai");
    let metrics = app
        .get("/metrics", &app.admin)
        .await
        .body
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        metrics.contains(r#"gongjian_plugin_faults_total{kind="timeout"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gongjian_plugin_calls_total{runtime="wasm",outcome="timeout"} 3"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn switching_versions_while_matching_never_mixes_them() {
    let app = Arc::new(TestApp::spawn().await);
    let w = World::build(&app).await;
    let base = format!("/api/v1/streets/{}/plugins", w.a.id);
    let admin = w.a.admin.clone();
    let v1 = id(&app
        .post(&base, &admin, rhai_upload(&tagged("v1")))
        .await
        .expect(201));
    let v2 = id(&app
        .post(&base, &admin, rhai_upload(&tagged("v2")))
        .await
        .expect(201));
    app.post(&format!("{base}/{v1}/activate"), &admin, json!({}))
        .await
        .expect(200);
    let demand = repair_demand(&app, &w).await;
    let mut matches = vec![];
    for _ in 0..24 {
        let (app, admin, demand) = (app.clone(), admin.clone(), demand.clone());
        matches.push(tokio::spawn(async move {
            app.post(
                &format!("/api/v1/demands/{demand}/match"),
                &admin,
                json!({}),
            )
            .await
            .expect(200)
        }));
    }
    for i in 0..10 {
        let target = if i % 2 == 0 { &v2 } else { &v1 };
        if i % 3 == 2 {
            app.post(&format!("{base}/rollback"), &admin, json!({}))
                .await
                .expect(200);
        } else {
            app.post(&format!("{base}/{target}/activate"), &admin, json!({}))
                .await
                .expect(200);
        }
    }
    for m in matches {
        let m = m.await.unwrap();
        let number = m["rule"]["version_number"]
            .as_i64()
            .expect("a plugin ranked");
        let tag = format!("v{number}");
        assert!(m["fault"].is_null(), "{m}");
        assert!(
            m["ranked"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["reason"] == tag.as_str()),
            "one version per match: {m}"
        );
    }
}

#[tokio::test]
async fn simultaneous_uploads_get_distinct_numbers() {
    let app = Arc::new(TestApp::spawn().await);
    let w = World::build(&app).await;
    let base = format!("/api/v1/streets/{}/plugins", w.a.id);
    let mut uploads = vec![];
    for i in 0..8 {
        let (app, base, admin) = (app.clone(), base.clone(), w.a.admin.clone());
        uploads.push(tokio::spawn(async move {
            app.post(&base, &admin, rhai_upload(&tagged(&format!("u{i}"))))
                .await
                .expect(201)["number"]
                .as_i64()
                .unwrap()
        }));
    }
    let mut numbers = vec![];
    for u in uploads {
        numbers.push(u.await.unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (1..=8).collect::<Vec<i64>>());
}
