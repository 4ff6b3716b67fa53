//! `ao devnet`: the whole AO computer on this machine with one command, nothing else installed.
//!
//! It starts the local gateway, an SU, a CU (or `--cus N` CUs behind the router) and an MU, with their data under one folder
//! (`--data-dir`), publishes the built-in Lua module (`ao-module-lua`, signed by a devnet key kept
//! in that folder, so its id is the same on every start) and waits until the SU's
//! Scheduler-Location is on the gateway. Then it prints the URLs and the module id for people,
//! one JSON line for scripts, writes the same JSON to `<data-dir>/devnet.json` and
//! `~/.ao/devnet.json` (where `ao spawn`, `ao send` and `ao console` read their defaults), and
//! runs until Ctrl-C, shutting every unit down cleanly. A restart on the same folder resumes every
//! process and every queued push.
//!
//! Each unit is configured by parsing the same flags its own binary takes, so `--separate`
//! (each unit its own process: `arweave-local`, `su`, `cu`, `mu` from beside `ao`) and the default
//! (all in this process) run exactly the same configuration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ao_arweave::{Bundler, ClientConfig, Gateway, HttpBundler, HttpGateway, TxQuery};
use ao_local::{Builder, LocalComputer, Mode};
use clap::Args;
use serde_json::json;

/// Default folder of the devnet's data, beside where the units put theirs by default.
pub const DEFAULT_DATA_DIR: &str = ".ao-data";
/// Gateway port: Arweave's, as arlocal and the reference tools expect.
pub const DEFAULT_GATEWAY_PORT: u16 = 1984;
/// SU HTTP port (gRPC on the next): the SU binary's default.
pub const DEFAULT_SU_PORT: u16 = 9000;
/// CU HTTP port (gRPC on the next): the CU binary's default.
pub const DEFAULT_CU_PORT: u16 = 6363;
/// MU HTTP port (gRPC on the next): the MU binary's default, the reference MU's.
pub const DEFAULT_MU_PORT: u16 = 3005;
/// How long start-up waits for the SU's Scheduler-Location to reach the gateway.
pub const LOCATION_WAIT: Duration = Duration::from_secs(30);

/// Flags of `ao devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Folder for every unit's data (`arweave/`, `su/`, `cu/`, `mu/`) and the devnet key.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Local gateway port (0: any free port).
    #[arg(long, default_value_t = DEFAULT_GATEWAY_PORT)]
    pub gateway_port: u16,
    /// SU HTTP port; its gRPC is on the next port (0: any free ports).
    #[arg(long, default_value_t = DEFAULT_SU_PORT)]
    pub su_port: u16,
    /// CU HTTP port; its gRPC is on the next port.
    #[arg(long, default_value_t = DEFAULT_CU_PORT)]
    pub cu_port: u16,
    /// MU HTTP port; its gRPC is on the next port.
    #[arg(long, default_value_t = DEFAULT_MU_PORT)]
    pub mu_port: u16,
    /// Run each unit as its own process (the `arweave-local`, `su`, `cu`, `mu` binaries next to
    /// `ao`) instead of all in this one.
    #[arg(long)]
    pub separate: bool,
    /// CUs to run; above 1 they run behind the router (`ao-router`), which takes the CU port,
    /// and CU i listens on the CU port plus 10 + 2i (data in `cu`, `cu-1`, `cu-2`, ...).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub cus: u16,
    /// Time between blocks of the local gateway (as `arweave-local --block-interval`).
    #[arg(long, default_value = "2s")]
    pub block_interval: String,
    /// Do not write `~/.ao/devnet.json`.
    #[arg(long)]
    pub no_home_file: bool,
    /// The CUs sign attestations of results (`cu --attest true`): `/result?attest=true`,
    /// `ao result --attest`, `ao verify`.
    #[arg(long)]
    pub attest: bool,
}

fn parse_interval(s: &str) -> anyhow::Result<Duration> {
    ao_arweave::local::parse_duration(s).map_err(|e| anyhow::anyhow!("--block-interval: {e}"))
}

/// Start the units as `a` says: all in this process, or (`--separate`) the unit binaries beside
/// `ao`.
async fn start(a: &DevnetArgs) -> anyhow::Result<LocalComputer> {
    // Refused here with the flag's name, before any unit starts.
    parse_interval(&a.block_interval)?;
    let mode = if a.separate {
        let exe = std::env::current_exe().context("where is ao?")?;
        let dir = exe.parent().context("the folder of ao")?.to_path_buf();
        Mode::Separate(dir)
    } else {
        Mode::InProcess
    };
    Builder::new(&a.data_dir)
        .mode(mode)
        .gateway_port(a.gateway_port)
        .su_port(a.su_port)
        .cu_port(a.cu_port)
        .mu_port(a.mu_port)
        .cus(usize::from(a.cus))
        .block_interval(a.block_interval.clone())
        .cu_flags(if a.attest {
            vec!["--attest", "true"]
        } else {
            vec![]
        })
        .start()
        .await
        .with_context(|| {
            if a.separate {
                "starting the units (--separate runs the arweave-local, su, cu, router and mu binaries beside ao)"
            } else {
                "starting the units"
            }
        })
}

