//! The web console over HTTP: signing in by token and by one-time link, sessions that end with
//! their token or their person, cross-site forgery refused, another street's pages hidden,
//! residents masked as in the API, the pages' languages, and the live stream of changes.
//! (The browser suite, `tests/console`, clicks through the same pages in Chromium.)

use axum::{
    body::Body,
    http::{header, Method, Request},
};
use gongjian_core::domain::access::RoleKind;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::helpers::{demand_body, id, Resp, TestApp, World};

/// A console request: a page (`GET`) or a form (`POST`), with the session cookie if any and
/// the headers a same-origin browser sends.
fn request(method: Method, path: &str, session: Option<&str>, form: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "console.test")
        .header("sec-fetch-site", "same-origin");
    if let Some(s) = session {
        req = req.header(header::COOKIE, format!("gj_session={s}"));
    }
    match form {
        Some(f) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap()
}

async fn page(app: &TestApp, path: &str, session: Option<&str>) -> Resp {
    app.raw(request(Method::GET, path, session, None)).await
}

async fn submit(app: &TestApp, path: &str, session: Option<&str>, form: &str) -> Resp {
    app.raw(request(Method::POST, path, session, Some(form)))
        .await
}

fn html(r: &Resp) -> &str {
    r.body.as_str().unwrap_or("")
}

