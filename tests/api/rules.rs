//! The API description declares what each field accepts, and the service accepts exactly
//! that: each declared rule is checked against the service at its boundaries.

use serde_json::{json, Value};

use crate::helpers::{id, TestApp};
use gongjian_core::domain::rules;

async fn document(app: &TestApp) -> Value {
    app.get("/api/v1/openapi.json", &app.admin)
        .await
        .expect(200)
}

/// The schemas request bodies use, directly or through references.
fn request_schemas(doc: &Value) -> Vec<String> {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    let name = r.rsplit('/').next().unwrap().to_string();
                    if !out.contains(&name) {
                        out.push(name);
                    }
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut names = vec![];
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            refs(&op["requestBody"], &mut names);
        }
    }
    let mut i = 0;
    while i < names.len() {
        let schema = doc["components"]["schemas"][&names[i]].clone();
        refs(&schema, &mut names);
        i += 1;
    }
    names
}

fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// A reference that names no schema leaves a generated client without a type.
#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    fn walk(v: &Value, doc: &Value, seen: &mut usize) {
        match v {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    let name = r.strip_prefix("#/components/schemas/").unwrap();
                    assert!(
                        doc["components"]["schemas"][name].is_object(),
                        "{r} names no schema"
                    );
                    *seen += 1;
                }
                map.values().for_each(|v| walk(v, doc, seen));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, doc, seen)),
            _ => {}
        }
    }
    let mut seen = 0;
    walk(&doc, &doc, &mut seen);
    assert!(seen > 100, "{seen} references");
}

