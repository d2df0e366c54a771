//! The `gongjian` binary: token issuing, migrations, the demo and configuration.

use std::process::Command;

use crate::helpers::TestDb;

/// The binary, pointed at a test database.
pub fn gongjian(db: &TestDb) -> Command {
    let mut cmd = bare();
    cmd.env("GONGJIAN_DATABASE", &db.url);
    cmd
}

/// The binary with no database or configuration from the environment.
fn bare() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gongjian"));
    cmd.env_remove("GONGJIAN_DATABASE")
        .env_remove("GONGJIAN_CONFIG")
        .env("GONGJIAN_LOG", "warn");
    cmd
}

/// Runs a command that must succeed and returns what it printed on stdout.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail, with nothing on stdout, and returns its stderr.
#[track_caller]
pub fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} should have failed");
    assert!(out.stdout.is_empty(), "nothing on stdout when failing");
    String::from_utf8(out.stderr).unwrap()
}

/// Issues a district admin token with the command line.
pub fn issue_district_token(db: &TestDb) -> String {
    run_ok(gongjian(db).args(["token", "create", "--role", "district-admin"]))
        .trim()
        .to_string()
}

async fn count(db: &gongjian_core::store::db::Db, table: &str) -> i64 {
    let row: (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(db.read())
        .await
        .unwrap();
    row.0
}

#[tokio::test]
async fn token_create_prints_only_the_token() {
    let db = TestDb::new().await;
    let stdout = run_ok(gongjian(&db).args(["token", "create", "--role", "district-admin"]));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout:?}");
    assert!(
        lines[0].starts_with("gj_") && lines[0].len() == 46,
        "{stdout:?}"
    );

    // The token works against the service on the same database.
    let app_db = gongjian_core::store::db::Db::open(&db.url, &Default::default())
        .await
        .unwrap();
    let state = gongjian_host::AppState::new(app_db.clone());
    let principal = gongjian_core::store::tokens::resolve(state.db.read(), lines[0])
        .await
        .unwrap();
    assert_eq!(
        principal.unwrap().role,
        gongjian_core::domain::access::Role::DistrictAdmin
    );
    app_db.close().await;

    let stderr = run_err(gongjian(&db).args(["token", "create", "--role", "street-admin"]));
    assert!(stderr.contains("street_id"), "{stderr}");
}

#[tokio::test]
async fn migrate_and_demo_fill_an_empty_database_once() {
    let db = TestDb::new().await;
    run_ok(gongjian(&db).arg("migrate"));
    let stdout = run_ok(gongjian(&db).arg("demo"));
    assert!(
        stdout.contains("district admin") && stdout.contains("gj_"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("gj_").count(),
        5,
        "a token for every role: {stdout}"
    );
    // And a one-time console sign-in link for every role, which signs that role in.
    let links: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split("/console/link/").nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(links.len(), 5, "a sign-in link for every role: {stdout}");

    let app_db = gongjian_core::store::db::Db::open(&db.url, &Default::default())
        .await
        .unwrap();
    for (table, at_least) in [
        ("streets", 1),
        ("communities", 3),
        ("grids", 9),
        ("units", 7),
        ("volunteers", 12),
        ("resources", 11),
        ("demands", 12),
        ("projects", 2),
    ] {
        assert!(count(&app_db, table).await >= at_least, "{table}");
    }
    let router = gongjian_host::app(gongjian_host::AppState::new(app_db.clone()));
    let volunteer_link = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("volunteer") && l.contains("/console/link/"))
        .and_then(|l| l.split("/console/link/").nth(1))
        .expect("the volunteer's link")
        .trim();
    let res = tower::ServiceExt::oneshot(
        router,
        axum::http::Request::post(format!("/console/link/{volunteer_link}"))
            .header("sec-fetch-site", "same-origin")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/orders");
    assert!(links.iter().all(|l| l.len() == 43), "{links:?}");
    // A second run leaves the data alone.
    run_ok(gongjian(&db).arg("demo"));
    assert_eq!(count(&app_db, "streets").await, 1);
    assert_eq!(count(&app_db, "demands").await, 12);
    app_db.close().await;
}

#[test]
fn config_file_is_overridden_by_flags_and_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gongjian.toml");
    let from_file = dir.path().join("from-file.db");
    let from_flag = dir.path().join("from-flag.db");
    std::fs::write(
        &cfg,
        format!(
            "database = \"sqlite://{}\"\nlog_format = \"json\"\n",
            from_file.display()
        ),
    )
    .unwrap();
    let in_dir = || {
        let mut cmd = bare();
        cmd.current_dir(dir.path());
        cmd
    };
    run_ok(in_dir().arg("--config").arg(&cfg).arg("migrate"));
    assert!(from_file.exists(), "the file's database is used");
    let flag = format!("sqlite://{}", from_flag.display());
    run_ok(
        in_dir()
            .arg("--config")
            .arg(&cfg)
            .args(["--database", &flag, "migrate"]),
    );
    assert!(from_flag.exists(), "the flag overrides the file");
    // With neither, the default is a SQLite file in ./data.
    run_ok(in_dir().arg("migrate"));
    assert!(dir.path().join("data/gongjian.db").exists());

    // Plugin limits are configuration too.
    std::fs::write(
        &cfg,
        "[plugins]\ntimeout_ms = 50\nquarantine_after = 2\ncache_dir = \"cache\"\n",
    )
    .unwrap();
    run_ok(in_dir().arg("--config").arg(&cfg).arg("migrate"));
    std::fs::write(&cfg, "[plugins]\ntimeout = 50\n").unwrap();
    let stderr = run_err(in_dir().arg("--config").arg(&cfg).arg("migrate"));
    assert!(stderr.contains("timeout"), "{stderr}");

    std::fs::write(&cfg, "listen = \"127.0.0.1:1\"\ncolour = \"red\"\n").unwrap();
    let stderr = run_err(in_dir().arg("--config").arg(&cfg).arg("migrate"));
    assert!(stderr.contains("colour"), "{stderr}");
    let stderr = run_err(in_dir().args(["--database", "mysql://x", "migrate"]));
    assert!(stderr.contains("unsupported database URL"), "{stderr}");

    // How long a request may wait for a connection: from 1 second to 10 minutes.
    std::fs::write(&cfg, "acquire_timeout_seconds = 5\n").unwrap();
    run_ok(in_dir().arg("--config").arg(&cfg).arg("migrate"));
    std::fs::write(&cfg, "acquire_timeout_seconds = 0\n").unwrap();
    let stderr = run_err(in_dir().arg("--config").arg(&cfg).arg("migrate"));
    assert!(stderr.contains("acquire_timeout_seconds"), "{stderr}");
    let stderr = run_err(in_dir().args(["--acquire-timeout-seconds", "0", "migrate"]));
    assert!(stderr.contains("acquire-timeout-seconds"), "{stderr}");
}

