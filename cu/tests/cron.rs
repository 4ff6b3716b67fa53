//! Cron end to end: a process with `Cron-Interval: 1-seconds` on a real SU and gateway. The
//! cron messages a module sees must fall exactly where spec 4.6 puts them (recomputed here from
//! the schedule's timestamps), `/cron` must list them with cursors, and a CU restarted in the
//! middle of a walk, or a fresh CU evaluating from nothing, must give the same answers.
//!
//! No fixed sleeps: the gaps between scheduled messages come from the SU's clock, so the test
//! waits (polling, to a deadline) until the SU's clock has moved far enough; "now" for the CU's
//! walk to the present comes from a [`ManualClock`] the test sets.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_cu::cron::ManualClock;
use ao_cu::process::CRON_NOW_LAG_MS;
use ao_proto::scheduler::v1::scheduler_client::SchedulerClient;
use ao_proto::scheduler::v1::{
    NonceRange, ReadScheduleRequest, TimestampRequest, read_schedule_request,
};
use base64::Engine as _;
use common::net::{Net, cu, cu_with, get, net};
use serde_json::Value;

/// Timestamps of a process's scheduled messages, by nonce.
async fn schedule(net: &Net, pid: &str) -> Vec<i64> {
    let mut su = SchedulerClient::connect(format!("http://{}", net.su().grpc_addr))
        .await
        .expect("su");
    let mut stream = su
        .read_schedule(ReadScheduleRequest {
            process_id: pid.to_string(),
            range: Some(read_schedule_request::Range::Nonce(NonceRange {
                from: None,
                to: None,
            })),
            limit: Some(1000),
        })
        .await
        .expect("read")
        .into_inner();
    let mut out = Vec::new();
    while let Some(e) = stream.message().await.expect("entry") {
        out.push(e.timestamp_ms);
    }
    out
}

/// Longest wait for the SU's clock to reach a point a few seconds ahead.
const CLOCK_DEADLINE: Duration = Duration::from_secs(30);

/// The SU's clock (ms).
async fn su_now(net: &Net) -> i64 {
    let mut su = SchedulerClient::connect(format!("http://{}", net.su().grpc_addr))
        .await
        .expect("su");
    su.timestamp(TimestampRequest { process_id: None })
        .await
        .expect("timestamp")
        .into_inner()
        .timestamp_ms
}

