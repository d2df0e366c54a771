//! Cursor pagination: stable id order, no repeats or gaps, even with inserts between pages.

use std::collections::BTreeSet;

use serde_json::json;

use crate::helpers::{id, TestApp, World};

#[tokio::test]
async fn pages_walk_every_row_once_in_creation_order() {
    let app = TestApp::spawn().await;
    let t = app.admin.clone();
    let s = id(&app.street("shixi").await);
    let mut created = vec![];
    for i in 0..7 {
        created.push(id(&app.unit(&[&s], &format!("单位{i}")).await));
    }
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/units?limit=3&cursor={c}"),
            None => "/api/v1/units?limit=3".to_string(),
        };
        let page = app.get(&path, &t).await.expect(200);
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(id));
        if pages == 1 {
            // A row created while paging comes after the cursor, so it is seen exactly once.
            created.push(id(&app.unit(&[&s], "后来的单位").await));
        }
        match page.get("next_cursor").and_then(|c| c.as_str()) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, created, "every unit once, in creation order");
    assert_eq!(pages, 3);
    let unique: BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}

#[tokio::test]
async fn last_full_page_has_no_cursor_and_filters_combine_with_cursors() {
    let app = TestApp::spawn().await;
    let t = app.admin.clone();
    let s = id(&app.street("shixi").await);
    let c = id(&app.community(&s, "社区").await);
    let g1 = id(&app.grid(&s, &c, "g01").await);
    let g2 = id(&app.grid(&s, &c, "g02").await);
    let mut in_g1 = vec![];
    for i in 0..5 {
        let grid = if i % 2 == 0 { &g1 } else { &g2 };
        let d = id(&app.demand(grid, &t).await);
        if grid == &g1 {
            in_g1.push(d);
        }
    }
    let first = app
        .get(&format!("/api/v1/demands?grid_id={g1}&limit=2"), &t)
        .await
        .expect(200);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = app
        .get(
            &format!("/api/v1/demands?grid_id={g1}&limit=2&cursor={cursor}"),
            &t,
        )
        .await
        .expect(200);
    assert!(
        second.get("next_cursor").is_none(),
        "exactly full last page: {second}"
    );
    let all: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(id)
        .collect();
    assert_eq!(all, in_g1);
    let exact = app
        .get(&format!("/api/v1/demands?grid_id={g1}&limit=3"), &t)
        .await
        .expect(200);
    assert!(exact.get("next_cursor").is_none());
    assert_eq!(exact["items"].as_array().unwrap().len(), 3);
    // Default page size is 50.
    for i in 0..50 {
        app.post(
            &format!("/api/v1/streets/{s}/categories"),
            &t,
            json!({"code": format!("c{i}"), "label": "l"}),
        )
        .await
        .expect(201);
    }
    for i in 0..48 {
        app.community(&s, &format!("社区{i}")).await;
    }
    let page = app
        .get(&format!("/api/v1/streets/{s}/communities"), &t)
        .await
        .expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 49);
    assert!(page.get("next_cursor").is_none());
    app.community(&s, "第五十个").await;
    app.community(&s, "第五十一个").await;
    let page = app
        .get(&format!("/api/v1/streets/{s}/communities"), &t)
        .await
        .expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 50);
    assert!(page["next_cursor"].is_string());
}

