//! The `gongjian` command line.

mod plugin;

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{
    default_database, Config, FileConfig, LogFormat, Secret, DEFAULT_DATA_DIR, DEFAULT_LISTEN,
};
use gongjian_core::{
    domain::{access::RoleKind, token::CreateToken},
    service::tokens::{issue, TokenSubject},
    store::db::{Db, DbOptions, SqliteSync},
};

#[derive(Debug, Parser)]
#[command(name = "gongjian", version, about = "The gongjian co-building service")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB. Default: a SQLite file in the
    /// data directory.
    #[arg(long, env = "GONGJIAN_DATABASE", global = true)]
    pub database: Option<String>,
    /// Where the default SQLite database lives.
    #[arg(long, env = "GONGJIAN_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// A TOML configuration file.
    #[arg(long, env = "GONGJIAN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, env = "GONGJIAN_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Database connections in the pool.
    #[arg(long, env = "GONGJIAN_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<u32>,
    /// Seconds a request waits for a free database connection before it is answered 503.
    #[arg(long, env = "GONGJIAN_ACQUIRE_TIMEOUT_SECONDS", global = true, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub acquire_timeout_seconds: Option<u64>,
    /// SQLite commit durability: full (fsync every commit) or normal.
    #[arg(long, env = "GONGJIAN_SQLITE_SYNCHRONOUS", global = true)]
    pub sqlite_synchronous: Option<SqliteSync>,
    /// Where people reach the console (https://…): the links in WeCom robots' messages.
    #[arg(long, env = "GONGJIAN_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "GONGJIAN_LISTEN")]
        listen: Option<SocketAddr>,
        /// Fill an empty database with a demo street first.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fill an empty database with a demo street and print how to log in.
    Demo,
    /// Check the database's invariants, read-only: list every broken one with the ids
    /// involved, and exit non-zero if there is one. Run it after a restore or an incident.
    Check,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Develop matching plugins offline, against the contract.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Check that a plugin compiles, implements the contract and ranks a sample request.
    Check {
        /// A rhai script (`.rhai`) or a WebAssembly file.
        file: PathBuf,
        /// A JSON file with the plugin's configuration document.
        #[arg(long, value_name = "JSON_FILE")]
        plugin_config: Option<PathBuf>,
    },
    /// Run a plugin on a demand and candidates given as JSON files; print the ranking.
    Run {
        file: PathBuf,
        /// A JSON file: the demand (see `DemandSpec` in the plugin SDK).
        #[arg(long)]
        demand: PathBuf,
        /// A JSON file: an array of candidates (see `CandidateSpec`).
        #[arg(long)]
        candidates: PathBuf,
        /// A JSON file with the plugin's configuration document.
        #[arg(long, value_name = "JSON_FILE")]
        plugin_config: Option<PathBuf>,
        /// At most this many results.
        #[arg(long, default_value_t = 20)]
        max_results: u32,
    },
    /// Run a plugin's triage on a demand given as JSON; print its decision.
    Triage {
        file: PathBuf,
        /// A JSON file: the demand as filed (see `TriageRequest` in the plugin SDK).
        #[arg(long)]
        demand: PathBuf,
        /// A JSON file with the plugin's configuration document.
        #[arg(long, value_name = "JSON_FILE")]
        plugin_config: Option<PathBuf>,
    },
    /// Run a plugin's points rule on a completed order given as JSON; print the award.
    Points {
        file: PathBuf,
        /// A JSON file: the completed order (see `PointsRequest` in the plugin SDK).
        #[arg(long)]
        order: PathBuf,
        /// A JSON file with the plugin's configuration document.
        #[arg(long, value_name = "JSON_FILE")]
        plugin_config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token and print it (and nothing else) on stdout.
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Who or what the token is for.
        #[arg(long, default_value = "issued by the command line")]
        name: String,
        #[arg(long)]
        street: Option<uuid::Uuid>,
        #[arg(long)]
        unit: Option<uuid::Uuid>,
        #[arg(long)]
        volunteer: Option<uuid::Uuid>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    DistrictAdmin,
    StreetAdmin,
    GridWorker,
    Unit,
    Volunteer,
}

impl From<RoleArg> for RoleKind {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::DistrictAdmin => RoleKind::DistrictAdmin,
            RoleArg::StreetAdmin => RoleKind::StreetAdmin,
            RoleArg::GridWorker => RoleKind::GridWorker,
            RoleArg::Unit => RoleKind::Unit,
            RoleArg::Volunteer => RoleKind::Volunteer,
        }
    }
}

