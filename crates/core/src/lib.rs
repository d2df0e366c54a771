//! The operations of gongjian, independent of any edge.
//!
//! Three layers, each naming only the ones below it:
//! - [`domain`]: closed types, time, validation of input into clean values, masking of
//!   residents' data, and the access policy as pure functions of a [`domain::access::Principal`];
//! - [`store`]: the database, all SQL, one module per table group;
//! - `service`: the operations the edges call.
//!
//! The HTTP API (`gongjian-host`) and the command line are edges onto these operations; the
//! plugin runtimes are below them (`gongjian-plugin-runtime`).

pub mod domain;
pub mod error;
pub mod service;
pub mod store;

pub use error::{Error, FieldError, Result};
/// The plugin runtimes: the core depends on them, never the reverse.
pub use gongjian_plugin_runtime as plugin;
