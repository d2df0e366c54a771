//! Configuration: defaults, then a TOML file (`--config`), then `GONGJIAN_*` environment
//! variables, then command-line flags; each layer overrides the one before.

use std::{fmt, net::SocketAddr, path::PathBuf};

use serde::Deserialize;

use crate::db::{DbOptions, SqliteSync};

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
    pub sqlite_synchronous: Option<SqliteSync>,
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
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "data";

/// The default database: a SQLite file in the data directory.
pub fn default_database(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}", data_dir.join("gongjian.db").display())
}
