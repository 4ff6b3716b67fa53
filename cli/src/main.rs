//! `ao`: the command people use to work with AO: wallets and data items today; the console and the
//! local devnet as their issues land.
//!
//! One file per verb group: `wallet.rs` (make keys, show addresses), `item.rs` (inspect and sign
//! ANS-104 data items), `module.rs` (run a process module locally with the CU's loader). Each verb is a thin shell around `ao-core`: the protocol lives there, this
//! crate reads files, parses flags and prints.
//!
//! Exit codes: 0 success, 1 the input is invalid (e.g. an item whose signature fails), 2 usage errors
//! (clap's convention) and failures to read or write files.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod item;
mod module;
mod wallet;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ao-rs command line: wallets, data items, and (soon) processes.
#[derive(Parser)]
#[command(name = "ao", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make wallets and show their addresses.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// Inspect and sign ANS-104 data items.
    #[command(subcommand)]
    Item(item::ItemCommand),
    /// Run process modules locally, with the CU's loader.
    #[command(subcommand)]
    Module(module::ModuleCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Wallet(cmd) => wallet::run(cmd),
        Command::Item(cmd) => item::run(cmd),
        Command::Module(cmd) => module::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ao: {e:#}");
            ExitCode::from(2)
        }
    }
}
