//! Every kind of bad input answers 4xx with a problem body naming the code and field.

use axum::{
    body::Body,
    http::{header, Method, Request},
};
use serde_json::{json, Value};

use crate::helpers::{demand_body, id, TestApp};

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let street = id(&app.street("shixi").await);
    let community = id(&app.community(&street, "魏鑫社区").await);
    let grid = id(&app.grid(&street, &community, "g01").await);
    (app, grid)
}

fn with(mut body: Value, path: &[&str], value: Value) -> Value {
    let mut target = &mut body;
    for key in &path[..path.len() - 1] {
        target = &mut target[*key];
    }
    target[path[path.len() - 1]] = value;
    body
}

fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().unwrap().remove(key);
    body
}

#[tokio::test]
async fn bad_demand_bodies_name_the_field() {
    let (app, grid) = setup().await;
    let good = demand_body(&grid);
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            with(good.clone(), &["urgency"], json!(3)),
            422,
            "invalid_type",
            "urgency",
        ),
        (
            with(good.clone(), &["urgency"], json!("whenever")),
            422,
            "invalid_choice",
            "urgency",
        ),
        (
            with(good.clone(), &["channel"], json!(null)),
            422,
            "invalid_type",
            "channel",
        ),
        (
            with(good.clone(), &["surprise"], json!(1)),
            422,
            "unknown_field",
            "surprise",
        ),
        (
            with(good.clone(), &["resident", "age"], json!(80)),
            422,
            "unknown_field",
            "resident.age",
        ),
        (
            without(good.clone(), "description"),
            422,
            "required",
            "description",
        ),
        (
            with(good.clone(), &["description"], json!("")),
            422,
            "required",
            "description",
        ),
        (
            with(good.clone(), &["description"], json!("长".repeat(2001))),
            422,
            "too_long",
            "description",
        ),
        (
            with(good.clone(), &["resident", "name"], json!("x".repeat(33))),
            422,
            "too_long",
            "resident.name",
        ),
        (
            with(good.clone(), &["resident", "phone"], json!("call me")),
            422,
            "invalid_phone",
            "resident.phone",
        ),
        (
            with(good.clone(), &["grid_id"], json!("not-a-uuid")),
            422,
            "invalid_value",
            "grid_id",
        ),
        (
            with(good.clone(), &["grid_id"], json!(uuid::Uuid::now_v7())),
            422,
            "unknown_reference",
            "grid_id",
        ),
        (
            with(good.clone(), &["category"], json!("astrology")),
            422,
            "unknown_category",
            "category",
        ),
        (
            with(good.clone(), &["category"], json!("Not A Code")),
            422,
            "invalid_code",
            "category",
        ),
        (
            with(good.clone(), &["tags"], json!(["a", 7])),
            422,
            "invalid_type",
            "tags[1]",
        ),
        (
            with(good.clone(), &["tags"], json!(["ok", ""])),
            422,
            "required",
            "tags[1]",
        ),
        (
            with(good.clone(), &["window_start"], json!("tomorrow")),
            422,
            "invalid_timestamp",
            "window_start",
        ),
        (
            with(
                good.clone(),
                &["window_end"],
                json!("2026-05-01T08:00:00+08:00"),
            ),
            422,
            "invalid_window",
            "window_end",
        ),
        (json!([1, 2]), 422, "invalid_type", "body"),
    ];
    for (body, status, code, field) in cases {
        let resp = app.post("/api/v1/demands", &app.admin, body.clone()).await;
        assert_eq!(resp.status.as_u16(), status, "for {body}: {}", resp.body);
        resp.problem(status, code, Some(field));
    }
}

#[tokio::test]
async fn several_invalid_fields_are_reported_together() {
    let (app, grid) = setup().await;
    let body = with(
        with(demand_body(&grid), &["description"], json!("")),
        &["resident", "phone"],
        json!("1"),
    );
    let problem =
        app.post("/api/v1/demands", &app.admin, body)
            .await
            .problem(422, "validation_failed", None);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["description", "resident.phone"]);
}

