//! `ao spawn`, `ao send`, `ao result`, `ao dryrun`, `ao load`: one process-developer action each,
//! the command-line counterparts of aoconnect's `spawn`, `message`, `result` and `dryrun`.
//!
//! Why: a developer should be able to start a process and talk to it with nothing but `ao`.
//! Each verb builds (and signs) what it sends with ao-core's builders, and hands it to
//! [`Client`](crate::client::Client), which knows the units: items go to the MU, reads and
//! dry-runs to the CU. Answers are printed as the units gave them (JSON, pretty), except `load`,
//! which prints what a person wants to read: the Output's text or the Error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use ao_core::Tag;
use ao_core::ao::ProcessBuilder;
use clap::Args;
use serde_json::Value;

use crate::client::{self, Connection, parse_id, parse_tags};

/// `ao spawn`: a new process.
#[derive(Args, Debug)]
pub struct SpawnArgs {
    /// The module the process runs (default: the devnet file's `module`).
    #[arg(long, env = "AO_MODULE", value_name = "ID", allow_hyphen_values = true)]
    pub module: Option<String>,
    /// The process's name (its `Name` tag; aos shows it in the prompt).
    #[arg(long)]
    pub name: Option<String>,
    /// A tag as NAME=VALUE (e.g. Cron-Interval=1-minute); repeat for more, order is kept.
    #[arg(long = "tag", value_name = "NAME=VALUE")]
    pub tags: Vec<String>,
    /// The process's data (with `--tag On-Boot=Data`, Lua that aos runs at boot).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub data: Option<String>,
    /// The SU's address, the process's `Scheduler` (default: the devnet file's `scheduler`).
    #[arg(
        long,
        env = "AO_SCHEDULER",
        value_name = "ADDRESS",
        allow_hyphen_values = true
    )]
    pub scheduler: Option<String>,
    /// An `Authority` whose pushed messages the process trusts; repeat for more. The devnet
    /// file's MU address is always added.
    #[arg(long = "authority", value_name = "ADDRESS", allow_hyphen_values = true)]
    pub authorities: Vec<String>,
    #[command(flatten)]
    pub connection: Connection,
}

/// `ao send`: a message to a process.
#[derive(Args, Debug)]
pub struct SendArgs {
    /// The process id.
    #[arg(allow_hyphen_values = true)]
    pub pid: String,
    /// The message's `Action` tag.
    #[arg(long)]
    pub action: Option<String>,
    /// A tag as NAME=VALUE; repeat for more, order is kept (after Action).
    #[arg(long = "tag", value_name = "NAME=VALUE")]
    pub tags: Vec<String>,
    /// The message's data.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub data: Option<String>,
    /// Wait for the CU's result and print it after the id.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub stake: StakeArgs,
    #[command(flatten)]
    pub connection: Connection,
}

/// `ao result`: what a message did.
#[derive(Args, Debug)]
pub struct ResultArgs {
    /// The process id.
    #[arg(allow_hyphen_values = true)]
    pub pid: String,
    /// The message id (`ao send` prints it; the process id itself gives the boot result).
    #[arg(allow_hyphen_values = true)]
    pub message: String,
    /// Ask the CU to sign an attestation of the result (a CU run with `--attest`), and verify
    /// it here (exit 1 when it does not verify or does not state this result).
    #[arg(long)]
    pub attest: bool,
    #[command(flatten)]
    pub stake: StakeArgs,
    #[command(flatten)]
    pub connection: Connection,
}