#[test]
fn plugin_check_and_run_work_offline() {
    let dir = tempfile::tempdir().unwrap();
    let rhai = crate::example_plugins::rhai_source("elderly-party-members");
    let good = dir.path().join("rule.rhai");
    std::fs::write(&good, &rhai).unwrap();
    let out = run_ok(bare().args(["plugin", "check"]).arg(&good));
    assert!(
        out.starts_with("ok: ") && out.contains("rhai plugin for contract 1.1.0"),
        "{out}"
    );

    let bad = dir.path().join("bad.rhai");
    std::fs::write(&bad, "fn score(c, d, config) {\n  let x = ;\n}\n").unwrap();
    let err = run_err(bare().args(["plugin", "check"]).arg(&bad));
    assert!(err.contains("line 2, column 11"), "{err}");

    let wasm = dir.path().join("same_day.wasm");
    std::fs::write(&wasm, crate::example_plugins::wasm_bytes("same_day")).unwrap();
    run_ok(bare().args(["plugin", "check"]).arg(&wasm));
    let hostile = dir.path().join("hostile.wasm");
    std::fs::write(&hostile, crate::example_plugins::wasm_bytes("hostile")).unwrap();
    let cfg = dir.path().join("loop.json");
    std::fs::write(&cfg, r#"{"mode": "loop"}"#).unwrap();
    let err = run_err(
        bare()
            .args(["plugin", "check"])
            .arg(&hostile)
            .arg("--plugin-config")
            .arg(&cfg),
    );
    assert!(err.contains("timeout"), "{err}");

    let demand = dir.path().join("demand.json");
    let candidates = dir.path().join("candidates.json");
    std::fs::write(
        &demand,
        r#"{"category": "elderly_care", "grid": "g1", "community": "c1"}"#,
    )
    .unwrap();
    std::fs::write(
        &candidates,
        r#"[{"home_grid": "g2", "community": "c1"}, {"home_grid": "g1", "community": "c1", "party_member": true}]"#,
    )
    .unwrap();
    let out = run_ok(
        bare()
            .args(["plugin", "run"])
            .arg(&good)
            .arg("--demand")
            .arg(&demand)
            .arg("--candidates")
            .arg(&candidates),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ranked"][0]["candidate"], 1);
    assert_eq!(v["ranked"][0]["reason"], "党员 同网格 在办 0/3");
    assert_eq!(v["ranked"].as_array().unwrap().len(), 2);
    std::fs::write(&candidates, r#"[{"home_grid": "g1", "colour": "red"}]"#).unwrap();
    let err = run_err(
        bare()
            .args(["plugin", "run"])
            .arg(&good)
            .arg("--demand")
            .arg(&demand)
            .arg("--candidates")
            .arg(&candidates),
    );
    assert!(err.contains("colour"), "{err}");

    // The 1.1.0 hooks, offline.
    let out = run_ok(bare().args(["plugin", "check"]).arg(&wasm));
    assert!(
        out.contains("contract 1.2.0") && out.contains("hooks: triage, points"),
        "{out}"
    );
    let medical = dir.path().join("medical.rhai");
    std::fs::write(
        &medical,
        crate::example_plugins::rhai_source("medical-to-hospital"),
    )
    .unwrap();
    let filed = dir.path().join("filed.json");
    std::fs::write(
        &filed,
        r#"{"category": "other", "description": "老人胸闷", "categories": [{"code": "medical", "label": "医疗"}]}"#,
    )
    .unwrap();
    let out = run_ok(
        bare()
            .args(["plugin", "triage"])
            .arg(&medical)
            .arg("--demand")
            .arg(&filed),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"]["category"], "medical");
    assert_eq!(v["decision"]["urgency"], "critical");
    let done = dir.path().join("done.json");
    std::fs::write(
        &done,
        r#"{"service_minutes": 120, "completed_at": 100, "complete_by": 200}"#,
    )
    .unwrap();
    let out = run_ok(
        bare()
            .args(["plugin", "points"])
            .arg(&wasm)
            .arg("--order")
            .arg(&done),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["award"]["points"], 3.0, "two hours and the on-time point");
    let err = run_err(
        bare()
            .args(["plugin", "points"])
            .arg(&medical)
            .arg("--order")
            .arg(&done),
    );
    assert!(err.contains("no points rule"), "{err}");
}
