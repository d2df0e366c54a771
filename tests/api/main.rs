//! The gongjian API test suite. Every test gets its own database: a fresh SQLite file by
//! default, or a fresh PostgreSQL database when `GONGJIAN_TEST_DATABASE` is a `postgres://` URL.

mod access;
mod check;
mod cli;
#[path = "../support/compiled_plugins.rs"]
mod compiled_plugins;
mod concurrency;
mod console;
mod deadlines;
mod deploy;
mod durability;
mod errors;
#[path = "../support/example_plugins.rs"]
mod example_plugins;
mod figures;
mod helpers;
mod hooks;
mod lists;
mod notifications;
mod orders;
mod pagination;
mod pool;
mod rules;
mod scenario;
mod system;
mod wecom;
