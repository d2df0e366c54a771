//! The store: the database and all SQL, one module per table group.
//!
//! Functions take the pool or the transaction they use, visibly. The edges see only what they
//! open and check a database with (`db`, `check`), pages, token resolution and the shape of a
//! transaction job (`group_commit::BoxFuture`); the rest is the services'. SQL is portable
//! between SQLite and PostgreSQL (see [`db`]).

pub(crate) mod candidates;
pub mod check;
pub(crate) mod counters;
pub mod db;
pub(crate) mod demands;
pub(crate) mod events;
pub(crate) mod feedback;
pub mod figures;
pub mod group_commit;
pub(crate) mod notifications;
pub(crate) mod orders;
pub mod page;
pub(crate) mod plugins;
pub(crate) mod projects;
pub(crate) mod resources;
pub(crate) mod rows;
pub(crate) mod sessions;
pub(crate) mod settings;
pub(crate) mod sqlite_direct;
pub(crate) mod sqlite_plans;
pub(crate) mod sqlite_statistics;
pub(crate) mod streets;
pub mod tokens;
pub(crate) mod units;
pub(crate) mod volunteers;
pub(crate) mod webhooks;

pub use db::{for_update, lock_row, Backend, Db, DbOptions, Script, Sql, Tx};
