//! The candidate pool a host keeps in memory between dispatches follows every change to the
//! street's candidates, whichever host made it: registry edits, order transitions, ratings and
//! resources.

use gongjian_core::domain::access::RoleKind;
use serde_json::{json, Value};

use crate::helpers::{demand_body, id, TestApp};

/// The ranking host A gives a demand now: (name, reason), best first.
async fn ranking(app: &TestApp, admin: &str, demand: &str) -> Vec<(String, String)> {
    named(
        &app.post(&format!("/api/v1/demands/{demand}/match"), admin, json!({}))
            .await
            .expect(200),
    )
}

/// A match's ranking as (name, reason), best first.
fn named(m: &Value) -> Vec<(String, String)> {
    m["ranked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn reason_of<'a>(ranked: &'a [(String, String)], name: &str) -> Option<&'a str> {
    ranked
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, r)| r.as_str())
}

#[tokio::test]
async fn a_hosts_pool_follows_changes_made_by_another_host() {
    let app = TestApp::spawn().await;
    let other = app.other_host();
    let s = id(&app.street("shixi").await);
    let c = id(&app.community(&s, "魏鑫社区").await);
    let g1 = id(&app.grid(&s, &c, "g01").await);
    let admin = app.token(RoleKind::StreetAdmin, Some(&s), None, None).await;
    let volunteer = |name: &str| json!({"name": name, "phone": "13800001111", "home_grid_id": g1, "skills": ["维修"], "max_open_orders": 1});
    let v1 = id(&app
        .post("/api/v1/volunteers", &app.admin, volunteer("志愿者甲"))
        .await
        .expect(201));
    let v2 = id(&app
        .post("/api/v1/volunteers", &app.admin, volunteer("志愿者乙"))
        .await
        .expect(201));
    let file = || async {
        let mut body = demand_body(&g1);
        body["category"] = json!("repair");
        body.as_object_mut().unwrap().remove("window_start");
        body.as_object_mut().unwrap().remove("window_end");
        id(&app.post("/api/v1/demands", &admin, body).await.expect(201))
    };
    let d1 = file().await;

    let first = ranking(&app, &admin, &d1).await;
    assert_eq!(
        reason_of(&first, "志愿者乙"),
        Some("技能/类别匹配 · 同网格 · 在办 0/1")
    );

    // Another host adds a grid and moves a volunteer there.
    let g2 = id(&other
        .post(
            &format!("/api/v1/streets/{s}/grids"),
            &app.admin,
            json!({"community_id": c, "code": "g02", "name": "第二网格"}),
        )
        .await
        .expect(201));
    other
        .patch(
            &format!("/api/v1/volunteers/{v2}"),
            &admin,
            json!({"home_grid_id": g2}),
        )
        .await
        .expect(200);
    let moved = ranking(&app, &admin, &d1).await;
    assert_eq!(
        reason_of(&moved, "志愿者乙"),
        Some("技能/类别匹配 · 同社区 · 在办 0/1"),
        "{moved:?}"
    );

    // Another host dispatches the demand and the first volunteer accepts it: at its limit of
    // one open order, it is no longer a candidate here.
    let t1 = app.token(RoleKind::Volunteer, None, None, Some(&v1)).await;
    let order = id(&other
        .post(
            &format!("/api/v1/demands/{d1}/dispatch"),
            &admin,
            json!({"offer_count": 2}),
        )
        .await
        .expect(201));
    other
        .post(&format!("/api/v1/orders/{order}/accept"), &t1, json!({}))
        .await
        .expect(200);
    let d2 = file().await;
    let busy = ranking(&app, &admin, &d2).await;
    assert_eq!(
        busy.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["志愿者乙"]
    );

    // It completes the order there and the resident rates it: back, with its record.
    other
        .post(&format!("/api/v1/orders/{order}/start"), &t1, json!({}))
        .await
        .expect(200);
    other
        .post(
            &format!("/api/v1/orders/{order}/complete"),
            &t1,
            json!({"service_minutes": 60}),
        )
        .await
        .expect(200);
    other
        .post(
            &format!("/api/v1/orders/{order}/rating"),
            &admin,
            json!({"rating": 4}),
        )
        .await
        .expect(200);
    let rated = ranking(&app, &admin, &d2).await;
    assert_eq!(
        reason_of(&rated, "志愿者甲"),
        Some("技能/类别匹配 · 同网格 · 在办 0/1 · 评分 4.0"),
        "{rated:?}"
    );

    // Another host archives the second volunteer, registers a unit's resource for the street,
    // then pauses it.
    other
        .delete(&format!("/api/v1/volunteers/{v2}"), &admin)
        .await
        .expect(204);
    let unit = id(&app.unit(&[&s], "市西医院").await);
    let resource = id(&other
        .post(
            "/api/v1/resources",
            &app.admin,
            json!({"owner_unit_id": unit, "title": "维修服务队", "category": "repair", "capacity": 2, "street_ids": [s]}),
        )
        .await
        .expect(201));
    let with_resource = ranking(&app, &admin, &d2).await;
    let names: Vec<&str> = with_resource.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"志愿者甲")
            && names.contains(&"维修服务队")
            && !names.contains(&"志愿者乙"),
        "{with_resource:?}"
    );
    assert_eq!(
        reason_of(&with_resource, "维修服务队"),
        Some("技能/类别匹配 · 同网格 · 余量 2")
    );
    other
        .patch(
            &format!("/api/v1/resources/{resource}"),
            &app.admin,
            json!({"status": "paused"}),
        )
        .await
        .expect(200);
    let paused = ranking(&app, &admin, &d2).await;
    assert_eq!(
        paused.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["志愿者甲"]
    );
}

/// A demand's ranking is the same whether the pool was just loaded or kept from before.
#[tokio::test]
async fn a_kept_pool_ranks_as_a_fresh_one() {
    let app = TestApp::spawn().await;
    let s = id(&app.street("shixi").await);
    let c = id(&app.community(&s, "魏鑫社区").await);
    let g = id(&app.grid(&s, &c, "g01").await);
    let admin = app.token(RoleKind::StreetAdmin, Some(&s), None, None).await;
    for i in 0..12 {
        let skill = ["维修", "陪护", "助浴"][i % 3];
        app.post(
            "/api/v1/volunteers",
            &app.admin,
            json!({"name": format!("志愿者{i}"), "phone": "13800001111", "home_grid_id": g,
                   "skills": [skill], "party_member": i % 2 == 0}),
        )
        .await
        .expect(201);
    }
    let d = id(&app.demand(&g, &admin).await);
    let warm = ranking(&app, &admin, &d).await;
    let again = ranking(&app, &admin, &d).await;
    let fresh_host = app.other_host();
    let fresh = named(
        &fresh_host
            .post(&format!("/api/v1/demands/{d}/match"), &admin, json!({}))
            .await
            .expect(200),
    );
    assert_eq!(warm.len(), 12);
    assert_eq!(warm, again);
    assert_eq!(warm, fresh);
}