fn location(r: &Resp) -> &str {
    r.headers
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn set_cookie(r: &Resp) -> String {
    r.headers
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The session a sign-in answered with.
fn session_of(r: &Resp) -> String {
    let cookie = set_cookie(r);
    let value = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    assert!(!value.is_empty(), "no session cookie in {cookie:?}");
    value
}

/// Signs in with an API token; answers the session.
async fn sign_in(app: &TestApp, token: &str) -> String {
    let r = submit(app, "/console/sign-in", None, &format!("token={token}")).await;
    assert_eq!(r.status, 303, "sign-in: {}", html(&r));
    session_of(&r)
}

/// A repair in `grid` with no window (the volunteer is free on Saturday mornings only), so the
/// street's 维修 volunteer is a candidate.
fn repair_body(grid: &str) -> serde_json::Value {
    let mut body = demand_body(grid);
    body["category"] = json!("repair");
    body.as_object_mut().unwrap().remove("window_start");
    body.as_object_mut().unwrap().remove("window_end");
    body
}

/// A repair the street's volunteer (a 维修 volunteer) is a candidate for, filed by the grid
/// worker and dispatched by the admin to every candidate: answers the demand and the order.
async fn offered_repair(app: &TestApp, s: &crate::helpers::Street) -> (String, String) {
    let demand = id(&app
        .post("/api/v1/demands", &s.grid_worker, repair_body(&s.grid))
        .await
        .expect(201));
    let order = app
        .post(
            &format!("/api/v1/demands/{demand}/dispatch"),
            &s.admin,
            json!({"offer_count": 5}),
        )
        .await
        .expect(201);
    assert!(
        order["offers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["candidate_id"] == s.volunteer.as_str()),
        "the volunteer is offered the repair: {order}"
    );
    (demand, id(&order))
}

/// The secret of the sign-in link on an issued-link page.
fn link_secret(page: &str) -> String {
    let re = regex::Regex::new(r"/console/link/([A-Za-z0-9_-]{43})").unwrap();
    re.captures(page)
        .unwrap_or_else(|| panic!("no sign-in link on the page:\n{page}"))[1]
        .to_string()
}

#[tokio::test]
async fn signing_in_by_token_and_by_link_and_what_ends_a_session() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;

    // Signed out: every page sends you to sign in, and back afterwards.
    let r = page(&app, "/console/orders", None).await;
    assert_eq!(r.status, 303);
    assert_eq!(location(&r), "/console/sign-in?next=%2Fconsole%2Forders");
    let r = page(&app, "/", None).await;
    assert_eq!(location(&r), "/console");
    let r = page(&app, "/console", None).await;
    assert_eq!(location(&r), "/console/sign-in");
    let r = page(&app, "/console/sign-in?next=%2Fconsole%2Forders", None).await;
    assert_eq!(r.status, 200);
    assert!(html(&r).contains(r#"<html lang="zh-CN">"#), "{}", html(&r));
    assert!(html(&r).contains(r#"value="/console/orders""#));

    // A wrong token: 401, the form again, no cookie.
    let r = submit(&app, "/console/sign-in", None, "token=gj_nonsense").await;
    assert_eq!(r.status, 401);
    assert!(html(&r).contains("令牌无效"));
    assert!(set_cookie(&r).is_empty());

    // A token: a session cookie only scripts cannot read, sent to same-site requests only.
    let r = submit(
        &app,
        "/console/sign-in",
        None,
        &format!("token={}&next=%2Fconsole%2Forders", w.a.volunteer_token),
    )
    .await;
    assert_eq!(r.status, 303);
    assert_eq!(location(&r), "/console/orders");
    let cookie = set_cookie(&r);
    assert!(cookie.starts_with("gj_session="), "{cookie}");
    for part in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    let volunteer = session_of(&r);
    // Another site as `next` is not followed.
    let r = submit(
        &app,
        "/console/sign-in",
        None,
        &format!(
            "token={}&next=https%3A%2F%2Fevil.example%2F",
            w.a.volunteer_token
        ),
    )
    .await;
    assert_eq!(location(&r), "/console/orders");

    // Over TLS (as the proxy says), the cookie is a `__Host-` cookie, `Secure`.
    let mut req = request(
        Method::POST,
        "/console/sign-in",
        None,
        Some(&format!("token={}", w.a.volunteer_token)),
    );
    req.headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let r = app.raw(req).await;
    let cookie = set_cookie(&r);
    assert!(cookie.starts_with("__Host-gj_session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");

    let r = page(&app, "/console/orders", Some(&volunteer)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("我的订单"));
    assert_eq!(
        r.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store",
        "pages with people's data are not cached"
    );

    // The street admin issues a sign-in link for the volunteer: shown once, with a QR code.
    let admin = sign_in(&app, &w.a.admin).await;
    let r = submit(
        &app,
        &format!("/console/streets/{}/sign-in-links", w.a.id),
        Some(&admin),
        &format!("role=volunteer&volunteer_id={}", w.a.volunteer),
    )
    .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("<svg"), "a QR code");
    assert!(html(&r).contains("http://console.test/console/link/"));
    let secret = link_secret(html(&r));
    // Not for another street's volunteer, nor on another street's pages.
    let r = submit(
        &app,
        &format!("/console/streets/{}/sign-in-links", w.b.id),
        Some(&admin),
        &format!("role=volunteer&volunteer_id={}", w.b.volunteer),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = submit(
        &app,
        &format!("/console/streets/{}/sign-in-links", w.a.id),
        Some(&admin),
        &format!("role=volunteer&volunteer_id={}", w.b.volunteer),
    )
    .await;
    assert_eq!(r.status, 404);
    // A volunteer issues none.
    let r = submit(
        &app,
        &format!("/console/streets/{}/sign-in-links", w.a.id),
        Some(&volunteer),
        "role=grid_worker&name=%E7%8E%8B%E4%BA%94",
    )
    .await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "{}", r.status);

    // Opening the link (a chat app's preview) does not use it; confirming does, once.
    for _ in 0..2 {
        let r = page(&app, &format!("/console/link/{secret}"), None).await;
        assert_eq!(r.status, 200);
        assert!(html(&r).contains("确认登录"));
    }
    let r = submit(&app, &format!("/console/link/{secret}"), None, "").await;
    assert_eq!(r.status, 303, "{}", html(&r));
    assert_eq!(location(&r), "/console/orders");
    let by_link = session_of(&r);
    assert_eq!(
        page(&app, "/console/orders", Some(&by_link)).await.status,
        200
    );
    let r = submit(&app, &format!("/console/link/{secret}"), None, "").await;
    assert_eq!(r.status, 401);
    assert!(html(&r).contains("已使用或已过期"));
    assert!(set_cookie(&r).is_empty());

    // Revoking the token a session acts through ends the session.
    let issued = app
        .post(
            "/api/v1/tokens",
            &w.a.admin,
            json!({"role": "grid_worker", "name": "网格员王五", "street_id": w.a.id}),
        )
        .await
        .expect(201);
    let grid_worker = sign_in(&app, issued["token"].as_str().unwrap()).await;
    assert_eq!(
        page(&app, "/console/demands", Some(&grid_worker))
            .await
            .status,
        200
    );
    app.delete(
        &format!("/api/v1/tokens/{}", issued["id"].as_str().unwrap()),
        &w.a.admin,
    )
    .await
    .expect(204);
    let r = page(&app, "/console/demands", Some(&grid_worker)).await;
    assert_eq!(r.status, 303, "a revoked token's session is over");

    // Archiving the person ends every session they have, by token or by link.
    app.delete(&format!("/api/v1/volunteers/{}", w.a.volunteer), &w.a.admin)
        .await
        .expect(204);
    for s in [&volunteer, &by_link] {
        assert_eq!(page(&app, "/console/orders", Some(s)).await.status, 303);
    }

    // Signing out ends the session and clears the cookie.
    let r = submit(&app, "/console/sign-out", Some(&admin), "").await;
    assert_eq!(r.status, 303);
    assert!(set_cookie(&r).contains("Max-Age=0"));
    let r = page(&app, &format!("/console/streets/{}", w.a.id), Some(&admin)).await;
    assert_eq!(r.status, 303);
}

#[tokio::test]
async fn forged_cross_site_posts_change_nothing() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let (_, order) = offered_repair(&app, &w.a).await;
    let volunteer = sign_in(&app, &w.a.volunteer_token).await;

    let forged = |site: Option<&str>, origin: Option<&str>| {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("/console/orders/{order}/accept"))
            .header(header::HOST, "console.test")
            .header(header::COOKIE, format!("gj_session={volunteer}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        req.body(Body::empty()).unwrap()
    };
    for (site, origin) in [
        (Some("cross-site"), Some("https://evil.example")),
        (Some("same-site"), Some("http://other.console.test")),
        (None, Some("https://evil.example")),
        (None, Some("http://console.test.evil.example")),
        (None, Some("null")),
    ] {
        let r = app.raw(forged(site, origin)).await;
        assert_eq!(r.status, 403, "{site:?} {origin:?}");
        assert!(html(&r).contains("请求来源无法验证"));
    }
    let o = app
        .get(&format!("/api/v1/orders/{order}"), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(
        o["status"], "offered",
        "no forged request accepted the order"
    );

    // The same request from the console's own page goes through.
    let r = app.raw(forged(None, Some("http://console.test"))).await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let r = submit(
        &app,
        &format!("/console/orders/{order}/start"),
        Some(&volunteer),
        "",
    )
    .await;
    assert_eq!(r.status, 303);
    let o = app
        .get(&format!("/api/v1/orders/{order}"), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(o["status"], "in_progress");
}

#[tokio::test]
async fn pages_show_what_the_api_shows_to_the_same_person() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let (demand, order) = offered_repair(&app, &w.a).await;
    let volunteer = sign_in(&app, &w.a.volunteer_token).await;
    let grid_worker = sign_in(&app, &w.a.grid_worker).await;
    let other_admin = sign_in(&app, &w.b.admin).await;
    let district = sign_in(&app, &app.admin).await;

    // Offered, the volunteer sees the resident masked, why the rule chose them, the deadline.
    let r = page(&app, "/console/orders", Some(&volunteer)).await;
    let inbox = html(&r);
    assert!(
        inbox.contains(&format!(r#"data-order="{order}""#)),
        "{inbox}"
    );
    assert!(inbox.contains("139****5678"), "{inbox}");
    assert!(!inbox.contains("13912345678"), "the phone is masked");
    assert!(inbox.contains("推荐理由"));
    assert!(inbox.contains("接单截止"));
    // The API says the same: the reason and the deadline are the volunteer's to see.
    let api = app
        .get(&format!("/api/v1/orders/{order}"), &w.a.volunteer_token)
        .await
        .expect(200);
    assert_eq!(api["resident"]["phone"], "139****5678");
    assert_eq!(api["your_offer"], "open");
    let because = api["offered_because"].as_str().expect("the rule's reason");
    assert!(inbox.contains(because), "{because} not on the page");
    assert!(api["accept_deadline"].is_string());
    assert!(api.get("ranking").is_none(), "the ranking is the staff's");

    // Accepted, the assignee sees the phone to call.
    assert_eq!(
        submit(
            &app,
            &format!("/console/orders/{order}/accept"),
            Some(&volunteer),
            ""
        )
        .await
        .status,
        303
    );
    let r = page(&app, "/console/orders", Some(&volunteer)).await;
    assert!(html(&r).contains("tel:13912345678"), "{}", html(&r));

    // The grid worker sees the demand in full, with its timeline.
    let r = page(
        &app,
        &format!("/console/demands/{demand}"),
        Some(&grid_worker),
    )
    .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("13912345678"));
    assert!(
        html(&r).contains(r#"<span class="action">接单</span>"#),
        "the timeline: {}",
        html(&r)
    );

    // Another street's pages are 404, as in the API.
    for path in [
        format!("/console/demands/{demand}"),
        format!("/console/streets/{}", w.a.id),
        format!("/console/streets/{}/people", w.a.id),
    ] {
        let r = page(&app, &path, Some(&other_admin)).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(html(&r).contains("页面不存在"));
        assert!(!html(&r).contains("13912345678"));
    }
    // A volunteer sees no street's figures; its street's demand, as in the API, masked and
    // with nothing to rate.
    let r = page(
        &app,
        &format!("/console/streets/{}", w.a.id),
        Some(&volunteer),
    )
    .await;
    assert_eq!(r.status, 404);
    let api = app
        .get(&format!("/api/v1/demands/{demand}"), &w.a.volunteer_token)
        .await
        .expect(200);
    assert_eq!(api["resident"]["phone"], "139****5678");
    let r = page(
        &app,
        &format!("/console/demands/{demand}"),
        Some(&volunteer),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(html(&r).contains("139****5678"));
    assert!(!html(&r).contains("13912345678"));
    assert!(
        !html(&r).contains("/rate\""),
        "only staff rate for the resident"
    );

    // The street's dashboard and the district's view count the demands filed today.
    let admin = sign_in(&app, &w.a.admin).await;
    let r = page(&app, &format!("/console/streets/{}", w.a.id), Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(
        html(&r).contains(r#"<dd data-fig="received">2</dd>"#),
        "{}",
        html(&r)
    );
    let r = page(&app, "/console/district", Some(&district)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains(&format!(r#"href="/console/streets/{}""#, w.a.id)));
    assert!(html(&r).contains(&format!(r#"href="/console/streets/{}""#, w.b.id)));
    assert!(html(&r).contains("<title>全区街道"), "{}", html(&r));
    // A street's admin who types the address sees their own street, named as such.
    let r = page(&app, "/console/district", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("<title>本街道"), "{}", html(&r));
    assert!(html(&r).contains(&format!(r#"href="/console/streets/{}""#, w.a.id)));
    assert!(!html(&r).contains(&format!(r#"href="/console/streets/{}""#, w.b.id)));

    // Pages and assets go gzipped to a browser that takes it.
    for path in [
        format!("/console/streets/{}", w.a.id),
        "/console/assets/htmx-2.0.11.min.js".to_string(),
    ] {
        let mut req = request(Method::GET, &path, Some(&admin), None);
        req.headers_mut()
            .insert(header::ACCEPT_ENCODING, "gzip".parse().unwrap());
        let r = app.raw(req).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.headers
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap()),
            Some("gzip"),
            "{path}"
        );
    }

    // An unknown console page is an HTML 404.
    let r = page(&app, "/console/nowhere", Some(&admin)).await;
    assert_eq!(r.status, 404);
    assert!(html(&r).contains("页面不存在"));

    // English by the browser's language, or by the switch.
    let mut req = request(Method::GET, "/console/orders", Some(&volunteer), None);
    req.headers_mut()
        .insert(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9".parse().unwrap());
    let r = app.raw(req).await;
    assert!(html(&r).contains(r#"<html lang="en">"#));
    assert!(html(&r).contains("My orders"));
    let mut req = request(
        Method::POST,
        "/console/lang",
        Some(&volunteer),
        Some("lang=en"),
    );
    req.headers_mut().insert(
        header::REFERER,
        "http://console.test/console/orders".parse().unwrap(),
    );
    let r = app.raw(req).await;
    assert_eq!(location(&r), "/console/orders");
    assert!(set_cookie(&r).starts_with("gj_lang=en;"));
}

#[tokio::test]
async fn filing_on_the_form_shows_each_error_at_its_field() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let grid_worker = sign_in(&app, &w.a.grid_worker).await;
    let r = page(&app, "/console/demands/new", Some(&grid_worker)).await;
    assert_eq!(r.status, 200);
    assert!(html(&r).contains(&format!(r#"value="{}""#, w.a.grid)));

    let form = |phone: &str, description: &str| {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "grid_id={}&category=elderly_care&urgency=high&resident_name={}&resident_phone={}&resident_address={}&description={}&window_start=2026-12-06T09%3A00&window_end=2026-12-06T11%3A00",
            w.a.grid,
            enc("李秀英"),
            enc(phone),
            enc("魏鑫家园3号楼"),
            enc(description)
        )
    };
    let r = submit(
        &app,
        "/console/demands",
        Some(&grid_worker),
        &form("12", ""),
    )
    .await;
    assert_eq!(r.status, 422, "{}", html(&r));
    let body = html(&r);
    assert!(body.contains("请检查填写的内容"));
    assert!(body.contains(r#"value="李秀英""#), "what was typed stays");
    assert_eq!(body.matches(r#"class="field-error""#).count(), 2, "{body}");

    let r = submit(
        &app,
        "/console/demands",
        Some(&grid_worker),
        &form("13912345678", "需要上门助浴"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let demand = location(&r)
        .trim_start_matches("/console/demands/")
        .to_string();
    let d = app
        .get(&format!("/api/v1/demands/{demand}"), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(d["channel"], "grid_worker");
    assert_eq!(d["urgency"], "high");
    assert_eq!(d["window_start"], "2026-12-06T01:00:00.000000Z");
    assert_eq!(d["resident"]["phone"], "13912345678");
}

/// Reads an event stream until `want` appears in it, or gives up after `frames` frames (or a
/// minute: what is awaited comes within seconds, and the stream's keep-alives are 15 s apart).
async fn read_until(body: &mut Body, want: &str, frames: usize) -> String {
    let mut seen = String::new();
    let read = async {
        for _ in 0..frames {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        seen.push_str(&String::from_utf8_lossy(data));
                    }
                    if seen.contains(want) {
                        return true;
                    }
                }
                _ => break,
            }
        }
        false
    };
    match tokio::time::timeout(std::time::Duration::from_secs(60), read).await {
        Ok(true) => seen,
        _ => panic!("{want:?} never came; the stream said:\n{seen}"),
    }
}

#[tokio::test]
async fn a_live_stream_resumes_after_the_last_event_it_sent() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let volunteer = sign_in(&app, &w.a.volunteer_token).await;
    let other_volunteer_token = app
        .token(RoleKind::Volunteer, None, None, Some(&w.b.volunteer))
        .await;
    let other = sign_in(&app, &other_volunteer_token).await;
    let (_, order) = offered_repair(&app, &w.a).await;
    let events = app
        .get(&format!("/api/v1/orders/{order}/events"), &w.a.admin)
        .await
        .expect(200);
    let offered = events["items"][0]["id"].as_str().unwrap().to_string();

    // From before the offer, the volunteer's stream sends it.
    let stream = |session: &str, last: &str| {
        let mut req = request(Method::GET, "/console/live", Some(session), None);
        req.headers_mut()
            .insert("last-event-id", last.parse().unwrap());
        req
    };
    let before = "00000000-0000-7000-8000-000000000000";
    let mut req = stream(&volunteer, before);
    req.headers_mut()
        .insert(header::ACCEPT_ENCODING, "gzip".parse().unwrap());
    let res = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().get(header::CONTENT_ENCODING).is_none(),
        "events are sent as they happen, not held for a compressor"
    );
    assert_eq!(
        res.headers().get(header::CONTENT_TYPE).unwrap(),
        "text/event-stream"
    );
    let mut body = res.into_body();
    let seen = read_until(&mut body, &format!("id: {offered}"), 50).await;
    assert!(seen.contains("event: change"), "{seen}");
    assert!(seen.contains(&order), "{seen}");

    // Resuming after it, the next change is what comes: the acceptance.
    let res = app
        .router
        .clone()
        .oneshot(stream(&volunteer, &offered))
        .await
        .unwrap();
    let mut body = res.into_body();
    app.post(
        &format!("/api/v1/orders/{order}/accept"),
        &w.a.volunteer_token,
        json!({}),
    )
    .await
    .expect(200);
    read_until(&mut body, "accepted", 50).await;

    // A change whose id was made before the last one sent, committed only now (as concurrent
    // transactions on PostgreSQL can), still comes.
    let late = {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        uuid::Builder::from_unix_timestamp_millis(now - 2_000, &[7; 10]).into_uuid()
    };
    sqlx::query(
        "INSERT INTO events (id, subject_kind, subject_id, actor, action, note, at) \
         VALUES ($1, 'order', $2, 'test', 'late', NULL, '2026-01-01T00:00:00.000000Z')",
    )
    .bind(late.to_string())
    .bind(&order)
    .execute(app.db.write())
    .await
    .unwrap();
    let seen = read_until(&mut body, &format!("id: {late}"), 50).await;
    assert_eq!(
        seen.matches("\"accepted\"").count(),
        0,
        "what was sent is not sent again: {seen}"
    );

    // Signed out, the stream ends.
    submit(&app, "/console/sign-out", Some(&volunteer), "").await;
    let ended = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        while let Some(frame) = body.frame().await {
            frame.expect("the stream ends cleanly");
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its session");

    // A volunteer of another street hears nothing of this order.
    let res = app
        .router
        .clone()
        .oneshot(stream(&other, before))
        .await
        .unwrap();
    let mut body = res.into_body();
    let quiet = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        read_until(&mut body, &order, 5).await
    })
    .await;
    assert!(
        quiet.is_err(),
        "another street's volunteer heard of the order"
    );
}

/// The `value` of the page's `<textarea id="source">`, unescaped as a browser would.
fn textarea(page: &str, id: &str) -> String {
    let start = page
        .find(&format!(r#"<textarea id="{id}""#))
        .unwrap_or_else(|| panic!("no {id} on the page"));
    let open = start + page[start..].find('>').unwrap() + 1;
    let close = open + page[open..].find("</textarea>").unwrap();
    unescape(&page[open..close])
}

/// Text from HTML: its character references replaced by the characters they stand for.
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find(';').expect("a character reference ends with ;");
        let name = &after[1..end];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "amp" => '&',
            n if n.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&n[2..], 16).unwrap()).unwrap()
            }
            n if n.starts_with('#') => char::from_u32(n[1..].parse().unwrap()).unwrap(),
            other => panic!("unknown character reference &{other};"),
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_street_writes_dry_runs_activates_and_rolls_back_its_rule_in_the_console() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let (demand, _) = offered_repair(&app, &w.a).await;
    let admin = sign_in(&app, &w.a.admin).await;
    let base = format!("/console/streets/{}/plugins", w.a.id);

    // The page starts from an example rule; saved unchanged, it is a valid version.
    let r = page(&app, &base, Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("内置默认规则"));
    let example = textarea(html(&r), "source");
    assert!(example.contains("fn score(c, d, config)"), "{example}");

    // A syntax error is shown at its line and column, with the line.
    let broken = "fn score(c, d, config) {\n  let = 1;\n}";
    let r = submit(
        &app,
        &base,
        Some(&admin),
        &format!("source={}&config=&note=", encode(broken)),
    )
    .await;
    assert_eq!(r.status, 422, "{}", html(&r));
    let body = html(&r);
    assert!(body.contains("<span data-line>2</span>"), "{body}");
    assert!(body.contains("<span data-column>"), "{body}");
    assert!(body.contains("  let = 1;"), "the line itself: {body}");
    assert_eq!(textarea(body, "source"), broken, "what was typed stays");
    // Bad configuration is refused at its field too.
    let r = submit(
        &app,
        &base,
        Some(&admin),
        &format!("source={}&config={}", encode(&example), encode("{weights")),
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(html(&r).contains("not JSON"), "{}", html(&r));

    let r = submit(
        &app,
        &base,
        Some(&admin),
        &format!(
            "source={}&config=%7B%7D&note={}",
            encode(&example),
            encode("试用")
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let version_page = location(&r).to_string();
    let version = version_page.rsplit('/').next().unwrap().to_string();

    // A dry run on one of the street's demands shows the ranking with the rule's reasons,
    // and dispatches nothing.
    let r = submit(
        &app,
        &format!("{version_page}/dry-run"),
        Some(&admin),
        &format!("demand_id={demand}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("街道规则"), "{}", html(&r));
    assert!(html(&r).contains("张志强"), "{}", html(&r));
    let orders = app
        .get(&format!("/api/v1/orders?demand_id={demand}"), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(orders["items"].as_array().unwrap().len(), 1, "no new order");

    // Activated, the street's rule is the version; rolled back, the built-in rule again.
    let r = submit(&app, &format!("{version_page}/activate"), Some(&admin), "").await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let active = app
        .get(
            &format!("/api/v1/streets/{}/plugins/active", w.a.id),
            &w.a.admin,
        )
        .await
        .expect(200);
    assert_eq!(active["version"]["id"], version.as_str());
    let r = page(&app, &base, Some(&admin)).await;
    assert!(html(&r).contains("使用中"));
    assert_eq!(
        textarea(html(&r), "source"),
        example,
        "the rule in use is the start"
    );
    let r = submit(&app, &format!("{base}/rollback"), Some(&admin), "").await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let active = app
        .get(
            &format!("/api/v1/streets/{}/plugins/active", w.a.id),
            &w.a.admin,
        )
        .await
        .expect(200);
    assert!(active["version"].is_null(), "{active}");

    // A WebAssembly module uploads as a file.
    let boundary = "gjboundary";
    let mut multipart = Vec::new();
    for (name, file, bytes) in [
        (
            "module",
            Some("same_day.wasm"),
            crate::example_plugins::wasm_bytes("same_day"),
        ),
        ("config", None, b"{}".to_vec()),
        ("note", None, "当日必达".as_bytes().to_vec()),
    ] {
        multipart.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => multipart.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/wasm\r\n\r\n").as_bytes(),
            ),
            None => multipart.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        multipart.extend_from_slice(&bytes);
        multipart.extend_from_slice(b"\r\n");
    }
    multipart.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{base}/wasm"))
        .header(header::HOST, "console.test")
        .header("sec-fetch-site", "same-origin")
        .header(header::COOKIE, format!("gj_session={admin}"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(multipart))
        .unwrap();
    let r = app.raw(req).await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let r = page(&app, &base, Some(&admin)).await;
    assert!(html(&r).contains("当日必达"), "{}", html(&r));

    // Another street's admin finds no such page, and changes nothing.
    let other = sign_in(&app, &w.b.admin).await;
    assert_eq!(page(&app, &base, Some(&other)).await.status, 404);
    assert_eq!(
        submit(&app, &format!("{version_page}/activate"), Some(&other), "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn staff_dispatch_from_a_demands_page_and_the_resident_rates_through_its_qr_code() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let demand = id(&app
        .post("/api/v1/demands", &w.a.grid_worker, repair_body(&w.a.grid))
        .await
        .expect(201));
    let admin = sign_in(&app, &w.a.admin).await;
    let grid_worker = sign_in(&app, &w.a.grid_worker).await;
    let volunteer = sign_in(&app, &w.a.volunteer_token).await;
    let path = format!("/console/demands/{demand}");

    // Open, the street's staff see how the rule ranks it, with reasons, and dispatch it.
    let r = page(&app, &path, Some(&admin)).await;
    assert!(html(&r).contains(r#"id="ranking""#), "{}", html(&r));
    assert!(html(&r).contains("张志强"));
    assert!(html(&r).contains("技能/类别匹配"));
    // A volunteer sees neither the ranking nor the button.
    let r = page(&app, &path, Some(&volunteer)).await;
    assert_eq!(r.status, 200);
    assert!(!html(&r).contains(r#"id="ranking""#));
    assert_eq!(
        submit(
            &app,
            &format!("{path}/dispatch"),
            Some(&volunteer),
            "offer_count=2"
        )
        .await
        .status,
        403
    );
    let r = submit(
        &app,
        &format!("{path}/dispatch"),
        Some(&admin),
        "offer_count=2",
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let orders = app
        .get(&format!("/api/v1/orders?demand_id={demand}"), &w.a.admin)
        .await
        .expect(200);
    let order = orders["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(orders["items"][0]["status"], "offered");
    let r = page(&app, &path, Some(&admin)).await;
    assert!(html(&r).contains("张志强（待接单）"), "{}", html(&r));
    assert!(
        !html(&r).contains(r#"id="ranking""#),
        "dispatched, not open"
    );

    // Done by the volunteer, the grid worker hands the resident a one-time QR code.
    for step in ["accept", "start"] {
        app.post(
            &format!("/api/v1/orders/{order}/{step}"),
            &w.a.volunteer_token,
            json!({}),
        )
        .await
        .expect(200);
    }
    app.post(
        &format!("/api/v1/orders/{order}/complete"),
        &w.a.volunteer_token,
        json!({"service_minutes": 30}),
    )
    .await
    .expect(200);
    // The volunteer's page counts what it has done, as the orders say.
    let done = app
        .get(&format!("/api/v1/orders/{order}"), &w.a.admin)
        .await
        .expect(200);
    let r = page(&app, "/console/orders", Some(&volunteer)).await;
    assert!(
        html(&r).contains(r#"<dd data-total="completed">1</dd>"#),
        "{}",
        html(&r)
    );
    assert!(html(&r).contains(r#"<dd data-total="hours">0.5</dd>"#));
    let points = format!(
        r#"<dd data-total="points">{:.1}</dd>"#,
        done["points"].as_f64().unwrap_or(0.0)
    );
    assert!(html(&r).contains(&points), "{points} in {}", html(&r));
    assert!(html(&r).contains("维修、陪护"), "the volunteer's skills");

    let r = submit(
        &app,
        &format!("{path}/feedback-link"),
        Some(&grid_worker),
        &format!("order_id={order}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("<svg"));
    let re = regex::Regex::new(r"http://console\.test/console/feedback/([A-Za-z0-9_-]+)").unwrap();
    let token = re
        .captures(html(&r))
        .unwrap_or_else(|| panic!("no feedback link: {}", html(&r)))[1]
        .to_string();

    // The resident opens it without signing in: the service, no one's personal data.
    let feedback = format!("/console/feedback/{token}");
    let r = page(&app, &feedback, None).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("独居老人需要每周上门助浴"));
    assert!(!html(&r).contains("13912345678") && !html(&r).contains("13800001111"));
    let r = submit(&app, &feedback, None, "rating=5&comment=%E5%BE%88%E5%A5%BD").await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("感谢您的评价"));
    let r = submit(&app, &feedback, None, "rating=1").await;
    assert_eq!(r.status, 409, "once only");
    assert!(html(&r).contains("已经评价过"));
    let rated = app
        .get(&format!("/api/v1/orders/{order}"), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(rated["rating"], 5);
    let r = page(&app, "/console/feedback/not-a-link", None).await;
    assert_eq!(r.status, 404);
    assert!(html(&r).contains("已失效"));
}

#[tokio::test]
async fn the_demand_list_filters_and_exports_what_it_shows() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let mut body = demand_body(&w.a.grid);
    body["category"] = json!("repair");
    body["description"] = json!("=1+1 厨房水龙头漏水");
    let repair = id(&app
        .post("/api/v1/demands", &w.a.grid_worker, body)
        .await
        .expect(201));
    let admin = sign_in(&app, &w.a.admin).await;
    let listed = |r: &Resp, demand: &str| html(r).contains(&format!(r#"data-demand="{demand}""#));

    let r = page(&app, "/console/demands", Some(&admin)).await;
    assert!(
        listed(&r, &repair) && listed(&r, &w.a.demand),
        "{}",
        html(&r)
    );
    let r = page(&app, "/console/demands?category=repair", Some(&admin)).await;
    assert!(listed(&r, &repair) && !listed(&r, &w.a.demand));
    assert!(
        html(&r).contains(r#"<option value="repair" selected>"#),
        "the filter stays chosen"
    );
    let r = page(&app, "/console/demands?status=completed", Some(&admin)).await;
    assert!(!listed(&r, &repair) && html(&r).contains("暂无诉求"));
    let r = page(
        &app,
        "/console/demands?from=2000-01-01&to=2000-01-31",
        Some(&admin),
    )
    .await;
    assert!(!listed(&r, &repair));
    let r = page(&app, "/console/demands?from=2000-01-01", Some(&admin)).await;
    assert!(listed(&r, &repair) && listed(&r, &w.a.demand));
    for bad in [
        "status=bogus",
        "grid_id=nope",
        "flagged=maybe",
        "from=2026-13-01",
    ] {
        let r = page(&app, &format!("/console/demands?{bad}"), Some(&admin)).await;
        assert_eq!(r.status, 400, "{bad}");
    }

    // The export holds what the filters select, residents as the list shows them, and no
    // cell a spreadsheet would run as a formula.
    let r = page(&app, "/console/demands.csv?category=repair", Some(&admin)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers.get(header::CONTENT_TYPE).unwrap(),
        "text/csv; charset=utf-8"
    );
    let csv = html(&r);
    assert!(
        csv.starts_with('\u{feff}'),
        "a byte-order mark for spreadsheets"
    );
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 2, "a header and the repair: {csv}");
    assert!(lines[1].starts_with(&repair));
    assert!(
        lines[1].contains("13912345678"),
        "the street's admin sees the phone"
    );
    assert!(lines[1].contains("'=1+1 厨房水龙头漏水"), "{}", lines[1]);

    // A volunteer exports what the API lists for it, masked as the API masks it.
    let volunteer = sign_in(&app, &w.a.volunteer_token).await;
    let api = app.get("/api/v1/demands", &w.a.volunteer_token).await;
    let r = page(&app, "/console/demands.csv", Some(&volunteer)).await;
    assert_eq!(r.status, api.status);
    if r.status == 200 {
        assert!(!html(&r).contains("13912345678"), "{}", html(&r));
        assert_eq!(
            html(&r).trim_end().split("\r\n").count() - 1,
            api.body["items"].as_array().unwrap().len()
        );
    }
}

#[tokio::test]
async fn a_unit_registers_and_pauses_resources_and_claims_projects_in_the_console() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let unit = sign_in(&app, &w.a.unit_token).await;

    let r = page(&app, "/console/resources", Some(&unit)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("免费体检"));
    assert!(html(&r).contains(&format!(r#"data-resource="{}""#, w.a.resource)));

    // Registering: errors at their fields, what was typed kept; then the resource.
    let form = |title: &str, capacity: &str| {
        format!(
            "title={}&category=elderly_care&capacity={capacity}&street_id={}&description=",
            encode(title),
            w.a.id
        )
    };
    let r = submit(
        &app,
        "/console/resources",
        Some(&unit),
        &form("上门理发", "0"),
    )
    .await;
    assert_eq!(r.status, 422, "{}", html(&r));
    assert!(html(&r).contains(r#"class="field-error""#));
    assert!(html(&r).contains(r#"value="上门理发""#));
    let r = submit(
        &app,
        "/console/resources",
        Some(&unit),
        &form("上门理发", "5"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let listed = app
        .get(
            &format!("/api/v1/resources?owner_unit_id={}", w.a.unit),
            &w.a.admin,
        )
        .await
        .expect(200);
    let titles: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"上门理发"), "{titles:?}");

    // Paused, then more capacity.
    let path = format!("/console/resources/{}", w.a.resource);
    assert_eq!(
        submit(&app, &path, Some(&unit), "status=paused")
            .await
            .status,
        303
    );
    assert_eq!(
        submit(&app, &path, Some(&unit), "capacity=30").await.status,
        303
    );
    let res = app
        .get(&format!("/api/v1/resources/{}", w.a.resource), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(res["status"], "paused");
    assert_eq!(res["capacity"], 30);
    // Another street's unit changes nothing of it.
    let other = sign_in(&app, &w.b.unit_token).await;
    let r = submit(&app, &path, Some(&other), "status=active").await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "{}", r.status);
    // A volunteer has no such page.
    let volunteer = sign_in(&app, &w.a.volunteer_token).await;
    assert_eq!(
        page(&app, "/console/resources", Some(&volunteer))
            .await
            .status,
        403
    );

    // The street's published project: claimed, started, reported on.
    let r = page(&app, "/console/projects", Some(&unit)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("发布项目"));
    assert!(
        !html(&r).contains("草稿项目"),
        "drafts are the street's own"
    );
    let project = &w.a.published_project;
    let r = submit(
        &app,
        &format!("/console/projects/{project}/claim"),
        Some(&unit),
        "",
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let r = submit(
        &app,
        &format!("/console/projects/{project}/progress"),
        Some(&unit),
        &format!("note={}&start=1", encode("已完成 3 户扶手安装")),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let p = app
        .get(&format!("/api/v1/projects/{project}"), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(p["status"], "in_progress");
    assert_eq!(p["claimed_by_unit_id"], w.a.unit.as_str());
    let r = page(&app, "/console/projects", Some(&unit)).await;
    assert!(html(&r).contains("已完成 3 户扶手安装"), "{}", html(&r));
    assert!(html(&r).contains("实施中"));
}

#[tokio::test]
async fn a_street_sets_its_dispatch_and_revokes_a_persons_access_in_the_console() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let admin = sign_in(&app, &w.a.admin).await;
    let base = format!("/console/streets/{}/settings", w.a.id);

    let r = page(&app, &base, Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains(r#"data-category="repair""#));
    let r = submit(
        &app,
        &format!("{base}/repair"),
        Some(&admin),
        "offer_count=0&accept_minutes=20&complete_minutes=",
    )
    .await;
    assert_eq!(r.status, 422, "{}", html(&r));
    let r = submit(
        &app,
        &format!("{base}/repair"),
        Some(&admin),
        "auto_dispatch=1&offer_count=2&accept_minutes=20&complete_minutes=",
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let set = app
        .get(
            &format!("/api/v1/streets/{}/dispatch-settings", w.a.id),
            &w.a.admin,
        )
        .await
        .expect(200);
    let repair = set["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "repair")
        .unwrap_or_else(|| panic!("{set}"));
    assert_eq!(repair["settings"]["auto_dispatch"], true);
    assert_eq!(repair["settings"]["offer_count"], 2);
    assert_eq!(repair["settings"]["accept_minutes"], 20);
    assert!(repair["settings"]["complete_minutes"].is_null());
    // A repair filed now is dispatched on filing.
    {
        let d = id(&app
            .post("/api/v1/demands", &w.a.grid_worker, repair_body(&w.a.grid))
            .await
            .expect(201));
        let orders = app
            .get(&format!("/api/v1/orders?demand_id={d}"), &w.a.admin)
            .await
            .expect(200);
        assert_eq!(
            orders["items"].as_array().unwrap().len(),
            1,
            "dispatched on filing"
        );
    }
    // Another street's admin changes nothing here.
    let other = sign_in(&app, &w.b.admin).await;
    let r = submit(
        &app,
        &format!("{base}/repair"),
        Some(&other),
        "offer_count=5&accept_minutes=20",
    )
    .await;
    assert_eq!(r.status, 404);

    // The people page lists the street's credentials; revoking one ends its sessions.
    let issued = app
        .post(
            "/api/v1/tokens",
            &w.a.admin,
            json!({"role": "grid_worker", "name": "网格员王五", "street_id": w.a.id}),
        )
        .await
        .expect(201);
    let token_id = issued["id"].as_str().unwrap().to_string();
    let grid_worker = sign_in(&app, issued["token"].as_str().unwrap()).await;
    let people = format!("/console/streets/{}/people", w.a.id);
    let r = page(&app, &people, Some(&admin)).await;
    assert!(
        html(&r).contains(&format!(r#"data-token="{token_id}""#)),
        "{}",
        html(&r)
    );
    let revoke = format!("/console/streets/{}/tokens/{token_id}/revoke", w.a.id);
    let r = submit(
        &app,
        &format!("/console/streets/{}/tokens/{token_id}/revoke", w.b.id),
        Some(&other),
        "",
    )
    .await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "{}", r.status);
    assert_eq!(
        page(&app, "/console/demands", Some(&grid_worker))
            .await
            .status,
        200,
        "not revoked by another street"
    );
    let r = submit(&app, &revoke, Some(&admin), "").await;
    assert_eq!(r.status, 303, "{}", html(&r));
    assert_eq!(
        page(&app, "/console/demands", Some(&grid_worker))
            .await
            .status,
        303,
        "the revoked person is signed out"
    );
    let r = page(&app, &people, Some(&admin)).await;
    assert!(!html(&r).contains(&format!(r#"data-token="{token_id}""#)));
}

#[tokio::test]
async fn the_escalation_queue_shows_what_is_still_being_handled() {
    let clock = gongjian_core::domain::clock::ManualClock::new(time::OffsetDateTime::now_utc());
    let app = TestApp::spawn_with_clock(std::sync::Arc::new(clock.clone())).await;
    let w = World::build(&app).await;
    app.put(
        &format!("/api/v1/streets/{}/dispatch-settings/repair", w.a.id),
        &w.a.admin,
        json!({"auto_dispatch": false, "offer_count": 5, "accept_minutes": 30, "complete_minutes": 60}),
    )
    .await
    .expect(200);
    let (demand, order) = offered_repair(&app, &w.a).await;
    app.post(
        &format!("/api/v1/orders/{order}/accept"),
        &w.a.volunteer_token,
        json!({}),
    )
    .await
    .expect(200);
    clock.advance(time::Duration::minutes(61));
    assert_eq!(
        gongjian_core::service::scheduler::tick(&app.state)
            .await
            .unwrap()
            .overdue,
        1
    );
    let admin = sign_in(&app, &w.a.admin).await;
    let queue = format!("/console/streets/{}/escalations", w.a.id);
    let r = page(&app, &queue, Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(
        html(&r).contains(&format!(r#"href="/console/demands/{demand}""#)),
        "{}",
        html(&r)
    );
    let other = sign_in(&app, &w.b.admin).await;
    assert_eq!(page(&app, &queue, Some(&other)).await.status, 404);
    let volunteer = sign_in(&app, &w.a.volunteer_token).await;
    assert_eq!(page(&app, &queue, Some(&volunteer)).await.status, 404);

    // Done, it leaves the queue and stays on the record.
    for (step, body) in [
        ("start", json!({})),
        ("complete", json!({"service_minutes": 90})),
    ] {
        app.post(
            &format!("/api/v1/orders/{order}/{step}"),
            &w.a.volunteer_token,
            body,
        )
        .await
        .expect(200);
    }
    let r = page(&app, &queue, Some(&admin)).await;
    assert!(!html(&r).contains(&format!(r#"href="/console/demands/{demand}""#)));
    assert!(html(&r).contains("没有吹哨记录"));
    let r = page(&app, &format!("{queue}?all=1"), Some(&admin)).await;
    assert!(html(&r).contains(&format!(r#"href="/console/demands/{demand}""#)));
}

#[tokio::test]
async fn a_street_registers_and_archives_its_volunteers_in_the_console() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let admin = sign_in(&app, &w.a.admin).await;
    let path = format!("/console/streets/{}/volunteers", w.a.id);
    let form = |phone: &str| {
        format!(
            "name={}&phone={phone}&home_grid_id={}&skills={}&team={}&party_member=1",
            encode("李四"),
            w.a.grid,
            encode("维修，陪护"),
            encode("党员先锋队")
        )
    };
    let r = submit(&app, &path, Some(&admin), &form("12ab")).await;
    assert_eq!(r.status, 422, "{}", html(&r));
    assert!(html(&r).contains(r#"class="field-error""#));
    assert!(html(&r).contains(r#"value="李四""#), "what was typed stays");
    let r = submit(&app, &path, Some(&admin), &form("13800002222")).await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let listed = app
        .get(
            &format!("/api/v1/volunteers?street_id={}", w.a.id),
            &w.a.admin,
        )
        .await
        .expect(200);
    let li = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "李四")
        .unwrap_or_else(|| panic!("{listed}"))
        .clone();
    assert_eq!(li["skills"], json!(["维修", "陪护"]));
    assert_eq!(li["party_member"], true);
    assert_eq!(li["team"], "党员先锋队");
    let vid = li["id"].as_str().unwrap();

    // Another street's admin archives none of them; the street's own admin does.
    let other = sign_in(&app, &w.b.admin).await;
    let archive = format!("/console/streets/{}/volunteers/{vid}/archive", w.a.id);
    assert_eq!(submit(&app, &archive, Some(&other), "").await.status, 404);
    let r = submit(&app, &archive, Some(&admin), "").await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let v = app
        .get(&format!("/api/v1/volunteers/{vid}"), &w.a.admin)
        .await
        .expect(200);
    assert!(v["archived_at"].is_string(), "{v}");
}

/// The code and field an error page names, as `(code, field)`.
fn error_code(r: &Resp) -> (String, String) {
    let body = html(r);
    let inner = |id: &str| {
        let open = format!(r#"<code id="{id}">"#);
        body.split_once(&open)
            .and_then(|(_, rest)| rest.split_once("</code>"))
            .map(|(v, _)| v.to_string())
            .unwrap_or_default()
    };
    (inner("error-code"), inner("error-field"))
}

#[tokio::test]
async fn a_request_the_console_cannot_read_gets_a_page_naming_the_field() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let admin = sign_in(&app, &w.a.admin).await;
    let volunteer = sign_in(&app, &w.a.volunteer_token).await;
    let (_, order) = offered_repair(&app, &w.a).await;

    // A form without a field it needs: 422, in the person's language, naming the field.
    let r = submit(
        &app,
        &format!("/console/orders/{order}/decline"),
        Some(&volunteer),
        "note=x",
    )
    .await;
    assert_eq!(r.status, 422, "{}", html(&r));
    assert!(r.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(html(&r).contains("请检查填写的内容"), "{}", html(&r));
    assert_eq!(error_code(&r), ("required".into(), "reason".into()));
    // The order is still offered: nothing was declined.
    let o = app
        .get(&format!("/api/v1/orders/{order}"), &w.a.volunteer_token)
        .await
        .expect(200);
    assert_eq!(o["your_offer"], "open", "{o}");

    // An id in the path that is not an id: 400 naming it.
    let r = page(&app, "/console/demands/not-a-uuid", Some(&admin)).await;
    assert_eq!(r.status, 400, "{}", html(&r));
    assert_eq!(error_code(&r), ("invalid_path".into(), "id".into()));
    let r = submit(
        &app,
        &format!("/console/streets/{}/volunteers/nope/archive", w.a.id),
        Some(&admin),
        "",
    )
    .await;
    assert_eq!(r.status, 400, "{}", html(&r));
    assert_eq!(error_code(&r).1, "volunteer");

    // A query value the page cannot read: 400 naming the parameter.
    let r = page(&app, "/console/demands?status=lost", Some(&admin)).await;
    assert_eq!(r.status, 400, "{}", html(&r));
    assert_eq!(error_code(&r), ("invalid_query".into(), "status".into()));

    // A form of another type: 415. English when asked for.
    let mut req = request(
        Method::POST,
        &format!("/console/orders/{order}/decline"),
        Some(&volunteer),
        None,
    );
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    req.headers_mut()
        .insert(header::ACCEPT_LANGUAGE, "en".parse().unwrap());
    *req.body_mut() = Body::from(r#"{"reason":"busy"}"#);
    let r = app.raw(req).await;
    assert_eq!(r.status, 415, "{}", html(&r));
    assert!(html(&r).contains("could not be read"), "{}", html(&r));
    assert_eq!(error_code(&r).0, "unsupported_media_type");

    // A form that is not UTF-8 once decoded: 400, and nothing stored.
    let r = submit(
        &app,
        &format!("/console/orders/{order}/decline"),
        Some(&volunteer),
        "reason=%FF%FE",
    )
    .await;
    assert_eq!(r.status, 400, "{}", html(&r));
    assert_eq!(error_code(&r).0, "invalid_form");

    // A file upload that is not multipart: 415.
    let r = submit(
        &app,
        &format!("/console/streets/{}/plugins/wasm", w.a.id),
        Some(&admin),
        "module=x",
    )
    .await;
    assert_eq!(r.status, 415, "{}", html(&r));
    assert_eq!(error_code(&r).0, "unsupported_media_type");
}

#[tokio::test]
async fn the_street_office_lists_filters_and_exports_resources_and_projects() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let admin = sign_in(&app, &w.a.admin).await;
    let other_admin = sign_in(&app, &w.b.admin).await;
    let unit = sign_in(&app, &w.a.unit_token).await;
    let street = &w.a.id;
    // A second resource, paused, of the street's volunteer.
    let paused = id(&app
        .post(
            "/api/v1/resources",
            &w.a.admin,
            json!({"owner_volunteer_id": w.a.volunteer, "title": "=上门理发", "category": "elderly_care", "capacity": 3, "street_ids": [street]}),
        )
        .await
        .expect(201));
    app.patch(
        &format!("/api/v1/resources/{paused}"),
        &w.a.admin,
        json!({"status": "paused"}),
    )
    .await
    .expect(200);

    // The list, its filters and its CSV.
    let r = page(
        &app,
        &format!("/console/streets/{street}/resources"),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    for (id, owner) in [(&w.a.resource, "shixi医院"), (&paused, "张志强")] {
        assert!(html(&r).contains(&format!(r#"data-resource="{id}""#)));
        assert!(html(&r).contains(owner), "the owner {owner} is named");
    }
    assert!(
        !html(&r).contains(&w.b.resource),
        "another street's resource"
    );
    let r = page(
        &app,
        &format!("/console/streets/{street}/resources?status=paused&category=&unit_id="),
        Some(&admin),
    )
    .await;
    assert!(html(&r).contains(&format!(r#"data-resource="{paused}""#)));
    assert!(!html(&r).contains(&format!(r#"data-resource="{}""#, w.a.resource)));
    let r = page(
        &app,
        &format!("/console/streets/{street}/resources?unit_id={}", w.a.unit),
        Some(&admin),
    )
    .await;
    assert!(!html(&r).contains(&format!(r#"data-resource="{paused}""#)));
    assert!(html(&r).contains(&format!(r#"data-resource="{}""#, w.a.resource)));
    let r = page(
        &app,
        &format!("/console/streets/{street}/resources.csv?status=paused"),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200);
    let csv = html(&r);
    assert!(csv.starts_with('\u{feff}'), "a byte-order mark");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(&paused) && csv.contains("'=上门理发"), "{csv}");
    // Not the street's: not there.
    for path in [
        format!("/console/streets/{street}/resources"),
        format!("/console/streets/{street}/resources.csv"),
        format!("/console/streets/{street}/projects"),
    ] {
        let r = page(&app, &path, Some(&other_admin)).await;
        assert_eq!(r.status, 404, "{path}");
        let r = page(&app, &path, Some(&unit)).await;
        assert_eq!(r.status, 404, "{path}: a unit");
    }

    // Projects: a budget that is not a sum is shown at its field; then a published project.
    let form = |title: &str, budget: &str| {
        format!(
            "title={}&description={}&goal={}&budget={budget}&publish=1",
            encode(title),
            encode("为独居老人安装烟感"),
            encode("120户")
        )
    };
    let r = submit(
        &app,
        &format!("/console/streets/{street}/projects"),
        Some(&admin),
        &form("烟感安装", "12万"),
    )
    .await;
    assert_eq!(r.status, 422, "{}", html(&r));
    assert!(html(&r).contains("请填写金额"));
    assert!(html(&r).contains(r#"value="烟感安装""#));
    let r = submit(
        &app,
        &format!("/console/streets/{street}/projects"),
        Some(&admin),
        &form("烟感安装", "1200.5"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let projects = app
        .get(
            &format!("/api/v1/projects?street_id={street}&status=published"),
            &w.a.admin,
        )
        .await
        .expect(200);
    let created = projects["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "烟感安装")
        .expect("the project is published")
        .clone();
    assert_eq!(created["budget_fen"], 120_050);
    let project = created["id"].as_str().unwrap().to_string();

    // The draft is published from the list; the unit claims it; the street accepts it as done.
    let r = submit(
        &app,
        &format!(
            "/console/streets/{street}/projects/{}/status",
            w.a.draft_project
        ),
        Some(&admin),
        "status=published",
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let r = submit(
        &app,
        &format!("/console/projects/{project}/claim"),
        Some(&unit),
        "",
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let r = page(
        &app,
        &format!("/console/streets/{street}/projects?status=claimed"),
        Some(&admin),
    )
    .await;
    assert!(html(&r).contains(&format!(r#"data-project="{project}""#)));
    assert!(html(&r).contains("shixi医院"), "who claimed it");
    assert!(!html(&r).contains(&format!(r#"data-project="{}""#, w.a.draft_project)));
    // The unit starts it; the street may then accept it as done.
    let r = submit(
        &app,
        &format!("/console/projects/{project}/progress"),
        Some(&unit),
        &format!("note={}&start=1", encode("已进场施工")),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let r = page(
        &app,
        &format!("/console/streets/{street}/projects"),
        Some(&admin),
    )
    .await;
    assert!(html(&r).contains(&format!(
        r#"action="/console/streets/{street}/projects/{project}/complete""#
    )));
    assert!(html(&r).contains("已进场施工"), "the latest progress");
    // Another street's admin cannot close it through their own street's address.
    let r = submit(
        &app,
        &format!("/console/streets/{}/projects/{project}/complete", w.b.id),
        Some(&other_admin),
        "evaluation=x&score=5",
    )
    .await;
    assert_eq!(r.status, 404, "{}", html(&r));
    let r = submit(
        &app,
        &format!("/console/streets/{street}/projects/{project}/complete"),
        Some(&admin),
        &format!("evaluation={}&score=5", encode("按期完成，居民满意")),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let p = app
        .get(&format!("/api/v1/projects/{project}"), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(p["status"], "done");
    assert_eq!(p["evaluation_score"], 5);
    let r = page(
        &app,
        &format!("/console/streets/{street}/projects.csv?status=done"),
        Some(&admin),
    )
    .await;
    let csv = html(&r);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("1200.50") && csv.contains("按期完成"), "{csv}");
}

#[tokio::test]
async fn a_street_registers_its_grids_and_units_and_a_unit_signs_in_by_its_link() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let admin = sign_in(&app, &w.a.admin).await;
    let street = &w.a.id;
    let registry = format!("/console/streets/{street}/registry");

    let r = page(&app, &registry, Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains("魏鑫社区"));
    assert!(html(&r).contains(&format!(r#"data-grid="{}""#, w.a.grid)));
    assert!(html(&r).contains(&format!(r#"data-unit="{}""#, w.a.unit)));
    let grid_worker = sign_in(&app, &w.a.grid_worker).await;
    assert_eq!(page(&app, &registry, Some(&grid_worker)).await.status, 200);
    let other = sign_in(&app, &w.b.admin).await;
    assert_eq!(page(&app, &registry, Some(&other)).await.status, 404);

    // A community, and a grid in it; a household count that is not a number, at its field.
    let r = submit(
        &app,
        &format!("/console/streets/{street}/communities"),
        Some(&admin),
        &format!("community_name={}", encode("石溪社区")),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let communities = app
        .get(&format!("/api/v1/streets/{street}/communities"), &w.a.admin)
        .await
        .expect(200);
    let community = communities["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "石溪社区")
        .expect("the community")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let grid_form = |households: &str| {
        format!(
            "grid_community_id={community}&grid_code=g02&grid_name={}&grid_households={households}",
            encode("石溪二网格")
        )
    };
    let r = submit(
        &app,
        &format!("/console/streets/{street}/grids"),
        Some(&admin),
        &grid_form("很多"),
    )
    .await;
    assert_eq!(r.status, 422, "{}", html(&r));
    assert!(html(&r).contains("请填写整数"));
    assert!(html(&r).contains(r#"value="石溪二网格""#));
    let r = submit(
        &app,
        &format!("/console/streets/{street}/grids"),
        Some(&admin),
        &grid_form("320"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let grids = app
        .get(
            &format!("/api/v1/streets/{street}/grids?community_id={community}"),
            &w.a.admin,
        )
        .await
        .expect(200);
    assert_eq!(grids["items"][0]["code"], "g02");
    assert_eq!(grids["items"][0]["households"], 320);
    // The grid worker reads the registry but does not change it.
    let r = submit(
        &app,
        &format!("/console/streets/{street}/communities"),
        Some(&grid_worker),
        "community_name=x",
    )
    .await;
    assert_eq!(r.status, 403, "{}", html(&r));

    // A unit: a phone that is not one is shown at its field; then the unit.
    let unit_form = |phone: &str| {
        format!(
            "unit_name={}&unit_kind=school&unit_contact_name={}&unit_contact_phone={phone}&unit_address=&unit_description=",
            encode("石溪小学"),
            encode("王老师")
        )
    };
    let r = submit(
        &app,
        &format!("/console/streets/{street}/units"),
        Some(&admin),
        &unit_form("12"),
    )
    .await;
    assert_eq!(r.status, 422, "{}", html(&r));
    assert!(html(&r).contains(r#"value="石溪小学""#));
    assert_eq!(
        html(&r).matches(r#"class="field-error""#).count(),
        1,
        "{}",
        html(&r)
    );
    let r = submit(
        &app,
        &format!("/console/streets/{street}/units"),
        Some(&admin),
        &unit_form("13800001111"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let units = app
        .get(
            &format!("/api/v1/units?street_id={street}&kind=school"),
            &w.a.admin,
        )
        .await
        .expect(200);
    let school = units["items"][0]["id"].as_str().unwrap().to_string();

    // Its coordinator's sign-in link: the unit's pages.
    let r = submit(
        &app,
        &format!("/console/streets/{street}/sign-in-links"),
        Some(&admin),
        &format!("role=unit&unit_id={school}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", html(&r));
    let secret = link_secret(html(&r));
    let r = submit(&app, &format!("/console/link/{secret}"), None, "").await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let coordinator = session_of(&r);
    let r = page(&app, "/console/resources", Some(&coordinator)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    // Another street's unit gets no link here.
    let r = submit(
        &app,
        &format!("/console/streets/{street}/sign-in-links"),
        Some(&admin),
        &format!("role=unit&unit_id={}", w.b.unit),
    )
    .await;
    assert_eq!(r.status, 404, "{}", html(&r));

    // Archived: gone from the registry, and its sign-in ends.
    let r = submit(
        &app,
        &format!("/console/streets/{street}/units/{school}/archive"),
        Some(&admin),
        "",
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let r = page(&app, &registry, Some(&admin)).await;
    assert!(!html(&r).contains(&format!(r#"data-unit="{school}""#)));
    let r = page(&app, "/console/resources", Some(&coordinator)).await;
    assert_eq!(r.status, 303, "signed out: {}", html(&r));
}

#[tokio::test]
async fn a_volunteer_keeps_their_own_record_and_the_admin_sets_their_limit() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let volunteer = sign_in(&app, &w.a.volunteer_token).await;
    let admin = sign_in(&app, &w.a.admin).await;
    let record = format!("/console/volunteers/{}", w.a.volunteer);

    let r = page(&app, "/console/orders", Some(&volunteer)).await;
    assert!(
        html(&r).contains(&format!(r#"href="{record}""#)),
        "linked from 我的订单"
    );
    let r = page(&app, &record, Some(&volunteer)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains(r#"value="张志强""#));
    assert!(
        !html(&r).contains(r#"name="max_open_orders""#),
        "the volunteer does not set their limit"
    );

    // A slot ending before it starts is shown at its row; what was typed stays.
    let form = |end: &str| {
        format!(
            "name={}&phone=13911112222&home_grid_id={}&skills={}&team=&active=1&day_0=sat&start_0=08%3A00&end_0=11%3A30&day_1=&start_1=&end_1=&day_2=wed&start_2=14%3A00&end_2={end}",
            encode("张志强"),
            w.a.grid,
            encode("维修，理发")
        )
    };
    let r = submit(&app, &record, Some(&volunteer), &form("13%3A00")).await;
    assert_eq!(r.status, 422, "{}", html(&r));
    assert!(html(&r).contains(r#"value="13911112222""#));
    let row_2 = html(&r).split(r#"id="day-2""#).nth(1).unwrap_or("");
    assert!(
        row_2
            .split(r#"id="day-3""#)
            .next()
            .unwrap()
            .contains("field-error"),
        "the error is at the third row: {}",
        html(&r)
    );
    let r = submit(&app, &record, Some(&volunteer), &form("17%3A00")).await;
    assert_eq!(r.status, 303, "{}", html(&r));
    assert_eq!(location(&r), format!("{record}?saved=1"));
    let v = app
        .get(&format!("/api/v1/volunteers/{}", w.a.volunteer), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(v["phone"], "13911112222");
    assert_eq!(v["skills"], json!(["维修", "理发"]));
    assert_eq!(
        v["availability"],
        json!([{"day": "sat", "start": "08:00", "end": "11:30"}, {"day": "wed", "start": "14:00", "end": "17:00"}])
    );
    assert_eq!(v["active"], true);
    let limit = v["max_open_orders"].clone();
    // A limit sent by the volunteer is not theirs to set: it is not written.
    let r = submit(
        &app,
        &record,
        Some(&volunteer),
        &format!("{}&max_open_orders=99", form("17%3A00")),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let v = app
        .get(&format!("/api/v1/volunteers/{}", w.a.volunteer), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(v["max_open_orders"], limit);

    // The admin sets the limit; unticking 接单中 pauses the volunteer.
    let r = page(&app, &record, Some(&admin)).await;
    assert!(html(&r).contains(r#"name="max_open_orders""#));
    let r = submit(
        &app,
        &record,
        Some(&admin),
        &format!(
            "name={}&phone=13911112222&home_grid_id={}&skills=&team=&max_open_orders=7",
            encode("张志强"),
            w.a.grid
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let v = app
        .get(&format!("/api/v1/volunteers/{}", w.a.volunteer), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(v["max_open_orders"], 7);
    assert_eq!(v["active"], false);
    assert_eq!(v["availability"], json!([]));

    // The street's grid worker reads the record but is offered nothing to change.
    let grid_worker = sign_in(&app, &w.a.grid_worker).await;
    let r = page(&app, &record, Some(&grid_worker)).await;
    assert_eq!(r.status, 200, "{}", html(&r));
    assert!(html(&r).contains(r#"<fieldset class="record" disabled>"#));
    assert!(!html(&r).contains(r#"type="submit" class="primary""#));
    let r = page(&app, &record, Some(&volunteer)).await;
    assert!(html(&r).contains(r#"<fieldset class="record">"#));

    // Nobody else's record.
    let other = sign_in(&app, &w.b.volunteer_token).await;
    assert_eq!(page(&app, &record, Some(&other)).await.status, 404);
    let other_admin = sign_in(&app, &w.b.admin).await;
    assert_eq!(page(&app, &record, Some(&other_admin)).await.status, 404);
    let r = submit(&app, &record, Some(&other_admin), &form("17%3A00")).await;
    assert_eq!(r.status, 404);
}

/// Each console page, and what each role is answered, in the order district, the street's
/// admin, its grid worker, a unit and a volunteer of it, and another street's admin: the
/// street's own pages are 404 to whoever is not its staff (as its records are); pages of a role
/// the caller does not have are 403; lists answer each caller with what the policy lets them
/// see (a volunteer's demand list: residents masked).
const PAGE_MATRIX: &str = "
/console/streets/A                 200 200 200 404 404 404
/console/streets/A/people          200 200 403 404 404 404
/console/streets/A/registry        200 200 200 404 404 404
/console/streets/A/resources       200 200 200 404 404 404
/console/streets/A/resources.csv   200 200 200 404 404 404
/console/streets/A/projects        200 200 200 404 404 404
/console/streets/A/projects.csv    200 200 200 404 404 404
/console/streets/A/plugins         200 200 403 404 404 404
/console/streets/A/settings        200 200 200 404 404 404
/console/streets/A/escalations     200 200 200 404 404 404
/console/orders                    200 200 200 200 200 200
/console/demands                   200 200 200 200 200 200
/console/demands/new               403 200 200 403 403 200
/console/demands.csv               200 200 200 200 200 200
/console/demands/DEMAND            200 200 200 200 200 404
/console/resources                 403 403 403 200 403 403
/console/projects                  403 403 403 200 403 403
/console/district                  200 200 200 403 403 200
/console/volunteers/VOLUNTEER      200 200 200 404 200 404
/console/notifications             200 200 200 200 200 200
/console/streets/A/webhooks        200 200 403 404 404 404
";

#[tokio::test]
async fn every_page_answers_each_role_as_the_policy_says() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let (a, b) = (&w.a, &w.b);
    let roles = [
        ("district", app.admin.clone()),
        ("admin", a.admin.clone()),
        ("grid_worker", a.grid_worker.clone()),
        ("unit", a.unit_token.clone()),
        ("volunteer", a.volunteer_token.clone()),
        ("other_admin", b.admin.clone()),
    ];
    let mut sessions = vec![];
    for (who, token) in &roles {
        sessions.push((*who, sign_in(&app, token).await));
    }
    let mut wrong = vec![];
    for line in PAGE_MATRIX.lines().filter(|l| !l.trim().is_empty()) {
        let mut cols = line.split_whitespace();
        let path = cols
            .next()
            .unwrap()
            .replace("/streets/A", &format!("/streets/{}", a.id))
            .replace("DEMAND", &a.demand)
            .replace("VOLUNTEER", &a.volunteer);
        for ((who, session), want) in sessions.iter().zip(cols) {
            let got = page(&app, &path, Some(session)).await.status.as_u16();
            if got.to_string() != want {
                wrong.push(format!("{path} as {who}: {got}, not {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The unread count a page's badge shows, if it shows one.
fn badge(page: &str) -> Option<String> {
    let re = regex::Regex::new(r"<span data-count>([0-9+]+)</span>").unwrap();
    re.captures(page).map(|c| c[1].to_string())
}

#[tokio::test]
async fn each_person_reads_their_notifications_and_the_badge_counts_what_is_unread() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let volunteer = sign_in(&app, &w.a.volunteer_token).await;
    let admin = sign_in(&app, &w.a.admin).await;
    let other_admin = sign_in(&app, &w.b.admin).await;
    let before = badge(html(&page(&app, "/console/orders", Some(&volunteer)).await));
    let (demand, _) = offered_repair(&app, &w.a).await;

    // The offer reaches the volunteer's feed: counted on every page, shown on the feed
    // with a way to their orders.
    let orders = page(&app, "/console/orders", Some(&volunteer)).await;
    let count = |b: Option<String>| b.map(|c| c.parse::<i64>().unwrap()).unwrap_or(0);
    assert_eq!(
        count(badge(html(&orders))),
        count(before) + 1,
        "{}",
        html(&orders)
    );
    let feed = page(&app, "/console/notifications", Some(&volunteer)).await;
    assert_eq!(feed.status, 200);
    let body = html(&feed);
    assert!(body.contains(r#"data-type="order.offered""#), "{body}");
    assert!(body.contains("新派单"), "{body}");
    assert!(
        body.contains(r#"<a href="/console/orders">新派单</a>"#),
        "{body}"
    );
    assert!(body.contains("notification unread"), "{body}");
    assert!(
        body.contains("data-live"),
        "the feed refreshes as notifications arrive"
    );

    // The street's office reads its street's: the filing links to the demand's page; another
    // street's office does not see it.
    let office = page(&app, "/console/notifications", Some(&admin)).await;
    let link = format!(r#"<a href="/console/demands/{demand}">新诉求</a>"#);
    assert!(html(&office).contains(&link), "{}", html(&office));
    let other = page(&app, "/console/notifications", Some(&other_admin)).await;
    assert!(!html(&other).contains(&demand), "{}", html(&other));

    // Marking everything read clears the badge; the entry stays, read.
    let re = regex::Regex::new(r#"name="through" value="([0-9a-f-]{36})""#).unwrap();
    let newest = re.captures(body).expect("a mark-all form")[1].to_string();
    let r = submit(
        &app,
        "/console/notifications/read",
        Some(&volunteer),
        &format!("through={newest}"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    assert_eq!(location(&r), "/console/notifications");
    let feed = page(&app, "/console/notifications", Some(&volunteer)).await;
    assert_eq!(badge(html(&feed)), None, "{}", html(&feed));
    assert!(!html(&feed).contains("notification unread"));
    assert!(html(&feed).contains(r#"data-type="order.offered""#));
    let unread = page(&app, "/console/notifications?unread=1", Some(&volunteer)).await;
    assert!(html(&unread).contains("没有通知"), "{}", html(&unread));
    // Another person's notification is not theirs to mark.
    let office = html(&page(&app, "/console/notifications", Some(&admin)).await).to_string();
    let theirs = re.captures(&office).unwrap()[1].to_string();
    let r = submit(
        &app,
        "/console/notifications/read",
        Some(&volunteer),
        &format!("id={theirs}"),
    )
    .await;
    assert_eq!(r.status, 404, "{}", html(&r));

    // The live stream carries notifications beside changes.
    let mut req = request(Method::GET, "/console/live", Some(&volunteer), None);
    req.headers_mut().insert(
        "last-event-id",
        "00000000-0000-7000-8000-000000000000".parse().unwrap(),
    );
    let res = app.router.clone().oneshot(req).await.unwrap();
    let mut stream = res.into_body();
    let seen = read_until(&mut stream, "event: notification", 50).await;
    assert!(seen.contains(r#""type":"order.offered""#), "{seen}");

    // A daily digest instead: the badge no longer counts one by one, and the page says so.
    offered_repair(&app, &w.a).await;
    assert!(badge(html(&page(&app, "/console/orders", Some(&volunteer)).await)).is_some());
    let r = submit(
        &app,
        "/console/notifications/preferences",
        Some(&volunteer),
        "delivery=daily_digest&digest_hour=20&event_types=order.offered",
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let prefs = app
        .get("/api/v1/notifications/preferences", &w.a.volunteer_token)
        .await
        .expect(200);
    assert_eq!(
        prefs,
        json!({"event_types": ["order.offered"], "delivery": "daily_digest", "digest_hour": 20})
    );
    let feed = page(&app, "/console/notifications", Some(&volunteer)).await;
    assert_eq!(badge(html(&feed)), None);
    assert!(html(&feed).contains("还没有汇总"), "{}", html(&feed));
    assert!(
        html(&feed).contains(r#"<option value="20" selected>"#),
        "{}",
        html(&feed)
    );
    let r = submit(
        &app,
        "/console/notifications/preferences",
        Some(&volunteer),
        "delivery=weekly",
    )
    .await;
    assert_eq!(r.status, 422, "{}", html(&r));
}

#[tokio::test]
async fn a_street_adds_a_grids_wecom_robot_and_a_webhook_and_reads_their_log_in_the_console() {
    let mut app = TestApp::spawn().await;
    let mut state = app.state.clone();
    state.core.webhooks.console_url = Some("https://gj.example.cn".into());
    app.router = gongjian_host::app(state.clone());
    app.state = state;
    let w = World::build(&app).await;
    let admin = sign_in(&app, &w.a.admin).await;
    let path = format!("/console/streets/{}/webhooks", w.a.id);
    let empty = page(&app, &path, Some(&admin)).await;
    assert_eq!(empty.status, 200, "{}", html(&empty));
    assert!(html(&empty).contains("还没有通知渠道"), "{}", html(&empty));

    // A grid's robot: its key shown masked, its grid named.
    let form = format!(
        "channel=wecom&url={}&grid_id={}&event_types=demand.filed&event_types=demand.escalated",
        form_urlencoded::byte_serialize(
            b"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx"
        )
        .collect::<String>(),
        w.a.grid
    );
    let r = submit(&app, &path, Some(&admin), &form).await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let listed = page(&app, &path, Some(&admin)).await;
    let body = html(&listed);
    assert!(body.contains(r#"data-channel="wecom""#), "{body}");
    assert!(body.contains("key=693a****"), "{body}");
    assert!(
        !body.contains("693a91f6"),
        "the robot's key is not shown: {body}"
    );
    assert!(body.contains("新诉求、吹哨上报"), "{body}");
    let api = app
        .get(
            &format!("/api/v1/webhooks?owner=street&owner_id={}", w.a.id),
            &w.a.admin,
        )
        .await
        .expect(200);
    let robot = &api["items"][0];
    assert_eq!(robot["grid_id"], w.a.grid.as_str());
    assert_eq!(
        robot["event_types"],
        json!(["demand.filed", "demand.escalated"])
    );

    // A webhook: its secret shown on the answer, once.
    let r = submit(
        &app,
        &path,
        Some(&admin),
        "channel=webhook&url=https%3A%2F%2Fexample.org%2Fhook&description=%E5%8A%9E%E5%85%AC%E7%B3%BB%E7%BB%9F",
    )
    .await;
    assert_eq!(r.status, 201, "{}", html(&r));
    assert!(html(&r).contains("whsec_"), "{}", html(&r));
    let again = page(&app, &path, Some(&admin)).await;
    assert!(!html(&again).contains("whsec_"));
    assert!(html(&again).contains("办公系统"));

    // A robot's address without its key is refused at the field, with what was typed.
    let r = submit(
        &app,
        &path,
        Some(&admin),
        "channel=wecom&url=https%3A%2F%2Fqyapi.weixin.qq.com%2Fcgi-bin%2Fwebhook%2Fsend",
    )
    .await;
    assert_eq!(r.status, 422, "{}", html(&r));
    assert!(html(&r).contains("field-error"), "{}", html(&r));
    assert!(html(&r).contains("qyapi.weixin.qq.com/cgi-bin/webhook/send"));

    // Paused, it says so; its log opens; others may not manage it.
    let robot_id = robot["id"].as_str().unwrap();
    let r = submit(
        &app,
        &format!("{path}/{robot_id}/status"),
        Some(&admin),
        "status=disabled",
    )
    .await;
    assert_eq!(r.status, 303, "{}", html(&r));
    let api = app
        .get(&format!("/api/v1/webhooks/{robot_id}"), &w.a.admin)
        .await
        .expect(200);
    assert_eq!(api["status"], "disabled");
    let log = page(&app, &format!("{path}/{robot_id}"), Some(&admin)).await;
    assert_eq!(log.status, 200, "{}", html(&log));
    assert!(html(&log).contains("还没有推送"), "{}", html(&log));
    let other = sign_in(&app, &w.b.admin).await;
    let r = page(&app, &format!("{path}/{robot_id}"), Some(&other)).await;
    assert_eq!(r.status, 404);
    let r = submit(&app, &format!("{path}/{robot_id}/delete"), Some(&other), "").await;
    assert_eq!(r.status, 404);
    let r = submit(&app, &format!("{path}/{robot_id}/delete"), Some(&admin), "").await;
    assert_eq!(r.status, 303, "{}", html(&r));
    app.get(&format!("/api/v1/webhooks/{robot_id}"), &w.a.admin)
        .await
        .problem(404, "not_found", None);
}
