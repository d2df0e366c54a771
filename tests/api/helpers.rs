use std::sync::atomic::{AtomicUsize, Ordering};

use axum::{
    body::Body,
    http::{header, HeaderMap, Method, Request, StatusCode},
    Router,
};
use gongjian_core::{
    domain::{access::RoleKind, token::CreateToken},
    service::tokens::{issue, TokenSubject},
    store::db::{Db, DbOptions},
};
use gongjian_host::AppState;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        match std::env::var("GONGJIAN_TEST_DATABASE")
            .ok()
            .filter(|v| !v.is_empty() && v != "sqlite")
        {
            None => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg_admin: None,
                }
            }
            Some(base) if base.starts_with("postgres") => {
                sqlx::any::install_default_drivers();
                let name = format!("gj_test_{}", Uuid::now_v7().simple());
                let mut admin = connect_admin(&base).await;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create a test database on {base}: {e}"));
                use sqlx::Connection;
                let _ = admin.close().await;
                let url = replace_db_name(&base, &name);
                TestDb {
                    url,
                    _dir: None,
                    pg_admin: Some((base, name)),
                }
            }
            Some(other) => panic!(
                "GONGJIAN_TEST_DATABASE must be `sqlite` or a postgres:// URL, got {other:?}"
            ),
        }
    }
}

/// Connects to the PostgreSQL server the suite was pointed at, or fails saying how to start it.
async fn connect_admin(url: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::AnyConnection::connect(url).await.unwrap_or_else(|e| {
        panic!(
            "GONGJIAN_TEST_DATABASE={url} is not reachable ({e}). Start PostgreSQL, e.g. \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
             or unset the variable to test on SQLite."
        )
    })
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host_part = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, name)) = self.pg_admin.take() {
            // Drop on a thread of its own: the test's runtime is shutting down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    use sqlx::Connection;
                    if let Ok(mut c) = sqlx::AnyConnection::connect(&base).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut c)
                                .await;
                        let _ = c.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// The application on a fresh database, with a district admin token.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub db: Db,
    pub admin: String,
    pub test_db: TestDb,
}

pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Resp {
    /// Asserts the status, showing the body when it is not the expected one.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts a problem response: status, code, and (if given) the field at fault.
    #[track_caller]
    pub fn problem(self, status: u16, code: &str, field: Option<&str>) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap()),
            Some("application/problem+json"),
            "problem content type"
        );
        assert_eq!(self.body["status"], status, "status in body: {}", self.body);
        let codes: Vec<&str> = std::iter::once(self.body["code"].as_str().unwrap_or(""))
            .chain(
                self.body["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["code"].as_str()),
            )
            .collect();
        assert!(
            codes.contains(&code),
            "expected code {code}, got {}",
            self.body
        );
        if let Some(field) = field {
            let fields: Vec<&str> = self.body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["field"].as_str())
                .collect();
            assert!(
                fields.contains(&field),
                "expected field {field}, got {}",
                self.body
            );
        }
        self.body
    }
}