#[tokio::test]
async fn nested_array_paths_are_reported() {
    let (app, grid) = setup().await;
    let body = json!({"name": "赵", "phone": "13800001111", "home_grid_id": grid,
                      "availability": [{"day": "mon", "start": "08:00", "end": "09:00"}, {"day": "someday", "start": "08:00", "end": "09:00"}]});
    app.post("/api/v1/volunteers", &app.admin, body)
        .await
        .problem(422, "invalid_choice", Some("availability[1].day"));
    let body = json!({"name": "赵", "phone": "13800001111", "home_grid_id": grid,
                      "availability": [{"day": "mon", "start": "10:00", "end": "09:00"}]});
    app.post("/api/v1/volunteers", &app.admin, body)
        .await
        .problem(422, "invalid_window", Some("availability[0].end"));
}

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> crate::helpers::Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin));
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    app.raw(req.body(Body::from(body)).unwrap()).await
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let app = TestApp::spawn().await;
    let json = Some("application/json");
    raw(
        &app,
        Method::POST,
        "/api/v1/streets",
        json,
        b"{\"name\": ".to_vec(),
    )
    .await
    .problem(400, "malformed_json", None);
    raw(
        &app,
        Method::POST,
        "/api/v1/streets",
        json,
        br#"{"name": "a", "code": "a", "district": "d"} {}"#.to_vec(),
    )
    .await
    .problem(400, "malformed_json", None);
    raw(&app, Method::POST, "/api/v1/streets", json, vec![])
        .await
        .problem(400, "malformed_json", None);
    raw(
        &app,
        Method::POST,
        "/api/v1/streets",
        json,
        vec![0xff, 0xfe],
    )
    .await
    .problem(400, "malformed_json", None);
    raw(&app, Method::POST, "/api/v1/streets", None, b"{}".to_vec())
        .await
        .problem(415, "unsupported_media_type", None);
    raw(
        &app,
        Method::POST,
        "/api/v1/streets",
        Some("text/plain"),
        b"{}".to_vec(),
    )
    .await
    .problem(415, "unsupported_media_type", None);
    let huge = format!(
        "{{\"name\": \"{}\", \"code\": \"x\", \"district\": \"d\"}}",
        "a".repeat(70 * 1024)
    );
    raw(
        &app,
        Method::POST,
        "/api/v1/streets",
        json,
        huge.into_bytes(),
    )
    .await
    .problem(413, "payload_too_large", None);
    // A charset parameter and a +json type are still JSON.
    raw(
        &app,
        Method::POST,
        "/api/v1/streets",
        Some("application/json; charset=utf-8"),
        br#"{"name": "a", "code": "a", "district": "d"}"#.to_vec(),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn bad_paths_queries_routes_and_methods() {
    let app = TestApp::spawn().await;
    let t = app.admin.clone();
    let unknown = uuid::Uuid::now_v7();
    let cases: Vec<(String, u16, &str, Option<&str>)> = vec![
        (
            "/api/v1/streets/not-a-uuid".into(),
            400,
            "invalid_id",
            Some("id"),
        ),
        (format!("/api/v1/streets/{unknown}"), 404, "not_found", None),
        (
            "/api/v1/streets?limit=ten".into(),
            400,
            "invalid_query",
            Some("limit"),
        ),
        (
            "/api/v1/streets?limit=0".into(),
            400,
            "invalid_query",
            Some("limit"),
        ),
        (
            "/api/v1/streets?limit=201".into(),
            400,
            "invalid_query",
            Some("limit"),
        ),
        (
            "/api/v1/streets?color=red".into(),
            400,
            "invalid_query",
            Some("color"),
        ),
        // Bytes that are not UTF-8 once percent-decoded, in a path or a query value: refused,
        // not decoded into something else.
        ("/api/v1/demands/%FF%FE".into(), 400, "invalid_path", None),
        (
            "/api/v1/demands?category=%FF".into(),
            400,
            "invalid_query",
            Some("category"),
        ),
        (
            "/api/v1/demands?%C3%28=1".into(),
            400,
            "invalid_query",
            None,
        ),
        (
            "/api/v1/streets?cursor=garbage".into(),
            400,
            "invalid_cursor",
            Some("cursor"),
        ),
        (
            "/api/v1/demands?status=lost".into(),
            400,
            "invalid_query",
            Some("status"),
        ),
        (
            "/api/v1/demands?street_id=nope".into(),
            400,
            "invalid_query",
            Some("street_id"),
        ),
        (
            "/api/v1/demands?filed_from=yesterday".into(),
            400,
            "invalid_query",
            Some("filed_from"),
        ),
        (
            "/api/v1/volunteers?active=maybe".into(),
            400,
            "invalid_query",
            Some("active"),
        ),
        ("/api/v1/nothing-here".into(), 404, "route_not_found", None),
    ];
    for (path, status, code, field) in cases {
        app.get(&path, &t).await.problem(status, code, field);
    }
    app.call(Method::PUT, "/api/v1/streets", Some(&t), Some(json!({})))
        .await
        .problem(405, "method_not_allowed", None);
    app.call(Method::DELETE, "/api/v1/demands", Some(&t), None)
        .await
        .problem(405, "method_not_allowed", None);
}

