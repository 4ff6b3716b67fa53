//! The real `mu` binary killed with SIGKILL in the middle of a long chain of pushes, then started
//! again on the same data: the chain completes, and no process receives a message twice.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Computer;

/// The `mu` process, killed when dropped, so a failing test leaves none behind.
struct Mu(Child);

impl Drop for Mu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the `mu` binary; it and its HTTP URL (from the ready line).
fn start(flags: &[String]) -> (Mu, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mu"))
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mu");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let v: serde_json::Value = serde_json::from_str(&line).expect("ready json");
    let url = format!("http://{}", v["http"].as_str().expect("http"));
    (Mu(child), url)
}

const LAST: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chain_survives_sigkill_of_the_mu_with_no_message_delivered_twice() {
    let mut c = Computer::start_with(false).await;
    let flags = c.mu_flags();
    let (mut mu, url) = start(&flags);
    c.mu_url = url;

    let a = c.spawn("a", &[]).await;
    let b = c.spawn("b", &[]).await;
    let counter = |other: &str| {
        format!(
            "Seen = {{}}; Handlers.add('count', 'Count', function(m) \
               local n = tonumber(m.N); table.insert(Seen, n); \
               if n < {LAST} then Send({{Target = '{other}', Action = 'Count', N = tostring(n + 1)}}) end \
             end)"
        )
    };
    for (p, other) in [(&a, &b), (&b, &a)] {
        let r = c.eval(p, &counter(other)).await;
        assert_eq!(r.get("Error"), None, "{r}");
    }
    let first = c.send(&a, &[("Action", "Count"), ("N", "1")], "").await;

    // Let the chain get going, then kill the MU mid-push.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: u64 = c.peek(&a, "#Seen").await.parse().unwrap_or(0);
        if n >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the chain did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    mu.0.kill().expect("SIGKILL");
    let _ = mu.0.wait();
    let before: u64 = c.peek(&a, "#Seen").await.parse().unwrap_or(0);
    assert!(
        before < LAST / 2,
        "killed mid-chain ({before} of {} seen)",
        LAST / 2
    );

    let (mu, url) = start(&flags);
    c.mu_url = url;
    let want_a: Vec<String> = (1..=LAST).step_by(2).map(|n| n.to_string()).collect();
    let want_b: Vec<String> = (2..=LAST).step_by(2).map(|n| n.to_string()).collect();
    c.wait_for(&a, "table.concat(Seen, ',')", &want_a.join(","), 60)
        .await;
    c.wait_for(&b, "table.concat(Seen, ',')", &want_b.join(","), 60)
        .await;
    // Nothing more arrives later either: once every task the chain caused is finished (its whole
    // trace), nothing is left that could deliver another message.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = c
            .http
            .get(format!("{}/trace/{first}", c.mu_url))
            .send()
            .await
            .expect("trace");
        let trace: serde_json::Value =
            serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
        if all_finished(&trace) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the chain never finished: {trace:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(c.peek(&a, "#Seen").await, (LAST / 2).to_string());
    assert_eq!(c.peek(&b, "#Seen").await, (LAST / 2).to_string());
    drop(mu);
    c.stop().await;
}

/// Whether every task in a trace is finished (nothing queued, pushed or failed-to-be-retried).
fn all_finished(node: &serde_json::Value) -> bool {
    matches!(
        node["state"].as_str(),
        Some("computed" | "dropped" | "dead-letter")
    ) && node["children"]
        .as_array()
        .is_none_or(|c| c.iter().all(all_finished))
}
