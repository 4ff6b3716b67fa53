//! Assignments per second and latency of the SU's write path over loopback HTTP, fsync on.
//!
//! For each scenario a fresh SU (fresh RocksDB in a temp dir, the same SU wallet) takes signed
//! items from `clients` concurrent HTTP clients, spread round-robin over `processes` processes,
//! until `ITEMS` are sent or `SECONDS` have passed. Items are signed before the clock starts
//! (signing is the client's cost, not the SU's). Each answer means: verified, slot assigned,
//! assignment signed, entry + indexes + upload outbox in one synced RocksDB batch.
//!
//! The bundler is a null sink in this process so that the numbers are the SU's alone (the local
//! gateway's ingest has its own bench); the gateway is the real local one, for the block height.
//!
//! Also measured, one core, to explain the ceiling: item verification (ed25519, RSA-4096), the
//! SU's assignment signing, and the committer's group sizes and sync times.
//!
//! Run: `cargo bench -p ao-su --bench assign` (env ITEMS, RSA_ITEMS, SECONDS, CLIENTS="1,16,64,256",
//! PROCESSES="1,100" override the defaults). Results go to BENCHMARKS.md with the machine.
//!
//! With `SU_URL=http://HOST:PORT` the same clients and items drive an SU running elsewhere (our
//! `su` binary in its own process, or the reference SU: `scripts/reference-su.sh bench` runs both),
//! so one command compares them on one workload. `SU_REAL_IP` adds that `X-Real-IP` header to every
//! POST (the reference takes writes only from whitelisted ones), `SU_PID` reads the SU's peak and
//! current resident memory from `/proc/PID/status` after each run, and `KINDS=RSA-4096` leaves out the
//! ed25519 items (the reference verifies RSA and Ethereum items only). Each external run signs
//! fresh processes and messages, because the SU keeps what an earlier run wrote.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ao_arweave::{Bundler, Receipt};
use ao_core::ao::{MessageBuilder, ProcessBuilder};
use ao_core::wallet::{ArweaveWallet, Ed25519Wallet, Wallet};
use ao_core::{DataItem, Signer};
use bytes::Bytes;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Accepts every upload at once: the bench measures the SU, not a bundler.
struct NullBundler;

#[async_trait::async_trait]
impl Bundler for NullBundler {
    async fn upload(&self, item: &DataItem) -> ao_arweave::Result<Receipt> {
        Ok(Receipt {
            id: item.id(),
            timestamp: None,
        })
    }
}

/// An SU this bench does not start: what `SU_URL`, `SU_REAL_IP` and `SU_PID` say.
struct External {
    /// Base URL with its trailing `/`, where items are POSTed.
    url: String,
    /// `X-Real-IP` sent with every POST, for an SU that whitelists clients by it.
    real_ip: Option<String>,
    /// The SU's process id, to read its memory from `/proc`.
    pid: Option<u32>,
}

impl External {
    fn from_env() -> Option<Self> {
        let url = std::env::var("SU_URL").ok().filter(|u| !u.is_empty())?;
        Some(External {
            url: format!("{}/", url.trim_end_matches('/')),
            real_ip: std::env::var("SU_REAL_IP").ok().filter(|v| !v.is_empty()),
            pid: std::env::var("SU_PID").ok().and_then(|v| v.parse().ok()),
        })
    }

    /// The SU's wallet address from `GET /`, for the processes' `Scheduler` tag.
    async fn address(&self, http: &reqwest::Client) -> String {
        let body = http
            .get(&self.url)
            .send()
            .await
            .expect("GET / of the SU")
            .bytes()
            .await
            .expect("GET / body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("GET / answers JSON");
        v["address"].as_str().expect("address in GET /").to_string()
    }

    fn post(&self, http: &reqwest::Client, body: Bytes) -> reqwest::RequestBuilder {
        let req = http.post(&self.url).body(body);
        match &self.real_ip {
            Some(ip) => req.header("X-Real-IP", ip),
            None => req,
        }
    }

    /// Peak (`VmHWM`) and current (`VmRSS`) resident memory of the SU in MiB; `None` without a pid.
    fn memory_mib(&self) -> Option<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let kib = |key: &str| -> Option<f64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some((kib("VmHWM:")? / 1024.0, kib("VmRSS:")? / 1024.0))
    }
}

struct Workload {
    name: &'static str,
    processes: Vec<Bytes>,
    /// Messages per process, in order.
    messages: Vec<Vec<Bytes>>,
}