/// `--min-stake`: a result backed by that much agreeing stake, gathered by the router and
/// checked here.
#[derive(Args, Debug)]
pub struct StakeArgs {
    /// Ask the CU router for attestations of distinct staked CUs that agree, up to this much
    /// stake, and verify them here: every signature, that each states this result, that they
    /// agree, and (with a registry) that their signers' stake reaches the amount. Exit 1 if not.
    #[arg(long, value_name = "AMOUNT")]
    pub min_stake: Option<String>,
    /// The unit-registry process whose `Units` (by dry-run) give the stakes checked here
    /// (default: the devnet file's `registry`). Without one, stake is taken on the router's word.
    #[arg(
        long,
        value_name = "PID",
        env = "AO_REGISTRY",
        allow_hyphen_values = true
    )]
    pub registry: Option<String>,
}

/// `ao dryrun`: what a message would do, with nothing sent or stored.
#[derive(Args, Debug)]
pub struct DryrunArgs {
    /// The process id.
    #[arg(allow_hyphen_values = true)]
    pub pid: String,
    /// The message's `Action` tag.
    #[arg(long)]
    pub action: Option<String>,
    /// A tag as NAME=VALUE; repeat for more, order is kept (after Action).
    #[arg(long = "tag", value_name = "NAME=VALUE")]
    pub tags: Vec<String>,
    /// The message's data.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub data: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

/// `ao load`: run a Lua file in a process.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The Lua file, sent as the data of an `Action: Eval` message.
    pub file: PathBuf,
    /// The process id (its Owner must be this wallet: aos evaluates only the Owner's Evals).
    #[arg(allow_hyphen_values = true)]
    pub pid: String,
    #[command(flatten)]
    pub connection: Connection,
}

/// A current-thread runtime for one command's calls.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Pretty JSON for people (and still JSON for scripts).
fn print_json(v: &Value) -> anyhow::Result<()> {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    )
}

/// `Action` (when given) followed by the `--tag` flags.
fn message_tags(action: Option<&str>, tags: &[String]) -> anyhow::Result<Vec<Tag>> {
    let mut all = Vec::new();
    if let Some(a) = action {
        all.push(Tag::new("Action", a));
    }
    all.extend(parse_tags(tags)?);
    Ok(all)
}

/// `ao spawn`: sign the Process item and post it to the MU; print the process id.
pub fn spawn(args: SpawnArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let module = args
        .module
        .or_else(|| client.devnet.module.clone())
        .ok_or_else(|| {
            anyhow!("no module: pass --module ID, or start `ao devnet` (its file names one)")
        })?;
    let module_raw = parse_id("module", &module)?;
    let scheduler = args
        .scheduler
        .or_else(|| client.devnet.scheduler.clone())
        .ok_or_else(|| {
            anyhow!(
                "no scheduler: pass --scheduler ADDRESS (an SU's address), or start `ao devnet`"
            )
        })?;
    let mut builder = ProcessBuilder::new(module_raw, scheduler).timestamp(client::now_ms());
    if let Some(name) = &args.name {
        builder = builder.tag("Name", name.as_str());
    }
    builder = builder.tags(parse_tags(&args.tags)?);
    let mut authorities: Vec<String> = Vec::new();
    for a in client
        .devnet
        .mu_address
        .iter()
        .chain(args.authorities.iter())
    {
        if !a.is_empty() && !authorities.contains(a) {
            authorities.push(a.clone());
        }
    }
    for a in authorities {
        builder = builder.authority(a);
    }
    if let Some(data) = args.data {
        builder = builder.data(data.into_bytes());
    }
    let process = builder
        .sign(&client.wallet)
        .context("cannot sign the process")?;
    let id = runtime()?.block_on(client.post_item(process.item()))?;
    outln!("{id}")?;
    Ok(ExitCode::SUCCESS)
}

/// `ao send`: sign the message and post it to the MU; print its id (and with `--wait`, its result).
pub fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let tags = message_tags(args.action.as_deref(), &args.tags)?;
    let item = client.message(&args.pid, tags, args.data.map(String::into_bytes))?;
    let rt = runtime()?;
    if args.stake.min_stake.is_some() && !args.wait {
        anyhow::bail!("--min-stake needs --wait: it is about the result");
    }
    let id = rt.block_on(client.post_item(&item))?;
    outln!("{id}")?;
    if args.wait {
        return result_checked(&client, &rt, &args.pid, &id, false, &args.stake);
    }
    Ok(ExitCode::SUCCESS)
}

