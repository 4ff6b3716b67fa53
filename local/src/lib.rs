//! `ao-local`: start a local AO computer (the local gateway, an SU, CUs and an MU) in this process
//! or as child processes, and hand out their URLs. `ao devnet` runs on it, and so do the tests
//! that need a whole computer, so there is one way to start one rather than a copy per crate.
//!
//! - `computer.rs`: [`Builder`] (which units, where, which ports, extra flags, wallets) and the
//!   [`LocalComputer`] it starts: URLs out, the in-process handles, graceful stop, SIGKILL of a
//!   child (crash tests), a unit stopped and started again on the same data and addresses.
//! - `flags.rs`: the flags each unit is started with, the same for a binary and in process
//!   (where they are parsed by the unit's own argument parser), pure.
//! - `child.rs`: [`ChildUnit`], one unit binary as a child process: kill on drop, its ready line
//!   read to a deadline, SIGTERM and a bounded wait, SIGKILL.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod child;
pub mod computer;
pub mod flags;

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

pub use child::{ChildUnit, Spawn};
pub use computer::{Builder, LocalComputer, Mode, UnitAddrs, UnitId, Urls};

/// Why a unit could not be started, stopped or reached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unit binary is not where it should be.
    #[error("{} is missing; build the unit binaries with `cargo build --release`", .0.display())]
    MissingBinary(PathBuf),
    /// A unit binary could not be started.
    #[error("cannot start {path}: {source}", path = .0.display(), source = .1)]
    Spawn(PathBuf, std::io::Error),
    /// No ready line in time.
    #[error("{0} did not print its ready line within {1:?}")]
    NotReady(String, Duration),
    /// The unit exited before it was ready (its stderr says why).
    #[error("{0} exited before it was ready ({1:?}); its log above says why")]
    ExitedBeforeReady(String, Option<ExitStatus>),
    /// The ready line could not be read or lacks an address.
    #[error("{0}'s ready line: {1}")]
    ReadyLine(String, String),
    /// The unit is not running (stopped, or never started).
    #[error("{0} is not running")]
    NotRunning(String),
    /// A signal could not be sent.
    #[error("signalling {0}: {1}")]
    Signal(String, String),
    /// Waiting for the process failed.
    #[error("waiting for {0}: {1}")]
    Wait(String, std::io::Error),
    /// The unit did not exit in time (it was killed).
    #[error("{0} did not exit within {1:?}; killed")]
    DidNotExit(String, Duration),
    /// The unit's flags do not make a configuration.
    #[error("configuring {0}: {1}")]
    Config(String, String),
    /// An in-process unit failed to start.
    #[error("starting {0}: {1}")]
    Start(String, String),
    /// A running unit's address (wallet) could not be read from it.
    #[error("asking {0} for its address: {1}")]
    Info(String, String),
    /// What was asked cannot be done to a unit running in this process.
    #[error("{0} runs in this process: {1}")]
    InProcess(String, &'static str),
    /// The computer has no such unit.
    #[error("no unit {0} in this computer")]
    NoSuchUnit(String),
}
