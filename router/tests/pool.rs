//! The router over a pool of real CU binaries (each its own data directory) on a real local
//! gateway and SU: processes spread fairly, a member added moves about 1/N of them and only to
//! it, a CU killed under load or restarted member by member costs clients no failed request,
//! and the router itself drains and restarts without cutting an answered request.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Cu, DEADLINE, Net, get, member_state_until, net, route, start_router};

/// `(pid, message id)` -> the result bytes first answered.
type Answers = HashMap<(String, String), Vec<u8>>;

/// Ask every result through the router; the answers, and which member gave each.
async fn ask_all(
    net: &Net,
    router: std::net::SocketAddr,
    procs: &[(String, String)],
) -> (Answers, HashMap<String, String>) {
    let mut answers = HashMap::new();
    let mut by = HashMap::new();
    for (i, (pid, id)) in procs.iter().enumerate() {
        let url = format!("http://{router}/result/{id}?process-id={pid}");
        let (status, member, body) = get(&net.http, &url).await.expect("result");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["Output"], format!("p{i}"), "{v}");
        answers.insert((pid.clone(), id.clone()), body);
        by.insert(pid.clone(), member);
    }
    (answers, by)
}

/// `n` CUs and the router over them, every result of `procs` asked once through it.
struct Pool {
    cus: Vec<Cu>,
    dir: std::path::PathBuf,
    router: ao_tests::drain::Unit,
    addr: std::net::SocketAddr,
    /// The answers first given, and the member that gave each process's.
    first: Answers,
    by: HashMap<String, String>,
}

