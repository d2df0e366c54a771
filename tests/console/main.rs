//! The console in a real browser: headless Chromium driven through chromedriver (WebDriver),
//! against the service listening on a real socket. Four people — a street admin, a grid
//! worker, a volunteer and a unit — carry one demand through the whole loop by clicking, each
//! in a browser of their own on a phone-sized window: signed in by token or by a sign-in link
//! the admin issues, filed, ranked, offered (appearing live), accepted, started, completed,
//! rated, and counted on the dashboard. A forged cross-site form changes nothing; another
//! street's page is 404; a signed-out visitor is sent to sign in; a rhai syntax error is shown
//! at its line; axe-core finds no critical or serious accessibility violation on the main
//! pages.
//!
//! Needs Debian's `chromium`, `chromium-driver` and `fonts-wqy-microhei`; without them the
//! test fails and says how to install them. Screenshots of each page go to
//! `$GONGJIAN_SCREENSHOTS` (default: `console-screenshots` in the system's temporary
//! directory).

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
mod webdriver;

use gongjian_core::domain::access::RoleKind;
use serde_json::{json, Value};

use helpers::{id, TestApp};
use webdriver::{Browser, Driver};

/// Serves `router` on 127.0.0.1 at a free port; answers its address.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("the server runs");
    });
    format!("http://127.0.0.1:{}", addr.port())
}

fn screenshots() -> std::path::PathBuf {
    std::env::var_os("GONGJIAN_SCREENSHOTS")
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join("console-screenshots"))
}

const AXE: &str = include_str!("../fixtures/axe-core-4.11.1/axe.min.js");

/// Runs axe-core on the page and fails on any critical or serious violation.
async fn assert_accessible(b: &Browser, page: &str) {
    b.run(AXE, json!([])).await;
    let v = b
        .run_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})
                .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,
                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))))
                .catch(e => done([{id: 'axe-failed', impact: 'critical', nodes: [String(e)]}]));",
        )
        .await;
    let bad: Vec<&Value> = v
        .as_array()
        .unwrap_or_else(|| panic!("axe answered {v}"))
        .iter()
        .filter(|x| matches!(x["impact"].as_str(), Some("critical" | "serious")))
        .collect();
    assert!(bad.is_empty(), "{page}: accessibility violations {bad:?}");
}