#[tokio::test]
async fn every_request_field_declares_what_it_accepts() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let names = request_schemas(&doc);
    assert!(names.len() > 25, "{names:?}");
    // Free text the service takes as it comes: a plugin's own inputs (its contract bounds
    // them) and the plugin's code (bounded by the body's size).
    let free = |schema: &str, field: &str| {
        schema.starts_with("plugin.")
            || (schema == "UploadVersion" && ["source", "wasm_base64"].contains(&field))
    };
    let mut checked = 0;
    for name in &names {
        let schema = &doc["components"]["schemas"][name];
        let Some(props) = schema["properties"].as_object() else {
            continue;
        };
        for (field, p) in props {
            let t = types(p);
            let declared = |keys: &[&str]| keys.iter().all(|k| !p[*k].is_null());
            if t.contains(&"string") && p["enum"].is_null() && !free(name, field) {
                assert!(
                    declared(&["pattern"]) || !p["format"].is_null(),
                    "{name}.{field} is a string with no pattern or format: {p}"
                );
                if !p["pattern"].is_null() {
                    assert!(
                        declared(&["maxLength"]) || name == "WeeklySlot",
                        "{name}.{field}"
                    );
                }
                checked += 1;
            }
            if t.contains(&"integer") && !free(name, field) {
                assert!(declared(&["minimum", "maximum"]), "{name}.{field}: {p}");
                checked += 1;
            }
            if t.contains(&"array") && !free(name, field) {
                assert!(declared(&["maxItems"]), "{name}.{field}: {p}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked} fields checked");
    // The declared numbers are the ones validation uses.
    let s = &doc["components"]["schemas"];
    assert_eq!(
        s["CreateDemand"]["properties"]["description"]["maxLength"],
        rules::DESCRIPTION.max
    );
    assert_eq!(
        s["PutSettings"]["properties"]["accept_minutes"]["maximum"],
        rules::ACCEPT_MINUTES.max
    );
    assert_eq!(s["CreateUnit"]["properties"]["street_ids"]["minItems"], 1);
    let limit = &doc["paths"]["/api/v1/demands"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()["schema"];
    assert_eq!(limit["minimum"], 1);
    assert_eq!(limit["maximum"], gongjian_core::store::page::MAX_LIMIT);
    // A body of two forms is published as both, each closed.
    let forms = s["UploadBody"]["oneOf"].as_array().unwrap();
    assert_eq!(forms.len(), 2);
    for form in forms {
        assert_eq!(form["additionalProperties"], false, "{form}");
        assert_eq!(form["properties"]["note"]["maxLength"], rules::COMMENT.max);
    }
    assert_eq!(s["DryRunBody"]["oneOf"].as_array().unwrap().len(), 2);
    // What answers show (masked personal data) is not held to what requests must send.
    assert_eq!(
        s["Demand"]["properties"]["resident"]["$ref"],
        "#/components/schemas/ResidentView"
    );
}

/// Each kind of rule, at its boundaries, on a volunteer's registration: what the document
/// allows is taken, and what it refuses is refused with the field named.
#[tokio::test]
async fn the_service_takes_exactly_what_the_document_declares() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let street = id(&app.street("shixi").await);
    let community = id(&app.community(&street, "魏鑫社区").await);
    let grid = id(&app.grid(&street, &community, "g01").await);
    let props = doc["components"]["schemas"]["CreateVolunteer"]["properties"].clone();
    let max = |field: &str| props[field]["maxLength"].as_u64().unwrap() as usize;
    let mut phone_n = 0;
    let mut body = |overrides: Value| {
        phone_n += 1;
        let mut b =
            json!({"name": "张三", "phone": format!("1380000{phone_n:04}"), "home_grid_id": grid});
        for (k, v) in overrides.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let accepted = [
        json!({"name": "张".repeat(max("name"))}),
        json!({"name": " 张三 "}),
        json!({"name": "张\t三"}),
        json!({"phone": "+86 138-0013-8000"}),
        json!({"phone": "0543-3258000"}),
        json!({"team": ""}),
        json!({"team": "   "}),
        json!({"max_open_orders": props["max_open_orders"]["minimum"]}),
        json!({"max_open_orders": props["max_open_orders"]["maximum"]}),
        // JSON has one number type: 3.0 is the integer 3.
        json!({"max_open_orders": 3.0}),
        json!({"skills": vec!["维修"; 20]}),
        json!({"availability": [{"day": "mon", "start": "00:00", "end": "24:00"}]}),
    ];
    for overrides in accepted {
        let b = body(overrides.clone());
        let r = app.post("/api/v1/volunteers", &app.admin, b).await;
        assert_eq!(r.status, 201, "{overrides} → {}", r.body);
    }
    let refused = [
        (
            json!({"name": "张".repeat(max("name") + 1)}),
            "name",
            "too_long",
        ),
        (json!({"name": "   "}), "name", "required"),
        (json!({"name": "张\r三"}), "name", "invalid_characters"),
        (json!({"name": " 张三\u{b}"}), "name", "invalid_characters"),
        (json!({"team": "\u{1b}"}), "team", "invalid_characters"),
        (json!({"phone": " 13800138000"}), "phone", "invalid_phone"),
        (json!({"phone": "138--00138000"}), "phone", "invalid_phone"),
        (json!({"phone": "123456"}), "phone", "invalid_phone"),
        (
            json!({"max_open_orders": -1}),
            "max_open_orders",
            "out_of_range",
        ),
        (
            json!({"max_open_orders": 101}),
            "max_open_orders",
            "out_of_range",
        ),
        (
            json!({"max_open_orders": 3.5}),
            "max_open_orders",
            "invalid_type",
        ),
        // Past 2^53 a double no longer says which integer was written.
        (
            json!({"max_open_orders": -9.223372036854776e18}),
            "max_open_orders",
            "invalid_type",
        ),
        (json!({"skills": vec!["维修"; 21]}), "skills", "too_many"),
        (
            json!({"skills": ["a\"b"]}),
            "skills[0]",
            "invalid_characters",
        ),
        (
            json!({"availability": [{"day": "mon", "start": "8:00", "end": "12:00"}]}),
            "availability[0].start",
            "invalid_time",
        ),
    ];
    for (overrides, field, code) in refused {
        let b = body(overrides.clone());
        let r = app.post("/api/v1/volunteers", &app.admin, b).await;
        assert_eq!(r.status, 422, "{overrides} → {}", r.body);
        let errors = r.body["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{overrides} → {}",
            r.body
        );
    }
    // A code is taken exactly as sent.
    app.post(
        &format!("/api/v1/streets/{street}/categories"),
        &app.admin,
        json!({"code": " meals", "label": "助餐"}),
    )
    .await
    .problem(422, "invalid_code", Some("code"));
}

#[tokio::test]
async fn a_unit_keeps_a_street_and_an_archived_owner_is_a_conflict() {
    let app = TestApp::spawn().await;
    let street = id(&app.street("shixi").await);
    let unit = id(&app.unit(&[&street], "滨州市人民医院").await);
    app.patch(
        &format!("/api/v1/units/{unit}"),
        &app.admin,
        json!({"street_ids": []}),
    )
    .await
    .problem(422, "required", Some("street_ids"));
    let kept = app
        .get(&format!("/api/v1/units/{unit}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(kept["street_ids"], json!([street]));
    app.delete(&format!("/api/v1/units/{unit}"), &app.admin)
        .await
        .expect(204);
    app.post(
        "/api/v1/resources",
        &app.admin,
        json!({"title": "义诊", "category": "medical", "capacity": 5,
               "owner_unit_id": unit, "street_ids": [street]}),
    )
    .await
    .problem(409, "archived", Some("owner_unit_id"));
    app.post(
        "/api/v1/tokens",
        &app.admin,
        json!({"role": "unit", "name": "医院", "unit_id": unit}),
    )
    .await
    .problem(409, "archived", Some("unit_id"));
    // An edit sets only the statuses it may: archiving is DELETE, and for good.
    let other = id(&app.unit(&[&street], "滨城区司法局").await);
    let resource = id(&app
        .post(
            "/api/v1/resources",
            &app.admin,
            json!({"title": "法律咨询", "category": "legal", "capacity": 5,
                   "owner_unit_id": other, "street_ids": [street]}),
        )
        .await
        .expect(201));
    let path = format!("/api/v1/resources/{resource}");
    app.patch(&path, &app.admin, json!({"status": "archived"}))
        .await
        .problem(422, "invalid_choice", Some("status"));
    app.patch(&path, &app.admin, json!({"status": "paused"}))
        .await
        .expect(200);
    app.delete(&path, &app.admin).await.expect(204);
    app.patch(&path, &app.admin, json!({"status": "active"}))
        .await
        .problem(409, "invalid_transition", Some("status"));
}

/// Any string of the cursor's declared form is a position: a client may resume from one it
/// kept, and a forged one pages from wherever it points.
#[tokio::test]
async fn every_cursor_of_the_declared_form_is_served() {
    let app = TestApp::spawn().await;
    for code in ["a", "b", "c"] {
        app.street(code).await;
    }
    let first = app
        .get("/api/v1/streets?limit=1", &app.admin)
        .await
        .expect(200);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let pattern = regex::Regex::new(gongjian_core::store::page::CURSOR_PATTERN).unwrap();
    assert!(pattern.is_match(&cursor), "{cursor}");
    let rest = app
        .get(&format!("/api/v1/streets?cursor={cursor}"), &app.admin)
        .await
        .expect(200);
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
    // The lowest position pages from the start, the highest finds nothing after it.
    let all = app
        .get("/api/v1/streets?cursor=AAAAAAAAAAAAAAAAAAAAAA", &app.admin)
        .await
        .expect(200);
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    let none = app
        .get("/api/v1/streets?cursor=_____________________w", &app.admin)
        .await
        .expect(200);
    assert_eq!(none["items"], json!([]));
    app.get("/api/v1/streets?cursor=AAAAAAAAAAAAAAAAAAAAAB", &app.admin)
        .await
        .problem(400, "invalid_cursor", Some("cursor"));
}