impl Pool {
    async fn start(net: &Net, n: usize, procs: &[(String, String)]) -> Pool {
        let mut cus = Vec::new();
        for i in 0..n {
            cus.push(Cu::start(net, i).await);
        }
        let dir = net.dir.path().join("router");
        let refs: Vec<&Cu> = cus.iter().collect();
        let router = start_router(&dir, &refs, "127.0.0.1:0", &[]).await;
        let addr = router.addr("http");
        let (first, by) = ask_all(net, addr, procs).await;
        Pool {
            cus,
            dir,
            router,
            addr,
            first,
            by,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_processes_spread_fairly_and_a_fourth_cu_takes_a_quarter_of_them() {
    let net = net().await;
    let procs = net.processes(60).await;
    let Pool {
        mut cus,
        dir,
        mut router,
        addr,
        first,
        by,
    } = Pool::start(&net, 3, &procs).await;
    let mut shares: BTreeMap<String, usize> = BTreeMap::new();
    for (pid, _) in &procs {
        let owner = route(&net.http, addr, pid).await["owner"]
            .as_str()
            .expect("owner")
            .to_string();
        assert_eq!(
            by[pid], owner,
            "{pid} was answered by another CU than its owner"
        );
        *shares.entry(owner).or_default() += 1;
    }
    eprintln!("shares over 3 CUs: {shares:?}");
    assert_eq!(shares.len(), 3, "{shares:?}");
    for (cu, n) in &shares {
        assert!((10..=30).contains(n), "{cu} owns {n} of 60: {shares:?}");
    }

    // A fourth CU: the router restarted with it in the list.
    cus.push(Cu::start(&net, 3).await);
    let new = cus[3].url();
    router.sigterm();
    router.exit_within(Duration::from_secs(20)).await;
    let refs: Vec<&Cu> = cus.iter().collect();
    let router = start_router(&dir, &refs, "127.0.0.1:0", &[]).await;
    let addr = router.addr("http");
    let mut moved = 0;
    for (pid, _) in &procs {
        let owner = route(&net.http, addr, pid).await["owner"]
            .as_str()
            .expect("owner")
            .to_string();
        if owner != by[pid] {
            assert_eq!(
                owner, new,
                "{pid} moved from {} to {owner}, not to the new CU",
                by[pid]
            );
            moved += 1;
        }
    }
    eprintln!("moved to the fourth CU: {moved} of 60");
    assert!(
        (5..=25).contains(&moved),
        "{moved} of 60 moved (about 15 expected)"
    );
    let (second, by_after) = ask_all(&net, addr, &procs).await;
    for (key, body) in &first {
        assert_eq!(
            &second[key], body,
            "{key:?}: answered differently by {} after the move",
            by_after[&key.0]
        );
    }
    drop(router);
    drop(cus);
    net.close().await;
}

/// What the clients of a load saw.
#[derive(Default)]
struct Seen {
    answered: usize,
    failures: Vec<String>,
    /// Member that answered each process after the event.
    after: HashMap<String, String>,
}

/// A steady load on the router: clients asking every result (and, when `dry_runs`, a dry-run of
/// every process) in rounds, each answer compared with the first one, until [`Traffic::finish`]
/// and a full round begun after it.
struct Traffic {
    event: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    seen: Arc<std::sync::Mutex<Seen>>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    fn start(net: &Net, pool: &Pool, procs: &[(String, String)], dry_runs: bool) -> Traffic {
        let event = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
        let clients = load(net, pool, procs, dry_runs, &event, &stop, &seen);
        Traffic {
            event,
            stop,
            seen,
            clients,
        }
    }

    /// Answers counted so far.
    fn answered(&self) -> usize {
        self.seen.lock().expect("seen").answered
    }

    /// Wait until `n` answers were counted.
    async fn until(&self, n: usize) {
        let end = Instant::now() + DEADLINE;
        while self.answered() < n {
            assert!(Instant::now() < end, "the load stalled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// From now on, record which member answers each process (`Seen::after`).
    fn event(&self) {
        self.event.store(true, Ordering::Release);
    }

    /// Stop after one more full round; what the clients saw.
    async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Release);
        for c in self.clients {
            c.await.expect("client");
        }
        std::mem::take(&mut *self.seen.lock().expect("seen"))
    }
}

/// The clients of a [`Traffic`].
fn load(
    net: &Net,
    pool: &Pool,
    procs: &[(String, String)],
    dry_runs: bool,
    event: &Arc<AtomicBool>,
    stop: &Arc<AtomicBool>,
    seen: &Arc<std::sync::Mutex<Seen>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    const CLIENTS: usize = 3;
    let (router, first) = (pool.addr, &pool.first);
    (0..CLIENTS)
        .map(|c| {
            let (http, procs, first) = (net.http.clone(), procs.to_vec(), first.clone());
            let (event, stop, seen) = (event.clone(), stop.clone(), seen.clone());
            tokio::spawn(async move {
                let end = Instant::now() + DEADLINE * 2;
                loop {
                    let last_round = stop.load(Ordering::Acquire);
                    let after_event = event.load(Ordering::Acquire);
                    for (i, (pid, id)) in procs.iter().enumerate().skip(c).step_by(CLIENTS) {
                        let url = format!("http://{router}/result/{id}?process-id={pid}");
                        let got = get(&http, &url).await;
                        {
                        let mut s = seen.lock().expect("seen");
                        match got {
                            Ok((200, member, body)) if body == first[&(pid.clone(), id.clone())] => {
                                s.answered += 1;
                                if after_event {
                                    s.after.insert(pid.clone(), member);
                                }
                            }
                            Ok((status, member, body)) => s.failures.push(format!(
                                "{pid}: {status} from {member}: {}",
                                String::from_utf8_lossy(&body)
                            )),
                            Err(e) => s.failures.push(e),
                        }
                        }
                        if dry_runs {
                            let msg = serde_json::json!({"Target": pid, "Owner": "router-test",
                                "Data": format!("return 'dry {i}'"), "Tags": [{"name": "Action", "value": "Eval"}]});
                            let r = http
                                .post(format!("http://{router}/dry-run?process-id={pid}"))
                                .header("content-type", "application/json")
                                .body(msg.to_string())
                                .send()
                                .await;
                            let answer = match r {
                                Ok(r) if r.status() == 200 => match r.bytes().await {
                                    Ok(b) => Ok(serde_json::from_slice::<serde_json::Value>(&b)
                                        .unwrap_or(serde_json::Value::Null)),
                                    Err(e) => Err(format!("{pid}: dry-run body {e:?}")),
                                },
                                Ok(r) => Err(format!("{pid}: dry-run {}", r.status())),
                                Err(e) => Err(format!("{pid}: dry-run {e:?}")),
                            };
                            let mut s = seen.lock().expect("seen");
                            match answer {
                                Ok(v) if v["Output"] == format!("dry {i}") => {
                                    s.answered += 1
                                }
                                Ok(v) => s.failures.push(format!("{pid}: dry-run answered {v}")),
                                Err(e) => s.failures.push(e),
                            }
                        }
                    }
                    if last_round || Instant::now() > end {
                        return;
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cu_killed_under_load_loses_no_request_and_its_processes_answer_from_the_others() {
    let net = net().await;
    let procs = net.processes(24).await;
    let mut pool = Pool::start(&net, 3, &procs).await;
    let (addr, by) = (pool.addr, pool.by.clone());
    let traffic = Traffic::start(&net, &pool, &procs, false);
    traffic.until(24).await;
    // kill -9 the CU owning the most processes.
    let victim = (0..3)
        .max_by_key(|i| by.values().filter(|m| **m == pool.cus[*i].url()).count())
        .expect("a CU");
    let victim_url = pool.cus[victim].url();
    let owned: Vec<String> = by
        .iter()
        .filter(|(_, m)| **m == victim_url)
        .map(|(p, _)| p.clone())
        .collect();
    let child = pool.cus[victim].unit.0.child_mut();
    child.start_kill().expect("kill -9");
    child.wait().await.expect("wait");
    traffic.event();
    traffic.until(traffic.answered() + 48).await;
    let seen = traffic.finish().await;
    eprintln!(
        "kill -9 of {victim_url} (owner of {} of 24): {} answers, failures {:?}",
        owned.len(),
        seen.answered,
        seen.failures
    );
    assert!(seen.failures.is_empty(), "{:?}", seen.failures);
    for pid in &owned {
        let m = &seen.after[pid];
        assert!(!m.is_empty() && *m != victim_url, "{pid} answered by {m}");
    }
    let r = route(&net.http, addr, &owned[0]).await;
    assert_ne!(r["owner"], victim_url.as_str(), "{r}");
    assert_eq!(r["ranking"][0]["member"], victim_url.as_str(), "{r}");
    assert_eq!(r["ranking"][0]["state"], "ejected", "{r}");
    drop(pool);
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_cu_under_load_fails_no_request() {
    let net = net().await;
    let procs = net.processes(18).await;
    let mut pool = Pool::start(&net, 3, &procs).await;
    let addr = pool.addr;
    let traffic = Traffic::start(&net, &pool, &procs, true);
    let restarts = AtomicUsize::new(0);
    for cu in pool.cus.iter_mut() {
        cu.unit.sigterm();
        let status = cu.unit.exit_within(Duration::from_secs(20)).await;
        assert!(status.success(), "{status:?}");
        member_state_until(&net.http, addr, &cu.url(), "ejected").await;
        cu.restart(&net).await;
        member_state_until(&net.http, addr, &cu.url(), "healthy").await;
        restarts.fetch_add(1, Ordering::Relaxed);
    }
    traffic.event();
    let seen = traffic.finish().await;
    let metrics = get(&net.http, &format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .2;
    let metrics = String::from_utf8_lossy(&metrics);
    eprintln!(
        "rolling restart of {} CUs: {} answers (results and dry-runs), failures {:?}\n{}",
        restarts.load(Ordering::Relaxed),
        seen.answered,
        seen.failures,
        metrics
            .lines()
            .filter(|l| l.starts_with("ao_router_retries") || l.starts_with("ao_router_ejections"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(seen.failures.is_empty(), "{:?}", seen.failures);
    assert!(seen.answered > procs.len() * 2);
    drop(pool);
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_drains_on_sigterm_and_a_restart_gives_every_answer_again() {
    use ao_tests::drain::{Load, Req, drain_under_load};
    let net = net().await;
    let procs = net.processes(8).await;
    let Pool {
        cus,
        dir,
        mut router,
        addr,
        first,
        ..
    } = Pool::start(&net, 2, &procs).await;

    // Two clients over keep-alive connections, each asking every result a few times.
    let writers: Vec<Vec<Req>> = (0..2)
        .map(|_| {
            (0..6)
                .flat_map(|_| procs.iter())
                .map(|(pid, id)| Req {
                    id: format!("{pid} {id}"),
                    method: "GET",
                    path: format!("/result/{id}?process-id={pid}"),
                    body: Vec::new(),
                })
                .collect()
        })
        .collect();
    let dry = serde_json::json!({"Target": procs[0].0, "Owner": "router-test", "Data": "return 1",
        "Tags": [{"name": "Action", "value": "Eval"}]});
    let drained = drain_under_load(
        &mut router,
        Load {
            accepted: 200,
            writers,
            slow: Req::post(
                "dry-run".into(),
                &format!("/dry-run?process-id={}", procs[0].0),
                dry.to_string().into_bytes(),
            ),
            accepted_before_signal: 10,
            grace: Duration::from_secs(10),
        },
    )
    .await;
    eprintln!(
        "router drain: answered {}, refused connects {}, cut after the signal {}, exit after {:?}",
        drained.accepted.len(),
        drained.refused,
        drained.cut_after_signal,
        drained.exit_after
    );

    // The router again, on the same address: every answer given before, given again.
    let refs: Vec<&Cu> = cus.iter().collect();
    let router = start_router(&dir, &refs, &addr.to_string(), &[]).await;
    for a in drained.accepted.iter().filter(|a| *a != "dry-run") {
        let (pid, id) = a.split_once(' ').expect("pid and id");
        let (status, _, body) = get(
            &net.http,
            &format!("http://{addr}/result/{id}?process-id={pid}"),
        )
        .await
        .expect("result");
        assert_eq!(status, 200);
        assert_eq!(body, first[&(pid.to_string(), id.to_string())], "{a}");
    }
    drop(router);
    drop(cus);
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_is_forwarded_to_the_owner_and_dry_runs_to_their_own_pool_with_results_verified() {
    use ao_proto::compute::v1::compute_client::ComputeClient;
    use ao_proto::compute::v1::{DryRunRequest, ResultRequest, ResultsRequest, StateRequest};
    let net = net().await;
    let procs = net.processes(6).await;
    let mut cus = Vec::new();
    for i in 0..3 {
        cus.push(Cu::start(&net, i).await);
    }
    let dir = net.dir.path().join("router");
    // Two CUs evaluate; the third serves dry-runs only. Every result is verified on the other.
    let dry_member = cus[2].member();
    let refs: Vec<&Cu> = cus[..2].iter().collect();
    let router = start_router(
        &dir,
        &refs,
        "127.0.0.1:0",
        &["--dry-run-cu", &dry_member, "--verify-rate", "1"],
    )
    .await;
    let addr = router.addr("http");
    let (first, by) = ask_all(&net, addr, &procs).await;
    assert!(by.values().all(|m| *m != cus[2].url()));

    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", router.addr("grpc")))
            .expect("url")
            .connect()
            .await
            .expect("connect");
    let mut client = ComputeClient::new(channel);
    for (i, (pid, id)) in procs.iter().enumerate() {
        let r = client
            .result(ResultRequest {
                process_id: pid.clone(),
                message_id: id.clone(),
                attest: false,
            })
            .await
            .expect("Result")
            .into_inner();
        assert_eq!(r.output, format!("p{i}"));
        let mut edges = client
            .results(ResultsRequest {
                process_id: pid.clone(),
                ..Default::default()
            })
            .await
            .expect("Results")
            .into_inner();
        let mut n = 0;
        while let Some(e) = edges.message().await.expect("edge") {
            assert!(e.node.is_some());
            n += 1;
        }
        assert!(n >= 1);
        let mut state = client
            .state(StateRequest {
                process_id: pid.clone(),
                to_timestamp_ms: None,
                probe: false,
            })
            .await
            .expect("State")
            .into_inner();
        let mut bytes = 0;
        let mut size = None;
        while let Some(c) = state.message().await.expect("chunk") {
            if let Some(h) = c.header {
                size = Some(h.memory_size);
            }
            bytes += c.data.len() as u64;
        }
        assert_eq!(Some(bytes), size);
        let d = client
            .dry_run(DryRunRequest {
                process_id: pid.clone(),
                owner: "router-test".into(),
                data: Some("return 'dry'".into()),
                tags: vec![ao_proto::common::v1::Tag {
                    name: "Action".into(),
                    value: "Eval".into(),
                }],
                ..Default::default()
            })
            .await
            .expect("DryRun")
            .into_inner();
        assert_eq!(d.output, "dry");
    }
    // HTTP dry-runs and the state stream, too.
    let (pid, _) = &procs[0];
    let r = net
        .http
        .post(format!("http://{addr}/dry-run?process-id={pid}"))
        .header("content-type", "application/json")
        .body(
            serde_json::json!({"Target": pid, "Owner": "x", "Data": "return 2",
                "Tags": [{"name": "Action", "value": "Eval"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("dry-run");
    assert_eq!(
        r.headers()["ao-router-member"].to_str().expect("ascii"),
        cus[2].url()
    );
    let (status, _, state) = get(&net.http, &format!("http://{addr}/state/{pid}"))
        .await
        .expect("state");
    assert_eq!(status, 200);
    assert!(!state.is_empty());

    let metrics_url = format!("http://{addr}/metrics");
    let end = Instant::now() + DEADLINE;
    let text = loop {
        let text = String::from_utf8(get(&net.http, &metrics_url).await.expect("metrics").2)
            .expect("utf-8");
        if common::metric(&text, "ao_router_verify_samples_total") >= first.len() as u64 {
            break text;
        }
        assert!(Instant::now() < end, "verify samples never came:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        common::metric(&text, "ao_router_verify_mismatches_total"),
        0,
        "{text}"
    );
    assert!(
        text.contains("ao_router_requests_total{route=\"grpc.DryRun\""),
        "{text}"
    );
    drop(router);
    drop(cus);
    net.close().await;
}