impl GlobalArgs {
    /// Layers the configuration: defaults < file < environment and flags (clap reads both).
    pub fn config(&self, listen: Option<SocketAddr>) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database = self
            .database
            .clone()
            .map(Secret::new)
            .or(file.database)
            .unwrap_or_else(|| Secret::new(default_database(&data_dir)));
        let defaults = DbOptions::default();
        if let Some(s) = file
            .acquire_timeout_seconds
            .filter(|s| !(1..=600).contains(s))
        {
            anyhow::bail!("acquire_timeout_seconds must be from 1 to 600, not {s}");
        }
        let plugins = file.plugins.unwrap_or_default().settings(&data_dir);
        let mut webhooks = file.webhooks.unwrap_or_default().settings()?;
        webhooks.console_url = match self.public_url.clone().or(file.public_url) {
            Some(url) => Some(crate::config::public_url(&url)?),
            None => None,
        };
        Ok(Config {
            plugins,
            webhooks,
            listen: listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default")),
            database,
            log_format: self
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Human),
            db: DbOptions {
                max_connections: self
                    .max_connections
                    .or(file.max_connections)
                    .unwrap_or(defaults.max_connections),
                sqlite_sync: self
                    .sqlite_synchronous
                    .or(file.sqlite_synchronous)
                    .unwrap_or(defaults.sqlite_sync),
                acquire_timeout: self
                    .acquire_timeout_seconds
                    .or(file.acquire_timeout_seconds)
                    .map(std::time::Duration::from_secs)
                    .unwrap_or(defaults.acquire_timeout),
                connection_lifetime: defaults.connection_lifetime,
            },
        })
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("GONGJIAN_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen, .. } => *listen,
        _ => None,
    };
    let config = cli.global.config(listen)?;
    init_logging(config.log_format);
    match cli.command {
        Command::Serve { demo, .. } => {
            let db = Db::open(config.database.expose(), &config.db).await?;
            if demo {
                crate::demo::fill_and_report(&db, config.listen).await?;
            }
            serve(db, config.listen, config.plugins, config.webhooks).await
        }
        Command::Migrate => {
            let db = Db::open(config.database.expose(), &config.db).await?;
            db.close().await;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Demo => {
            let db = Db::open(config.database.expose(), &config.db).await?;
            crate::demo::fill_and_report(&db, config.listen).await?;
            db.close().await;
            Ok(())
        }
        Command::Check => {
            let report =
                gongjian_core::store::check::check_database(config.database.expose()).await?;
            for v in &report.violations {
                println!("{v}");
            }
            if report.is_clean() {
                eprintln!("all {} invariants hold", report.checked);
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "{} rows break the database's invariants",
                    report.violations.len()
                ))
            }
        }
        Command::Plugin { command } => plugin::run(command, config.plugins),
        Command::Token {
            command:
                TokenCommand::Create {
                    role,
                    name,
                    street,
                    unit,
                    volunteer,
                },
        } => {
            let db = Db::open(config.database.expose(), &config.db).await?;
            let req = CreateToken {
                role: role.into(),
                name,
                street_id: street,
                unit_id: unit,
                volunteer_id: volunteer,
            };
            let subject = TokenSubject::resolve(db.write(), req)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail().0))?;
            let issued = issue(&db, subject, None, time::OffsetDateTime::now_utc())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail().0))?;
            db.close().await;
            println!("{}", issued.token);
            Ok(())
        }
    }
}

/// How long a client has to send a request's headers; it also bounds how long an idle
/// keep-alive connection stays open. A client that takes longer is disconnected.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connections served at once; more wait to be accepted until one closes.
pub const MAX_OPEN_CONNECTIONS: usize = 1024;

/// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn serve(
    db: Db,
    listen: SocketAddr,
    plugins: crate::plugin::host::PluginSettings,
    webhooks: gongjian_core::service::webhooks::WebhookSettings,
) -> anyhow::Result<()> {
    let mut state = crate::AppState::with_plugins(db.clone(), plugins);
    let sender = crate::notify::Sender::new(&webhooks)?;
    state.core.webhooks = webhooks;
    // Notifications: the outbox fanned out, webhooks delivered.
    let notifier = crate::notify::spawn(
        state.core.clone(),
        sender,
        std::time::Duration::from_secs(1),
    );
    // Deadlines: re-offers and escalations.
    let scheduler = gongjian_core::service::scheduler::spawn(
        state.core.clone(),
        std::time::Duration::from_secs(5),
    );
    // The figures' rollups follow the changes.
    let folder = gongjian_core::service::stats::fold_in_background(
        state.core.clone(),
        std::time::Duration::from_secs(1),
    );
    let app = crate::app(state);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = db.backend().name(), "gongjian serving");
    serve_http(listener, app, shutdown_signal()).await;
    scheduler.abort();
    folder.abort();
    notifier.abort();
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Serves HTTP/1.1 on `listener` until `shutdown`, then lets the requests in flight finish.
/// A client that is slow to send its headers (or leaves a keep-alive connection idle) past
/// [`HEADER_READ_TIMEOUT`] is disconnected, and at most [`MAX_OPEN_CONNECTIONS`] are open at
/// once, so stalled clients cannot hold the service; a slow body is bounded by the body
/// extractor ([`crate::extract::ApiJson`], 408).
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::{
        rt::{TokioIo, TokioTimer},
        server::graceful::GracefulShutdown,
        service::TowerToHyperService,
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let open = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_OPEN_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
