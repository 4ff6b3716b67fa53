//! Helpers shared by the CU's integration tests.
#![allow(dead_code)]

pub mod net;

// Not every test binary uses all three.
#[allow(unused_imports)]
pub use ao_tests::modules::{cache, minimal_module, repo};

/// The value of counter or gauge `name` in a Prometheus text (`/metrics`).
pub fn metric(text: &str, name: &str) -> u64 {
    ao_tests::metric(text, name).unwrap_or_else(|| panic!("no metric {name} in\n{text}")) as u64
}
