//! Every collection's operations: create, read, update, list with filters, delete or archive.

use gongjian_core::domain::access::RoleKind;
use serde_json::json;

use crate::helpers::{demand_body, id, TestApp};

fn ids(page: &serde_json::Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(id).collect()
}

#[tokio::test]
async fn streets_communities_grids_and_categories() {
    let app = TestApp::spawn().await;
    let t = app.admin.clone();
    let street = app.street("shixi").await;
    let sid = id(&street);
    assert_eq!(street["name"], "shixi街道");
    assert_eq!(
        app.get(&format!("/api/v1/streets/{sid}"), &t)
            .await
            .expect(200)["code"],
        "shixi"
    );
    let updated = app
        .patch(
            &format!("/api/v1/streets/{sid}"),
            &t,
            json!({"name": "市西街道"}),
        )
        .await
        .expect(200);
    assert_eq!(updated["name"], "市西街道");
    assert_eq!(updated["code"], "shixi", "untouched fields stay");
    app.street("pengli").await;
    let other_district = app
        .post(
            "/api/v1/streets",
            &t,
            json!({"name": "黛溪街道", "code": "daixi", "district": "邹平市"}),
        )
        .await
        .expect(201);
    let listed = app
        .get("/api/v1/streets?district=%E9%82%B9%E5%B9%B3%E5%B8%82", &t)
        .await
        .expect(200);
    assert_eq!(ids(&listed), [id(&other_district)]);

    let c1 = id(&app.community(&sid, "魏鑫社区").await);
    let c2 = id(&app.community(&sid, "许家社区").await);
    let g1 = app.grid(&sid, &c1, "g01").await;
    assert_eq!(g1["households"], 420);
    let g2 = id(&app.grid(&sid, &c2, "g02").await);
    let in_c2 = app
        .get(
            &format!("/api/v1/streets/{sid}/grids?community_id={c2}"),
            &t,
        )
        .await
        .expect(200);
    assert_eq!(ids(&in_c2), [g2.as_str()]);
    let moved = app
        .patch(
            &format!("/api/v1/streets/{sid}/grids/{}", id(&g1)),
            &t,
            json!({"community_id": c2, "households": null}),
        )
        .await
        .expect(200);
    assert_eq!(moved["community_id"], c2.as_str());
    assert!(
        moved["households"].is_null(),
        "null clears an optional field"
    );
    assert_eq!(moved["code"], "g01");
    let renamed = app
        .patch(
            &format!("/api/v1/streets/{sid}/communities/{c1}"),
            &t,
            json!({"name": "魏鑫新社区"}),
        )
        .await
        .expect(200);
    assert_eq!(renamed["name"], "魏鑫新社区");
    // c1 has no grids now, so it can go; a grid in use by a volunteer cannot.
    app.delete(&format!("/api/v1/streets/{sid}/communities/{c1}"), &t)
        .await
        .expect(204);
    app.volunteer(&g2, "刘洋").await;
    app.delete(&format!("/api/v1/streets/{sid}/grids/{g2}"), &t)
        .await
        .problem(409, "in_use", None);
    app.delete(&format!("/api/v1/streets/{sid}/grids/{}", id(&g1)), &t)
        .await
        .expect(204);
    app.get(&format!("/api/v1/streets/{sid}/grids/{}", id(&g1)), &t)
        .await
        .problem(404, "not_found", None);
    // A grid of another street is not found under this one.
    let other = id(&app.street("other").await);
    app.get(&format!("/api/v1/streets/{other}/grids/{g2}"), &t)
        .await
        .problem(404, "not_found", None);

    let cats = app
        .get(&format!("/api/v1/streets/{sid}/categories"), &t)
        .await
        .expect(200);
    assert_eq!(cats["items"].as_array().unwrap().len(), 9);
    app.post(
        &format!("/api/v1/streets/{sid}/categories"),
        &t,
        json!({"code": "psychology", "label": "心理疏导"}),
    )
    .await
    .expect(201);
    app.post(
        &format!("/api/v1/streets/{sid}/categories"),
        &t,
        json!({"code": "medical", "label": "x"}),
    )
    .await
    .problem(409, "already_exists", Some("code"));
    let cats = app
        .get(&format!("/api/v1/streets/{sid}/categories"), &t)
        .await
        .expect(200);
    let last = cats["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last,
        json!({"code": "psychology", "label": "心理疏导", "builtin": false})
    );
    // The street's own category is usable in that street only.
    let d = demand_body(&g2);
    let mut d2 = d.clone();
    d2["category"] = json!("psychology");
    app.post("/api/v1/demands", &t, d2).await.expect(201);
    let og = id(&app
        .grid(&other, &id(&app.community(&other, "外社区").await), "g01")
        .await);
    let mut d3 = demand_body(&og);
    d3["category"] = json!("psychology");
    app.post("/api/v1/demands", &t, d3)
        .await
        .problem(422, "unknown_category", Some("category"));
}

