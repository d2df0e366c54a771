//! The `gongjian` binary: token issuing, migrations and the demo.

use std::process::Command;

use serde_json::Value;

use crate::helpers::TestDb;

pub fn gongjian(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gongjian"));
    cmd.env_remove("GONGJIAN_CONFIG")
        .env("GONGJIAN_DATABASE", &db.url)
        .env("GONGJIAN_LOG", "warn");
    cmd
}

#[tokio::test]
async fn token_create_prints_only_the_token() {
    let db = TestDb::new().await;
    let out = gongjian(&db)
        .args(["token", "create", "--role", "district-admin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout:?}");
    assert!(
        lines[0].starts_with("gj_") && lines[0].len() == 46,
        "{stdout:?}"
    );

    // The token works against the service on the same database.
    let app_db = gongjian_host::db::Db::open(&db.url, &Default::default())
        .await
        .unwrap();
    let principal =
        gongjian_host::auth::resolve(&gongjian_host::AppState::new(app_db.clone()), lines[0])
            .await
            .unwrap();
    assert_eq!(
        principal.unwrap().role,
        gongjian_host::auth::Role::DistrictAdmin
    );
    app_db.close().await;

    let out = gongjian(&db)
        .args(["token", "create", "--role", "street-admin"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("street_id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn migrate_and_demo_fill_an_empty_database_once() {
    let db = TestDb::new().await;
    let out = gongjian(&db).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = gongjian(&db).arg("demo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("district admin") && stdout.contains("gj_"),
        "{stdout}"
    );

    let app_db = gongjian_host::db::Db::open(&db.url, &Default::default())
        .await
        .unwrap();
    let count = |table: &'static str| {
        let db = app_db.clone();
        async move {
            let row: (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(db.read())
                .await
                .unwrap();
            row.0
        }
    };
    assert_eq!(count("streets").await, 1);
    assert!(count("grids").await >= 9);
    assert!(count("units").await >= 5);
    assert!(count("volunteers").await >= 10);
    assert!(count("resources").await >= 8);
    assert!(count("demands").await >= 10);
    assert!(count("projects").await >= 2);
    app_db.close().await;

    // A second run leaves the data alone.
    let out = gongjian(&db).arg("demo").output().unwrap();
    assert!(out.status.success());
    let again = gongjian_host::db::Db::open(&db.url, &Default::default())
        .await
        .unwrap();
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM streets")
        .fetch_one(again.read())
        .await
        .unwrap();
    assert_eq!(row.0, 1);
    again.close().await;
    let _: Option<Value> = None;
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
    let bare = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gongjian"));
        cmd.env_remove("GONGJIAN_DATABASE")
            .env_remove("GONGJIAN_CONFIG")
            .current_dir(dir.path());
        cmd
    };
    let out = bare()
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(from_file.exists(), "the file's database is used");
    let out = bare()
        .arg("--config")
        .arg(&cfg)
        .arg("--database")
        .arg(format!("sqlite://{}", from_flag.display()))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(from_flag.exists(), "the flag overrides the file");
    // With neither, the default is a SQLite file in ./data.
    let out = bare().arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("data/gongjian.db").exists());

    std::fs::write(&cfg, "listen = \"127.0.0.1:1\"\ncolour = \"red\"\n").unwrap();
    let out = bare()
        .arg("--config")
        .arg(&cfg)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("colour"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bare()
        .args(["--database", "mysql://x", "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}