/// `ao result`: print the CU's result of a message.
pub fn result(args: ResultArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let rt = runtime()?;
    result_checked(
        &client,
        &rt,
        &args.pid,
        &args.message,
        args.attest,
        &args.stake,
    )
}

/// Print the result of `id`, asked plain, attested (`attest`) or with `--min-stake`, and
/// checked here as asked: exit 1 when what came does not verify.
fn result_checked(
    client: &crate::client::Client,
    rt: &tokio::runtime::Runtime,
    pid: &str,
    id: &str,
    attest: bool,
    stake: &StakeArgs,
) -> anyhow::Result<ExitCode> {
    let want = stake
        .min_stake
        .as_deref()
        .map(ao_core::ao::registry::parse_amount)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--min-stake: {e}"))?;
    let mut query: Vec<(&str, String)> = Vec::new();
    if attest {
        query.push(("attest", "true".into()));
    }
    if let Some(w) = want {
        query.push(("min-stake", w.to_string()));
    }
    let answer = rt.block_on(client.result_query(pid, id, &query))?;
    print_json(&answer)?;
    if !attest && want.is_none() {
        return Ok(ExitCode::SUCCESS);
    }
    let report = crate::verify::check_answer(&answer);
    if report["valid"] != serde_json::json!(true) {
        eprintln!("the attestations do not verify: {report}");
        return Ok(ExitCode::from(1));
    }
    let Some(want) = want else {
        return Ok(ExitCode::SUCCESS);
    };
    let signers = crate::verify::signers(&answer, pid)?;
    let Some(registry) = stake.registry.clone().or(client.devnet.registry.clone()) else {
        eprintln!(
            "{} agreeing attestations from distinct CUs; their stake was not checked here (no \
             --registry): the router counted {want} or more",
            signers.len()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let tags = ao_core::ao::registry::units_query_tags("cu");
    let message = client.dry_run_message(&registry, &tags, None);
    let units = rt.block_on(client.dry_run(&registry, &message))?;
    let stakes = ao_core::ao::registry::stakes_of_units(&units)
        .map_err(|e| anyhow::anyhow!("the registry {registry}: {e}"))?;
    let total: u128 = signers
        .iter()
        .map(|s| stakes.get(s).copied().unwrap_or(0))
        .fold(0, u128::saturating_add);
    if total < want {
        eprintln!("the agreeing attestations carry {total} of stake by the registry, not {want}");
        return Ok(ExitCode::from(1));
    }
    eprintln!(
        "{} agreeing attestations, {total} of stake by the registry {registry}",
        signers.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `ao dryrun`: print what the message would do, as this wallet.
pub fn dryrun(args: DryrunArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let tags = message_tags(args.action.as_deref(), &args.tags)?;
    let message = client.dry_run_message(&args.pid, &tags, args.data.as_deref());
    print_json(&runtime()?.block_on(client.dry_run(&args.pid, &message))?)?;
    Ok(ExitCode::SUCCESS)
}

/// `ao load`: send the file as an Eval, wait, print the Output's text; the Error (exit 1) if the
/// code failed.
pub fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let code = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let client = args.connection.client()?;
    let (_, result) = runtime()?.block_on(client.eval(&args.pid, &code))?;
    print_eval(&result)
}

/// Print an Eval's result for a person: the Error on stderr (exit 1), else the Output's text.
fn print_eval(result: &Value) -> anyhow::Result<ExitCode> {
    if let Some(e) = client::error_text(result) {
        eprintln!("{e}");
        return Ok(ExitCode::from(1));
    }
    if let Some(text) = client::output_text(result) {
        outln!("{text}")?;
    }
    Ok(ExitCode::SUCCESS)
}
