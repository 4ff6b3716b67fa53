//! `ao devnet`: the whole AO computer on this machine with one command, nothing else installed.
//!
//! It starts the local gateway, an SU, a CU and an MU, with their data under one folder
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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ao_arweave::{Bundler, ClientConfig, Gateway, HttpBundler, HttpGateway, TxQuery};
use clap::{Args, Parser};
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
    /// Time between blocks of the local gateway (as `arweave-local --block-interval`).
    #[arg(long, default_value = "2s")]
    pub block_interval: String,
    /// Do not write `~/.ao/devnet.json`.
    #[arg(long)]
    pub no_home_file: bool,
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

fn grpc_port(port: u16) -> u16 {
    if port == 0 { 0 } else { port + 1 }
}

fn dir(d: &Path) -> String {
    d.display().to_string()
}

/// The flags of each unit, as its binary takes them.
struct UnitFlags {
    su: Vec<String>,
    cu: Vec<String>,
    mu: Vec<String>,
}

fn gateway_flags(a: &DevnetArgs) -> Vec<String> {
    vec![
        "arweave-local".into(),
        "--data-dir".into(),
        dir(&a.data_dir.join("arweave")),
        "--http-addr".into(),
        addr(a.gateway_port),
        "--block-interval".into(),
        a.block_interval.clone(),
    ]
}

fn unit_flags(a: &DevnetArgs, gateway: &str, su_grpc: &str, cu_grpc: &str) -> UnitFlags {
    let server = |name: &str, port: u16| {
        vec![
            name.to_string(),
            "--data-dir".into(),
            dir(&a.data_dir.join(name)),
            "--http-addr".into(),
            addr(port),
            "--grpc-addr".into(),
            addr(grpc_port(port)),
            "--gateway-url".into(),
            gateway.to_string(),
        ]
    };
    let mut cu = server("cu", a.cu_port);
    cu.extend(["--su-url".into(), su_grpc.to_string()]);
    let mut mu = server("mu", a.mu_port);
    mu.extend(["--cu-url".into(), cu_grpc.to_string()]);
    UnitFlags {
        su: server("su", a.su_port),
        cu,
        mu,
    }
}

/// The addresses of a running devnet.
struct Urls {
    gateway: SocketAddr,
    su: (SocketAddr, SocketAddr),
    cu: (SocketAddr, SocketAddr),
    mu: (SocketAddr, SocketAddr),
    scheduler: String,
    mu_address: String,
}

/// What to stop at the end.
enum Running {
    InProcess(Box<InProcess>),
    Separate(Vec<(String, tokio::process::Child)>),
}

/// The units running in this process.
struct InProcess {
    gateway: ao_arweave::local::LocalGateway,
    su: ao_su::RunningSu,
    cu: ao_cu::RunningCu,
    mu: ao_mu::RunningMu,
}

async fn start_in_process(a: &DevnetArgs) -> anyhow::Result<(Running, Urls)> {
    let mut g = ao_arweave::local::Config::new(a.data_dir.join("arweave"));
    g.http_addr = addr(a.gateway_port).parse()?;
    g.block_interval = parse_interval(&a.block_interval)?;
    let gateway = ao_arweave::local::serve(g)
        .await
        .with_context(|| format!("starting the local gateway on port {}", a.gateway_port))?;
    let gw = gateway.url();
    let su_flags = unit_flags(a, &gw, "", "").su;
    let su = ao_su::serve(ao_su::SuArgs::try_parse_from(&su_flags)?.into_config()?)
        .await
        .context("starting the SU")?;
    let su_grpc = format!("http://{}", su.grpc_addr);
    let cu_flags = unit_flags(a, &gw, &su_grpc, "").cu;
    let cu = ao_cu::serve(ao_cu::config::CuArgs::try_parse_from(&cu_flags)?.into_config()?)
        .await
        .context("starting the CU")?;
    let cu_grpc = format!("http://{}", cu.grpc_addr);
    let mu_flags = unit_flags(a, &gw, &su_grpc, &cu_grpc).mu;
    let mu = ao_mu::serve(ao_mu::MuArgs::try_parse_from(&mu_flags)?.into_config()?)
        .await
        .context("starting the MU")?;
    let urls = Urls {
        gateway: gateway.http_addr(),
        su: (su.http_addr, su.grpc_addr),
        cu: (cu.http_addr, cu.grpc_addr),
        mu: (mu.http_addr, mu.grpc_addr),
        scheduler: su.address.clone(),
        mu_address: mu.address.clone(),
    };
    let units = InProcess {
        gateway,
        su,
        cu,
        mu,
    };
    Ok((Running::InProcess(Box::new(units)), urls))
}

fn parse_interval(s: &str) -> anyhow::Result<Duration> {
    ao_arweave::local::parse_duration(s).map_err(|e| anyhow::anyhow!("--block-interval: {e}"))
}

/// Start a unit binary and read its ready line (`{"http": ..., "grpc": ...}`).
async fn start_binary(
    flags: &[String],
    children: &mut Vec<(String, tokio::process::Child)>,
) -> anyhow::Result<serde_json::Value> {
    use tokio::io::AsyncBufReadExt;
    let exe = std::env::current_exe().context("where is ao?")?;
    let bin = exe.with_file_name(&flags[0]);
    if !bin.exists() {
        bail!(
            "--separate needs the {} binary beside ao ({}); build it with `cargo build --release`",
            flags[0],
            bin.display()
        );
    }
    let mut child = tokio::process::Command::new(&bin)
        .args(&flags[1..])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .with_context(|| format!("{} did not start within a minute", flags[0]))??
        .with_context(|| format!("{} exited before it was ready", flags[0]))?;
    children.push((flags[0].clone(), child));
    serde_json::from_str(&line).with_context(|| format!("{}'s ready line {line:?}", flags[0]))
}

