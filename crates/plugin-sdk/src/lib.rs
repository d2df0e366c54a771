//! The gongjian plugin SDK: the Rust side of the contract between the host and a street's
//! matching plugins.
//!
//! The contract is not defined yet, so this crate exports nothing.
#![deny(missing_docs)]