#[tokio::test]
async fn units_register_update_link_and_archive() {
    let app = TestApp::spawn().await;
    let t = app.admin.clone();
    let a = id(&app.street("shixi").await);
    let b = id(&app.street("pengli").await);
    let unit = app.unit(&[&a], "滨州市人民医院").await;
    let uid = id(&unit);
    assert_eq!(unit["street_ids"], json!([a]));
    assert_eq!(unit["kind"], "hospital");
    let school = app
        .post("/api/v1/units", &t, json!({"name": "滨州实验学校", "kind": "school", "contact_name": "陈老师",
            "contact_phone": "13600001111", "street_ids": [a, b], "address": "黄河五路", "description": "四点半课堂"}))
        .await
        .expect(201);
    let updated = app
        .patch(
            &format!("/api/v1/units/{uid}"),
            &t,
            json!({"contact_phone": "13700002222", "street_ids": [a, b], "address": null}),
        )
        .await
        .expect(200);
    assert_eq!(updated["contact_phone"], "13700002222");
    assert_eq!(updated["street_ids"].as_array().unwrap().len(), 2);
    let in_b = app
        .get(&format!("/api/v1/units?street_id={b}"), &t)
        .await
        .expect(200);
    assert_eq!(ids(&in_b).len(), 2);
    let schools = app.get("/api/v1/units?kind=school", &t).await.expect(200);
    assert_eq!(ids(&schools), [id(&school)]);
    app.post("/api/v1/units", &t, json!({"name": "x", "kind": "school", "contact_name": "c", "contact_phone": "13600001111", "street_ids": []}))
        .await
        .problem(422, "required", Some("street_ids"));
    app.post("/api/v1/units", &t, json!({"name": "x", "kind": "school", "contact_name": "c", "contact_phone": "13600001111", "street_ids": [uuid::Uuid::now_v7()]}))
        .await
        .problem(422, "unknown_reference", Some("street_ids[0]"));

    let unit_token = app.token(RoleKind::Unit, None, Some(&uid), None).await;
    app.get("/api/v1/me", &unit_token).await.expect(200);
    app.delete(&format!("/api/v1/units/{uid}"), &t)
        .await
        .expect(204);
    let listed = app.get("/api/v1/units", &t).await.expect(200);
    assert_eq!(ids(&listed), [id(&school)], "archived units are not listed");
    let all = app
        .get("/api/v1/units?include_archived=true", &t)
        .await
        .expect(200);
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert!(app
        .get(&format!("/api/v1/units/{uid}"), &t)
        .await
        .expect(200)["archived_at"]
        .is_string());
    app.get("/api/v1/me", &unit_token)
        .await
        .problem(401, "invalid_token", None);
}