static APPS: AtomicUsize = AtomicUsize::new(0);

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(gongjian_host::plugin::host::PluginSettings::default()).await
    }

    pub async fn spawn_with(plugins: gongjian_host::plugin::host::PluginSettings) -> TestApp {
        Self::spawn_full(
            plugins,
            std::sync::Arc::new(gongjian_core::domain::clock::SystemClock),
            Self::pool_options(),
        )
        .await
    }

    /// An app whose deadlines follow `clock`.
    pub async fn spawn_with_clock(
        clock: std::sync::Arc<dyn gongjian_core::domain::clock::Clock>,
    ) -> TestApp {
        Self::spawn_full(Default::default(), clock, Self::pool_options()).await
    }

    /// An app whose pool holds `max_connections` and fails a request that waits longer than
    /// `acquire_timeout` for one (503): a request held up by a starved pool fails instead of
    /// waiting.
    pub async fn spawn_with_pool(
        max_connections: u32,
        acquire_timeout: std::time::Duration,
        clock: std::sync::Arc<dyn gongjian_core::domain::clock::Clock>,
    ) -> TestApp {
        let opts = DbOptions {
            max_connections,
            acquire_timeout,
            ..DbOptions::default()
        };
        Self::spawn_full(Default::default(), clock, opts).await
    }

    fn pool_options() -> DbOptions {
        DbOptions {
            max_connections: 4,
            ..DbOptions::default()
        }
    }

    async fn spawn_full(
        plugins: gongjian_host::plugin::host::PluginSettings,
        clock: std::sync::Arc<dyn gongjian_core::domain::clock::Clock>,
        opts: DbOptions,
    ) -> TestApp {
        APPS.fetch_add(1, Ordering::Relaxed);
        // Logs show in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn,gongjian_host=info")
            .with_test_writer()
            .try_init();
        let test_db = TestDb::new().await;
        let db = Db::open(&test_db.url, &opts)
            .await
            .expect("open the test database");
        let admin = issue_token(&db, RoleKind::DistrictAdmin, None, None, None).await;
        let state = AppState::with_plugins(db.clone(), plugins).with_clock(clock);
        let router = gongjian_host::app(state.clone());
        TestApp {
            router,
            state,
            db,
            admin,
            test_db,
        }
    }

    /// Another host serving the same database, with its own memory (compiled plugins,
    /// candidate pools), as when several hosts share one PostgreSQL.
    pub fn other_host(&self) -> Host {
        Host {
            router: gongjian_host::app(AppState::new(self.db.clone())),
        }
    }

    /// Folds every demand marked since the last pass into the figures' rollups, as the
    /// host's folder does in the background.
    pub async fn fold(&self) -> usize {
        gongjian_core::store::figures::fold_all(&self.db)
            .await
            .expect("the figures fold")
    }

    /// Checks the database's invariants, as `gongjian check` does, and fails the test with
    /// every broken one; the figures are folded first, so their rollups are checked too.
    pub async fn assert_consistent(&self) {
        self.fold().await;
        let report = gongjian_core::store::check::check_database(&self.test_db.url)
            .await
            .expect("the checker runs");
        assert!(report.checked > 0);
        let broken: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
        assert!(
            broken.is_empty(),
            "{} broken invariants:\n{}",
            broken.len(),
            broken.join("\n")
        );
    }

    pub async fn raw(&self, req: Request<Body>) -> Resp {
        send(&self.router, req).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.raw(request(method, path, token, body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn token(
        &self,
        role: RoleKind,
        street: Option<&str>,
        unit: Option<&str>,
        volunteer: Option<&str>,
    ) -> String {
        let id = |s: Option<&str>| s.map(|s| Uuid::parse_str(s).unwrap());
        issue_token(&self.db, role, id(street), id(unit), id(volunteer)).await
    }

    // --- builders for common records, as the district admin ---

    pub async fn street(&self, code: &str) -> Value {
        self.post(
            "/api/v1/streets",
            &self.admin,
            json!({"name": format!("{code}街道"), "code": code, "district": "滨城区"}),
        )
        .await
        .expect(201)
    }

    pub async fn community(&self, street: &str, name: &str) -> Value {
        self.post(
            &format!("/api/v1/streets/{street}/communities"),
            &self.admin,
            json!({"name": name}),
        )
        .await
        .expect(201)
    }

    pub async fn grid(&self, street: &str, community: &str, code: &str) -> Value {
        self.post(
            &format!("/api/v1/streets/{street}/grids"),
            &self.admin,
            json!({"community_id": community, "code": code, "name": format!("第{code}网格"), "households": 420}),
        )
        .await
        .expect(201)
    }

    pub async fn unit(&self, streets: &[&str], name: &str) -> Value {
        self.post(
            "/api/v1/units",
            &self.admin,
            json!({"name": name, "kind": "hospital", "contact_name": "王主任", "contact_phone": "0543-3212345", "street_ids": streets}),
        )
        .await
        .expect(201)
    }

    pub async fn volunteer(&self, grid: &str, name: &str) -> Value {
        self.post(
            "/api/v1/volunteers",
            &self.admin,
            json!({"name": name, "phone": "13800001111", "home_grid_id": grid, "skills": ["维修", "陪护"],
                   "team": "党员先锋队", "party_member": true,
                   "availability": [{"day": "sat", "start": "08:00", "end": "12:00"}]}),
        )
        .await
        .expect(201)
    }

    pub async fn demand(&self, grid: &str, token: &str) -> Value {
        self.post("/api/v1/demands", token, demand_body(grid))
            .await
            .expect(201)
    }
}

fn request(method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&b).unwrap())),
        None => req.body(Body::empty()),
    }
    .unwrap()
}

