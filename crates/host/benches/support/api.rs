//! Calling the HTTP API in process, and a street set up through it, for the benchmarks that
//! drive the whole path.

use std::collections::HashMap;

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
    Router,
};
use base64::Engine as _;
use gongjian_core::domain::format_ts;
use gongjian_core::{
    domain::{access::RoleKind, token::CreateToken},
    service::tokens::{issue, TokenSubject},
    store::db::Db,
};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tower::ServiceExt;
use uuid::Uuid;

#[path = "../../../../tests/support/example_plugins.rs"]
pub mod example_plugins;

/// Sends a request; its status and body (JSON, or the text of any other answer as a string).
pub async fn send(
    router: &Router,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(match body {
            Some(b) => Body::from(serde_json::to_vec(&b).unwrap()),
            None => Body::empty(),
        })
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

/// Sends a request that must succeed; its body.
pub async fn call(router: &Router, method: Method, path: &str, token: &str, body: Value) -> Value {
    let body = (method != Method::GET).then_some(body);
    let (status, v) = send(router, method, path, token, body).await;
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// A token for a new subject of `role`.
pub async fn token(
    db: &Db,
    role: RoleKind,
    street: Option<Uuid>,
    volunteer: Option<Uuid>,
) -> String {
    let subject = TokenSubject::resolve(
        db.write(),
        CreateToken {
            role,
            name: "bench".into(),
            street_id: street,
            unit_id: None,
            volunteer_id: volunteer,
        },
    )
    .await
    .unwrap();
    issue(db, subject, None, OffsetDateTime::now_utc())
        .await
        .unwrap()
        .token
}

pub struct Street {
    pub router: Router,
    pub id: String,
    pub admin: String,
    /// The district's token that set the street up (it reads `/metrics`).
    #[allow(dead_code)]
    pub district: String,
    pub grids: Vec<String>,
    /// Each volunteer's token by id, when asked for (not every benchmark asks).
    #[allow(dead_code)]
    pub volunteers: HashMap<String, String>,
}

/// A street with `n` volunteers in 36 grids, set up through `router` by the district's
/// `district` token, with the given rule active; with `tokens`, a token for every volunteer.
pub async fn street(
    db: &Db,
    router: &Router,
    district: &str,
    n: usize,
    rule: &str,
    tokens: bool,
) -> Street {
    let simple = Uuid::now_v7().simple().to_string();
    let code = format!("s{}", &simple[20..]);
    let s = call(
        router,
        Method::POST,
        "/api/v1/streets",
        district,
        json!({"name": "压测街道", "code": code, "district": "滨城区"}),
    )
    .await;
    let sid = s["id"].as_str().unwrap().to_string();
    let c = call(
        router,
        Method::POST,
        &format!("/api/v1/streets/{sid}/communities"),
        district,
        json!({"name": "社区"}),
    )
    .await;
    let cid = c["id"].as_str().unwrap().to_string();
    let mut grids = vec![];
    for g in 0..36 {
        let grid = call(
            router,
            Method::POST,
            &format!("/api/v1/streets/{sid}/grids"),
            district,
            json!({"community_id": cid, "code": format!("g{g:02}"), "name": format!("网格{g}")}),
        )
        .await;
        grids.push(grid["id"].as_str().unwrap().to_string());
    }
    // Volunteers straight into the table: setting up 10,000 through the API is not the point.
    let skills = ["维修", "陪护", "义诊", "书法", "水电", "法律"];
    let mut ids = vec![];
    let mut tx = db.write().begin().await.unwrap();
    for i in 0..n {
        let id = Uuid::now_v7().to_string();
        ids.push(id.clone());
        sqlx::query(
            "INSERT INTO volunteers (id, street_id, home_grid_id, name, phone, skills, team, party_member, availability, \
             max_open_orders, active, created_at, updated_at) VALUES ($1, $2, $3, $4, '13800000000', $5, $6, $7, '[]', 1000000, 1, $8, $8)",
        )
        .bind(id)
        .bind(sid.clone())
        .bind(grids[i % 36].clone())
        .bind(format!("志愿者{i}"))
        .bind(json!([skills[i % 6], skills[(i / 6) % 6]]).to_string())
        .bind(format!("队{}", i % 131))
        .bind((i % 3 == 0) as i64)
        .bind(format_ts(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut volunteers = HashMap::new();
    for id in ids.iter().filter(|_| tokens) {
        let t = token(db, RoleKind::Volunteer, None, Some(id.parse().unwrap())).await;
        volunteers.insert(id.clone(), t);
    }
    let admin = token(db, RoleKind::StreetAdmin, Some(sid.parse().unwrap()), None).await;
    let upload = match rule {
        "builtin" => None,
        "rhai" => {
            Some(json!({"kind": "rhai", "source": example_plugins::rhai_source("default-rule")}))
        }
        "wasm" => Some(
            json!({"kind": "wasm", "wasm_base64": base64::engine::general_purpose::STANDARD.encode(example_plugins::wasm_bytes("default_rule"))}),
        ),
        other => panic!("unknown rule {other}"),
    };
    if let Some(upload) = upload {
        let v = call(
            router,
            Method::POST,
            &format!("/api/v1/streets/{sid}/plugins"),
            &admin,
            upload,
        )
        .await;
        call(
            router,
            Method::POST,
            &format!(
                "/api/v1/streets/{sid}/plugins/{}/activate",
                v["id"].as_str().unwrap()
            ),
            &admin,
            json!({}),
        )
        .await;
    }
    Street {
        router: router.clone(),
        id: sid,
        admin,
        district: district.to_string(),
        grids,
        volunteers,
    }
}

/// Has `s` dispatch demands of `category` as soon as they are filed, three offers at once.
pub async fn dispatch_on_filing(s: &Street, category: &str) {
    call(
        &s.router,
        Method::PUT,
        &format!("/api/v1/streets/{}/dispatch-settings/{category}", s.id),
        &s.admin,
        json!({"auto_dispatch": true, "offer_count": 3, "accept_minutes": 30}),
    )
    .await;
}