#[tokio::test]
async fn volunteers_register_filter_update_and_archive() {
    let app = TestApp::spawn().await;
    let t = app.admin.clone();
    let s = id(&app.street("shixi").await);
    let c = id(&app.community(&s, "魏鑫社区").await);
    let g1 = id(&app.grid(&s, &c, "g01").await);
    let g2 = id(&app.grid(&s, &c, "g02").await);
    let v = app.volunteer(&g1, "张志强").await;
    let vid = id(&v);
    assert_eq!(v["street_id"], s.as_str());
    assert_eq!(v["max_open_orders"], 3);
    assert_eq!(v["active"], true);
    assert_eq!(
        v["availability"],
        json!([{"day": "sat", "start": "08:00", "end": "12:00"}])
    );
    let w = app
        .post("/api/v1/volunteers", &t, json!({"name": "王芳", "phone": "13811112222", "home_grid_id": g2, "skills": ["法律"], "max_open_orders": 1}))
        .await
        .expect(201);
    assert_eq!(w["party_member"], false);
    assert!(w["team"].is_null());
    let by_skill = app
        .get("/api/v1/volunteers?skill=%E6%B3%95%E5%BE%8B", &t)
        .await
        .expect(200);
    assert_eq!(ids(&by_skill), [id(&w)]);
    let by_grid = app
        .get(&format!("/api/v1/volunteers?grid_id={g1}"), &t)
        .await
        .expect(200);
    assert_eq!(ids(&by_grid), [vid.as_str()]);
    let party = app
        .get("/api/v1/volunteers?party_member=true", &t)
        .await
        .expect(200);
    assert_eq!(ids(&party), [vid.as_str()]);
    let patched = app
        .patch(
            &format!("/api/v1/volunteers/{vid}"),
            &t,
            json!({"home_grid_id": g2, "active": false, "team": null}),
        )
        .await
        .expect(200);
    assert_eq!(patched["home_grid_id"], g2.as_str());
    assert_eq!(patched["active"], false);
    assert!(patched["team"].is_null());
    let active = app
        .get("/api/v1/volunteers?active=true", &t)
        .await
        .expect(200);
    assert_eq!(ids(&active), [id(&w)]);
    // A home grid in another street is refused.
    let other = id(&app.street("other").await);
    let og = id(&app
        .grid(&other, &id(&app.community(&other, "外").await), "g01")
        .await);
    app.patch(
        &format!("/api/v1/volunteers/{vid}"),
        &t,
        json!({"home_grid_id": og}),
    )
    .await
    .problem(422, "other_street", Some("home_grid_id"));
    app.post(
        "/api/v1/volunteers",
        &t,
        json!({"name": "x", "phone": "13811112222", "home_grid_id": g1, "max_open_orders": -1}),
    )
    .await
    .problem(422, "out_of_range", Some("max_open_orders"));
    app.delete(&format!("/api/v1/volunteers/{vid}"), &t)
        .await
        .expect(204);
    assert_eq!(
        ids(&app.get("/api/v1/volunteers", &t).await.expect(200)),
        [id(&w)]
    );
}

