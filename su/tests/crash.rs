//! Crash test: the real `su` binary under concurrent writes to several processes is killed with
//! SIGKILL at a random moment, twice, and restarted on the same data directory. Afterwards every
//! acknowledged message is present exactly once, nonces are contiguous, the hash chain verifies,
//! the uploader delivers everything to the gateway, and a Subscribe client that resumes from its
//! last nonce sees every entry once, in order, across the restarts.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ao_arweave::Gateway;
use ao_proto::scheduler::v1::SubscribeRequest;
use ao_proto::scheduler::v1::scheduler_client::SchedulerClient;
use common::*;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PROCESSES: usize = 4;
const WRITERS: usize = 16;

struct Su {
    child: Child,
    http: String,
    grpc: String,
}

async fn start(data: &Path, gateway: &str) -> Su {
    let mut child = Command::new(env!("CARGO_BIN_EXE_su"))
        .args(["--data-dir", data.to_str().expect("path")])
        .args(["--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
        .args(["--gateway-url", gateway])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start su");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .expect("ready line");
    let ready: Value = serde_json::from_str(&line).expect("ready JSON");
    Su {
        child,
        http: format!("http://{}", ready["http"].as_str().expect("http")),
        grpc: format!("http://{}", ready["grpc"].as_str().expect("grpc")),
    }
}

/// What the writers learnt: ids the SU acknowledged, and ids whose fate is unknown (the request
/// failed when the SU died; they may or may not be stored, but at most once).
#[derive(Default)]
struct Ledger {
    acked: HashMap<String, usize>,
    unknown: HashSet<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_acknowledged_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let gateway = gateway(dir.path()).await;
    let data = dir.path().join("su");
    let http = client();
    let user = ao_core::wallet::Ed25519Wallet::generate();

    let mut su = start(&data, &gateway.url()).await;
    let (_, info) = get(&http, &format!("{}/", su.http)).await;
    let address = info["address"].as_str().expect("address").to_string();
    let mut pids = Vec::new();
    for i in 0..PROCESSES {
        let p = ao_core::ao::ProcessBuilder::new(MODULE, address.clone())
            .tag("Name", format!("p{i}"))
            .sign(&user)
            .expect("process");
        let (status, body) = post(&http, &format!("{}/", su.http), p.item().as_bytes()).await;
        assert_eq!(status, 200, "{body}");
        pids.push(p);
    }

    // A subscriber on process 0, resuming from its last nonce whenever its stream breaks.
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let grpc_url: Arc<Mutex<String>> = Arc::new(Mutex::new(su.grpc.clone()));
    let subscriber = {
        let (seen, grpc_url, pid) = (seen.clone(), grpc_url.clone(), pids[0].id());
        tokio::spawn(async move {
            loop {
                let url = grpc_url.lock().expect("url").clone();
                let Ok(mut c) = SchedulerClient::connect(url).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let from = seen.lock().expect("seen").last().copied();
                let req = SubscribeRequest {
                    process_id: pid.clone(),
                    from_nonce: Some(from.unwrap_or(0)),
                };
                let Ok(resp) = c.subscribe(req).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let mut stream = resp.into_inner();
                while let Some(Ok(e)) = stream.next().await {
                    seen.lock().expect("seen").push(e.nonce);
                }
            }
        })
    };

    let ledger: Arc<Mutex<Ledger>> = Arc::default();
    let mut counter = 0u64;
    for round in 0..2 {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (http, url, ledger) = (http.clone(), su.http.clone(), ledger.clone());
                let items: Vec<(usize, String, Vec<u8>)> = (0..400)
                    .map(|i| {
                        counter += 1;
                        let p = (w + i) % PROCESSES;
                        let m = ao_core::ao::MessageBuilder::new(pids[p].raw_id())
                            .tag("Round", round.to_string())
                            .data(format!("message {counter}"))
                            .sign(&user)
                            .expect("message");
                        (p, m.id(), m.item().as_bytes().to_vec())
                    })
                    .collect();
                tokio::spawn(async move {
                    for (p, id, body) in items {
                        let sent = http.post(format!("{url}/")).body(body).send().await;
                        match sent {
                            Ok(r) if r.status() == 200 => {
                                ledger.lock().expect("ledger").acked.insert(id, p);
                            }
                            Ok(r) => panic!("unexpected refusal {}", r.status()),
                            Err(_) => {
                                ledger.lock().expect("ledger").unknown.insert(id);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        // Kill at a random point of the writes, counted in acknowledgements rather than time, so a
        // slow machine still kills mid-stream and a fast one does not finish before the kill.
        let acked_before = ledger.lock().expect("ledger").acked.len();
        let kill_after = acked_before + 60 + rand::random::<u64>() as usize % 240;
        let deadline = Instant::now() + Duration::from_secs(60);
        while ledger.lock().expect("ledger").acked.len() < kill_after {
            assert!(Instant::now() < deadline, "writes stalled before the kill");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        su.child.kill().await.expect("SIGKILL");
        for w in writers {
            w.await.expect("writer");
        }
        su = start(&data, &gateway.url()).await;
        *grpc_url.lock().expect("url") = su.grpc.clone();
    }

    let ledger = std::mem::take(&mut *ledger.lock().expect("ledger"));
    eprintln!(
        "acknowledged {}, fate unknown {}",
        ledger.acked.len(),
        ledger.unknown.len()
    );
    assert!(
        ledger.acked.len() > 100,
        "too few writes before the kill to mean anything"
    );
    let mut last_nonce_p0 = 0;
    let mut all_ids = Vec::new();
    for (i, p) in pids.iter().enumerate() {
        let pid = p.id();
        let (status, page) = get(
            &http,
            &format!("{}/{pid}?process-id={pid}&limit=100000", su.http),
        )
        .await;
        assert_eq!(status, 200);
        let edges = page["edges"].as_array().expect("edges");
        let mut stored: HashMap<String, usize> = HashMap::new();
        for (n, e) in edges.iter().enumerate() {
            let a = &e["node"]["assignment"];
            assert_eq!(
                tag(&a["tags"], "Nonce"),
                n.to_string(),
                "process {i}: gap or reorder"
            );
            all_ids.push(a["id"].as_str().expect("id").to_string());
            let mid = e["node"]["message"]["id"].as_str().expect("id").to_string();
            all_ids.push(mid.clone());
            *stored.entry(mid).or_default() += 1;
        }
        verify_edges_chain(&p.raw_id(), edges).unwrap_or_else(|e| panic!("process {i}: {e}"));
        for (id, count) in &stored {
            assert_eq!(*count, 1, "process {i}: {id} stored {count} times");
            assert!(
                ledger.acked.contains_key(id) || ledger.unknown.contains(id) || *id == pid,
                "process {i}: {id} was never sent"
            );
        }
        for (id, p) in &ledger.acked {
            if *p == i {
                assert!(
                    stored.contains_key(id),
                    "process {i}: acknowledged {id} is missing"
                );
            }
        }
        if i == 0 {
            last_nonce_p0 = edges.len() as u64 - 1;
        }
    }

    // The subscriber saw process 0's entries after nonce 0 exactly once, in order, across restarts.
    let mut waited = 0;
    loop {
        let got = seen.lock().expect("seen").clone();
        if got.last() == Some(&last_nonce_p0) || waited > 200 {
            assert_eq!(got, (1..=last_nonce_p0).collect::<Vec<_>>());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    subscriber.abort();

    // Everything reaches the gateway, including what was queued before the kills.
    for _ in 0..600 {
        let mut missing = 0;
        for chunk in all_ids.chunks(100) {
            let found = gateway.transactions_by_id(chunk).await.expect("query");
            missing += chunk.len() - found.len();
        }
        if missing == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the uploader did not deliver everything after the restarts");
}
