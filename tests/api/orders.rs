//! Service orders: dispatch, offers, decline and re-offer, one winner among simultaneous
//! accepts, capacity under concurrency, the assignee's progress, cancellation, and events.

use std::sync::Arc;

use gongjian_core::domain::access::RoleKind;
use serde_json::json;

use crate::helpers::{actions, demand_body, id, TestApp};

struct Street {
    id: String,
    grid: String,
    admin: String,
    grid_worker: String,
    volunteers: Vec<(String, String)>,
}

/// A street with `n` repair volunteers in one grid, each with a token.
async fn street(app: &TestApp, n: usize) -> Street {
    let s = id(&app.street("shixi").await);
    let c = id(&app.community(&s, "魏鑫社区").await);
    let g = id(&app.grid(&s, &c, "g01").await);
    let mut volunteers = vec![];
    for i in 0..n {
        let v = id(&app
            .post("/api/v1/volunteers", &app.admin, json!({"name": format!("志愿者{i}"), "phone": "13800001111", "home_grid_id": g, "skills": ["维修"]}))
            .await
            .expect(201));
        let t = app.token(RoleKind::Volunteer, None, None, Some(&v)).await;
        volunteers.push((v, t));
    }
    Street {
        admin: app.token(RoleKind::StreetAdmin, Some(&s), None, None).await,
        grid_worker: app.token(RoleKind::GridWorker, Some(&s), None, None).await,
        id: s,
        grid: g,
        volunteers,
    }
}

async fn repair_demand(app: &TestApp, s: &Street) -> String {
    let mut body = demand_body(&s.grid);
    body["category"] = json!("repair");
    body.as_object_mut().unwrap().remove("window_start");
    body.as_object_mut().unwrap().remove("window_end");
    id(&app
        .post("/api/v1/demands", &s.grid_worker, body)
        .await
        .expect(201))
}

fn token_of<'a>(s: &'a Street, volunteer: &str) -> &'a str {
    &s.volunteers
        .iter()
        .find(|(v, _)| v == volunteer)
        .expect("a volunteer of the street")
        .1
}