async fn send(router: &Router, req: Request<Body>) -> Resp {
    let res = router
        .clone()
        .oneshot(req)
        .await
        .expect("the router answers");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Resp {
        status,
        body,
        headers,
    }
}

/// A second host on a test app's database.
pub struct Host {
    router: Router,
}

impl Host {
    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
        send(&self.router, request(method, path, Some(token), body)).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, token, None).await
    }
}

pub fn demand_body(grid: &str) -> Value {
    json!({
        "grid_id": grid,
        "category": "elderly_care",
        "tags": ["独居老人"],
        "urgency": "high",
        "channel": "hotline",
        "description": "独居老人需要每周上门助浴",
        "resident": {"name": "李秀英", "phone": "13912345678", "address": "滨城区市西街道魏鑫家园3号楼2单元"},
        "window_start": "2026-05-01T09:00:00+08:00",
        "window_end": "2026-05-01T11:00:00+08:00"
    })
}

pub async fn issue_token(
    db: &Db,
    role: RoleKind,
    street: Option<Uuid>,
    unit: Option<Uuid>,
    volunteer: Option<Uuid>,
) -> String {
    let req = CreateToken {
        role,
        name: "test".into(),
        street_id: street,
        unit_id: unit,
        volunteer_id: volunteer,
    };
    let subject = TokenSubject::resolve(db.write(), req)
        .await
        .expect("a valid token subject");
    issue(db, subject, None, time::OffsetDateTime::now_utc())
        .await
        .expect("issue a token")
        .token
}

/// The actions of a page of events, in order.
pub fn actions(events: &Value) -> Vec<String> {
    events["items"]
        .as_array()
        .expect("a page of events")
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// Two streets, each with a community, a grid, a unit, a volunteer, a resource, a demand and
/// a draft and a published project; and a token for every role of street A.
pub struct World {
    pub a: Street,
    pub b: Street,
}

pub struct Street {
    pub id: String,
    pub community: String,
    pub grid: String,
    pub unit: String,
    pub volunteer: String,
    pub resource: String,
    pub demand: String,
    pub draft_project: String,
    pub published_project: String,
    pub admin: String,
    pub grid_worker: String,
    pub unit_token: String,
    pub volunteer_token: String,
}

impl World {
    pub async fn build(app: &TestApp) -> World {
        World {
            a: Self::street(app, "shixi").await,
            b: Self::street(app, "pengli").await,
        }
    }

    async fn street(app: &TestApp, code: &str) -> Street {
        let street = id(&app.street(code).await);
        let community = id(&app.community(&street, "魏鑫社区").await);
        let grid = id(&app.grid(&street, &community, "g01").await);
        let unit = id(&app.unit(&[&street], &format!("{code}医院")).await);
        let volunteer = id(&app.volunteer(&grid, "张志强").await);
        let resource = id(&app
            .post(
                "/api/v1/resources",
                &app.admin,
                json!({"owner_unit_id": unit, "title": "免费体检", "category": "medical", "capacity": 20, "street_ids": [street]}),
            )
            .await
            .expect(201));
        let admin = app
            .token(RoleKind::StreetAdmin, Some(&street), None, None)
            .await;
        let grid_worker = app
            .token(RoleKind::GridWorker, Some(&street), None, None)
            .await;
        let demand = id(&app.demand(&grid, &grid_worker).await);
        let project = |title: &'static str| json!({"street_id": street, "title": title, "description": "为老旧小区加装扶手", "goal": "50户完成", "budget_fen": 500000});
        let draft_project = id(&app
            .post("/api/v1/projects", &admin, project("草稿项目"))
            .await
            .expect(201));
        let published_project = id(&app
            .post("/api/v1/projects", &admin, project("发布项目"))
            .await
            .expect(201));
        app.patch(
            &format!("/api/v1/projects/{published_project}"),
            &admin,
            json!({"status": "published"}),
        )
        .await
        .expect(200);
        Street {
            unit_token: app.token(RoleKind::Unit, None, Some(&unit), None).await,
            volunteer_token: app
                .token(RoleKind::Volunteer, None, None, Some(&volunteer))
                .await,
            id: street,
            community,
            grid,
            unit,
            volunteer,
            resource,
            demand,
            draft_project,
            published_project,
            admin,
            grid_worker,
        }
    }
}
