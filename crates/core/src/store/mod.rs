//! The store: the database and all SQL, one module per table group.
//!
//! Functions take the pool or the transaction they use, visibly. SQL is portable between
//! SQLite and PostgreSQL (see [`db`]).

pub mod candidates;
pub mod check;
pub mod counters;
pub mod db;
pub mod demands;
pub mod events;
pub mod feedback;
pub mod group_commit;
pub mod orders;
pub mod page;
pub mod plugins;
pub mod projects;
pub mod resources;
pub mod rows;
pub mod settings;
pub mod stats;
pub mod streets;
pub mod tokens;
pub mod units;
pub mod volunteers;

pub use db::{for_update, lock_row, Backend, Db, DbOptions, Sql, Tx};
