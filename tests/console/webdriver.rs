//! A small W3C WebDriver client over HTTP, enough to drive Chromium through chromedriver:
//! sessions, navigation, finding and clicking elements, typing, scripts and screenshots.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::Engine;
use serde_json::{json, Value};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for something on a page gives up after: generous, so that a loaded
/// machine passes; a page that never shows what is waited for fails the test.
const PATIENCE: Duration = Duration::from_secs(60);

/// A chromedriver process, stopped when dropped.
pub struct Driver {
    child: Child,
    url: String,
    http: reqwest::Client,
}

/// Where Debian puts Chromium and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

impl Driver {
    /// Starts chromedriver; fails, saying how to install it, when Chromium or the driver is
    /// missing.
    pub async fn start() -> Driver {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: the console's browser tests need Chromium and its driver. \
                 Install them with `apt-get install -y chromium chromium-driver \
                 fonts-wqy-microhei` (package {package})"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let started = std::time::Instant::now();
        loop {
            if let Ok(r) = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await
            {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == true {
                        return driver;
                    }
                }
            }
            assert!(
                started.elapsed() < PATIENCE,
                "chromedriver never became ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless browser with a phone-sized window, asking for `lang` pages.
    pub async fn browser(&self, lang: &str, width: u32, height: u32) -> Browser {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"), format!("--lang={lang}")],
                "prefs": {"intl.accept_languages": lang}
            }
        }}});
        let v: Value = self
            .http
            .post(format!("{}/session", self.url))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("a JSON answer");
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {v}"))
            .to_string();
        Browser {
            base: format!("{}/session/{id}", self.url),
            http: self.http.clone(),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
pub struct Browser {
    base: String,
    http: reqwest::Client,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("a JSON answer");
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) {
        let v = self.post("/url", json!({ "url": url })).await;
        assert!(v.is_null(), "navigating to {url}: {v}");
    }

    pub async fn url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn source(&self) -> String {
        self.get("/source")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching `css`, if the page has one now.
    async fn try_find(&self, css: &str) -> Option<String> {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT_KEY].as_str().map(str::to_string)
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let started = std::time::Instant::now();
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{css} never appeared on {}:\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the page has an element matching `css` now.
    pub async fn has(&self, css: &str) -> bool {
        self.try_find(css).await.is_some()
    }

    /// Clicks the element matching `css`. A live page may swap the part that holds it between
    /// finding and clicking (the element is then "stale" and was not clicked): it is found
    /// again and clicked, as a person would click the button now on the screen.
    pub async fn click(&self, css: &str) {
        let started = std::time::Instant::now();
        loop {
            let e = self.find(css).await;
            let v = self.post(&format!("/element/{e}/click"), json!({})).await;
            if v.is_null() {
                return;
            }
            assert!(
                is_stale(&v) && started.elapsed() < PATIENCE,
                "clicking {css}: {v}"
            );
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let started = std::time::Instant::now();
        loop {
            let e = self.find(css).await;
            self.post(&format!("/element/{e}/clear"), json!({})).await;
            let v = self
                .post(&format!("/element/{e}/value"), json!({ "text": text }))
                .await;
            if v.is_null() {
                return;
            }
            // Swapped by a live page meanwhile: type into the field now on the screen.
            assert!(
                is_stale(&v) && started.elapsed() < PATIENCE,
                "typing into {css}: {v}"
            );
        }
    }

    pub async fn text(&self, css: &str) -> String {
        let started = std::time::Instant::now();
        loop {
            let e = self.find(css).await;
            let v = self.get(&format!("/element/{e}/text")).await;
            if let Some(text) = v.as_str() {
                return text.to_string();
            }
            assert!(
                is_stale(&v) && started.elapsed() < PATIENCE,
                "reading {css}: {v}"
            );
        }
    }

    /// Waits until the text of `css` contains `want`.
    pub async fn wait_text(&self, css: &str, want: &str) {
        let started = std::time::Instant::now();
        loop {
            if self.has(css).await && self.text(css).await.contains(want) {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{css} never said {want:?} on {}:\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    pub async fn run_async(&self, script: &str) -> Value {
        self.post("/execute/async", json!({"script": script, "args": []}))
            .await
    }

    /// Resizes the window (a desktop screen after a phone's).
    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await;
    }

    /// Saves a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let v = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("a screenshot"))
            .expect("base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

/// Whether WebDriver answered that the element is no longer on the page (a live page swapped
/// the part that held it).
fn is_stale(answer: &Value) -> bool {
    answer["error"] == "stale element reference"
}
