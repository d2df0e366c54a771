//! The real binary on a real socket: acknowledged writes survive `kill -9`, SIGTERM stops
//! cleanly.

use std::{
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::{
    cli::{gongjian, issue_district_token},
    helpers::TestDb,
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
        let resp = http
            .post(format!("{}/api/v1/streets", server.base))
            .bearer_auth(&token)
            .json(
                &json!({"name": format!("街道{i}"), "code": format!("s{i}"), "district": "滨城区"}),
            )
            .send()
            .await
            .unwrap();
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
