//! End-to-end tests of ao-rs. The tests live in `tests/tests/*.rs`; this library holds the helpers they
//! share: where the shared fixtures are, and how to run the JS tools that check us from outside.
#![deny(clippy::undocumented_unsafe_blocks)]