#[tokio::test]
async fn missing_and_bad_tokens_are_401() {
    let app = TestApp::spawn().await;
    let resp = app.call(Method::GET, "/api/v1/streets", None, None).await;
    assert_eq!(
        resp.headers.get(header::WWW_AUTHENTICATE).unwrap(),
        "Bearer realm=\"gongjian\""
    );
    resp.problem(401, "unauthorized", None);
    app.get("/api/v1/streets", "gj_not_a_real_token")
        .await
        .problem(401, "invalid_token", None);
    let req = Request::builder()
        .uri("/api/v1/streets")
        .header(header::AUTHORIZATION, format!("Basic {}", app.admin))
        .body(Body::empty())
        .unwrap();
    app.raw(req).await.problem(401, "unauthorized", None);
}

#[tokio::test]
async fn conflicts_name_the_field() {
    let app = TestApp::spawn().await;
    let street = id(&app.street("shixi").await);
    app.post(
        "/api/v1/streets",
        &app.admin,
        json!({"name": "又一个", "code": "shixi", "district": "滨城区"}),
    )
    .await
    .problem(409, "already_exists", Some("code"));
    let community = id(&app.community(&street, "魏鑫社区").await);
    app.post(
        &format!("/api/v1/streets/{street}/communities"),
        &app.admin,
        json!({"name": "魏鑫社区"}),
    )
    .await
    .problem(409, "already_exists", Some("name"));
    app.grid(&street, &community, "g01").await;
    app.post(
        &format!("/api/v1/streets/{street}/grids"),
        &app.admin,
        json!({"community_id": community, "code": "g01", "name": "重复"}),
    )
    .await
    .problem(409, "already_exists", Some("code"));
    app.delete(
        &format!("/api/v1/streets/{street}/communities/{community}"),
        &app.admin,
    )
    .await
    .problem(409, "in_use", None);
}

#[tokio::test]
async fn duplicate_ids_are_named_by_their_position() {
    let app = TestApp::spawn().await;
    let a = id(&app.street("shixi").await);
    let b = id(&app.street("pengli").await);
    let body = json!({"name": "x", "kind": "school", "contact_name": "c", "contact_phone": "13600001111", "street_ids": [b, a, b]});
    app.post("/api/v1/units", &app.admin, body).await.problem(
        422,
        "duplicate",
        Some("street_ids[2]"),
    );
}