#[tokio::test]
async fn resources_register_capacity_and_archive() {
    let app = TestApp::spawn().await;
    let t = app.admin.clone();
    let s = id(&app.street("shixi").await);
    let c = id(&app.community(&s, "魏鑫社区").await);
    let g1 = id(&app.grid(&s, &c, "g01").await);
    let g2 = id(&app.grid(&s, &c, "g02").await);
    let unit = id(&app.unit(&[&s], "人民医院").await);
    let vol = id(&app.volunteer(&g1, "张志强").await);
    let r = app
        .post("/api/v1/resources", &t, json!({"owner_unit_id": unit, "title": "免费体检", "category": "medical",
            "tags": ["体检", "老人"], "capacity": 30, "street_ids": [s], "served_grid_ids": [g1],
            "available_from": "2026-05-01T08:00:00+08:00", "available_until": "2026-06-01T08:00:00+08:00"}))
        .await
        .expect(201);
    let rid = id(&r);
    assert_eq!(r["capacity_left"], 30);
    assert_eq!(r["status"], "active");
    assert_eq!(r["available_from"], "2026-05-01T00:00:00.000000Z");
    // A volunteer's resource serves the volunteer's street by default.
    let vr = app
        .post("/api/v1/resources", &t, json!({"owner_volunteer_id": vol, "title": "上门维修", "category": "repair", "capacity": 5}))
        .await
        .expect(201);
    assert_eq!(vr["street_ids"], json!([s]));
    assert_eq!(vr["owner_volunteer_id"], vol.as_str());

    let by_cat = app
        .get("/api/v1/resources?category=medical", &t)
        .await
        .expect(200);
    assert_eq!(ids(&by_cat), [rid.as_str()]);
    let by_tag = app
        .get("/api/v1/resources?tag=%E4%BD%93%E6%A3%80", &t)
        .await
        .expect(200);
    assert_eq!(ids(&by_tag), [rid.as_str()]);
    let in_g2 = app
        .get(&format!("/api/v1/resources?grid_id={g2}"), &t)
        .await
        .expect(200);
    assert_eq!(
        ids(&in_g2),
        [id(&vr)],
        "a resource with no grids serves every grid of its streets"
    );
    let by_owner = app
        .get(&format!("/api/v1/resources?owner_volunteer_id={vol}"), &t)
        .await
        .expect(200);
    assert_eq!(ids(&by_owner), [id(&vr)]);

    let grown = app
        .patch(
            &format!("/api/v1/resources/{rid}"),
            &t,
            json!({"capacity": 40, "status": "paused"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (grown["capacity"].as_i64(), grown["capacity_left"].as_i64()),
        (Some(40), Some(40))
    );
    assert_eq!(grown["status"], "paused");
    // Simulate 35 in use, then shrinking below that is refused and nothing changes.
    sqlx::query("UPDATE resources SET capacity_left = 5 WHERE id = $1")
        .bind(&rid)
        .execute(app.db.write())
        .await
        .unwrap();
    app.patch(
        &format!("/api/v1/resources/{rid}"),
        &t,
        json!({"capacity": 30}),
    )
    .await
    .problem(409, "capacity_in_use", Some("capacity"));
    let shrunk = app
        .patch(
            &format!("/api/v1/resources/{rid}"),
            &t,
            json!({"capacity": 36}),
        )
        .await
        .expect(200);
    assert_eq!(shrunk["capacity_left"], 1);

    // Placement is checked: grids must lie in the streets served, categories must exist.
    let other = id(&app.street("other").await);
    let og = id(&app
        .grid(&other, &id(&app.community(&other, "外").await), "g01")
        .await);
    app.patch(
        &format!("/api/v1/resources/{rid}"),
        &t,
        json!({"served_grid_ids": [og]}),
    )
    .await
    .problem(422, "other_street", Some("served_grid_ids[0]"));
    app.post("/api/v1/resources", &t, json!({"owner_unit_id": unit, "title": "x", "category": "nope", "capacity": 1, "street_ids": [s]}))
        .await
        .problem(422, "unknown_category", Some("category"));
    app.post("/api/v1/resources", &t, json!({"owner_unit_id": unit, "owner_volunteer_id": vol, "title": "x", "category": "medical", "capacity": 1, "street_ids": [s]}))
        .await
        .problem(422, "conflicting", Some("owner_volunteer_id"));
    app.post("/api/v1/resources", &t, json!({"owner_unit_id": unit, "title": "x", "category": "medical", "capacity": 0, "street_ids": [s]}))
        .await
        .problem(422, "out_of_range", Some("capacity"));

    app.delete(&format!("/api/v1/resources/{rid}"), &t)
        .await
        .expect(204);
    assert_eq!(
        ids(&app.get("/api/v1/resources", &t).await.expect(200)),
        [id(&vr)]
    );
    let archived = app
        .get("/api/v1/resources?status=archived", &t)
        .await
        .expect(200);
    assert_eq!(ids(&archived), [rid.as_str()]);
    app.patch(
        &format!("/api/v1/resources/{rid}"),
        &t,
        json!({"status": "active"}),
    )
    .await
    .problem(409, "invalid_transition", Some("status"));
}

#[tokio::test]
async fn demands_file_filter_edit_and_cancel() {
    let app = TestApp::spawn().await;
    let t = app.admin.clone();
    let s = id(&app.street("shixi").await);
    let c = id(&app.community(&s, "魏鑫社区").await);
    let g1 = id(&app.grid(&s, &c, "g01").await);
    let g2 = id(&app.grid(&s, &c, "g02").await);
    let admin = app.token(RoleKind::StreetAdmin, Some(&s), None, None).await;
    let d = app.demand(&g1, &admin).await;
    let did = id(&d);
    assert_eq!(d["status"], "open");
    assert_eq!(d["street_id"], s.as_str());
    assert_eq!(d["window_start"], "2026-05-01T01:00:00.000000Z");
    assert_eq!(d["resident"]["phone"], "13912345678");
    let mut body = demand_body(&g2);
    body["category"] = json!("repair");
    body["channel"] = json!("grid_worker");
    body["urgency"] = json!(null);
    body.as_object_mut().unwrap().remove("urgency");
    let d2 = app.post("/api/v1/demands", &admin, body).await.expect(201);
    assert_eq!(d2["urgency"], "normal");

    let q = |query: &str| format!("/api/v1/demands?{query}");
    assert_eq!(
        ids(&app.get(&q("category=repair"), &admin).await.expect(200)),
        [id(&d2)]
    );
    assert_eq!(
        ids(&app
            .get(&q(&format!("grid_id={g1}")), &admin)
            .await
            .expect(200)),
        [did.as_str()]
    );
    assert_eq!(
        ids(&app.get(&q("channel=grid_worker"), &admin).await.expect(200)),
        [id(&d2)]
    );
    assert_eq!(
        ids(&app.get(&q("urgency=high"), &admin).await.expect(200)),
        [did.as_str()]
    );
    assert_eq!(
        ids(&app
            .get(&q("filed_from=2000-01-01T00:00:00Z"), &admin)
            .await
            .expect(200))
        .len(),
        2
    );
    assert_eq!(
        ids(&app
            .get(&q("filed_to=2000-01-01T00:00:00Z"), &admin)
            .await
            .expect(200))
        .len(),
        0
    );

    let edited = app
        .patch(
            &format!("/api/v1/demands/{did}"),
            &admin,
            json!({"urgency": "critical", "window_end": null}),
        )
        .await
        .expect(200);
    assert_eq!(edited["urgency"], "critical");
    assert!(edited["window_end"].is_null());
    assert_eq!(edited["description"], d["description"]);
    app.patch(
        &format!("/api/v1/demands/{did}"),
        &admin,
        json!({"status": "completed"}),
    )
    .await
    .problem(409, "invalid_transition", Some("status"));
    assert_eq!(
        app.patch(
            &format!("/api/v1/demands/{did}"),
            &admin,
            json!({"status": "cancelled"})
        )
        .await
        .expect(200)["status"],
        "cancelled"
    );
    assert_eq!(
        ids(&app.get(&q("status=cancelled"), &admin).await.expect(200)),
        [did.as_str()]
    );
    assert_eq!(
        app.patch(
            &format!("/api/v1/demands/{did}"),
            &admin,
            json!({"status": "open"})
        )
        .await
        .expect(200)["status"],
        "open"
    );
    // Demands are records: there is no delete.
    app.delete(&format!("/api/v1/demands/{did}"), &t)
        .await
        .problem(405, "method_not_allowed", None);
}

#[tokio::test]
async fn projects_draft_publish_claim_and_progress() {
    let app = TestApp::spawn().await;
    let s = id(&app.street("shixi").await);
    let c = id(&app.community(&s, "魏鑫社区").await);
    let g = id(&app.grid(&s, &c, "g01").await);
    let admin = app.token(RoleKind::StreetAdmin, Some(&s), None, None).await;
    let d = id(&app.demand(&g, &admin).await);
    let unit = id(&app.unit(&[&s], "红色物业").await);
    let rival = id(&app.unit(&[&s], "绿城物业").await);
    let r = id(&app
        .post("/api/v1/resources", &app.admin, json!({"owner_unit_id": unit, "title": "维修队", "category": "repair", "capacity": 3, "street_ids": [s]}))
        .await
        .expect(201));
    let p = app
        .post("/api/v1/projects", &admin, json!({"street_id": s, "title": "老旧小区扶手加装", "description": "为60岁以上老人楼道加装扶手",
            "goal": "50户", "budget_fen": 1200000, "demand_ids": [d], "resource_ids": [r]}))
        .await
        .expect(201);
    let pid = id(&p);
    assert_eq!(p["status"], "draft");
    assert_eq!(p["demand_ids"], json!([d]));
    assert_eq!(p["resource_ids"], json!([r]));
    let unit_token = app.token(RoleKind::Unit, None, Some(&unit), None).await;
    let rival_token = app.token(RoleKind::Unit, None, Some(&rival), None).await;
    app.post(
        &format!("/api/v1/projects/{pid}/claim"),
        &unit_token,
        json!({}),
    )
    .await
    .problem(404, "not_found", None);
    app.patch(
        &format!("/api/v1/projects/{pid}"),
        &admin,
        json!({"status": "done"}),
    )
    .await
    .problem(409, "invalid_transition", Some("status"));
    app.patch(
        &format!("/api/v1/projects/{pid}"),
        &admin,
        json!({"status": "published"}),
    )
    .await
    .expect(200);
    let claimed = app
        .post(
            &format!("/api/v1/projects/{pid}/claim"),
            &unit_token,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["claimed_by_unit_id"], unit.as_str());
    app.post(
        &format!("/api/v1/projects/{pid}/claim"),
        &rival_token,
        json!({}),
    )
    .await
    .problem(409, "not_claimable", None);
    app.patch(
        &format!("/api/v1/projects/{pid}"),
        &admin,
        json!({"status": "in_progress", "progress_note": "已完成20户"}),
    )
    .await
    .expect(200);
    let done = app
        .patch(
            &format!("/api/v1/projects/{pid}"),
            &admin,
            json!({"status": "done"}),
        )
        .await
        .expect(200);
    assert_eq!(done["progress_note"], "已完成20户");
    assert_eq!(
        ids(&app
            .get(
                &format!("/api/v1/projects?claimed_by_unit_id={unit}"),
                &admin
            )
            .await
            .expect(200)),
        [pid.as_str()]
    );
    app.delete(&format!("/api/v1/projects/{pid}"), &admin)
        .await
        .problem(409, "invalid_transition", None);
    // Links must belong to the street.
    let other = id(&app.street("other").await);
    let og = id(&app
        .grid(&other, &id(&app.community(&other, "外").await), "g01")
        .await);
    let od = id(&app
        .demand(
            &og,
            &app.token(RoleKind::GridWorker, Some(&other), None, None)
                .await,
        )
        .await);
    app.post(
        "/api/v1/projects",
        &admin,
        json!({"street_id": s, "title": "t", "description": "d", "goal": "g", "demand_ids": [od]}),
    )
    .await
    .problem(422, "unknown_reference", Some("demand_ids[0]"));
    let draft = id(&app
        .post(
            "/api/v1/projects",
            &admin,
            json!({"street_id": s, "title": "t", "description": "d", "goal": "g"}),
        )
        .await
        .expect(201));
    app.delete(&format!("/api/v1/projects/{draft}"), &admin)
        .await
        .expect(204);
    app.get(&format!("/api/v1/projects/{draft}"), &admin)
        .await
        .problem(404, "not_found", None);
}

#[tokio::test]
async fn concurrent_claims_have_one_winner() {
    let app = TestApp::spawn().await;
    let s = id(&app.street("shixi").await);
    let admin = app.token(RoleKind::StreetAdmin, Some(&s), None, None).await;
    let pid = id(&app
        .post(
            "/api/v1/projects",
            &admin,
            json!({"street_id": s, "title": "t", "description": "d", "goal": "g"}),
        )
        .await
        .expect(201));
    app.patch(
        &format!("/api/v1/projects/{pid}"),
        &admin,
        json!({"status": "published"}),
    )
    .await
    .expect(200);
    let mut tokens = vec![];
    for i in 0..8 {
        let u = id(&app.unit(&[&s], &format!("单位{i}")).await);
        tokens.push((
            u.clone(),
            app.token(RoleKind::Unit, None, Some(&u), None).await,
        ));
    }
    let app = std::sync::Arc::new(app);
    let mut handles = vec![];
    for (_, token) in tokens.clone() {
        let app = app.clone();
        let pid = pid.clone();
        handles.push(tokio::spawn(async move {
            app.post(&format!("/api/v1/projects/{pid}/claim"), &token, json!({}))
                .await
                .status
                .as_u16()
        }));
    }
    let mut statuses = vec![];
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    let p = app
        .get(&format!("/api/v1/projects/{pid}"), &admin)
        .await
        .expect(200);
    assert!(tokens
        .iter()
        .any(|(u, _)| p["claimed_by_unit_id"] == u.as_str()));
}

#[tokio::test]
async fn claimed_projects_report_progress_and_are_evaluated() {
    let app = TestApp::spawn().await;
    let s = id(&app.street("shixi").await);
    let admin = app.token(RoleKind::StreetAdmin, Some(&s), None, None).await;
    let unit = id(&app.unit(&[&s], "红色物业").await);
    let rival = id(&app.unit(&[&s], "绿城物业").await);
    let unit_token = app.token(RoleKind::Unit, None, Some(&unit), None).await;
    let rival_token = app.token(RoleKind::Unit, None, Some(&rival), None).await;
    let pid = id(&app
        .post("/api/v1/projects", &admin, json!({"street_id": s, "title": "楼道照明改造", "description": "14栋楼", "goal": "年底完成"}))
        .await
        .expect(201));
    let updates = format!("/api/v1/projects/{pid}/updates");
    app.patch(
        &format!("/api/v1/projects/{pid}"),
        &admin,
        json!({"status": "published"}),
    )
    .await
    .expect(200);
    app.post(&updates, &unit_token, json!({"note": "x"}))
        .await
        .problem(403, "forbidden", None);
    app.post(&updates, &admin, json!({"note": "x"}))
        .await
        .problem(409, "invalid_transition", None);
    app.post(
        &format!("/api/v1/projects/{pid}/claim"),
        &unit_token,
        json!({}),
    )
    .await
    .expect(200);
    app.post(&updates, &rival_token, json!({"note": "我们来做"}))
        .await
        .problem(403, "forbidden", None);
    app.post(&updates, &unit_token, json!({"note": ""}))
        .await
        .problem(422, "required", Some("note"));
    app.post(
        &format!("/api/v1/projects/{pid}/complete"),
        &admin,
        json!({"evaluation": "好", "score": 5}),
    )
    .await
    .problem(409, "invalid_transition", None);
    app.post(
        &updates,
        &unit_token,
        json!({"note": "已进场施工", "start": true}),
    )
    .await
    .expect(201);
    app.post(&updates, &unit_token, json!({"note": "完成8栋"}))
        .await
        .expect(201);
    let p = app
        .get(&format!("/api/v1/projects/{pid}"), &admin)
        .await
        .expect(200);
    assert_eq!(
        (p["status"].as_str(), p["progress_note"].as_str()),
        (Some("in_progress"), Some("完成8栋"))
    );
    let listed = app.get(&updates, &admin).await.expect(200);
    let notes: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["note"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["已进场施工", "完成8栋"]);
    app.post(
        &format!("/api/v1/projects/{pid}/complete"),
        &unit_token,
        json!({"evaluation": "好", "score": 5}),
    )
    .await
    .problem(403, "forbidden", None);
    app.post(
        &format!("/api/v1/projects/{pid}/complete"),
        &admin,
        json!({"evaluation": "好", "score": 6}),
    )
    .await
    .problem(422, "out_of_range", Some("score"));
    let done = app
        .post(
            &format!("/api/v1/projects/{pid}/complete"),
            &admin,
            json!({"evaluation": "按期完成，居民满意", "score": 5}),
        )
        .await
        .expect(200);
    assert_eq!(
        (done["status"].as_str(), done["evaluation_score"].as_i64()),
        (Some("done"), Some(5))
    );
    assert!(done["completed_at"].is_string());
    app.post(&updates, &unit_token, json!({"note": "补充"}))
        .await
        .problem(409, "invalid_transition", None);
}
