//! `ao wallet`: make a wallet file, print a wallet's address.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ao_core::wallet::{Wallet, WalletKind};
use clap::{Subcommand, ValueEnum};

#[derive(Subcommand)]
pub enum WalletCommand {
    /// Make a new wallet and write it as a JWK file (readable by its owner only).
    New {
        /// Which kind of key: arweave (RSA-4096, signature type 1), ed25519 (type 2), ethereum (type 3).
        #[arg(long, value_enum, default_value_t = Kind::Ed25519)]
        kind: Kind,
        /// Where to write the wallet; refuses to overwrite an existing file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the address of a wallet file.
    Address {
        /// The wallet file (an Arweave JWK, an ed25519 or secp256k1 JWK).
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    Arweave,
    Ed25519,
    Ethereum,
}

pub fn run(cmd: WalletCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WalletCommand::New { kind, out } => {
            let kind = match kind {
                Kind::Arweave => WalletKind::Arweave,
                Kind::Ed25519 => WalletKind::Ed25519,
                Kind::Ethereum => WalletKind::Ethereum,
            };
            let wallet = Wallet::generate(kind)?;
            write_private(&out, wallet.to_json().as_bytes())?;
            outln!("{}", wallet.address())?;
        }
        WalletCommand::Address { file } => outln!("{}", load(&file)?.address())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Read and parse a wallet file, naming the file in any error.
pub fn load(path: &Path) -> anyhow::Result<Wallet> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read wallet {}", path.display()))?;
    Wallet::from_json(&text).with_context(|| format!("wallet {}", path.display()))
}

/// Write `bytes` (and a newline) to a new file readable by its owner only; refuses to overwrite.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.write_all(b"\n"))
        .with_context(|| format!("cannot write {}", path.display()))
}