async fn sign_in_with_token(b: &Browser, base: &str, token: &str) {
    b.goto(&format!("{base}/console")).await;
    b.find("#token").await;
    b.type_into("#token", token).await;
    b.click("form[action='/console/sign-in'] button[type=submit]")
        .await;
    // Signed in, the navigation shows.
    b.find("nav.tabs a").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_people_carry_one_demand_through_the_loop_by_clicking() {
    let app = TestApp::spawn().await;
    // The street, through the API.
    let street = id(&app.street("shixi").await);
    let community = id(&app.community(&street, "魏鑫社区").await);
    let grid = id(&app.grid(&street, &community, "g01").await);
    let volunteer = id(&app.volunteer(&grid, "张志强").await);
    let unit = id(&app.unit(&[&street], "市西医院").await);
    app.post(
        "/api/v1/resources",
        &app.admin,
        json!({"owner_unit_id": unit, "title": "上门维修服务", "category": "repair", "capacity": 5, "street_ids": [street]}),
    )
    .await
    .expect(201);
    app.put(
        &format!("/api/v1/streets/{street}/dispatch-settings/repair"),
        &app.admin,
        json!({"auto_dispatch": true, "offer_count": 3, "accept_minutes": 30, "complete_minutes": 240}),
    )
    .await
    .expect(200);
    let other_street = id(&app.street("pengli").await);
    let admin_token = app
        .token(RoleKind::StreetAdmin, Some(&street), None, None)
        .await;
    let grid_worker_token = app
        .token(RoleKind::GridWorker, Some(&street), None, None)
        .await;
    let unit_token = app.token(RoleKind::Unit, None, Some(&unit), None).await;
    let base = serve(app.router.clone()).await;
    let shots = screenshots();

    let driver = Driver::start().await;
    let (w, h) = (390, 844);
    let admin = driver.browser("zh-CN", w, h).await;
    let worker = driver.browser("zh-CN", w, h).await;
    let vol = driver.browser("zh-CN", w, h).await;
    let unit_b = driver.browser("zh-CN", w, h).await;

    // Signed out, the console sends you to sign in.
    vol.goto(&format!("{base}/console/orders")).await;
    vol.find("#token").await;
    assert!(
        vol.url()
            .await
            .ends_with("/console/sign-in?next=%2Fconsole%2Forders"),
        "{}",
        vol.url().await
    );
    assert_accessible(&vol, "sign-in").await;

    // The admin signs in by token and issues the volunteer a sign-in link.
    sign_in_with_token(&admin, &base, &admin_token).await;
    assert!(admin
        .url()
        .await
        .ends_with(&format!("/console/streets/{street}")));
    admin
        .click(&format!("nav a[href='/console/streets/{street}/people']"))
        .await;
    admin
        .click(&format!("li[data-volunteer='{volunteer}'] button"))
        .await;
    admin.find("#sign-in-url").await;
    let link = admin
        .run(
            "return document.getElementById('sign-in-url').value",
            json!([]),
        )
        .await;
    let link = link.as_str().expect("the sign-in link").to_string();
    assert!(link.starts_with(&format!("{base}/console/link/")), "{link}");
    admin.screenshot(&shots.join("sign-in-link.png")).await;
    // Another street's dashboard does not exist for this admin.
    admin
        .goto(&format!("{base}/console/streets/{other_street}"))
        .await;
    admin.wait_text("main", "页面不存在").await;

    // The volunteer follows the link and confirms: the inbox, empty.
    vol.goto(&link).await;
    vol.click("form[action^='/console/link/'] button").await;
    vol.find("#offered-h").await;
    assert!(vol.url().await.ends_with("/console/orders"));
    assert!(!vol.has("#offered article[data-order]").await);
    // Marks this page: a reload would lose the mark, a live update keeps it.
    vol.run("window.stillHere = true", json!([])).await;

    // The unit signs in by token too.
    sign_in_with_token(&unit_b, &base, &unit_token).await;
    unit_b.find("#offered-h").await;
    unit_b.run("window.stillHere = true", json!([])).await;

    // The grid worker files a repair on the phone form.
    sign_in_with_token(&worker, &base, &grid_worker_token).await;
    worker.click("nav a[href='/console/demands/new']").await;
    worker.click("#category option[value='repair']").await;
    worker.click("#urgency option[value='high']").await;
    worker.type_into("#resident_name", "李秀英").await;
    worker.type_into("#resident_phone", "13912345678").await;
    worker
        .type_into("#resident_address", "魏鑫家园3号楼2单元")
        .await;
    worker
        .type_into("#description", "厨房水龙头漏水，需要上门维修")
        .await;
    assert_accessible(&worker, "file a demand").await;
    worker.run("window.scrollTo(0, 0)", json!([])).await;
    worker.screenshot(&shots.join("file-demand.png")).await;
    worker
        .click("form[action='/console/demands'] button[type=submit]")
        .await;
    // Filed, ranked and dispatched at once (the street's setting for repairs).
    worker.wait_text("#demand-status", "已派单").await;
    let demand = worker.url().await.rsplit('/').next().unwrap().to_string();

    // The offer reaches the volunteer's and the unit's open inboxes without a reload.
    let card = "#offered article[data-order]";
    vol.find(card).await;
    unit_b.find(card).await;
    // The navigation's badge counts the offer's notification as it arrives.
    vol.wait_text(".tabs a[href='/console/notifications'] [data-count]", "1")
        .await;
    for b in [&vol, &unit_b] {
        assert_eq!(
            b.run("return window.stillHere === true", json!([])).await,
            true,
            "the offer arrived by a live update, not a reload"
        );
    }
    vol.wait_text(card, "139****5678").await;
    assert!(
        !vol.source().await.contains("13912345678"),
        "masked while offered"
    );
    vol.wait_text(card, "推荐理由").await;
    assert_accessible(&vol, "orders").await;
    vol.screenshot(&shots.join("orders-offered.png")).await;
    let order = vol
        .run(
            "return document.querySelector('#offered article[data-order]').dataset.order",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_string();

    // A page on another site that posts the volunteer's decline changes nothing.
    let forged_page = forged_form(&base, &order);
    let evil = serve(axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(forged_page) }),
    ))
    .await
    .replace("127.0.0.1", "localhost");
    vol.goto(&evil).await;
    // The form submits itself, and the console refuses it.
    vol.wait_text("main", "请求来源无法验证").await;
    let seen = app
        .get(&format!("/api/v1/orders/{order}"), &admin_token)
        .await
        .expect(200);
    assert_eq!(seen["status"], "offered");
    assert!(
        seen["offers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "open"),
        "no offer was declined by the forged form: {seen}"
    );

    // The volunteer accepts; the unit's offer is withdrawn, live.
    vol.goto(&format!("{base}/console/orders")).await;
    vol.click("#offered form[action$='/accept'] button").await;
    vol.find("#active form[action$='/start'] button").await;
    vol.wait_text("#active", "13912345678").await;
    unit_b.run("window.stillHere = true", json!([])).await;
    let unit_gone = async {
        for _ in 0..600 {
            if !unit_b.has(card).await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the unit's offer stayed on its page after the volunteer accepted");
    };
    unit_gone.await;
    // The unit's own pages: its resources, the street's projects.
    unit_b.click("nav a[href='/console/resources']").await;
    unit_b.wait_text("main", "上门维修服务").await;
    assert_accessible(&unit_b, "resources").await;
    unit_b.screenshot(&shots.join("unit-resources.png")).await;
    unit_b.click("nav a[href='/console/projects']").await;
    unit_b.find("main h2").await;
    assert_accessible(&unit_b, "projects").await;
    vol.click("#active form[action$='/start'] button").await;
    vol.find("#active input[name=minutes]").await;
    vol.type_into("#active input[name=minutes]", "45").await;
    vol.type_into("#active textarea[name=note]", "已更换阀芯")
        .await;
    vol.screenshot(&shots.join("orders-in-progress.png")).await;
    vol.click("#active form[action$='/complete'] button").await;
    vol.find(&format!("#history li[data-order='{order}']"))
        .await;
    vol.wait_text("#history", "45").await;

    // The grid worker's page shows the completion live, and rates for the resident.
    worker.find("form[action$='/rate']").await;
    worker.wait_text("#demand-status", "已完成").await;
    worker.click("input[name=rating][value='4']").await;
    worker.type_into("#comment", "师傅很耐心").await;
    assert_accessible(&worker, "demand").await;
    worker.screenshot(&shots.join("demand.png")).await;
    worker.click("form[action$='/rate'] button").await;
    worker.wait_text("main", "4/5").await;
    assert!(!worker.has("form[action$='/rate']").await);

    // The district's page, reached by a street's admin, is their own street's.
    admin.goto(&format!("{base}/console/district")).await;
    admin.wait_text("h1", "本街道").await;
    admin
        .screenshot(&shots.join("district-as-street.png"))
        .await;

    // The street's dashboard counts it: received, completed, on time, satisfied.
    admin
        .goto(&format!("{base}/console/streets/{street}"))
        .await;
    let today = "[data-period='0']";
    admin
        .wait_text(&format!("{today} [data-fig='received']"), "1")
        .await;
    assert_eq!(
        admin.text(&format!("{today} [data-fig='completed']")).await,
        "1"
    );
    assert_eq!(
        admin
            .text(&format!("{today} [data-fig='completion_rate']"))
            .await,
        "100.0%"
    );
    assert_eq!(
        admin
            .text(&format!("{today} [data-fig='satisfaction_rate']"))
            .await,
        "100.0%"
    );
    // The month by volunteer names who did it.
    admin.wait_text("main", "按志愿者").await;
    admin.wait_text("main", "张志强").await;
    assert_accessible(&admin, "dashboard").await;
    admin.screenshot(&shots.join("dashboard.png")).await;
    admin.resize(1280, 900).await;
    admin.find("[data-period='2']").await;
    assert_accessible(&admin, "dashboard on a desktop").await;
    admin.screenshot(&shots.join("dashboard-desktop.png")).await;
    // The admin writes a rule with a syntax error: the page shows its line.
    admin.resize(w, h).await;
    admin
        .click(&format!("nav a[href='/console/streets/{street}/plugins']"))
        .await;
    admin
        .type_into("#source", "fn score(c, d, config) {\n  let = 1;\n}")
        .await;
    admin
        .click(&format!(
            "form[action='/console/streets/{street}/plugins'] button[type=submit]"
        ))
        .await;
    admin.wait_text("#plugin-error [data-line]", "2").await;
    assert_accessible(&admin, "plugins with an error").await;
    admin.screenshot(&shots.join("plugin-error.png")).await;
    // The street's other lists and its registry.
    for (page, shot) in [
        ("resources", "street-resources.png"),
        ("projects", "street-projects.png"),
        ("registry", "registry.png"),
    ] {
        admin
            .click(&format!("nav a[href='/console/streets/{street}/{page}']"))
            .await;
        admin.find("main h1").await;
        assert_accessible(&admin, page).await;
        admin.screenshot(&shots.join(shot)).await;
    }
    admin.wait_text("main", "共建单位").await;
    // 通知渠道: the admin adds the office system's webhook; its secret is shown this once.
    admin
        .click(&format!("nav a[href='/console/streets/{street}/webhooks']"))
        .await;
    admin.click("input[name=channel][value=webhook]").await;
    admin.type_into("#w-url", "https://example.org/hook").await;
    admin
        .click("input[name=event_types][value='demand.escalated']")
        .await;
    admin
        .click(&format!(
            "form[action='/console/streets/{street}/webhooks'] button[type=submit]"
        ))
        .await;
    admin.wait_text("#secret-once", "whsec_").await;
    assert_accessible(&admin, "notification channels").await;
    admin.screenshot(&shots.join("webhooks.png")).await;
    // 通知: the volunteer's notifications, the offer among them.
    vol.goto(&format!("{base}/console/notifications")).await;
    vol.wait_text("main", "新派单").await;
    assert_accessible(&vol, "notifications").await;
    vol.screenshot(&shots.join("notifications.png")).await;
    // The volunteer opens their own record from 我的订单 and sets when they are free.
    vol.goto(&format!("{base}/console/orders")).await;
    vol.click("#me a").await;
    vol.find("select[name='day_0']").await;
    assert_accessible(&vol, "the volunteer's record").await;
    vol.screenshot(&shots.join("volunteer-record.png")).await;

    // The API agrees with what the pages showed.
    let d = app
        .get(&format!("/api/v1/demands/{demand}"), &admin_token)
        .await
        .expect(200);
    assert_eq!(d["status"], "completed");
    app.assert_consistent().await;

    for b in [admin, worker, vol, unit_b] {
        b.quit().await;
    }
}

/// A page of another site with a form that posts itself to the console: a forgery.
fn forged_form(base: &str, order: &str) -> String {
    format!(
        "<!doctype html><html><body>\
         <form id='f' method='post' action='{base}/console/orders/{order}/decline'>\
         <input name='reason' value='forged'></form>\
         <script>document.getElementById('f').submit()</script></body></html>"
    )
}
