//! `ao`: the command people use to work with AO: wallets, data items, and processes (spawn, send,
//! read results, dry-run, the console); the local devnet as its issue lands.
//!
//! One file per verb group: `wallet.rs` (make keys, show addresses), `item.rs` (inspect and sign
//! ANS-104 data items), `module.rs` (run a process module locally with the CU's loader),
//! `process.rs` (spawn, send, result, dryrun, load), `console.rs` (the REPL), and `client.rs`
//! (where the MU and CU are, the wallet, the HTTP calls). Each verb is a thin shell around
//! `ao-core`: the protocol lives there, this crate reads files, parses flags, talks HTTP and prints.
//!
//! Exit codes: 0 success, 1 the input is invalid (e.g. an item whose signature fails, or Lua that
//! `ao load` sent failed), 2 usage errors (clap's convention), failures to read or write files, and
//! units that cannot be reached or refuse a request. A command whose standard output is closed
//! early (`ao send ... | head`) stops at its next write and exits 0 without a word (`output.rs`).
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

#[macro_use]
mod output;
mod client;
mod console;
mod devnet;
mod item;
mod module;
mod process;
mod verify;
mod wallet;

use std::io::Write;
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
    /// Spawn a process: sign a Process item, post it to the MU; prints the process id.
    Spawn(process::SpawnArgs),
    /// Send a message to a process through the MU; prints the message id.
    Send(process::SendArgs),
    /// Print the CU's result of a message (JSON).
    Result(process::ResultArgs),
    /// Evaluate a message on the CU without sending it; prints the result (JSON).
    #[command(alias = "dry-run")]
    Dryrun(process::DryrunArgs),
    /// Run a Lua file in a process (an Eval); prints its output.
    Load(process::LoadArgs),
    /// A Lua REPL on a process, with messages it receives shown live.
    Console(console::ConsoleArgs),
    /// Start the whole AO computer locally: gateway, SU, CU, MU, and the Lua module.
    Devnet(devnet::DevnetArgs),
    /// Check an attestation, an SU assignment, or a result answer carrying attestations (a
    /// file, or an item id read from the gateway), and print what it attests.
    Verify(verify::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Wallet(cmd) => wallet::run(cmd),
        Command::Item(cmd) => item::run(cmd),
        Command::Module(cmd) => module::run(cmd),
        Command::Spawn(args) => process::spawn(args),
        Command::Send(args) => process::send(args),
        Command::Result(args) => process::result(args),
        Command::Dryrun(args) => process::dryrun(args),
        Command::Load(args) => process::load(args),
        Command::Console(args) => console::run(args),
        Command::Devnet(args) => devnet::run(args),
        Command::Verify(args) => verify::verify(args),
    };
    match result {
        Ok(code) => code,
        // The reader of our output has gone (`ao send ... | head`): nothing more to say.
        Err(e) if output::is_stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!: it panics when standard error is closed too.
            let _ = writeln!(std::io::stderr(), "ao: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids are base64url, so one in 64 starts with `-`; clap must not read it as a flag (a
    /// CI run failed on `ao console -B…`).
    #[test]
    fn ids_and_text_that_start_with_a_dash_are_values() {
        let pid = "-BxoRjcmWJAqsuG6PbwgaQ1Kp_lYc4Q8qnpj6WXH9kk";
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("ao").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        };
        let Command::Console(c) = parse(&["console", pid, "--devnet-file", "f"]).command else {
            panic!("not console");
        };
        assert_eq!(c.pid, pid);
        let Command::Send(s) = parse(&["send", pid, "--data", "-5", "--action", "A"]).command
        else {
            panic!("not send");
        };
        assert_eq!((s.pid.as_str(), s.data.as_deref()), (pid, Some("-5")));
        let Command::Result(r) = parse(&["result", pid, "-x"]).command else {
            panic!("not result");
        };
        assert_eq!((r.pid.as_str(), r.message.as_str()), (pid, "-x"));
        let Command::Spawn(s) = parse(&["spawn", "--module", pid, "--scheduler", "-s"]).command
        else {
            panic!("not spawn");
        };
        assert_eq!(s.module.as_deref(), Some(pid));
        assert_eq!(s.scheduler.as_deref(), Some("-s"));
        // Flags still read as flags.
        assert!(
            Cli::try_parse_from(["ao", "console", "--help"])
                .is_err_and(|e| e.kind() == clap::error::ErrorKind::DisplayHelp)
        );
    }
}
