//! `ao module run`: evaluate messages on one process with the CU's loader, no units running, for
//! module developers and conformance checks. One JSON line per message on stdout:
//! `Output`, `Messages`, `Spawns`, `Assignments`, `Error`, `GasUsed`, `memory_bytes`, `memory_sha256`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ao_cu::loader::{ModuleFormat, Options, ProcessRunner, Runtime, result_line};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ModuleCommand {
    /// Evaluate the messages in order on one process and print one JSON line per message.
    Run {
        /// The module's wasm file.
        wasm: PathBuf,
        /// Its Module-Format, e.g. wasm32-unknown-emscripten2.
        #[arg(long)]
        format: String,
        /// The process environment JSON (`{"Process": {...}, "Module": {...}}`), as the CU passes it.
        #[arg(long)]
        env: PathBuf,
        /// One message JSON per line, each exactly as a CU would pass it.
        #[arg(long)]
        messages: PathBuf,
        /// Largest memory the process may grow to, bytes.
        #[arg(long)]
        memory_limit: Option<u64>,
        /// Gas per message (and for start-up).
        #[arg(long)]
        compute_limit: Option<u64>,
        /// `main`'s argv, program name first (repeat the flag); default: the CU's fixed argv.
        #[arg(long = "argv", num_args = 1.., value_name = "ARG")]
        argv: Vec<String>,
        /// Start from this memory snapshot instead of a fresh process.
        #[arg(long)]
        memory: Option<PathBuf>,
        /// Write the memory after each message to DIR/<n>.bin (to diff against another loader).
        #[arg(long, value_name = "DIR")]
        save_memory: Option<PathBuf>,
    },
}

pub fn run(cmd: ModuleCommand) -> anyhow::Result<ExitCode> {
    let ModuleCommand::Run {
        wasm,
        format,
        env,
        messages,
        memory_limit,
        compute_limit,
        argv,
        memory,
        save_memory,
    } = cmd;
    let format = ModuleFormat::parse(&format)?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let env_text =
        std::fs::read_to_string(&env).with_context(|| format!("cannot read {}", env.display()))?;
    let env: serde_json::Value = serde_json::from_str(&env_text)
        .with_context(|| format!("{} is not JSON", env.display()))?;
    let lines = std::fs::read_to_string(&messages)
        .with_context(|| format!("cannot read {}", messages.display()))?;
    let memory = match memory {
        Some(p) => Some(std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let mut options = Options {
        compute_limit,
        memory_limit,
        ..Options::default()
    };
    if !argv.is_empty() {
        options.argv = argv;
    }
    let module = Runtime::new().compile(&bytes, format)?;
    let mut process = ProcessRunner::new(module, options, memory);
    for (i, (n, line)) in lines
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .enumerate()
    {
        let msg: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not JSON", messages.display(), n + 1))?;
        let eval = process.evaluate(&msg, &env)?;
        let (size, sha) = process.memory_digest()?;
        outln!("{}", result_line(&eval, size, &sha))?;
        if let Some(dir) = &save_memory {
            let path = dir.join(format!("{i}.bin"));
            std::fs::write(&path, process.memory()?.unwrap_or_default())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