fn sign_workload(
    name: &'static str,
    signer: &(dyn Signer + Sync),
    su_address: &str,
    processes: usize,
    total: usize,
) -> Workload {
    let procs: Vec<_> = (0..processes)
        .map(|i| {
            ProcessBuilder::new([1; 32], su_address.to_string())
                .tag("Name", format!("bench-{i}"))
                .sign(signer)
                .expect("process")
        })
        .collect();
    let per = total.div_ceil(processes);
    let messages: Vec<Vec<Bytes>> = std::thread::scope(|s| {
        let handles: Vec<_> = procs
            .chunks(processes.div_ceil(2))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|p| {
                            (0..per)
                                .map(|n| {
                                    MessageBuilder::new(p.raw_id())
                                        .tag("Action", "Transfer")
                                        .tag("Quantity", n.to_string())
                                        .data(vec![b'x'; 256])
                                        .sign(signer)
                                        .expect("message")
                                        .item()
                                        .as_bytes()
                                        .clone()
                                })
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signer"))
            .collect()
    });
    Workload {
        name,
        processes: procs.iter().map(|p| p.item().as_bytes().clone()).collect(),
        messages,
    }
}

/// Posts `order` from `clients` concurrent clients (through `ext` when it is given) until it runs
/// out or `seconds` pass: the sorted latencies of the answered items and the wall time.
async fn drive(
    ext: Option<Arc<External>>,
    http: &reqwest::Client,
    url: &str,
    order: Arc<Vec<Bytes>>,
    clients: usize,
    seconds: u64,
) -> (Vec<Duration>, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, order, next, ext) = (
                http.clone(),
                url.to_string(),
                order.clone(),
                next.clone(),
                ext.clone(),
            );
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= order.len() || Instant::now() > deadline {
                        return lat;
                    }
                    let t = Instant::now();
                    let req = match &ext {
                        Some(e) => e.post(&http, order[i].clone()),
                        None => http.post(&url).body(order[i].clone()),
                    };
                    let r = req.send().await.expect("post");
                    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
                    lat.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("client"));
    }
    let elapsed = started.elapsed();
    lat.sort();
    (lat, elapsed)
}

/// Every process's messages interleaved, so that concurrent clients hit different processes, each
/// process's in its order of signing (order does not matter to the SU; it only must not be
/// duplicated).
fn interleave(w: &Workload, limit: usize) -> Arc<Vec<Bytes>> {
    let per = w.messages[0].len();
    Arc::new(
        (0..per)
            .flat_map(|i| w.messages.iter().map(move |m| m[i].clone()))
            .take(limit)
            .collect(),
    )
}

fn http_client() -> reqwest::Client {
    ao_arweave::HttpClient::new(&ao_arweave::ClientConfig::default())
        .expect("client")
        .reqwest()
        .clone()
}