#[tokio::test]
async fn the_loop_from_dispatch_to_completion() {
    let app = TestApp::spawn().await;
    let s = street(&app, 5).await;
    let demand = repair_demand(&app, &s).await;
    let order = app
        .post(
            &format!("/api/v1/demands/{demand}/dispatch"),
            &s.admin,
            json!({"offer_count": 2}),
        )
        .await
        .expect(201);
    let oid = id(&order);
    assert_eq!(order["status"], "offered");
    assert_eq!(order["rule"]["kind"], "builtin");
    assert_eq!(order["ranking"].as_array().unwrap().len(), 5);
    let offered: Vec<String> = order["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["candidate_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(offered.len(), 2);
    assert_eq!(
        app.get(&format!("/api/v1/demands/{demand}"), &s.admin)
            .await
            .expect(200)["status"],
        "dispatched"
    );
    app.post(
        &format!("/api/v1/demands/{demand}/dispatch"),
        &s.admin,
        json!({}),
    )
    .await
    .problem(409, "not_open", None);

    // An offered volunteer sees the order, the resident masked and no ranking; others do not.
    let first = token_of(&s, &offered[0]);
    let seen = app
        .get(&format!("/api/v1/orders/{oid}"), first)
        .await
        .expect(200);
    assert_eq!(seen["resident"]["phone"], "139****5678");
    assert!(seen.get("ranking").is_none() && seen.get("offers").is_none());
    let outsider = s
        .volunteers
        .iter()
        .find(|(v, _)| !offered.contains(v))
        .unwrap()
        .1
        .clone();
    app.get(&format!("/api/v1/orders/{oid}"), &outsider)
        .await
        .problem(404, "not_found", None);
    app.post(
        &format!("/api/v1/orders/{oid}/accept"),
        &outsider,
        json!({}),
    )
    .await
    .problem(404, "not_found", None);
    let mine = app.get("/api/v1/orders", first).await.expect(200);
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert!(
        app.get("/api/v1/orders", &outsider).await.expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Both decline: the next two are offered.
    app.post(
        &format!("/api/v1/orders/{oid}/decline"),
        first,
        json!({"reason": ""}),
    )
    .await
    .problem(422, "required", Some("reason"));
    app.post(
        &format!("/api/v1/orders/{oid}/decline"),
        first,
        json!({"reason": "今天在外地"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/orders/{oid}/decline"),
        first,
        json!({"reason": "again"}),
    )
    .await
    .problem(409, "not_offered", None);
    app.post(
        &format!("/api/v1/orders/{oid}/decline"),
        token_of(&s, &offered[1]),
        json!({"reason": "身体不适"}),
    )
    .await
    .expect(200);
    let now = app
        .get(&format!("/api/v1/orders/{oid}"), &s.admin)
        .await
        .expect(200);
    let open: Vec<String> = now["offers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"] == "open")
        .map(|o| o["candidate_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(open.len(), 2, "{now}");
    assert!(open.iter().all(|v| !offered.contains(v)));

    // One accepts; the other's offer is withdrawn and accepting now is a conflict.
    let (winner, loser) = (token_of(&s, &open[0]), token_of(&s, &open[1]));
    app.post(
        &format!("/api/v1/orders/{oid}/complete"),
        winner,
        json!({"service_minutes": 30}),
    )
    .await
    .problem(403, "forbidden", None);
    let accepted = app
        .post(&format!("/api/v1/orders/{oid}/accept"), winner, json!({}))
        .await
        .expect(200);
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["assignee_id"], open[0].as_str());
    assert_eq!(
        accepted["resident"]["phone"], "13912345678",
        "the assignee needs to reach the resident"
    );
    app.post(&format!("/api/v1/orders/{oid}/accept"), loser, json!({}))
        .await
        .problem(409, "not_offered", None);
    app.post(&format!("/api/v1/orders/{oid}/start"), loser, json!({}))
        .await
        .problem(403, "forbidden", None);
    app.post(
        &format!("/api/v1/orders/{oid}/complete"),
        winner,
        json!({"service_minutes": 30}),
    )
    .await
    .problem(409, "invalid_transition", None);
    assert_eq!(
        app.get(&format!("/api/v1/demands/{demand}"), &s.admin)
            .await
            .expect(200)["status"],
        "in_progress"
    );

    app.post(&format!("/api/v1/orders/{oid}/start"), winner, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/api/v1/orders/{oid}/complete"),
        winner,
        json!({"service_minutes": 0}),
    )
    .await
    .problem(422, "out_of_range", Some("service_minutes"));
    let done = app
        .post(
            &format!("/api/v1/orders/{oid}/complete"),
            winner,
            json!({"service_minutes": 90, "note": "已更换水管"}),
        )
        .await
        .expect(200);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["service_minutes"], 90);
    assert_eq!(
        done["resident"]["phone"], "139****5678",
        "after completion the assignee no longer needs it"
    );
    assert_eq!(
        app.get(&format!("/api/v1/demands/{demand}"), &s.admin)
            .await
            .expect(200)["status"],
        "completed"
    );
    app.post(
        &format!("/api/v1/orders/{oid}/cancel"),
        &s.admin,
        json!({"reason": "x"}),
    )
    .await
    .problem(409, "invalid_transition", None);

    let order_events = app
        .get(&format!("/api/v1/orders/{oid}/events"), &s.admin)
        .await
        .expect(200);
    assert_eq!(
        actions(&order_events),
        [
            "offered",
            "declined",
            "declined",
            "offered",
            "accepted",
            "started",
            "completed"
        ]
    );
    assert_eq!(order_events["items"][1]["note"], "今天在外地");
    assert_eq!(order_events["items"][3]["actor"], "system");
    let demand_events = app
        .get(&format!("/api/v1/demands/{demand}/events"), &s.grid_worker)
        .await
        .expect(200);
    assert_eq!(
        actions(&demand_events),
        ["filed", "dispatched", "accepted", "completed"]
    );

    // The next match knows the volunteer's record.
    let next = repair_demand(&app, &s).await;
    let m = app
        .post(
            &format!("/api/v1/demands/{next}/match"),
            &s.admin,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(m["candidates_considered"], 5);
}

#[tokio::test]
async fn fifty_simultaneous_accepts_have_exactly_one_winner() {
    let app = Arc::new(TestApp::spawn().await);
    let s = street(&app, 10).await;
    let demand = repair_demand(&app, &s).await;
    let oid = id(&app
        .post(
            &format!("/api/v1/demands/{demand}/dispatch"),
            &s.admin,
            json!({"offer_count": 10}),
        )
        .await
        .expect(201));
    let mut tasks = vec![];
    for round in 0..5 {
        for (v, t) in &s.volunteers {
            let (app, t, v, oid) = (app.clone(), t.clone(), v.clone(), oid.clone());
            tasks.push(tokio::spawn(async move {
                let r = app
                    .post(&format!("/api/v1/orders/{oid}/accept"), &t, json!({}))
                    .await;
                (
                    round,
                    v,
                    r.status.as_u16(),
                    r.body["code"].as_str().unwrap_or("").to_string(),
                )
            }));
        }
    }
    let mut results = vec![];
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(results.len(), 50);
    let winners: Vec<_> = results.iter().filter(|r| r.2 == 200).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results.iter().filter(|r| r.2 != 200).all(|r| r.2 == 409),
        "{results:?}"
    );
    let order = app
        .get(&format!("/api/v1/orders/{oid}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(order["assignee_id"], winners[0].1.as_str());
    let accepted = order["offers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"] == "accepted")
        .count();
    assert_eq!(accepted, 1);
    let events = app
        .get(&format!("/api/v1/orders/{oid}/events"), &s.admin)
        .await
        .expect(200);
    assert_eq!(
        actions(&events).iter().filter(|a| *a == "accepted").count(),
        1
    );
}

#[tokio::test]
async fn capacity_never_goes_below_zero_under_concurrent_acceptance() {
    let app = Arc::new(TestApp::spawn().await);
    let s = street(&app, 0).await;
    let unit = id(&app.unit(&[&s.id], "红色物业").await);
    let unit_token = app.token(RoleKind::Unit, None, Some(&unit), None).await;
    let resource = id(&app
        .post(
            "/api/v1/resources",
            &unit_token,
            json!({"title": "维修队", "category": "repair", "capacity": 3, "street_ids": [s.id]}),
        )
        .await
        .expect(201));
    let mut orders = vec![];
    for _ in 0..10 {
        let d = repair_demand(&app, &s).await;
        let o = app
            .post(
                &format!("/api/v1/demands/{d}/dispatch"),
                &s.admin,
                json!({"offer_count": 1}),
            )
            .await
            .expect(201);
        assert_eq!(o["offers"][0]["candidate_id"], resource.as_str());
        orders.push(id(&o));
    }
    let mut tasks = vec![];
    for oid in &orders {
        let (app, t, oid) = (app.clone(), unit_token.clone(), oid.clone());
        tasks.push(tokio::spawn(async move {
            let r = app
                .post(&format!("/api/v1/orders/{oid}/accept"), &t, json!({}))
                .await;
            (
                r.status.as_u16(),
                r.body["code"].as_str().unwrap_or("").to_string(),
            )
        }));
    }
    let mut results = vec![];
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(
        results.iter().filter(|r| r.0 == 200).count(),
        3,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter(|r| r.0 != 200)
            .all(|r| r == &(409, "no_capacity".to_string())),
        "{results:?}"
    );
    let r = app
        .get(&format!("/api/v1/resources/{resource}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(r["capacity_left"], 0);
    // Cancelling an accepted order gives the capacity back and reopens the demand.
    let accepted = app
        .get("/api/v1/orders?status=accepted", &s.admin)
        .await
        .expect(200);
    let oid = id(&accepted["items"][0]);
    let demand = accepted["items"][0]["demand_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/orders/{oid}/cancel"),
        &unit_token,
        json!({"reason": "x"}),
    )
    .await
    .problem(403, "forbidden", None);
    app.post(
        &format!("/api/v1/orders/{oid}/cancel"),
        &s.admin,
        json!({"reason": "居民改期"}),
    )
    .await
    .expect(200);
    assert_eq!(
        app.get(&format!("/api/v1/resources/{resource}"), &s.admin)
            .await
            .expect(200)["capacity_left"],
        1
    );
    assert_eq!(
        app.get(&format!("/api/v1/demands/{demand}"), &s.admin)
            .await
            .expect(200)["status"],
        "open"
    );
    app.post(
        &format!("/api/v1/orders/{oid}/accept"),
        &unit_token,
        json!({}),
    )
    .await
    .problem(409, "not_offered", None);
    // The cancel is on both timelines, with its reason.
    let order_events = app
        .get(&format!("/api/v1/orders/{oid}/events"), &s.admin)
        .await
        .expect(200);
    assert_eq!(actions(&order_events), ["offered", "accepted", "cancelled"]);
    assert_eq!(order_events["items"][2]["note"], "居民改期");
    let demand_events = app
        .get(&format!("/api/v1/demands/{demand}/events"), &s.admin)
        .await
        .expect(200);
    assert_eq!(
        actions(&demand_events),
        ["filed", "dispatched", "accepted", "reopened"]
    );
    assert_eq!(
        demand_events["items"][3]["note"],
        format!("order {oid} cancelled: 居民改期")
    );
    // The order nobody could take is still offered; cancelling it tells the unit why its
    // offer was withdrawn.
    let offered = app
        .get("/api/v1/orders?status=offered", &s.admin)
        .await
        .expect(200);
    let oid = id(&offered["items"][0]);
    let cancelled = app
        .post(
            &format!("/api/v1/orders/{oid}/cancel"),
            &s.admin,
            json!({"reason": "资源已满"}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled["offers"][0]["status"], "withdrawn");
    assert_eq!(cancelled["offers"][0]["reason"], "资源已满");
}

#[tokio::test]
async fn dispatch_needs_candidates_and_the_streets_admins() {
    let app = TestApp::spawn().await;
    let s = street(&app, 0).await;
    let demand = repair_demand(&app, &s).await;
    app.post(
        &format!("/api/v1/demands/{demand}/dispatch"),
        &s.grid_worker,
        json!({}),
    )
    .await
    .problem(403, "forbidden", None);
    app.post(
        &format!("/api/v1/demands/{demand}/dispatch"),
        &s.admin,
        json!({"offer_count": 11}),
    )
    .await
    .problem(422, "out_of_range", Some("offer_count"));
    app.post(
        &format!("/api/v1/demands/{demand}/dispatch"),
        &s.admin,
        json!({}),
    )
    .await
    .problem(409, "no_candidates", None);
    assert_eq!(
        app.get(&format!("/api/v1/demands/{demand}"), &s.admin)
            .await
            .expect(200)["status"],
        "open"
    );

    // Dispatched on filing with nobody to offer it to: filed open, and escalated at once.
    app.put(
        &format!("/api/v1/streets/{}/dispatch-settings/repair", s.id),
        &s.admin,
        json!({"auto_dispatch": true, "offer_count": 2, "accept_minutes": 30}),
    )
    .await
    .expect(200);
    let filed = repair_demand(&app, &s).await;
    assert_eq!(
        app.get(&format!("/api/v1/demands/{filed}"), &s.admin)
            .await
            .expect(200)["status"],
        "open"
    );
    assert_eq!(
        actions(
            &app.get(&format!("/api/v1/demands/{filed}/events"), &s.admin)
                .await
                .expect(200)
        ),
        ["filed", "escalated"]
    );
}

#[tokio::test]
async fn every_declined_candidate_leaves_the_order_unassigned() {
    let app = TestApp::spawn().await;
    let s = street(&app, 2).await;
    let demand = repair_demand(&app, &s).await;
    let oid = id(&app
        .post(
            &format!("/api/v1/demands/{demand}/dispatch"),
            &s.admin,
            json!({"offer_count": 1}),
        )
        .await
        .expect(201));
    for _ in 0..2 {
        let order = app
            .get(&format!("/api/v1/orders/{oid}"), &s.admin)
            .await
            .expect(200);
        let open = order["offers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["status"] == "open")
            .unwrap()["candidate_id"]
            .as_str()
            .unwrap()
            .to_string();
        app.post(
            &format!("/api/v1/orders/{oid}/decline"),
            token_of(&s, &open),
            json!({"reason": "没空"}),
        )
        .await
        .expect(200);
    }
    let order = app
        .get(&format!("/api/v1/orders/{oid}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(order["status"], "unassigned");
    let events = app
        .get(&format!("/api/v1/orders/{oid}/events"), &s.admin)
        .await
        .expect(200);
    let all = actions(&events);
    assert_eq!(all[all.len() - 2..], ["unassigned", "escalated"]);
    let note = events["items"].as_array().unwrap().last().unwrap()["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains("candidates ran out") && note.contains("district"),
        "{note}"
    );
    let demand_events = app
        .get(&format!("/api/v1/demands/{demand}/events"), &s.admin)
        .await
        .expect(200);
    assert_eq!(actions(&demand_events).last().unwrap(), "escalated");

    // While an order is still offered, the demand is not dispatched again.
    let other = repair_demand(&app, &s).await;
    app.post(
        &format!("/api/v1/demands/{other}/dispatch"),
        &s.admin,
        json!({}),
    )
    .await
    .expect(201);
    app.post(
        &format!("/api/v1/demands/{other}/dispatch"),
        &s.admin,
        json!({}),
    )
    .await
    .problem(409, "not_open", None);

    // The street finds another volunteer and dispatches the demand again in one step: the
    // ran-out order is cancelled, and those who declined are not asked again.
    let newcomer = id(&app
        .post("/api/v1/volunteers", &app.admin, json!({"name": "新志愿者", "phone": "13800002222", "home_grid_id": s.grid, "skills": ["维修"]}))
        .await
        .expect(201));
    let again = app
        .post(
            &format!("/api/v1/demands/{demand}/dispatch"),
            &s.admin,
            json!({"offer_count": 3}),
        )
        .await
        .expect(201);
    assert_ne!(id(&again), oid);
    let offered: Vec<&str> = again["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["candidate_id"].as_str().unwrap())
        .collect();
    assert_eq!(offered, [newcomer.as_str()]);
    let old = app
        .get(&format!("/api/v1/orders/{oid}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(old["status"], "cancelled");
    let d = app
        .get(&format!("/api/v1/demands/{demand}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(d["status"], "dispatched");
    let demand_events = app
        .get(&format!("/api/v1/demands/{demand}/events"), &s.admin)
        .await
        .expect(200);
    let all = actions(&demand_events);
    assert_eq!(all[all.len() - 2..], ["reopened", "dispatched"]);
}

/// Dispatches, accepts, starts and completes an order; returns (order id, demand id, assignee).
async fn completed_order(app: &TestApp, s: &Street) -> (String, String, String) {
    let demand = repair_demand(app, s).await;
    let order = app
        .post(
            &format!("/api/v1/demands/{demand}/dispatch"),
            &s.admin,
            json!({"offer_count": 1}),
        )
        .await
        .expect(201);
    let oid = id(&order);
    let who = order["offers"][0]["candidate_id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = token_of(s, &who).to_string();
    app.post(&format!("/api/v1/orders/{oid}/accept"), &t, json!({}))
        .await
        .expect(200);
    app.post(&format!("/api/v1/orders/{oid}/start"), &t, json!({}))
        .await
        .expect(200);
    let done = app
        .post(
            &format!("/api/v1/orders/{oid}/complete"),
            &t,
            json!({"service_minutes": 90}),
        )
        .await
        .expect(200);
    assert_eq!(done["points"], 1.5, "one point per hour");
    (oid, demand, who)
}

#[tokio::test]
async fn residents_rate_through_staff_or_a_one_time_link() {
    let app = TestApp::spawn().await;
    let s = street(&app, 2).await;
    let (oid, demand, who) = completed_order(&app, &s).await;
    let volunteer = token_of(&s, &who).to_string();
    app.post(
        &format!("/api/v1/orders/{oid}/rating"),
        &volunteer,
        json!({"rating": 5}),
    )
    .await
    .problem(403, "forbidden", None);
    app.post(
        &format!("/api/v1/orders/{oid}/rating"),
        &s.grid_worker,
        json!({"rating": 6}),
    )
    .await
    .problem(422, "out_of_range", Some("rating"));
    let rated = app
        .post(
            &format!("/api/v1/orders/{oid}/rating"),
            &s.grid_worker,
            json!({"rating": 5, "comment": "很及时"}),
        )
        .await
        .expect(200);
    assert_eq!(rated["flagged"], false);
    app.post(
        &format!("/api/v1/orders/{oid}/rating"),
        &s.admin,
        json!({"rating": 4}),
    )
    .await
    .problem(409, "not_ratable", None);
    let order = app
        .get(&format!("/api/v1/orders/{oid}"), &s.admin)
        .await
        .expect(200);
    assert_eq!(
        (order["rating"].as_i64(), order["rating_comment"].as_str()),
        (Some(5), Some("很及时"))
    );

    // The resident's own link: no account, one use, and a low rating flags the demand.
    let (oid2, demand2, _) = completed_order(&app, &s).await;
    let link = app
        .post(
            &format!("/api/v1/orders/{oid2}/feedback-link"),
            &s.grid_worker,
            json!({}),
        )
        .await
        .expect(201);
    let path = link["path"].as_str().unwrap().to_string();
    let view = app
        .call(axum::http::Method::GET, &path, None, None)
        .await
        .expect(200);
    assert_eq!(view["rated"], false);
    assert!(
        view.get("resident").is_none() && view["served_by"].is_string(),
        "{view}"
    );
    let rated = app
        .call(
            axum::http::Method::POST,
            &path,
            None,
            Some(json!({"rating": 2, "comment": "迟到两小时"})),
        )
        .await
        .expect(200);
    assert_eq!(rated["flagged"], true);
    app.call(
        axum::http::Method::POST,
        &path,
        None,
        Some(json!({"rating": 5})),
    )
    .await
    .problem(409, "link_used", None);
    // The order is rated: no further link is issued, since every use of it would fail.
    app.post(
        &format!("/api/v1/orders/{oid2}/feedback-link"),
        &s.grid_worker,
        json!({}),
    )
    .await
    .problem(409, "not_ratable", None);
    app.call(
        axum::http::Method::GET,
        "/api/v1/feedback/gj_not_a_link",
        None,
        None,
    )
    .await
    .problem(404, "not_found", None);
    let flagged = app
        .get("/api/v1/demands?flagged=true", &s.admin)
        .await
        .expect(200);
    let ids: Vec<&str> = flagged["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [demand2.as_str()]);
    let events = app
        .get(&format!("/api/v1/demands/{demand2}/events"), &s.admin)
        .await
        .expect(200);
    assert_eq!(actions(&events).last().unwrap(), "flagged");
    assert!(!app
        .get(&format!("/api/v1/demands/{demand}"), &s.admin)
        .await
        .expect(200)["flagged"]
        .as_bool()
        .unwrap());
    // A link for an order not yet completed is refused.
    let d3 = repair_demand(&app, &s).await;
    let o3 = id(&app
        .post(
            &format!("/api/v1/demands/{d3}/dispatch"),
            &s.admin,
            json!({}),
        )
        .await
        .expect(201));
    app.post(
        &format!("/api/v1/orders/{o3}/feedback-link"),
        &s.admin,
        json!({}),
    )
    .await
    .problem(409, "not_ratable", None);
}

#[tokio::test]
async fn the_streets_figures() {
    let app = TestApp::spawn().await;
    let s = street(&app, 2).await;
    let from = "2000-01-01T00:00:00Z";
    let to = "2100-01-01T00:00:00Z";
    // d1: completed the same day, rated 5.
    let (o1, _, _) = completed_order(&app, &s).await;
    app.post(
        &format!("/api/v1/orders/{o1}/rating"),
        &s.grid_worker,
        json!({"rating": 5}),
    )
    .await
    .expect(200);
    // d2: completed after the window it asked for, rated 2; another resident.
    let mut late = demand_body(&s.grid);
    late["category"] = json!("repair");
    late["resident"]["phone"] = json!("13700000002");
    late["window_start"] = json!("2000-01-01T08:00:00+08:00");
    late["window_end"] = json!("2000-01-01T10:00:00+08:00");
    let d2 = id(&app
        .post("/api/v1/demands", &s.grid_worker, late)
        .await
        .expect(201));
    let o2 = app
        .post(
            &format!("/api/v1/demands/{d2}/dispatch"),
            &s.admin,
            json!({"offer_count": 2}),
        )
        .await
        .expect(201);
    let who = o2["offers"][0]["candidate_id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = token_of(&s, &who).to_string();
    let o2 = id(&o2);
    // The window is over, so nobody's weekly availability matters: both volunteers declared none.
    for step in ["accept", "start"] {
        app.post(&format!("/api/v1/orders/{o2}/{step}"), &t, json!({}))
            .await
            .expect(200);
    }
    app.post(
        &format!("/api/v1/orders/{o2}/complete"),
        &t,
        json!({"service_minutes": 60}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/orders/{o2}/rating"),
        &s.grid_worker,
        json!({"rating": 2}),
    )
    .await
    .expect(200);
    // d3: dispatched, not accepted; another resident.
    let mut third = demand_body(&s.grid);
    third["category"] = json!("repair");
    third["resident"]["phone"] = json!("13700000003");
    third.as_object_mut().unwrap().remove("window_start");
    third.as_object_mut().unwrap().remove("window_end");
    let d3 = id(&app
        .post("/api/v1/demands", &s.grid_worker, third)
        .await
        .expect(201));
    app.post(
        &format!("/api/v1/demands/{d3}/dispatch"),
        &s.admin,
        json!({"offer_count": 1}),
    )
    .await
    .expect(201);
    // d4: not dispatched; the first resident again, same category: a repeat.
    repair_demand(&app, &s).await;

    let stats = app
        .get(&format!("/api/v1/stats?from={from}&to={to}"), &s.admin)
        .await
        .expect(200);
    let t = &stats["total"];
    assert_eq!(
        (
            t["received"].as_u64(),
            t["dispatched"].as_u64(),
            t["accepted"].as_u64(),
            t["completed"].as_u64()
        ),
        (Some(4), Some(3), Some(2), Some(2)),
        "{stats}"
    );
    assert_eq!(t["completion_rate"], 0.5);
    assert_eq!(t["on_time_rate"], 0.5, "{t}");
    assert_eq!(
        (t["rated"].as_u64(), t["satisfaction_rate"].as_f64()),
        (Some(2), Some(0.5))
    );
    assert_eq!(t["repeat_demands"], 1);
    assert!(t["median_minutes_to_accept"].as_f64().unwrap() >= 0.0);
    assert_eq!(stats["rows"].as_array().unwrap().len(), 1);
    assert_eq!(stats["rows"][0]["key"], s.id.as_str());
    assert_eq!(stats["rows"][0]["received"], 4);

    let by_volunteer = app
        .get(
            &format!("/api/v1/stats?from={from}&to={to}&group_by=volunteer"),
            &s.admin,
        )
        .await
        .expect(200);
    let completed: u64 = by_volunteer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["completed"].as_u64().unwrap())
        .sum();
    assert_eq!(completed, 2);
    assert!(by_volunteer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["label"].as_str().unwrap().starts_with("志愿者")));

    let csv = app
        .get(
            &format!("/api/v1/stats?from={from}&to={to}&group_by=category&format=csv"),
            &s.grid_worker,
        )
        .await;
    assert!(csv.headers[axum::http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.body.as_str().unwrap().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("key,label,received,dispatched,accepted,completed,completion_rate")
    );
    assert!(
        lines[1].starts_with("repair,repair,4,3,2,2,0.5000,0.5000,2,0.5000,"),
        "{text}"
    );
    assert!(lines[2].starts_with("total,total,4,"), "{text}");

    // Scope, access and bad ranges.
    let other = id(&app.street("other").await);
    let other_admin = app
        .token(RoleKind::StreetAdmin, Some(&other), None, None)
        .await;
    let theirs = app
        .get(&format!("/api/v1/stats?from={from}&to={to}"), &other_admin)
        .await
        .expect(200);
    assert_eq!(theirs["total"]["received"], 0);
    assert_eq!(
        app.get(&format!("/api/v1/stats?from={from}&to={to}"), &app.admin)
            .await
            .expect(200)["total"]["received"],
        4
    );
    app.get(
        &format!("/api/v1/stats?from={from}&to={to}"),
        &s.volunteers[0].1,
    )
    .await
    .problem(403, "forbidden", None);
    app.get(&format!("/api/v1/stats?from={to}&to={from}"), &s.admin)
        .await
        .problem(400, "invalid_query", Some("to"));
    app.get(
        &format!("/api/v1/stats?from={from}&to={to}&format=xml"),
        &s.admin,
    )
    .await
    .problem(400, "invalid_query", Some("format"));
    app.get(&format!("/api/v1/stats?from={from}"), &s.admin)
        .await
        .problem(400, "invalid_query", Some("to"));
    // A range ending in the last year time can name: its local dates would not exist.
    for end in ["9999-12-31T23:00:00Z", "9999-01-01T00:00:00Z"] {
        app.get(&format!("/api/v1/stats?from={from}&to={end}"), &s.admin)
            .await
            .problem(400, "invalid_query", Some("to"));
    }
    app.get(
        &format!("/api/v1/stats?from={from}&to=9998-12-31T15:59:59Z"),
        &s.admin,
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn the_whole_loop_with_the_streets_plugin() {
    let app = TestApp::spawn().await;
    let s = street(&app, 3).await;
    // The street's rule: fewest open orders first, with its own reason.
    let rule = r#"
        fn score(c, d, config) {
            if c.kind != "volunteer" || !c.has_room() { return (); }
            #{ score: 10.0 - c.open_orders, reason: `街道规则：在办 ${c.open_orders}` }
        }"#;
    let v = app
        .post(
            &format!("/api/v1/streets/{}/plugins", s.id),
            &s.admin,
            json!({"kind": "rhai", "source": rule}),
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

    let demand = repair_demand(&app, &s).await;
    let order = app
        .post(
            &format!("/api/v1/demands/{demand}/dispatch"),
            &s.admin,
            json!({"offer_count": 1}),
        )
        .await
        .expect(201);
    let oid = id(&order);
    assert_eq!(order["rule"]["kind"], "rhai");
    assert_eq!(order["rule"]["version_id"], v["id"]);
    assert_eq!(order["rule"]["content_hash"], v["content_hash"]);
    // The order names the numbered version that ranked it, as a match does.
    assert_eq!(order["rule"]["version_number"], v["number"], "{order}");
    assert!(order["rule"]["version_number"].is_i64(), "{v}");
    assert!(
        order["ranking"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["reason"] == "街道规则：在办 0"),
        "{order}"
    );
    let first = order["offers"][0]["candidate_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/orders/{oid}/decline"),
        token_of(&s, &first),
        json!({"reason": "不在家"}),
    )
    .await
    .expect(200);
    let now = app
        .get(&format!("/api/v1/orders/{oid}"), &s.admin)
        .await
        .expect(200);
    let second = now["offers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"] == "open")
        .unwrap()["candidate_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second, "re-offered to the next candidate");
    let t = token_of(&s, &second).to_string();
    app.post(&format!("/api/v1/orders/{oid}/accept"), &t, json!({}))
        .await
        .expect(200);
    app.post(&format!("/api/v1/orders/{oid}/start"), &t, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/api/v1/orders/{oid}/complete"),
        &t,
        json!({"service_minutes": 45}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/orders/{oid}/rating"),
        &s.grid_worker,
        json!({"rating": 4}),
    )
    .await
    .expect(200);

    let stats = app
        .get(
            "/api/v1/stats?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&group_by=volunteer",
            &s.admin,
        )
        .await
        .expect(200);
    let row = stats["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == second.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (
            row["received"].as_u64(),
            row["completed"].as_u64(),
            row["rated"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(row["satisfaction_rate"], 1.0);
    assert_eq!(stats["total"]["completion_rate"], 1.0);
    let events = app
        .get(&format!("/api/v1/orders/{oid}/events"), &s.admin)
        .await
        .expect(200);
    assert_eq!(
        actions(&events),
        [
            "offered",
            "declined",
            "offered",
            "accepted",
            "started",
            "completed",
            "rated"
        ]
    );
    assert!(events["items"][0]["note"]
        .as_str()
        .unwrap()
        .starts_with("ranked by rhai v1"));
}
