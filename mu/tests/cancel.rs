//! Cancellation: a client that goes away while the MU waits for the SU must not leave the work
//! half done. The SU is reached through a loopback proxy that holds the MU's requests until the
//! test lets them through, so the client can disconnect while its item is on the way.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ao_core::ao::ProcessBuilder;
use ao_mu::store::{Stage, State};
use common::Computer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy to the SU's gRPC port that holds everything the MU sends while `hold` is set.
struct HoldProxy {
    addr: SocketAddr,
    target: Arc<OnceLock<SocketAddr>>,
    hold: watch::Sender<bool>,
    /// Bytes the MU sent, held or not.
    seen: Arc<AtomicU64>,
}

impl HoldProxy {
    async fn start() -> HoldProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let target: Arc<OnceLock<SocketAddr>> = Arc::new(OnceLock::new());
        let (hold, held) = watch::channel(true);
        let seen = Arc::new(AtomicU64::new(0));
        let (t, s) = (target.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((from_mu, _)) = listener.accept().await {
                let Some(to) = t.get().copied() else { return };
                let Ok(to_su) = TcpStream::connect(to).await else {
                    return;
                };
                let (mut mu_r, mut mu_w) = from_mu.into_split();
                let (mut su_r, mut su_w) = to_su.into_split();
                let (mut held, seen) = (held.clone(), s.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match mu_r.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        seen.fetch_add(n as u64, Ordering::SeqCst);
                        if held.wait_for(|h| !*h).await.is_err() {
                            return;
                        }
                        if su_w.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut su_r, &mut mu_w).await;
                });
            }
        });
        HoldProxy {
            addr,
            target,
            hold,
            seen,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_item_whose_client_disconnected_while_the_su_was_slow_is_still_cranked_on() {
    let proxy = HoldProxy::start().await;
    let url = format!("http://{}", proxy.addr);
    let c = Computer::start_su_with(true, move |s| s.public_grpc_url = Some(url.clone())).await;
    proxy
        .target
        .set(c.su().grpc_addr)
        .expect("proxy target set once");

    let raw = ao_core::encoding::decode_id("module", &c.module).expect("id");
    let p = ProcessBuilder::new(raw, c.su().address.clone())
        .tag("Name", "abandoned")
        .tag("Authority", c.mu_address.clone())
        .sign(&c.user)
        .expect("process");
    let id = p.id();
    let body = p.item().as_bytes().to_vec();

    // A raw HTTP client: send the item, wait until the MU is talking to the (held) SU, then hang up.
    let mu_addr = c.mu().expect("mu").http_addr;
    let mut client = TcpStream::connect(mu_addr).await.expect("connect");
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {mu_addr}\r\ncontent-type: application/octet-stream\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await.expect("head");
    client.write_all(&body).await.expect("body");
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.seen.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the MU never called the SU");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.shutdown().await.expect("hang up");
    // The MU closes the connection (and drops the request) without an answer.
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), client.read_to_end(&mut answer))
        .await
        .expect("the MU did not close the abandoned connection")
        .expect("read");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    drop(client);

    // The SU answers at last: the work goes on without anyone waiting for it, and without an MU
    // restart (before, the dropped request took the work with it: the task stayed at its
    // schedule stage, queued, until the MU restarted).
    proxy.hold.send_replace(false);
    let mu = c.mu().expect("mu").mu.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = mu
            .store
            .task(&id)
            .expect("read")
            .expect("the task is stored");
        if t.stage == Stage::Done {
            assert_eq!(t.state, State::Computed, "{t:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the abandoned item was never cranked on: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And the process exists on the SU and evaluates.
    c.wait_for(&id, "ao.id", &id, 30).await;
    c.stop().await;
}
