//! The real binary on a real socket: acknowledged writes survive `kill -9`, a notification
//! whose delivery a `kill -9` interrupted is delivered after the restart, SIGTERM stops
//! cleanly.

use std::{
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::{
    cli::{gongjian, issue_district_token},
    helpers::{demand_body, TestDb},
    notifications::{verify, Receiver},
};

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(db: &TestDb) -> Server {
        Self::start_with(db, &[], None).await
    }

    /// Starts the server; with `log`, at that log level with stderr piped to the test.
    async fn start_with(db: &TestDb, extra: &[&str], log: Option<&str>) -> Server {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut cmd = gongjian(db);
        let stderr = match log {
            Some(level) => {
                cmd.env("GONGJIAN_LOG", level);
                Stdio::piped()
            }
            None => Stdio::null(),
        };
        let child = cmd
            .args(extra)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, base }
    }
}

impl Server {
    /// Registers street number `i` (code `s{i}`).
    async fn create_street(
        &self,
        http: &reqwest::Client,
        token: &str,
        i: usize,
    ) -> reqwest::Response {
        http.post(format!("{}/api/v1/streets", self.base))
            .bearer_auth(token)
            .json(
                &json!({"name": format!("街道{i}"), "code": format!("s{i}"), "district": "滨城区"}),
            )
            .send()
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let db = TestDb::new().await;
    let token = issue_district_token(&db);
    let http = reqwest::Client::new();
    let server = Server::start(&db).await;
    let mut acknowledged = vec![];
    for i in 0..25 {
        let resp = server.create_street(&http, &token, i).await;
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        acknowledged.push(body["id"].as_str().unwrap().to_string());
    }
    // SIGKILL: no shutdown hook, no flush.
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    let server = Server::start(&db).await;
    for id in &acknowledged {
        let resp = http
            .get(format!("{}/api/v1/streets/{id}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "street {id} was acknowledged but is gone"
        );
    }
}

impl Server {
    /// POSTs `body` to `path` as `token`, expecting 201; answers the body.
    async fn create(&self, http: &reqwest::Client, token: &str, path: &str, body: Value) -> Value {
        let resp = http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 201, "{path}: {body}");
        body
    }
}

#[tokio::test]
async fn a_delivery_cut_off_by_kill_9_is_made_after_restart() {
    let db = TestDb::new().await;
    let token = issue_district_token(&db);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gongjian.toml");
    // The receiver is on this machine's loopback.
    std::fs::write(&config, "[webhooks]\nreach = \"local\"\n").unwrap();
    let config = config.to_str().unwrap();
    let receiver = Receiver::start().await;
    // The first attempt fails, so the message is still owed when the host dies.
    receiver.answer(&[500]);
    let http = reqwest::Client::new();
    let server = Server::start_with(&db, &["--config", config], None).await;
    let street = server.create_street(&http, &token, 0).await;
    let street = street.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let community = server
        .create(
            &http,
            &token,
            &format!("/api/v1/streets/{street}/communities"),
            json!({"name": "魏鑫社区"}),
        )
        .await;
    let grid = server
        .create(
            &http,
            &token,
            &format!("/api/v1/streets/{street}/grids"),
            json!({"community_id": community["id"], "code": "g01", "name": "第一网格"}),
        )
        .await;
    let endpoint = server
        .create(
            &http,
            &token,
            "/api/v1/webhooks",
            json!({"owner": "street", "owner_id": street, "event_types": ["demand.filed"],
                   "url": format!("{}/h", receiver.url)}),
        )
        .await;
    let worker = server
        .create(
            &http,
            &token,
            "/api/v1/tokens",
            json!({"role": "grid_worker", "name": "王网格员", "street_id": street}),
        )
        .await;
    let worker = worker["token"].as_str().unwrap();
    let demand = server
        .create(
            &http,
            worker,
            "/api/v1/demands",
            demand_body(grid["id"].as_str().unwrap()),
        )
        .await;
    let wait_for = |n: usize| {
        let receiver = receiver.clone();
        async move {
            let started = Instant::now();
            while receiver.got("/h").len() < n {
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "{} of {n} attempts arrived",
                    receiver.got("/h").len()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for(1).await;
    // SIGKILL, with the message owed: the next attempt is due 5 seconds after the first.
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    let _server = Server::start_with(&db, &["--config", config], None).await;
    wait_for(2).await;
    let got = receiver.got("/h");
    assert_eq!(
        got[0].id, got[1].id,
        "the same message, so the receiver can deduplicate"
    );
    assert_eq!(got[1].json()["type"], "demand.filed");
    assert_eq!(got[1].json()["data"]["demand"]["id"], demand["id"]);
    verify(&got[1], &[endpoint["secret"].as_str().unwrap()]);
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly_with_json_logs() {
    let db = TestDb::new().await;
    let mut server = Server::start_with(&db, &["--log-format", "json"], Some("info")).await;
    let pid = server.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server ignored SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(server.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let messages: Vec<String> = stderr
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|_| panic!("not a JSON log line: {l}"))
        })
        .filter_map(|v| v["fields"]["message"].as_str().map(str::to_string))
        .collect();
    assert!(
        messages.iter().any(|m| m == "gongjian serving"),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("shutting down")),
        "{messages:?}"
    );
    assert_eq!(
        messages.last().map(String::as_str),
        Some("stopped"),
        "{messages:?}"
    );
}

/// Filings from many clients at once share commits; every one acknowledged before a
/// `kill -9` is there after the restart, also those killed mid-batch around it.
#[tokio::test]
async fn concurrent_filings_acknowledged_before_kill_9_survive() {
    let db = TestDb::new().await;
    let token = issue_district_token(&db);
    let http = reqwest::Client::new();
    let server = Server::start(&db).await;
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let street: Value = post(
        "/api/v1/streets",
        json!({"name": "市西街道", "code": "shixi", "district": "滨城区"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let sid = street["id"].as_str().unwrap().to_string();
    let c: Value = post(
        &format!("/api/v1/streets/{sid}/communities"),
        json!({"name": "魏鑫社区"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let g: Value = post(
        &format!("/api/v1/streets/{sid}/grids"),
        json!({"community_id": c["id"], "code": "g01", "name": "一网格"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let grid = g["id"].as_str().unwrap().to_string();

    // 32 clients file as fast as they can; the server is killed while they do.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = vec![];
    for k in 0..32 {
        let (http, base, token, grid, acknowledged) = (
            http.clone(),
            server.base.clone(),
            token.clone(),
            grid.clone(),
            acknowledged.clone(),
        );
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let resp = http
                    .post(format!("{base}/api/v1/demands"))
                    .bearer_auth(&token)
                    .json(&json!({"grid_id": grid, "category": "repair", "channel": "hotline",
                                  "description": format!("第{k}-{i}号"),
                                  "resident": {"name": "李秀英", "phone": "13912345678", "address": "魏鑫家园"}}))
                    .send()
                    .await;
                let Ok(resp) = resp else { break };
                if resp.status() != 201 {
                    break;
                }
                let Ok(body) = resp.json::<Value>().await else { break };
                acknowledged
                    .lock()
                    .unwrap()
                    .push(body["id"].as_str().unwrap().to_string());
            }
        }));
    }
    // Let a few hundred through, then kill.
    let start = Instant::now();
    while acknowledged.lock().unwrap().len() < 300 && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for c in clients {
        c.await.unwrap();
    }
    drop(server);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 300, "{} filed", acknowledged.len());

    let server = Server::start(&db).await;
    let mut found = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/api/v1/demands?limit=200", server.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for d in page["items"].as_array().unwrap() {
            found.insert(d["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !found.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged filings lost: {lost:?}",
        lost.len()
    );
}

/// Records a probe event with a given id (the id is the primary key).
fn probe<'c>(
    tx: &'c mut sqlx::Transaction<'_, sqlx::Any>,
    id: String,
) -> gongjian_core::store::group_commit::BoxFuture<'c, gongjian_core::Result<()>> {
    Box::pin(async move {
        sqlx::query(
            "INSERT INTO events (id, subject_kind, subject_id, actor, action, note, at) \
             VALUES ($1, 'demand', $1, 'test', 'probe', NULL, '2026-01-01T00:00:00.000000Z')",
        )
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    })
}

/// Records probe events with the given ids, one after another, in one write.
fn probes<'c>(
    tx: &'c mut sqlx::Transaction<'_, sqlx::Any>,
    ids: Vec<String>,
) -> gongjian_core::store::group_commit::BoxFuture<'c, gongjian_core::Result<()>> {
    Box::pin(async move {
        for id in ids {
            probe(tx, id).await?;
        }
        Ok(())
    })
}

/// The ids of the probe events stored, in order.
async fn probes_stored(db: &gongjian_core::store::Db) -> Vec<String> {
    sqlx::query_scalar("SELECT id FROM events WHERE action = 'probe' ORDER BY id")
        .fetch_all(db.read())
        .await
        .unwrap()
}

/// The same probes as one script: statements only, sent as one request.
fn probe_script(db: &gongjian_core::store::Db, ids: &[String]) -> gongjian_core::store::Script {
    let mut script = gongjian_core::store::Script::for_backend(db.backend());
    for id in ids {
        script
            .statement()
            .push(
                "INSERT INTO events (id, subject_kind, subject_id, actor, action, note, at) VALUES (",
            )
            .bind(id.clone())
            .push(", 'demand', ")
            .bind(id.clone())
            .push(", 'test', 'probe', NULL, '2026-01-01T00:00:00.000000Z')");
    }
    script
}

/// A write that fails inside a shared commit takes nothing else down with it: the others
/// commit, it alone gets its error and leaves no trace, not even what it wrote before failing.
/// Half the writes are code given the transaction, half are scripts, so that batches mix both.
#[tokio::test]
async fn a_failing_write_in_a_shared_commit_fails_alone() {
    let app = crate::helpers::TestApp::spawn().await;
    let taken = uuid::Uuid::now_v7().to_string();
    let first = taken.clone();
    app.db.transact(move |tx| probe(tx, first)).await.unwrap();
    let mut writes = vec![];
    // One in five is a duplicate, so batches hold failures at every place: first, last, and
    // between writes that commit.
    let duplicate = |i: usize| i % 5 == 2;
    for i in 0..200 {
        let (db, id) = (
            app.db.clone(),
            if duplicate(i) {
                taken.clone()
            } else {
                uuid::Uuid::now_v7().to_string()
            },
        );
        // The duplicate writes a probe of its own first: that one must go too.
        let ids = if duplicate(i) {
            vec![uuid::Uuid::now_v7().to_string(), id.clone()]
        } else {
            vec![id.clone()]
        };
        writes.push(tokio::spawn(async move {
            let outcome = if i % 2 == 0 {
                db.transact(move |tx| probes(tx, ids)).await
            } else {
                db.write_script(probe_script(&db, &ids)).await
            };
            (id, outcome)
        }));
    }
    let mut committed = vec![];
    let mut failed = 0;
    for w in writes {
        let (id, outcome) = w.await.unwrap();
        match outcome {
            Ok(()) => committed.push(id),
            Err(_) => {
                assert_eq!(id, taken, "only the duplicate fails");
                failed += 1;
            }
        }
    }
    assert_eq!((committed.len(), failed), (160, 40));
    let stored = probes_stored(&app.db).await;
    committed.push(taken);
    committed.sort();
    let left: Vec<&String> = stored.iter().filter(|id| !committed.contains(id)).collect();
    let lost: Vec<&String> = committed.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        left.is_empty() && lost.is_empty(),
        "the first and the 160 others, nothing of the 40: {} left of failed writes, {} \
         acknowledged writes lost",
        left.len(),
        lost.len()
    );
}

/// A write that fails part way — alone in its commit, as when nothing else is waiting —
/// leaves nothing of what it wrote before failing, and the next write commits.
#[tokio::test]
async fn a_write_that_fails_part_way_leaves_nothing() {
    let app = crate::helpers::TestApp::spawn().await;
    let taken = uuid::Uuid::now_v7().to_string();
    let first = taken.clone();
    app.db.transact(move |tx| probe(tx, first)).await.unwrap();
    let ids = vec![uuid::Uuid::now_v7().to_string(), taken.clone()];
    let failed = app.db.transact(move |tx| probes(tx, ids)).await;
    assert!(failed.is_err(), "a duplicate key fails the write");
    let after = uuid::Uuid::now_v7().to_string();
    let next = after.clone();
    app.db.transact(move |tx| probe(tx, next)).await.unwrap();
    let ids = probes_stored(&app.db).await;
    assert_eq!(
        ids,
        [taken.clone(), after.clone()],
        "nothing of the failed write is left"
    );

    // The same with a script.
    let ids = vec![uuid::Uuid::now_v7().to_string(), taken.clone()];
    let failed = app.db.write_script(probe_script(&app.db, &ids)).await;
    assert!(failed.is_err(), "a duplicate key fails the script");
    let last = uuid::Uuid::now_v7().to_string();
    app.db
        .write_script(probe_script(&app.db, std::slice::from_ref(&last)))
        .await
        .unwrap();
    let ids = probes_stored(&app.db).await;
    assert_eq!(
        ids,
        [taken, after, last],
        "nothing of the failed script is left"
    );
}

/// Reads from a connection until the server closes it, or answers; what it answered.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = vec![];
    let mut buf = [0u8; 1024];
    // The server's own timeouts end this; the outer bound only keeps a broken server from
    // hanging the suite.
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the server closes a stalled connection");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Hundreds of clients that open a connection and never finish their request — stalled in
/// the headers, or in a body — hold nothing for long: the service answers everyone else all
/// along, disconnects those stalled in their headers, and answers a stalled body 408.
#[tokio::test]
async fn stalled_clients_do_not_hold_the_service() {
    use tokio::io::AsyncWriteExt;
    let db = TestDb::new().await;
    let token = issue_district_token(&db);
    let server = Server::start(&db).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut in_headers = vec![];
    for _ in 0..300 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /api/v1/streets HTTP/1.1\r\nHost: x\r\nAuthorization: Bea")
            .await
            .unwrap();
        in_headers.push(s);
    }
    let mut in_bodies = vec![];
    for _ in 0..50 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(
            format!(
                "POST /api/v1/streets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"name\": \"慢"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        in_bodies.push(s);
    }
    // Everyone else is served meanwhile.
    let http = reqwest::Client::new();
    for i in 0..20 {
        let r = server.create_street(&http, &token, i).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    assert_eq!(
        http.get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Those stalled in their headers are disconnected without an answer to act on; those
    // stalled in a body get 408.
    let headers = tokio::spawn(async move {
        let mut answers = vec![];
        for mut s in in_headers {
            answers.push(until_closed(&mut s).await);
        }
        answers
    });
    let bodies = tokio::spawn(async move {
        let mut answers = vec![];
        for mut s in in_bodies {
            answers.push(until_closed(&mut s).await);
        }
        answers
    });
    for answer in headers.await.unwrap() {
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    for answer in bodies.await.unwrap() {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
    }
    // And the service still answers.
    let r = http
        .get(format!("{}/api/v1/streets?limit=1", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