/// Publish the Lua module (idempotent: same key, same item, same id); its id.
async fn publish_module(data_dir: &Path, gateway: &str) -> anyhow::Result<String> {
    let key = ao_mu::config::load_or_create_wallet(&data_dir.join("devnet-wallet.json"), true)?;
    let module = ao_module_lua::module_builder().sign(&key)?;
    let id = module.id();
    let client = ClientConfig::default();
    let gw = HttpGateway::new(gateway, &client)?;
    if gw
        .transactions_by_id(std::slice::from_ref(&id))
        .await?
        .is_empty()
    {
        HttpBundler::new(gateway, &client)?
            .upload(module.item())
            .await
            .context("publishing the Lua module on the local gateway")?;
    }
    Ok(id)
}

/// Wait until the gateway answers the SU's Scheduler-Location (the MU routes by it).
async fn wait_for_location(gateway: &str, scheduler: &str) -> anyhow::Result<()> {
    let gw = HttpGateway::new(gateway, &ClientConfig::default())?;
    let query = TxQuery::scheduler_location(scheduler);
    let deadline = Instant::now() + LOCATION_WAIT;
    loop {
        if let Ok(page) = gw.query(&query).await
            && !page.edges.is_empty()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the SU's Scheduler-Location did not reach the gateway within {LOCATION_WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn devnet(a: DevnetArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.data_dir)
        .with_context(|| format!("creating {}", a.data_dir.display()))?;
    let computer = start(&a).await?;
    let urls = computer.urls().clone();
    let gateway = urls.gateway_url();
    let ready = async {
        let module = publish_module(&a.data_dir, &gateway).await?;
        wait_for_location(&gateway, &urls.scheduler).await?;
        let (Some(mu), Some(cu), Some(mu_admin), Some(mu_address)) =
            (urls.mu, urls.cu(), urls.mu_admin, urls.mu_address.clone())
        else {
            bail!("the devnet started without its CU or MU");
        };
        anyhow::Ok((module, mu, *cu, mu_admin, mu_address))
    };
    let (module, mu, cu, mu_admin, mu_address) = match ready.await {
        Ok(r) => r,
        Err(e) => {
            computer.stop().await;
            return Err(e);
        }
    };
    let mut line = json!({
        "mu": mu.http_url(),
        "cu": cu.http_url(),
        "su": urls.su.http_url(),
        "gateway": gateway,
        "module": module,
        "scheduler": urls.scheduler,
        "mu_address": mu_address,
        "mu_admin": format!("http://{mu_admin}"),
        "grpc": {
            "mu": mu.grpc_url(),
            "cu": cu.grpc_url(),
            "su": urls.su.grpc_url(),
        },
    });
    if urls.router.is_some() {
        line["cus"] = json!(urls.cus.iter().map(|c| c.http_url()).collect::<Vec<_>>());
    }
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    eprintln!(
        "ao devnet: the AO computer is running (data in {})",
        a.data_dir.display()
    );
    eprintln!(
        "  MU (send messages, spawn)  {}   gRPC {}",
        s(&line["mu"]),
        s(&line["grpc"]["mu"])
    );
    eprintln!("  MU admin (dead letters)    {}", s(&line["mu_admin"]));
    eprintln!(
        "  CU (results, dry-run)      {}   gRPC {}",
        s(&line["cu"]),
        s(&line["grpc"]["cu"])
    );
    if let Some(cus) = line["cus"].as_array() {
        let cus: Vec<String> = cus.iter().map(s).collect();
        eprintln!("  CU pool behind that router {}", cus.join(" "));
    }
    eprintln!(
        "  SU (schedules)             {}   gRPC {}",
        s(&line["su"]),
        s(&line["grpc"]["su"])
    );
    eprintln!("  gateway (Arweave)          {gateway}");
    eprintln!("  Lua module                 {module}");
    eprintln!("  scheduler                  {}", urls.scheduler);
    eprintln!("  MU wallet (Authority)      {mu_address}");
    eprintln!("Try: ao spawn --name hello; then ao console <process id>. Ctrl-C stops.");
    // Listen for Ctrl-C and SIGTERM before the ready line: tokio registers a signal handler on
    // the listener's first poll, and a SIGTERM sent right after the line (a script stopping the
    // devnet it just started) would otherwise kill the process before it stops its units.
    // A zero timeout polls the listener once.
    let mut stop = Box::pin(ao_runtime::shutdown_signal());
    let _ = tokio::time::timeout(Duration::ZERO, &mut stop).await;
    let text = line.to_string();
    std::fs::write(a.data_dir.join("devnet.json"), &text)?;
    if !a.no_home_file
        && let Some(home) = std::env::var_os("HOME")
    {
        let dir = PathBuf::from(home).join(".ao");
        if std::fs::create_dir_all(&dir).is_ok() {
            let _ = std::fs::write(dir.join("devnet.json"), &text);
        }
    }
    if let Err(e) = outln!("{text}") {
        // Nobody reads the ready line (`ao devnet | true`): stop the units cleanly, end quietly.
        computer.stop().await;
        return Err(e);
    }
    stop.await;
    eprintln!("ao devnet: stopping");
    computer.stop().await;
    Ok(())
}

/// Run `ao devnet`.
pub fn run(a: DevnetArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        // In one process the units share one tracer, so their spans are one service; with
        // --separate each unit binary exports as its own (`ao-mu`, `ao-su`, ...).
        let _telemetry = if !a.separate && ao_runtime::telemetry::wanted(|n| std::env::var(n).ok())
        {
            Some(ao_runtime::init_logging(
                ao_runtime::LogFormat::Text,
                "ao-devnet",
            )?)
        } else {
            None
        };
        devnet(a).await
    })?;
    Ok(ExitCode::SUCCESS)
}