fn ready_addr(v: &serde_json::Value, key: &str) -> anyhow::Result<SocketAddr> {
    v[key]
        .as_str()
        .context("ready line without the address")?
        .parse()
        .context("ready line address")
}

async fn start_separate(a: &DevnetArgs) -> anyhow::Result<(Running, Urls)> {
    let mut children = Vec::new();
    let g = start_binary(&gateway_flags(a), &mut children).await?;
    let gateway = ready_addr(&g, "http")?;
    let gw = format!("http://{gateway}");
    let su = start_binary(&unit_flags(a, &gw, "", "").su, &mut children).await?;
    let su = (ready_addr(&su, "http")?, ready_addr(&su, "grpc")?);
    let su_grpc = format!("http://{}", su.1);
    let cu = start_binary(&unit_flags(a, &gw, &su_grpc, "").cu, &mut children).await?;
    let cu = (ready_addr(&cu, "http")?, ready_addr(&cu, "grpc")?);
    let cu_grpc = format!("http://{}", cu.1);
    let mu = start_binary(&unit_flags(a, &gw, &su_grpc, &cu_grpc).mu, &mut children).await?;
    let mu = (ready_addr(&mu, "http")?, ready_addr(&mu, "grpc")?);
    let http = ao_arweave::HttpClient::new(&ClientConfig::default())?
        .reqwest()
        .clone();
    let info = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await?;
            let v: serde_json::Value = serde_json::from_slice(&r.bytes().await?)?;
            anyhow::Ok(v)
        }
    };
    let scheduler = info(format!("http://{}/", su.0)).await?["address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mu_address = info(format!("http://{}/health", mu.0)).await?["address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let urls = Urls {
        gateway,
        su,
        cu,
        mu,
        scheduler,
        mu_address,
    };
    Ok((Running::Separate(children), urls))
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

async fn stop(running: Running) {
    match running {
        Running::InProcess(units) => {
            let InProcess {
                gateway,
                su,
                cu,
                mu,
            } = *units;
            mu.shutdown().await;
            cu.shutdown().await;
            su.shutdown().await;
            gateway.shutdown().await;
        }
        Running::Separate(children) => {
            // In reverse start order, each asked to stop (SIGTERM) and given time to do so.
            for (name, mut child) in children.into_iter().rev() {
                if let Some(pid) = child.id() {
                    let _ = std::process::Command::new("kill")
                        .arg("-TERM")
                        .arg(pid.to_string())
                        .status();
                }
                if tokio::time::timeout(Duration::from_secs(15), child.wait())
                    .await
                    .is_err()
                {
                    eprintln!("ao devnet: {name} did not stop in 15 s; killing it");
                    let _ = child.kill().await;
                }
            }
        }
    }
}

async fn devnet(a: DevnetArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.data_dir)
        .with_context(|| format!("creating {}", a.data_dir.display()))?;
    let (running, urls) = if a.separate {
        start_separate(&a).await?
    } else {
        start_in_process(&a).await?
    };
    let gateway = format!("http://{}", urls.gateway);
    let ready = async {
        let module = publish_module(&a.data_dir, &gateway).await?;
        wait_for_location(&gateway, &urls.scheduler).await?;
        anyhow::Ok(module)
    };
    let module = match ready.await {
        Ok(m) => m,
        Err(e) => {
            stop(running).await;
            return Err(e);
        }
    };
    let line = json!({
        "mu": format!("http://{}", urls.mu.0),
        "cu": format!("http://{}", urls.cu.0),
        "su": format!("http://{}", urls.su.0),
        "gateway": gateway,
        "module": module,
        "scheduler": urls.scheduler,
        "mu_address": urls.mu_address,
        "grpc": {
            "mu": format!("http://{}", urls.mu.1),
            "cu": format!("http://{}", urls.cu.1),
            "su": format!("http://{}", urls.su.1),
        },
    });
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
    eprintln!(
        "  CU (results, dry-run)      {}   gRPC {}",
        s(&line["cu"]),
        s(&line["grpc"]["cu"])
    );
    eprintln!(
        "  SU (schedules)             {}   gRPC {}",
        s(&line["su"]),
        s(&line["grpc"]["su"])
    );
    eprintln!("  gateway (Arweave)          {gateway}");
    eprintln!("  Lua module                 {module}");
    eprintln!("  scheduler                  {}", urls.scheduler);
    eprintln!("  MU wallet (Authority)      {}", urls.mu_address);
    eprintln!("Try: ao spawn --name hello; then ao console <process id>. Ctrl-C stops.");
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
        stop(running).await;
        return Err(e);
    }
    ao_runtime::shutdown_signal().await;
    eprintln!("ao devnet: stopping");
    stop(running).await;
    Ok(())
}

/// Run `ao devnet`.
pub fn run(a: DevnetArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(devnet(a))?;
    Ok(ExitCode::SUCCESS)
}