/// A unit's orders are those offered to any of its resources. Paging through them, whole or
/// filtered by status, walks each once in id order: an order offered to two of its resources
/// is listed once, and another street's orders never.
#[tokio::test]
async fn a_partys_pages_walk_each_of_its_orders_once() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let a = &w.a;
    // Two more resources that fit the demands; its first one does not, and is offered none.
    let mut fitting = BTreeSet::new();
    for title in ["上门护理", "助浴服务"] {
        fitting.insert(id(&app
            .post(
                "/api/v1/resources",
                &app.admin,
                json!({"owner_unit_id": a.unit, "title": title, "category": "elderly_care", "capacity": 20, "street_ids": [a.id]}),
            )
            .await
            .expect(201)));
    }
    let mut demands = vec![a.demand.clone()];
    for _ in 0..6 {
        demands.push(id(&app.demand(&a.grid, &a.grid_worker).await));
    }
    let mut orders = vec![];
    for d in &demands {
        orders.push(
            app.post(
                &format!("/api/v1/demands/{d}/dispatch"),
                &a.admin,
                json!({"offer_count": 10}),
            )
            .await
            .expect(201),
        );
    }
    app.post(
        &format!("/api/v1/demands/{}/dispatch", w.b.demand),
        &w.b.admin,
        json!({"offer_count": 10}),
    )
    .await
    .expect(201);
    for o in &orders {
        let to: BTreeSet<String> = o["offers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["candidate_id"].as_str().unwrap().to_string())
            .collect();
        assert!(fitting.is_subset(&to), "offered to both: {}", o["offers"]);
        assert!(!to.contains(&a.resource));
    }
    // The unit takes two of them.
    for o in [&orders[1], &orders[4]] {
        app.post(
            &format!("/api/v1/orders/{}/accept", id(o)),
            &a.unit_token,
            json!({}),
        )
        .await
        .expect(200);
    }
    let mut ids: Vec<String> = orders.iter().map(id).collect();
    ids.sort();
    let accepted: BTreeSet<String> = [id(&orders[1]), id(&orders[4])].into();
    let walk = |filter: String, limit: usize| {
        let app = &app;
        let token = a.unit_token.clone();
        async move {
            let mut seen = vec![];
            let mut cursor: Option<String> = None;
            loop {
                let mut path = format!("/api/v1/orders?limit={limit}{filter}");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let page = app.get(&path, &token).await.expect(200);
                let items = page["items"].as_array().unwrap();
                assert!(items.len() <= limit, "{page}");
                seen.extend(items.iter().map(id));
                match page.get("next_cursor").and_then(|c| c.as_str()) {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
            seen
        }
    };
    assert_eq!(
        walk(String::new(), 3).await,
        ids,
        "every order once, in id order"
    );
    assert_eq!(walk(String::new(), 50).await, ids);
    let taken: Vec<String> = ids
        .iter()
        .filter(|o| accepted.contains(*o))
        .cloned()
        .collect();
    assert_eq!(walk("&status=accepted".into(), 1).await, taken);
    let open: Vec<String> = ids
        .iter()
        .filter(|o| !accepted.contains(*o))
        .cloned()
        .collect();
    assert_eq!(walk("&status=offered".into(), 2).await, open);
    let one = id(&orders[3]);
    let of_demand = walk(format!("&demand_id={}", demands[3]), 1).await;
    assert_eq!(of_demand, vec![one]);
    assert!(walk(format!("&street_id={}", w.b.id), 5).await.is_empty());
}

#[tokio::test]
async fn newest_first_pages_walk_every_row_once_from_the_last_filed() {
    let app = TestApp::spawn().await;
    let w = World::build(&app).await;
    let mut filed = vec![w.a.demand.clone()];
    for _ in 0..6 {
        filed.push(id(&app.demand(&w.a.grid, &w.a.grid_worker).await));
    }
    let walk = |order: &'static str, filter: &'static str| {
        let app = &app;
        let street = w.a.id.clone();
        async move {
            let mut seen = vec![];
            let mut cursor: Option<String> = None;
            loop {
                let mut path =
                    format!("/api/v1/demands?street_id={street}&limit=3&order={order}{filter}");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let page = app.get(&path, &app.admin).await.expect(200);
                seen.extend(page["items"].as_array().unwrap().iter().map(id));
                match page.get("next_cursor").and_then(|c| c.as_str()) {
                    Some(c) => cursor = Some(c.to_string()),
                    None => return seen,
                }
            }
        }
    };
    let newest = walk("newest", "").await;
    let mut reversed = filed.clone();
    reversed.reverse();
    assert_eq!(newest, reversed, "every demand once, the last filed first");
    assert_eq!(walk("oldest", "").await, filed);
    // With a filter, the same.
    assert_eq!(walk("newest", "&status=open").await, reversed);
    // An order the list does not know is refused, naming the parameter.
    app.get("/api/v1/demands?order=latest", &app.admin)
        .await
        .problem(400, "invalid_query", Some("order"));
    // Resources and projects take the same order.
    let page = app
        .get(
            &format!("/api/v1/projects?street_id={}&order=newest", w.a.id),
            &app.admin,
        )
        .await
        .expect(200);
    let ids: Vec<String> = page["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(
        ids,
        [w.a.published_project.clone(), w.a.draft_project.clone()]
    );
}
