//! `ao-cu`: the Compute Unit.
//!
//! - `loader/`: runs AO process modules in Wasmer exactly like the reference loader
//!   (`@permaweb/ao-loader`): formats, the emscripten host, start-up, `handle`, memory snapshots,
//!   and [`loader::ProcessRunner`], which evaluates a process's messages in order.
//!
//! The evaluation service (schedule reading, checkpoints, the AO HTTP API) builds on the loader.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod loader;

/// The name this unit reports in its health answer and logs.
pub const UNIT_NAME: &str = "cu";