/// One run against an external SU: the workload's processes spawned there, then its messages.
async fn run_external(
    ext: Arc<External>,
    w: &Workload,
    clients: usize,
    limit: usize,
    seconds: u64,
) {
    let http = http_client();
    for p in &w.processes {
        let r = ext.post(&http, p.clone()).send().await.expect("spawn");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    let url = ext.url.clone();
    let order = interleave(w, limit);
    let (lat, elapsed) = drive(Some(ext.clone()), &http, &url, order, clients, seconds).await;
    let (peak, now) = match ext.memory_mib() {
        Some((peak, now)) => (format!("{peak:.0}"), format!("{now:.0}")),
        None => ("-".into(), "-".into()),
    };
    println!(
        "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |",
        w.name,
        w.processes.len(),
        clients,
        lat.len(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        peak,
        now,
    );
}

async fn run(
    gateway_url: &str,
    su_wallet_json: &str,
    w: &Workload,
    clients: usize,
    limit: usize,
    seconds: u64,
) {
    let dir = tempfile::tempdir().expect("tmp");
    let wallet = Wallet::from_json(su_wallet_json).expect("wallet");
    let mut cfg = ao_su::Config::new(dir.path().join("su"), wallet, gateway_url).expect("config");
    cfg.http_addr = "127.0.0.1:0".parse().expect("addr");
    cfg.grpc_addr = "127.0.0.1:0".parse().expect("addr");
    cfg.bundler = Arc::new(NullBundler);
    let su = ao_su::serve(cfg).await.expect("su");
    let url = format!("{}/", su.url());
    let http = http_client();
    for p in &w.processes {
        let r = http.post(&url).body(p.clone()).send().await.expect("spawn");
        assert_eq!(r.status(), 200);
    }
    let order = interleave(w, limit);
    let before = (
        su.su.store().stats().batches.load(Ordering::Relaxed),
        su.su.store().stats().commits.load(Ordering::Relaxed),
        su.su.store().stats().sync_micros.load(Ordering::Relaxed),
    );
    let (lat, elapsed) = drive(None, &http, &url, order, clients, seconds).await;
    let stats = su.su.store().stats();
    let batches = stats.batches.load(Ordering::Relaxed) - before.0;
    let commits = stats.commits.load(Ordering::Relaxed) - before.1;
    let sync = stats.sync_micros.load(Ordering::Relaxed) - before.2;
    println!(
        "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.2} |",
        w.name,
        w.processes.len(),
        clients,
        lat.len(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        commits as f64 / batches.max(1) as f64,
        sync as f64 / batches.max(1) as f64 / 1e3,
    );
    su.shutdown().await;
}

fn per_op(what: &str, n: usize, f: impl Fn(usize)) {
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("| {what} | {us:.1} µs | {:.0}/s |", 1e6 / us);
}

#[tokio::main]
async fn main() {
    let items = env_or("ITEMS", 30_000);
    let rsa_items = env_or("RSA_ITEMS", 3_000);
    let seconds = env_or("SECONDS", 6) as u64;
    let clients = env_list("CLIENTS", &[1, 16, 64, 256]);
    let processes = env_list("PROCESSES", &[1, 100]);
    let kinds = std::env::var("KINDS").unwrap_or_else(|_| "ed25519,RSA-4096".into());
    let kinds: Vec<&str> = kinds.split(',').map(str::trim).collect();

    if let Some(ext) = External::from_env() {
        let ext = Arc::new(ext);
        let su_address = ext.address(&http_client()).await;
        eprintln!("driving the SU at {} (address {su_address})", ext.url);
        let ed = Ed25519Wallet::generate();
        let rsa = ArweaveWallet::generate().expect("rsa");
        println!(
            "| items | processes | clients | assignments | per second | p50 ms | p99 ms | SU peak RSS MiB | SU RSS after MiB |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for kind in &kinds {
            let (signer, limit): (&(dyn Signer + Sync), usize) = match *kind {
                "ed25519" => (&ed, items),
                "RSA-4096" => (&rsa, rsa_items),
                other => panic!("KINDS: unknown kind {other} (ed25519, RSA-4096)"),
            };
            for &p in &processes {
                for &c in &clients {
                    // Fresh items per run: the SU keeps what the previous run wrote.
                    let name = if *kind == "ed25519" {
                        "ed25519"
                    } else {
                        "RSA-4096"
                    };
                    let w = sign_workload(name, signer, &su_address, p, limit);
                    run_external(ext.clone(), &w, c, limit, seconds).await;
                }
            }
        }
        return;
    }

    let dir = tempfile::tempdir().expect("tmp");
    let mut gcfg = ao_arweave::local::Config::new(dir.path().join("gateway"));
    gcfg.http_addr = "127.0.0.1:0".parse().expect("addr");
    gcfg.block_interval = Duration::ZERO;
    let gateway = ao_arweave::local::serve(gcfg).await.expect("gateway");
    let su_wallet = Wallet::Ed25519(Ed25519Wallet::generate());
    let su_address = su_wallet.address();
    let su_json = su_wallet.to_json();

    let ed = Ed25519Wallet::generate();
    eprintln!("signing RSA-4096 items (slow: the clients' cost, before any clock starts)...");
    let rsa = ArweaveWallet::generate().expect("rsa");
    let mut workloads = Vec::new();
    for &p in &processes {
        workloads.push(sign_workload("ed25519", &ed, &su_address, p, items));
    }
    for &p in &processes {
        workloads.push(sign_workload("RSA-4096", &rsa, &su_address, p, rsa_items));
    }

    println!(
        "| items | processes | clients | assignments | per second | p50 ms | p99 ms | writes per fsync | ms per fsync |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for w in &workloads {
        let limit = if w.name == "ed25519" {
            items
        } else {
            rsa_items
        };
        for &c in &clients {
            run(&gateway.url(), &su_json, w, c, limit, seconds).await;
        }
    }

    // Where the time goes, per item, on one core.
    println!();
    println!("| step (one core) | time | rate |");
    println!("|---|---|---|");
    let ed_items: Vec<DataItem> = workloads[0].messages[0]
        .iter()
        .take(2_000)
        .map(|b| DataItem::parse(b.clone()).expect("item"))
        .collect();
    per_op("verify ed25519 item", ed_items.len(), |i| {
        ed_items[i].verify().expect("ok")
    });
    let rsa_w = workloads
        .iter()
        .find(|w| w.name == "RSA-4096")
        .expect("rsa");
    let rsa_list: Vec<DataItem> = rsa_w.messages[0]
        .iter()
        .take(500)
        .map(|b| DataItem::parse(b.clone()).expect("item"))
        .collect();
    per_op("verify RSA-4096 item", rsa_list.len(), |i| {
        rsa_list[i].verify().expect("ok")
    });
    let slot = ao_su::schedule::next_slot(&[1; 32], None, 1);
    per_op("sign assignment (SU ed25519)", 2_000, |i| {
        slot.assignment([1; 32], 1, Some([2; 32]), vec![], [i as u8; 32])
            .sign(&su_wallet)
            .expect("sign");
    });
    gateway.shutdown().await;
}