/// Wait until the SU's clock reads at least `ms`, so that the next message is scheduled after it.
async fn su_clock_reaches(net: &Net, ms: i64) {
    let deadline = Instant::now() + CLOCK_DEADLINE;
    loop {
        let now = su_now(net).await;
        if now >= ms {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the SU's clock is at {now}, still before {ms}, after {CLOCK_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Spec 4.6 for one 1-second cron, restated: between consecutive scheduled messages L and R,
/// ticks at `L + k*1000 < R`, except in the process's own second.
fn one_second_ticks(origin: i64, left: i64, right: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut t = left;
    while t < right {
        if t.div_euclid(1000) != origin.div_euclid(1000) {
            out.push(t);
        }
        t += 1000;
    }
    out
}

fn decode_cursor(c: &str) -> Value {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(c)
        .expect("standard base64");
    serde_json::from_slice(&bytes).expect("cursor JSON")
}

async fn all_crons(net: &Net, cu: &ao_cu::RunningCu, pid: &str) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    let mut from = String::new();
    loop {
        let (status, page) = get(&net.http, format!("{}/cron/{pid}?limit=4{from}", cu.url())).await;
        assert_eq!(status, 200, "{page}");
        let edges = page["edges"].as_array().expect("edges").clone();
        for e in &edges {
            let c = decode_cursor(e["cursor"].as_str().expect("cursor"));
            assert_eq!(c["cron"], "0-1-seconds", "{c}");
            assert_eq!(c["sort"], "ASC");
            out.push((c["timestamp"].as_i64().expect("ts"), e["node"].clone()));
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return out;
        }
        let last = edges.last().expect("a page with more has edges");
        from = format!(
            "&from={}",
            last["cursor"].as_str().expect("cursor").replace('+', "%2B")
        );
    }
}

const TICK_HANDLER: &str = "ticks = {} \
    function Handle(m) \
      if m.Cron then ticks[#ticks + 1] = m.Timestamp end \
      assert(m.From == m.Owner and m.Target == env.Process.Id and m.Tags[1].value == 'Tick') \
      return #ticks \
    end \
    return 'ready'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_messages_fall_where_the_spec_puts_them_across_restarts() {
    let net = net().await;
    let pid = net
        .spawn_tagged(&[
            ("Name", "ticker"),
            ("Cron-Interval", "1-seconds"),
            ("Cron-Tag-Action", "Tick"),
        ])
        .await;
    let m1 = net.eval(&pid, TICK_HANDLER).await;
    // At least three ticks between m1 and m2.
    su_clock_reaches(&net, schedule(&net, &pid).await[1] + 3300).await;
    let m2 = net
        .eval(&pid, "return #ticks .. ' ' .. table.concat(ticks, ',')")
        .await;
    let clock = Arc::new(ManualClock::new(0));
    let cu1 = cu_with(&net, |c| {
        c.evaluation.checkpoint_every = 3;
        c.evaluation.clock = Some(clock.clone());
    })
    .await;
    let (status, r) = get(
        &net.http,
        format!("{}/result/{m2}?process-id={pid}", cu1.url()),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let ts = schedule(&net, &pid).await;
    let expected = one_second_ticks(ts[0], ts[1], ts[2]);
    assert!(expected.len() >= 3, "{ts:?}");
    let listed: Vec<String> = expected.iter().map(i64::to_string).collect();
    assert_eq!(
        r["Output"],
        format!("{} {}", expected.len(), listed.join(",")),
        "the module saw exactly the ticks of spec 4.6 between its two messages"
    );
    let (_, first) = get(
        &net.http,
        format!("{}/result/{m1}?process-id={pid}", cu1.url()),
    )
    .await;
    assert_eq!(first["Output"], "ready");

    // `/cron` evaluates to now (less the SU-commit margin) and lists every cron message: with
    // "now" 2.2 s past m2's margin, exactly the two ticks after m2.
    let now = ts[2] + CRON_NOW_LAG_MS + 2200;
    clock.set(now);
    let crons = all_crons(&net, &cu1, &pid).await;
    let before_m1 = one_second_ticks(ts[0], ts[0], ts[1]);
    let times: Vec<i64> = crons.iter().map(|c| c.0).collect();
    assert_eq!(
        times[..before_m1.len() + expected.len()],
        [before_m1.clone(), expected.clone()].concat()[..],
        "listed in order, before and after the handler existed"
    );
    assert!(
        times.len() > before_m1.len() + expected.len(),
        "crons after the last message are evaluated when asked for now: {times:?}"
    );
    let tail = one_second_ticks(ts[0], ts[2], *times.last().expect("some") + 1);
    assert_eq!(times[before_m1.len() + expected.len()..], tail[..]);
    assert_eq!(
        tail,
        one_second_ticks(ts[0], ts[2], now - CRON_NOW_LAG_MS),
        "the walk to now stopped where the clock said"
    );
    let n = expected.len();
    assert_eq!(
        crons.last().expect("some").1["Output"],
        (n + tail.len()).to_string()
    );
    let evaluated = |cu: &ao_cu::RunningCu| {
        cu.evaluator
            .metrics
            .crons
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(
        evaluated(&cu1) as usize,
        times.len(),
        "each cron evaluated once"
    );

    // Restart mid-walk: the new CU resumes the walk from its checkpoint and evaluates nothing
    // twice; a later message sees exactly the crons before it.
    cu1.shutdown().await;
    let cu2 = cu(&net, 3).await;
    // The CU walked to the clock's "now": the SU's own clock passes it before m3 is scheduled,
    // as it had in production (the margin keeps the SU's clock ahead of a CU's "now").
    su_clock_reaches(&net, now).await;
    let m3 = net.eval(&pid, "return #ticks").await;
    let (_, r3) = get(
        &net.http,
        format!("{}/result/{m3}?process-id={pid}", cu2.url()),
    )
    .await;
    let ts = schedule(&net, &pid).await;
    let total_before_m3 =
        one_second_ticks(ts[0], ts[1], ts[2]).len() + one_second_ticks(ts[0], ts[2], ts[3]).len();
    assert_eq!(r3["Output"], total_before_m3.to_string());
    assert_eq!(
        evaluated(&cu2) as usize,
        total_before_m3 - (times.len() - before_m1.len()),
        "only the crons after the restart point were evaluated"
    );
    cu2.shutdown().await;

    // A fresh CU with an empty store reaches the same answer from nothing.
    let fresh = cu_with(&net, |c| c.data_dir = net.dir.path().join("cu-fresh")).await;
    let (_, again) = get(
        &net.http,
        format!("{}/result/{m3}?process-id={pid}", fresh.url()),
    )
    .await;
    assert_eq!(again, r3);
    fresh.shutdown().await;
    net.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_interval_with_an_unknown_unit_is_refused_clearly() {
    let net = net().await;
    let pid = net
        .spawn_tagged(&[("Name", "fortnightly"), ("Cron-Interval", "1-fortnight")])
        .await;
    let cu = cu(&net, 100).await;
    let (status, r) = get(
        &net.http,
        format!("{}/result/{pid}?process-id={pid}", cu.url()),
    )
    .await;
    assert_eq!(status, 422, "{r}");
    let e = r["error"].as_str().expect("error");
    assert!(
        e.contains("Cron-Interval") && e.contains("1-fortnight"),
        "{e}"
    );
    cu.shutdown().await;
    net.close().await;
}
