//! Each role's boundaries for every collection: what a caller of street A may do to street A's
//! records and to street B's, what it sees when listing, and who sees residents' personal data.

use std::collections::BTreeSet;

use axum::{
    body::Body,
    http::{header, Method, Request},
};
use gongjian_core::domain::access::RoleKind;
use serde_json::{json, Value};

use crate::helpers::{demand_body, id, TestApp, World};

struct Case {
    who: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    expect: u16,
}

fn case(
    who: &'static str,
    method: Method,
    path: impl Into<String>,
    body: Option<Value>,
    expect: u16,
) -> Case {
    Case {
        who,
        method,
        path: path.into(),
        body,
        expect,
    }
}

#[tokio::test]
async fn role_boundaries_for_every_collection() {
    use Method as M;
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let (a, b) = (&w.a, &w.b);
    let token = |who: &str| -> String {
        match who {
            "district" => app.admin.clone(),
            "admin" => a.admin.clone(),
            "grid_worker" => a.grid_worker.clone(),
            "unit" => a.unit_token.clone(),
            "volunteer" => a.volunteer_token.clone(),
            other => panic!("unknown caller {other}"),
        }
    };
    let unit_body = |streets: Vec<&str>| json!({"name": "新单位", "kind": "enterprise", "contact_name": "周", "contact_phone": "13500001111", "street_ids": streets});
    let vol_body =
        |grid: &str| json!({"name": "新志愿者", "phone": "13500002222", "home_grid_id": grid});
    let res_body = |unit: &str, street: &str| json!({"owner_unit_id": unit, "title": "法律咨询", "category": "legal", "capacity": 10, "street_ids": [street]});
    let proj_body =
        |street: &str| json!({"street_id": street, "title": "t", "description": "d", "goal": "g"});
    let tok_body = |role: &str, extra: Value| {
        let mut v = json!({"role": role, "name": "新令牌"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let demand_b = crate::helpers::demand_body(&b.grid);
    let demand_a = crate::helpers::demand_body(&a.grid);

    let cases = vec![
        // Streets and their areas: everyone reads; the street's admins (and the district) write.
        case(
            "unit",
            M::GET,
            format!("/api/v1/streets/{}", b.id),
            None,
            200,
        ),
        case(
            "volunteer",
            M::GET,
            format!("/api/v1/streets/{}/grids", b.id),
            None,
            200,
        ),
        case(
            "admin",
            M::PATCH,
            format!("/api/v1/streets/{}", a.id),
            Some(json!({"name": "市西街道"})),
            200,
        ),
        case(
            "admin",
            M::PATCH,
            format!("/api/v1/streets/{}", b.id),
            Some(json!({"name": "x"})),
            403,
        ),
        case(
            "grid_worker",
            M::PATCH,
            format!("/api/v1/streets/{}", a.id),
            Some(json!({"name": "x"})),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/streets",
            Some(json!({"name": "n", "code": "n", "district": "d"})),
            403,
        ),
        case(
            "unit",
            M::POST,
            "/api/v1/streets",
            Some(json!({"name": "n", "code": "n", "district": "d"})),
            403,
        ),
        case(
            "admin",
            M::POST,
            format!("/api/v1/streets/{}/communities", a.id),
            Some(json!({"name": "新社区"})),
            201,
        ),
        case(
            "admin",
            M::POST,
            format!("/api/v1/streets/{}/communities", b.id),
            Some(json!({"name": "新社区"})),
            403,
        ),
        case(
            "grid_worker",
            M::POST,
            format!("/api/v1/streets/{}/grids", a.id),
            Some(json!({"community_id": a.community, "code": "g9", "name": "n"})),
            403,
        ),
        case(
            "admin",
            M::DELETE,
            format!("/api/v1/streets/{}/grids/{}", b.id, b.grid),
            None,
            403,
        ),
        case(
            "admin",
            M::POST,
            format!("/api/v1/streets/{}/categories", b.id),
            Some(json!({"code": "c", "label": "l"})),
            403,
        ),
        // Units.
        case(
            "admin",
            M::GET,
            format!("/api/v1/units/{}", a.unit),
            None,
            200,
        ),
        case(
            "admin",
            M::GET,
            format!("/api/v1/units/{}", b.unit),
            None,
            404,
        ),
        case(
            "grid_worker",
            M::GET,
            format!("/api/v1/units/{}", a.unit),
            None,
            200,
        ),
        case(
            "unit",
            M::GET,
            format!("/api/v1/units/{}", a.unit),
            None,
            200,
        ),
        case(
            "unit",
            M::GET,
            format!("/api/v1/units/{}", b.unit),
            None,
            404,
        ),
        case(
            "volunteer",
            M::GET,
            format!("/api/v1/units/{}", a.unit),
            None,
            404,
        ),
        case("volunteer", M::GET, "/api/v1/units", None, 403),
        case(
            "unit",
            M::PATCH,
            format!("/api/v1/units/{}", a.unit),
            Some(json!({"contact_name": "李主任"})),
            200,
        ),
        case(
            "unit",
            M::PATCH,
            format!("/api/v1/units/{}", b.unit),
            Some(json!({"contact_name": "x"})),
            404,
        ),
        case(
            "grid_worker",
            M::PATCH,
            format!("/api/v1/units/{}", a.unit),
            Some(json!({"contact_name": "x"})),
            403,
        ),
        case(
            "admin",
            M::PATCH,
            format!("/api/v1/units/{}", a.unit),
            Some(json!({"street_ids": [a.id, b.id]})),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/units",
            Some(unit_body(vec![&a.id])),
            201,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/units",
            Some(unit_body(vec![&b.id])),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/units",
            Some(unit_body(vec![&a.id, &b.id])),
            403,
        ),
        case(
            "grid_worker",
            M::POST,
            "/api/v1/units",
            Some(unit_body(vec![&a.id])),
            403,
        ),
        case(
            "unit",
            M::POST,
            "/api/v1/units",
            Some(unit_body(vec![&a.id])),
            403,
        ),
        case(
            "admin",
            M::DELETE,
            format!("/api/v1/units/{}", b.unit),
            None,
            404,
        ),
        case(
            "unit",
            M::DELETE,
            format!("/api/v1/units/{}", a.unit),
            None,
            403,
        ),
        // Volunteers.
        case(
            "admin",
            M::GET,
            format!("/api/v1/volunteers/{}", a.volunteer),
            None,
            200,
        ),
        case(
            "admin",
            M::GET,
            format!("/api/v1/volunteers/{}", b.volunteer),
            None,
            404,
        ),
        case(
            "grid_worker",
            M::GET,
            format!("/api/v1/volunteers/{}", a.volunteer),
            None,
            200,
        ),
        case(
            "volunteer",
            M::GET,
            format!("/api/v1/volunteers/{}", a.volunteer),
            None,
            200,
        ),
        case(
            "volunteer",
            M::GET,
            format!("/api/v1/volunteers/{}", b.volunteer),
            None,
            404,
        ),
        case(
            "unit",
            M::GET,
            format!("/api/v1/volunteers/{}", a.volunteer),
            None,
            404,
        ),
        case("unit", M::GET, "/api/v1/volunteers", None, 403),
        case(
            "volunteer",
            M::PATCH,
            format!("/api/v1/volunteers/{}", a.volunteer),
            Some(json!({"phone": "13999990000"})),
            200,
        ),
        case(
            "volunteer",
            M::PATCH,
            format!("/api/v1/volunteers/{}", a.volunteer),
            Some(json!({"max_open_orders": 9})),
            403,
        ),
        case(
            "grid_worker",
            M::PATCH,
            format!("/api/v1/volunteers/{}", a.volunteer),
            Some(json!({"phone": "13999990000"})),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/volunteers",
            Some(vol_body(&a.grid)),
            201,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/volunteers",
            Some(vol_body(&b.grid)),
            403,
        ),
        case(
            "grid_worker",
            M::POST,
            "/api/v1/volunteers",
            Some(vol_body(&a.grid)),
            403,
        ),
        case(
            "volunteer",
            M::DELETE,
            format!("/api/v1/volunteers/{}", a.volunteer),
            None,
            403,
        ),
        case(
            "admin",
            M::DELETE,
            format!("/api/v1/volunteers/{}", b.volunteer),
            None,
            404,
        ),
        // Resources: what is on offer in a street is visible to all who work in it.
        case(
            "admin",
            M::GET,
            format!("/api/v1/resources/{}", a.resource),
            None,
            200,
        ),
        case(
            "admin",
            M::GET,
            format!("/api/v1/resources/{}", b.resource),
            None,
            404,
        ),
        case(
            "volunteer",
            M::GET,
            format!("/api/v1/resources/{}", a.resource),
            None,
            200,
        ),
        case(
            "unit",
            M::GET,
            format!("/api/v1/resources/{}", b.resource),
            None,
            404,
        ),
        case(
            "unit",
            M::PATCH,
            format!("/api/v1/resources/{}", a.resource),
            Some(json!({"capacity": 25})),
            200,
        ),
        case(
            "unit",
            M::PATCH,
            format!("/api/v1/resources/{}", b.resource),
            Some(json!({"capacity": 25})),
            404,
        ),
        case(
            "volunteer",
            M::PATCH,
            format!("/api/v1/resources/{}", a.resource),
            Some(json!({"capacity": 25})),
            403,
        ),
        case(
            "grid_worker",
            M::PATCH,
            format!("/api/v1/resources/{}", a.resource),
            Some(json!({"capacity": 25})),
            403,
        ),
        case(
            "unit",
            M::PATCH,
            format!("/api/v1/resources/{}", a.resource),
            Some(json!({"street_ids": [a.id, b.id]})),
            403,
        ),
        case(
            "unit",
            M::POST,
            "/api/v1/resources",
            Some(res_body(&a.unit, &a.id)),
            201,
        ),
        case(
            "unit",
            M::POST,
            "/api/v1/resources",
            Some(res_body(&a.unit, &b.id)),
            403,
        ),
        case(
            "unit",
            M::POST,
            "/api/v1/resources",
            Some(res_body(&b.unit, &b.id)),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/resources",
            Some(res_body(&a.unit, &a.id)),
            201,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/resources",
            Some(res_body(&b.unit, &b.id)),
            403,
        ),
        case(
            "grid_worker",
            M::POST,
            "/api/v1/resources",
            Some(res_body(&a.unit, &a.id)),
            403,
        ),
        case(
            "volunteer",
            M::POST,
            "/api/v1/resources",
            Some(json!({"title": "陪诊", "category": "medical", "capacity": 2})),
            201,
        ),
        case(
            "admin",
            M::DELETE,
            format!("/api/v1/resources/{}", b.resource),
            None,
            404,
        ),
        // Demands: filed by the street's staff; read by all who work in the street.
        case(
            "grid_worker",
            M::POST,
            "/api/v1/demands",
            Some(demand_a.clone()),
            201,
        ),
        case(
            "grid_worker",
            M::POST,
            "/api/v1/demands",
            Some(demand_b.clone()),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/demands",
            Some(demand_b.clone()),
            403,
        ),
        case(
            "unit",
            M::POST,
            "/api/v1/demands",
            Some(demand_a.clone()),
            403,
        ),
        case(
            "volunteer",
            M::POST,
            "/api/v1/demands",
            Some(demand_a.clone()),
            403,
        ),
        case(
            "admin",
            M::GET,
            format!("/api/v1/demands/{}", a.demand),
            None,
            200,
        ),
        case(
            "admin",
            M::GET,
            format!("/api/v1/demands/{}", b.demand),
            None,
            404,
        ),
        case(
            "grid_worker",
            M::GET,
            format!("/api/v1/demands/{}", b.demand),
            None,
            404,
        ),
        case(
            "unit",
            M::GET,
            format!("/api/v1/demands/{}", a.demand),
            None,
            200,
        ),
        case(
            "volunteer",
            M::GET,
            format!("/api/v1/demands/{}", b.demand),
            None,
            404,
        ),
        case(
            "grid_worker",
            M::PATCH,
            format!("/api/v1/demands/{}", a.demand),
            Some(json!({"urgency": "low"})),
            403,
        ),
        case(
            "admin",
            M::PATCH,
            format!("/api/v1/demands/{}", a.demand),
            Some(json!({"urgency": "low"})),
            200,
        ),
        case(
            "admin",
            M::PATCH,
            format!("/api/v1/demands/{}", b.demand),
            Some(json!({"urgency": "low"})),
            404,
        ),
        // Projects: drafts are the street staff's; units claim published ones of their streets.
        case(
            "unit",
            M::GET,
            format!("/api/v1/projects/{}", a.draft_project),
            None,
            404,
        ),
        case(
            "unit",
            M::GET,
            format!("/api/v1/projects/{}", a.published_project),
            None,
            200,
        ),
        case(
            "volunteer",
            M::GET,
            format!("/api/v1/projects/{}", a.draft_project),
            None,
            404,
        ),
        case(
            "grid_worker",
            M::GET,
            format!("/api/v1/projects/{}", a.draft_project),
            None,
            200,
        ),
        case(
            "admin",
            M::GET,
            format!("/api/v1/projects/{}", b.published_project),
            None,
            404,
        ),
        case(
            "unit",
            M::PATCH,
            format!("/api/v1/projects/{}", a.published_project),
            Some(json!({"title": "x"})),
            403,
        ),
        case(
            "grid_worker",
            M::PATCH,
            format!("/api/v1/projects/{}", a.draft_project),
            Some(json!({"title": "x"})),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/projects",
            Some(proj_body(&b.id)),
            403,
        ),
        case(
            "unit",
            M::POST,
            "/api/v1/projects",
            Some(proj_body(&a.id)),
            403,
        ),
        case(
            "unit",
            M::POST,
            format!("/api/v1/projects/{}/claim", b.published_project),
            Some(json!({})),
            404,
        ),
        case(
            "admin",
            M::POST,
            format!("/api/v1/projects/{}/claim", a.published_project),
            Some(json!({})),
            403,
        ),
        case(
            "admin",
            M::DELETE,
            format!("/api/v1/projects/{}", b.draft_project),
            None,
            404,
        ),
        // Tokens: admins issue for roles beneath them, in their own street.
        case(
            "admin",
            M::POST,
            "/api/v1/tokens",
            Some(tok_body("grid_worker", json!({"street_id": a.id}))),
            201,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/tokens",
            Some(tok_body("grid_worker", json!({"street_id": b.id}))),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/tokens",
            Some(tok_body("street_admin", json!({"street_id": b.id}))),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/tokens",
            Some(tok_body("district_admin", json!({}))),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/tokens",
            Some(tok_body("unit", json!({"unit_id": a.unit}))),
            201,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/tokens",
            Some(tok_body("unit", json!({"unit_id": b.unit}))),
            403,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/tokens",
            Some(tok_body("volunteer", json!({"volunteer_id": a.volunteer}))),
            201,
        ),
        case(
            "admin",
            M::POST,
            "/api/v1/tokens",
            Some(tok_body("volunteer", json!({"volunteer_id": b.volunteer}))),
            403,
        ),
        case(
            "grid_worker",
            M::POST,
            "/api/v1/tokens",
            Some(tok_body("grid_worker", json!({"street_id": a.id}))),
            403,
        ),
        case("unit", M::GET, "/api/v1/tokens", None, 403),
        case(
            "district",
            M::POST,
            "/api/v1/tokens",
            Some(tok_body("district_admin", json!({}))),
            201,
        ),
        // Operations.
        case("admin", M::GET, "/metrics", None, 403),
        case("district", M::GET, "/metrics", None, 200),
    ];

    let mut failures = vec![];
    for c in &cases {
        let t = token(c.who);
        let resp = app
            .call(c.method.clone(), &c.path, Some(&t), c.body.clone())
            .await;
        if resp.status.as_u16() != c.expect {
            failures.push(format!(
                "{} {} {} → {} (expected {}): {}",
                c.who,
                c.method,
                c.path,
                resp.status.as_u16(),
                c.expect,
                resp.body
            ));
        } else if c.expect >= 400 {
            let code = resp.body["code"].as_str().unwrap_or("");
            let want = match c.expect {
                403 => "forbidden",
                404 => "not_found",
                _ => code,
            };
            if code != want {
                failures.push(format!(
                    "{} {} {}: code {code}, expected {want}",
                    c.who, c.method, c.path
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} boundary checks failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn id_set(page: &Value) -> BTreeSet<String> {
    page["items"].as_array().unwrap().iter().map(id).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn listings_show_only_what_the_caller_may_see() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let (a, b) = (&w.a, &w.b);
    let list = |path: &'static str, token: String| {
        let app = &app;
        async move { id_set(&app.get(path, &token).await.expect(200)) }
    };
    assert_eq!(
        list("/api/v1/demands", a.admin.clone()).await,
        set(&[&a.demand])
    );
    assert_eq!(
        list("/api/v1/demands", a.grid_worker.clone()).await,
        set(&[&a.demand])
    );
    assert_eq!(
        list("/api/v1/demands", a.unit_token.clone()).await,
        set(&[&a.demand])
    );
    assert_eq!(
        list("/api/v1/demands", a.volunteer_token.clone()).await,
        set(&[&a.demand])
    );
    assert_eq!(
        list("/api/v1/demands", app.admin.clone()).await,
        set(&[&a.demand, &b.demand])
    );
    // Asking for another street's rows by filter yields nothing, not a leak.
    let other = id_set(
        &app.get(&format!("/api/v1/demands?street_id={}", b.id), &a.admin)
            .await
            .expect(200),
    );
    assert!(other.is_empty());

    assert_eq!(
        list("/api/v1/units", a.admin.clone()).await,
        set(&[&a.unit])
    );
    assert_eq!(
        list("/api/v1/units", a.unit_token.clone()).await,
        set(&[&a.unit])
    );
    assert_eq!(
        list("/api/v1/volunteers", a.grid_worker.clone()).await,
        set(&[&a.volunteer])
    );
    assert_eq!(
        list("/api/v1/volunteers", a.volunteer_token.clone()).await,
        set(&[&a.volunteer])
    );
    assert_eq!(
        list("/api/v1/resources", a.volunteer_token.clone()).await,
        set(&[&a.resource])
    );
    assert_eq!(
        list("/api/v1/resources", a.unit_token.clone()).await,
        set(&[&a.resource])
    );
    assert_eq!(
        list("/api/v1/resources", app.admin.clone()).await,
        set(&[&a.resource, &b.resource])
    );
    assert_eq!(
        list("/api/v1/projects", a.unit_token.clone()).await,
        set(&[&a.published_project])
    );
    assert_eq!(
        list("/api/v1/projects", a.volunteer_token.clone()).await,
        set(&[&a.published_project])
    );
    assert_eq!(
        list("/api/v1/projects", a.grid_worker.clone()).await,
        set(&[&a.draft_project, &a.published_project])
    );
    assert_eq!(
        list("/api/v1/projects", a.admin.clone()).await,
        set(&[&a.draft_project, &a.published_project])
    );

    let tokens = app.get("/api/v1/tokens", &a.admin).await.expect(200);
    let items = tokens["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|t| t["street_id"] == a.id.as_str()),
        "{tokens}"
    );
    assert!(
        items
            .iter()
            .all(|t| t.get("token").is_none() && t.get("token_hash").is_none()),
        "secrets never listed"
    );
}

#[tokio::test]
async fn resident_data_is_shown_in_full_only_to_the_streets_staff() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let a = &w.a;
    let path = format!("/api/v1/demands/{}", a.demand);
    for (who, token, full) in [
        ("street admin", &a.admin, true),
        ("grid worker", &a.grid_worker, true),
        ("district admin", &app.admin, false),
        ("unit", &a.unit_token, false),
        ("volunteer", &a.volunteer_token, false),
    ] {
        let d = app.get(&path, token).await.expect(200);
        let r = &d["resident"];
        if full {
            assert_eq!(
                r,
                &json!({"name": "李秀英", "phone": "13912345678", "address": "滨城区市西街道魏鑫家园3号楼2单元"}),
                "{who}"
            );
            assert_eq!(d["resident_masked"], false, "{who}");
        } else {
            assert_eq!(
                r,
                &json!({"name": "李**", "phone": "139****5678", "address": "滨城区市西街****"}),
                "{who}"
            );
            assert_eq!(d["resident_masked"], true, "{who}");
        }
        // Listings mask the same way.
        let page = app.get("/api/v1/demands", token).await.expect(200);
        let listed = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == a.demand.as_str())
            .unwrap()
            .clone();
        assert_eq!(listed["resident"], d["resident"], "{who}");
    }
    // Another street's admin cannot see the demand at all.
    app.get(&path, &w.b.admin)
        .await
        .problem(404, "not_found", None);
}

#[tokio::test]
async fn unit_chooses_its_streets_and_a_street_admin_only_unlinks_its_own() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let (a, b) = (&w.a, &w.b);
    // The unit joins street B itself, and then sees B's published projects.
    app.patch(
        &format!("/api/v1/units/{}", a.unit),
        &a.unit_token,
        json!({"street_ids": [a.id, b.id]}),
    )
    .await
    .expect(200);
    app.get(
        &format!("/api/v1/projects/{}", b.published_project),
        &a.unit_token,
    )
    .await
    .expect(200);
    // B's admin now sees the unit, and may unlink B but not A.
    app.patch(
        &format!("/api/v1/units/{}", a.unit),
        &b.admin,
        json!({"street_ids": [b.id]}),
    )
    .await
    .problem(403, "forbidden", None);
    let unit = app
        .patch(
            &format!("/api/v1/units/{}", a.unit),
            &b.admin,
            json!({"street_ids": [a.id]}),
        )
        .await
        .expect(200);
    assert_eq!(unit["street_ids"], json!([a.id]));
    app.get(
        &format!("/api/v1/projects/{}", b.published_project),
        &a.unit_token,
    )
    .await
    .problem(404, "not_found", None);
}

#[tokio::test]
async fn revoked_tokens_stop_working_at_once() {
    let app = TestApp::spawn().await;
    let s = id(&app.street("shixi").await);
    let admin = app.token(RoleKind::StreetAdmin, Some(&s), None, None).await;
    let issued = app
        .post(
            "/api/v1/tokens",
            &admin,
            json!({"role": "grid_worker", "name": "王网格员", "street_id": s}),
        )
        .await
        .expect(201);
    let secret = issued["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get("/api/v1/me", &secret).await.expect(200)["role"],
        "grid_worker"
    );
    app.delete(&format!("/api/v1/tokens/{}", id(&issued)), &admin)
        .await
        .expect(204);
    app.get("/api/v1/me", &secret)
        .await
        .problem(401, "invalid_token", None);
    let listed = app
        .get(
            "/api/v1/tokens?include_revoked=true&role=grid_worker",
            &admin,
        )
        .await
        .expect(200);
    assert!(listed["items"][0]["revoked_at"].is_string());
    // Role and subject must fit together.
    app.post(
        "/api/v1/tokens",
        &app.admin,
        json!({"role": "grid_worker", "name": "x"}),
    )
    .await
    .problem(422, "required", Some("street_id"));
    app.post(
        "/api/v1/tokens",
        &app.admin,
        json!({"role": "district_admin", "name": "x", "street_id": s}),
    )
    .await
    .problem(422, "not_allowed", Some("street_id"));
}

/// Filing reads its caller's token with the filing's place, in one query: the token still
/// decides first. A token that names nobody (unknown, revoked, or its volunteer archived) is
/// 401 whatever the body says, a caller of another street 403, an unknown grid 422.
#[tokio::test]
async fn filing_checks_the_callers_token_before_the_body() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let body = demand_body(&w.a.grid);
    let mut bad_fields = body.clone();
    bad_fields["category"] = json!("");
    let mut unknown_grid = body.clone();
    unknown_grid["grid_id"] = json!(uuid::Uuid::now_v7());

    app.call(Method::POST, "/api/v1/demands", None, Some(body.clone()))
        .await
        .problem(401, "unauthorized", None);
    let revoked = app
        .post(
            "/api/v1/tokens",
            &w.a.admin,
            json!({"role": "grid_worker", "name": "王网格员", "street_id": w.a.id}),
        )
        .await
        .expect(201);
    app.delete(&format!("/api/v1/tokens/{}", id(&revoked)), &w.a.admin)
        .await
        .expect(204);
    let archived = app.volunteer(&w.a.grid, "张志愿").await;
    let archived_token = app
        .token(RoleKind::Volunteer, None, None, Some(&id(&archived)))
        .await;
    app.delete(&format!("/api/v1/volunteers/{}", id(&archived)), &w.a.admin)
        .await
        .expect(204);
    for token in [
        "gj_not_a_real_token",
        revoked["token"].as_str().unwrap(),
        &archived_token,
    ] {
        for b in [&body, &bad_fields, &unknown_grid, &json!({"grid_id": 7})] {
            app.post("/api/v1/demands", token, b.clone())
                .await
                .problem(401, "invalid_token", None);
        }
        let unreadable = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/demands")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{not json"))
            .unwrap();
        app.raw(unreadable)
            .await
            .problem(401, "invalid_token", None);
    }
    // A caller the token names: the body is checked, then the place, then the street.
    app.post("/api/v1/demands", &w.a.grid_worker, bad_fields)
        .await
        .problem(422, "required", Some("category"));
    app.post("/api/v1/demands", &w.a.grid_worker, unknown_grid)
        .await
        .problem(422, "unknown_reference", Some("grid_id"));
    app.post("/api/v1/demands", &w.b.grid_worker, body.clone())
        .await
        .expect(403);
    app.post("/api/v1/demands", &w.a.volunteer_token, body.clone())
        .await
        .expect(403);
    let filed = app
        .post("/api/v1/demands", &w.a.grid_worker, body)
        .await
        .expect(201);
    assert_eq!(filed["street_id"], json!(w.a.id));
    assert_eq!(filed["resident"]["phone"], "13912345678");
}

/// Who sees an order's ranking, its offers and its resident, through the order and through
/// the order list (which reads a page in batches): the street's staff and the district see
/// the ranking; a candidate (here a unit, through its resource) sees neither it nor the offers, and see the resident masked until
/// they carry the order out; another street does not see the order at all.
#[tokio::test]
async fn an_orders_ranking_and_resident_by_role() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let a = &w.a;
    let order = app
        .post(
            &format!("/api/v1/demands/{}/dispatch", a.demand),
            &a.admin,
            json!({"offer_count": 10}),
        )
        .await
        .expect(201);
    let oid = id(&order);
    let offered: BTreeSet<String> = order["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["candidate_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(offered, set(&[&a.resource]), "{order}");
    let path = format!("/api/v1/orders/{oid}");
    let full = json!({"name": "李秀英", "phone": "13912345678", "address": "滨城区市西街道魏鑫家园3号楼2单元"});
    let masked = json!({"name": "李**", "phone": "139****5678", "address": "滨城区市西街****"});
    let listed = |page: &Value| -> Value {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == oid.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("order not listed: {page}"))
    };
    for (who, token, staff, resident) in [
        ("street admin", &a.admin, true, &full),
        ("grid worker", &a.grid_worker, true, &full),
        ("district admin", &app.admin, true, &masked),
        (
            "unit of the offered resource",
            &a.unit_token,
            false,
            &masked,
        ),
    ] {
        let one = app.get(&path, token).await.expect(200);
        let page = app.get("/api/v1/orders", token).await.expect(200);
        for seen in [&one, &listed(&page)] {
            assert_eq!(seen.get("ranking").is_some(), staff, "{who}: {seen}");
            assert_eq!(seen.get("offers").is_some(), staff, "{who}: {seen}");
            assert_eq!(&seen["resident"], resident, "{who}: {seen}");
        }
        assert_eq!(
            one,
            listed(&page),
            "{who}: the list shows what the order shows"
        );
    }
    // Neither a volunteer it was not offered to nor another street sees it.
    for token in [&a.volunteer_token, &w.b.admin] {
        app.get(&path, token).await.problem(404, "not_found", None);
        let page = app.get("/api/v1/orders", token).await.expect(200);
        assert!(page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["id"] != oid.as_str()));
    }
    // Once the unit has accepted it, it sees the resident in full, still no ranking.
    app.post(&format!("{path}/accept"), &a.unit_token, json!({}))
        .await
        .expect(200);
    let page = app.get("/api/v1/orders", &a.unit_token).await.expect(200);
    for seen in [
        &app.get(&path, &a.unit_token).await.expect(200),
        &listed(&page),
    ] {
        assert_eq!(&seen["resident"], &full, "{seen}");
        assert!(
            seen.get("ranking").is_none() && seen.get("offers").is_none(),
            "{seen}"
        );
    }
}
