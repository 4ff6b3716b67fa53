//! ao-rs SU: a skeleton. Its issue fills it in; until then the crate only holds the place in the
//! workspace so that dependencies and CI are set up once.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

/// The name this unit reports in its health answer and logs.
pub const UNIT_NAME: &str = "su";
