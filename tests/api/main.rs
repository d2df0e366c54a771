//! The gongjian API test suite. Every test gets its own database: a fresh SQLite file by
//! default, or a fresh PostgreSQL database when `GONGJIAN_TEST_DATABASE` is a `postgres://` URL.

mod access;
mod check;
mod cli;
mod concurrency;
mod deadlines;
mod deploy;
mod durability;
mod errors;
#[path = "../support/example_plugins.rs"]
mod example_plugins;
mod helpers;
mod hooks;
mod lists;
mod orders;
mod pagination;
mod plugins;
mod pool;
mod rules;
mod scenario;
mod system;
