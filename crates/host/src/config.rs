//! Configuration: defaults, then a TOML file (`--config`), then `GONGJIAN_*` environment
//! variables, then command-line flags; each layer overrides the one before.

use std::{fmt, net::SocketAddr, path::PathBuf};

use serde::Deserialize;

use gongjian_core::store::db::{DbOptions, SqliteSync};

/// A value that must not be printed, such as a database URL with a password.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Show the scheme only: enough to tell SQLite from PostgreSQL in a log.
        let scheme = self.0.split(':').next().unwrap_or("");
        write!(f, "Secret({scheme}:…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// The file layer: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub database: Option<Secret>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub max_connections: Option<u32>,
    pub acquire_timeout_seconds: Option<u64>,
    pub sqlite_synchronous: Option<SqliteSync>,
    pub plugins: Option<PluginFileConfig>,
    pub webhooks: Option<WebhookFileConfig>,
    /// Where people reach the console (`https://…`): the links in WeCom robots' messages.
    pub public_url: Option<String>,
}

/// The console's public address as links are made from it: `http` or `https`, a host, no
/// query or fragment, no trailing slash.
pub fn public_url(text: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(text.trim())
        .map_err(|e| anyhow::anyhow!("public_url {text:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        anyhow::bail!("public_url must be http(s)://host[:port][/path], not {text:?}");
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// The `[webhooks]` table: where endpoints may point, and how long an attempt may take.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFileConfig {
    /// `public` (the default): public addresses only; `private`: private ranges too (an
    /// intranet bridge); `local`: this machine's loopback too (development and tests).
    pub reach: Option<ReachConfig>,
    /// How long one attempt may take, seconds (default 15, at most 60).
    pub timeout_seconds: Option<u64>,
    /// How long a rotated-out secret still signs, hours (default 24).
    pub rotation_overlap_hours: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReachConfig {
    Public,
    Private,
    Local,
}

impl WebhookFileConfig {
    /// The settings, over the defaults.
    pub fn settings(&self) -> anyhow::Result<gongjian_core::service::webhooks::WebhookSettings> {
        use gongjian_core::domain::webhook::Reach;
        let d = gongjian_core::service::webhooks::WebhookSettings::default();
        if let Some(s) = self.timeout_seconds.filter(|s| !(1..=60).contains(s)) {
            anyhow::bail!("webhooks.timeout_seconds must be from 1 to 60, not {s}");
        }
        Ok(gongjian_core::service::webhooks::WebhookSettings {
            reach: match self.reach {
                None | Some(ReachConfig::Public) => Reach::Public,
                Some(ReachConfig::Private) => Reach::Private,
                Some(ReachConfig::Local) => Reach::Local,
            },
            timeout: self
                .timeout_seconds
                .map(std::time::Duration::from_secs)
                .unwrap_or(d.timeout),
            rotation_overlap: self
                .rotation_overlap_hours
                .map(|h| time::Duration::hours(i64::from(h)))
                .unwrap_or(d.rotation_overlap),
            console_url: None,
        })
    }
}

/// The `[plugins]` table: limits for every plugin call and the quarantine rule.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginFileConfig {
    /// Wall-clock limit of one call, milliseconds (default 250).
    pub timeout_ms: Option<u64>,
    /// Memory a WebAssembly plugin may grow to, MiB (default 32).
    pub wasm_memory_mb: Option<usize>,
    /// WebAssembly calls that may run at once (default 64).
    pub wasm_instances: Option<u32>,
    /// rhai operations per call (default 5,000,000).
    pub rhai_operations: Option<u64>,
    /// Column data one rhai call may allocate, MiB (default 256).
    pub rhai_column_mb: Option<usize>,
    /// Consecutive faults before a version is quarantined (default 5).
    pub quarantine_after: Option<u32>,
    /// Most ranked candidates a match returns (default 20).
    pub max_results: Option<u32>,
    /// Where compiled WebAssembly is cached (default: `plugin-cache` in the data directory).
    pub cache_dir: Option<PathBuf>,
}

impl PluginFileConfig {
    /// The settings, over the defaults.
    pub fn settings(&self, data_dir: &std::path::Path) -> crate::plugin::host::PluginSettings {
        let d = crate::plugin::host::PluginSettings::default();
        let l = d.limits.clone();
        crate::plugin::host::PluginSettings {
            limits: crate::plugin::Limits {
                timeout: self
                    .timeout_ms
                    .map(std::time::Duration::from_millis)
                    .unwrap_or(l.timeout),
                wasm_memory_bytes: self
                    .wasm_memory_mb
                    .map(|mb| mb << 20)
                    .unwrap_or(l.wasm_memory_bytes),
                wasm_instances: self.wasm_instances.unwrap_or(l.wasm_instances),
                rhai_operations: self.rhai_operations.unwrap_or(l.rhai_operations),
                rhai_column_bytes: self
                    .rhai_column_mb
                    .map(|mb| mb << 20)
                    .unwrap_or(l.rhai_column_bytes),
                ..l
            },
            quarantine_after: self.quarantine_after.unwrap_or(d.quarantine_after).max(1),
            max_results: self.max_results.unwrap_or(d.max_results).clamp(1, 1000),
            cache_dir: Some(
                self.cache_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("plugin-cache")),
            ),
        }
    }
}

impl FileConfig {
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("bad config file {}: {e}", path.display()))
    }
}

/// The settled configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: Secret,
    pub log_format: LogFormat,
    pub db: DbOptions,
    pub plugins: crate::plugin::host::PluginSettings,
    pub webhooks: gongjian_core::service::webhooks::WebhookSettings,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "data";

/// The default database: a SQLite file in the data directory.
pub fn default_database(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}", data_dir.join("gongjian.db").display())
}
