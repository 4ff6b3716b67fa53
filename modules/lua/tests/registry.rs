//! The `unit-registry` blueprint (issue 17, "The registry: an AO process") through the committed
//! module on our CU's loader: units register and stake the configured token by Credit-Notice,
//! stakes are queried, unstaked amounts are paid back after the unbonding height, a unit that
//! signs two contradicting statements (attestations or SU assignments) is slashed and the prover
//! paid once, and a challenge picks CUs by the recomputable rule and slashes the stake-weighted
//! minority on Resolve.

mod common;

use ao_cu::loader::Evaluation;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TOKEN: &str = "TOKEN-PROCESS-00000000000000000000000000000";
const FAKE_TOKEN: &str = "FAKE-TOKEN-PROCESS-000000000000000000000000";
const CU1: &str = "CU1-ADDRESS-00000000000000000000000000000000";
const CU2: &str = "CU2-ADDRESS-00000000000000000000000000000000";
const CU3: &str = "CU3-ADDRESS-00000000000000000000000000000000";
const SU1: &str = "SU1-ADDRESS-00000000000000000000000000000000";
const MU1: &str = "MU1-ADDRESS-00000000000000000000000000000000";
const PROVER: &str = "PROVER-ADDRESS-00000000000000000000000000000";
const STRANGER: &str = "STRANGER-ADDRESS-000000000000000000000000000";
const WATCHED: &str = "WATCHED-PROCESS-0000000000000000000000000000";

const R1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const R2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const M1: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const M2: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Evaluate `m` as message `id` at `height`.
fn at(p: &mut Process, id: &str, height: u64, m: Msg<'_>) -> Evaluation {
    let mut j = p.message_json(id, &m);
    j["Block-Height"] = json!(height);
    p.evaluate(&j)
}

/// Evaluate `m` as message `id` (height 1000 + its slot).
fn send_as(p: &mut Process, id: &str, m: Msg<'_>) -> Evaluation {
    let j = p.message_json(id, &m);
    p.evaluate(&j)
}

fn outbox(e: &Evaluation) -> Vec<Value> {
    assert_eq!(e.error, None, "the message failed: {e:?}");
    e.messages.as_array().cloned().unwrap_or_default()
}

/// The outbox message to `target` with `Action: action`.
fn find(e: &Evaluation, target: &str, action: &str) -> Option<Value> {
    outbox(e)
        .into_iter()
        .find(|m| m["Target"] == target && tag(m, "Action") == Some(action))
}

fn must(e: &Evaluation, target: &str, action: &str) -> Value {
    find(e, target, action).unwrap_or_else(|| {
        panic!(
            "no {action} to {target} in {:#?}",
            e.messages.as_array().map(|a| a
                .iter()
                .map(|m| (m["Target"].clone(), tags(m)))
                .collect::<Vec<_>>())
        )
    })
}

/// The `<action>-Error` reply to `target`, with its Error tag.
fn error_to(e: &Evaluation, target: &str, action: &str) -> String {
    let m = must(e, target, &format!("{action}-Error"));
    let why = tag(&m, "Error").expect("Error tag").to_string();
    assert!(!why.is_empty());
    why
}

fn actions(e: &Evaluation) -> Vec<String> {
    outbox(e)
        .iter()
        .map(|m| tag(m, "Action").unwrap_or_default().to_string())
        .collect()
}

fn stake_of(p: &mut Process, unit: &str) -> String {
    let e = p.send(Msg::from(STRANGER).action("Stake-Of").tag("Unit", unit));
    must(&e, STRANGER, "Stake-Of")["Data"]
        .as_str()
        .expect("data")
        .to_string()
}

fn credit(p: &mut Process, from: &str, sender: &str, quantity: &str) -> Evaluation {
    p.send(
        Msg::pushed(from)
            .action("Credit-Notice")
            .tag("Sender", sender)
            .tag("Quantity", quantity)
            .tag("X-Action", "Stake"),
    )
}

/// An attestation signed by `unit`.
fn attest<'a>(
    unit: &'a str,
    process: &'a str,
    nonce: &'a str,
    chain: &'a str,
    result: &'a str,
) -> Msg<'a> {
    Msg::from(unit)
        .tag("Type", "Attestation")
        .tag("Process", process)
        .tag("Nonce", nonce)
        .tag("Hash-Chain", chain)
        .tag("Result-SHA-256", result)
        .tag("Memory-SHA-256", M1)
}

/// A registry with its token, 10 unbonding blocks and a 10% reward; CU1 300, CU2 200, CU3 100
/// and SU1 1000 staked, MU1 registered with no stake.
fn registry(pid: &str) -> Process {
    let mut p = Process::spawn(pid, &[("Authority", MU)]);
    let out = p.run("Blueprint('unit-registry')");
    assert!(out.contains("Loaded blueprint unit-registry"), "{out}");
    let e = p.send(
        Msg::from(OWNER)
            .action("Configure")
            .tag("Token", TOKEN)
            .tag("Unbonding-Blocks", "10")
            .tag("Slash-Reward-Percent", "10"),
    );
    let m = must(&e, OWNER, "Configured");
    assert_eq!(tag(&m, "Token"), Some(TOKEN));
    assert_eq!(tag(&m, "Unbonding-Blocks"), Some("10"));
    assert_eq!(tag(&m, "Challenge-Blocks"), Some("100"));
    for (unit, role) in [
        (CU1, "cu"),
        (CU2, "cu"),
        (CU3, "cu"),
        (SU1, "su"),
        (MU1, "mu"),
    ] {
        let url = format!("http://{role}.example/{unit}");
        let e = p.send(
            Msg::from(unit)
                .action("Register")
                .tag("Role", role)
                .tag("Url", &url),
        );
        let m = must(&e, unit, "Registered");
        assert_eq!(tag(&m, "Role"), Some(role));
    }
    for (unit, q) in [(CU1, "300"), (CU2, "200"), (CU3, "100"), (SU1, "1000")] {
        let e = credit(&mut p, TOKEN, unit, q);
        assert_eq!(tag(&must(&e, unit, "Staked"), "Stake"), Some(q));
    }
    p
}

#[test]
fn units_register_and_stake_only_through_the_configured_token() {
    let mut p = registry("PID-REG-STAKE");

    let e = p.send(
        Msg::from(STRANGER)
            .action("Register")
            .tag("Role", "oracle")
            .tag("Url", "http://x"),
    );
    assert!(error_to(&e, STRANGER, "Register").contains("Role"));
    let e = p.send(Msg::from(STRANGER).action("Register").tag("Role", "cu"));
    assert!(error_to(&e, STRANGER, "Register").contains("Url"));

    // More stake adds up; Staked goes to the unit with the new total.
    let e = credit(&mut p, TOKEN, CU1, "50");
    let m = must(&e, CU1, "Staked");
    assert_eq!(tag(&m, "Stake"), Some("350"));
    assert_eq!(tag(&m, "Quantity"), Some("50"));
    assert_eq!(stake_of(&mut p, CU1), "350");

    // A Credit-Notice from another process never stakes.
    let e = credit(&mut p, FAKE_TOKEN, CU1, "1000");
    assert!(find(&e, CU1, "Staked").is_none());
    assert!(error_to(&e, FAKE_TOKEN, "Stake").contains(TOKEN));
    assert_eq!(stake_of(&mut p, CU1), "350");

    // An unregistered sender is refunded through the token.
    let e = credit(&mut p, TOKEN, STRANGER, "77");
    let refund = must(&e, TOKEN, "Transfer");
    assert_eq!(tag(&refund, "Recipient"), Some(STRANGER));
    assert_eq!(tag(&refund, "Quantity"), Some("77"));
    assert!(tag(&refund, "X-Reason").is_some_and(|r| r.contains("not a registered unit")));
    assert_eq!(stake_of(&mut p, STRANGER), "0");

    // A Credit-Notice without X-Action: Stake is not a stake.
    let e = p.send(
        Msg::pushed(TOKEN)
            .action("Credit-Notice")
            .tag("Sender", CU2)
            .tag("Quantity", "5"),
    );
    assert!(find(&e, CU2, "Staked").is_none(), "{e:?}");
    assert_eq!(stake_of(&mut p, CU2), "200");

    // Only the Owner configures, and the token cannot change under held stake.
    let e = p.send(
        Msg::from(STRANGER)
            .action("Configure")
            .tag("Token", FAKE_TOKEN),
    );
    assert!(error_to(&e, STRANGER, "Configure").contains("Owner"));
    let e = p.send(
        Msg::from(OWNER)
            .action("Configure")
            .tag("Token", FAKE_TOKEN),
    );
    assert!(error_to(&e, OWNER, "Configure").contains("stake"));
    let e = p.send(
        Msg::from(OWNER)
            .action("Configure")
            .tag("Slash-Reward-Percent", "101"),
    );
    error_to(&e, OWNER, "Configure");
    assert_eq!(p.run("Registry.Token"), TOKEN);
    assert_eq!(p.run("Registry.SlashRewardPercent"), "10");

    // With no token configured, a stake goes back where it came from.
    let mut q = Process::spawn("PID-REG-NO-TOKEN", &[("Authority", MU)]);
    q.run("Blueprint('unit-registry')");
    q.send(
        Msg::from(CU1)
            .action("Register")
            .tag("Role", "cu")
            .tag("Url", "http://cu1"),
    );
    let e = credit(&mut q, TOKEN, CU1, "10");
    let refund = must(&e, TOKEN, "Transfer");
    assert_eq!(tag(&refund, "Recipient"), Some(CU1));
    assert_eq!(tag(&refund, "Quantity"), Some("10"));
    assert_eq!(stake_of(&mut q, CU1), "0");
}

#[test]
fn units_and_stake_of_answer_dry_runs_sorted_and_filtered() {
    let mut p = registry("PID-REG-QUERY");
    // MU1 gets as much as CU2: equal stakes are ordered by address.
    credit(&mut p, TOKEN, MU1, "200");
    let units = |p: &mut Process, m: Msg<'_>| -> Vec<(String, String, String, String)> {
        let e = p.send(m);
        let data = must(&e, STRANGER, "Units")["Data"].clone();
        let list: Vec<Value> =
            serde_json::from_str(data.as_str().expect("data")).expect("JSON array");
        list.iter()
            .map(|u| {
                (
                    u["address"].as_str().expect("address").to_string(),
                    u["role"].as_str().expect("role").to_string(),
                    u["url"].as_str().expect("url").to_string(),
                    u["stake"].as_str().expect("stake as a string").to_string(),
                )
            })
            .collect()
    };
    let all = units(&mut p, Msg::from(STRANGER).action("Units"));
    let order: Vec<(&str, &str)> = all
        .iter()
        .map(|(a, _, _, s)| (a.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (SU1, "1000"),
            (CU1, "300"),
            (CU2, "200"),
            (MU1, "200"),
            (CU3, "100")
        ]
    );
    assert_eq!(all[0].1, "su");
    assert_eq!(all[0].2, format!("http://su.example/{SU1}"));

    let cus = units(
        &mut p,
        Msg::from(STRANGER).action("Units").tag("Role", "cu"),
    );
    let cus: Vec<&str> = cus.iter().map(|u| u.0.as_str()).collect();
    assert_eq!(cus, [CU1, CU2, CU3]);

    // A unit with no stake is listed only with All: true.
    p.send(
        Msg::from(STRANGER)
            .action("Register")
            .tag("Role", "mu")
            .tag("Url", "http://stranger"),
    );
    let mus = units(
        &mut p,
        Msg::from(STRANGER).action("Units").tag("Role", "mu"),
    );
    assert_eq!(mus.len(), 1);
    let mus = units(
        &mut p,
        Msg::from(STRANGER)
            .action("Units")
            .tag("Role", "mu")
            .tag("All", "true"),
    );
    assert_eq!(mus.len(), 2);
    assert_eq!(
        mus[1],
        (
            STRANGER.into(),
            "mu".into(),
            "http://stranger".into(),
            "0".into()
        )
    );

    assert_eq!(stake_of(&mut p, CU2), "200");
    assert_eq!(stake_of(&mut p, "NOBODY"), "0");
    let e = p.send(Msg::from(STRANGER).action("Stake-Of"));
    assert!(error_to(&e, STRANGER, "Stake-Of").contains("Unit"));
    let e = p.send(Msg::from(STRANGER).action("Units").tag("Role", "oracle"));
    error_to(&e, STRANGER, "Units");
}

#[test]
fn unstaked_tokens_come_back_only_after_the_unbonding_height() {
    let mut p = registry("PID-REG-UNSTAKE");

    let e = at(
        &mut p,
        "U-1",
        2000,
        Msg::from(CU1).action("Unstake").tag("Quantity", "301"),
    );
    assert!(error_to(&e, CU1, "Unstake").contains("300"));
    let e = at(
        &mut p,
        "U-2",
        2000,
        Msg::from(CU1).action("Unstake").tag("Quantity", "-5"),
    );
    error_to(&e, CU1, "Unstake");
    // A Block-Height tag would stand in for the real height: refused.
    let e = at(
        &mut p,
        "U-3",
        2000,
        Msg::from(CU1)
            .action("Unstake")
            .tag("Quantity", "100")
            .tag("Block-Height", "0"),
    );
    assert!(error_to(&e, CU1, "Unstake").contains("Block-Height"));

    let e = at(
        &mut p,
        "U-4",
        2000,
        Msg::from(CU1).action("Unstake").tag("Quantity", "100"),
    );
    let m = must(&e, CU1, "Unstaked");
    assert_eq!(tag(&m, "Stake"), Some("200"));
    assert_eq!(tag(&m, "Until"), Some("2010"));
    assert_eq!(stake_of(&mut p, CU1), "200");

    // Before the unbonding height: refused, nothing paid.
    let e = at(&mut p, "W-1", 2009, Msg::from(CU1).action("Withdraw"));
    assert!(error_to(&e, CU1, "Withdraw").contains("2010"));
    assert!(find(&e, TOKEN, "Transfer").is_none());

    let e = at(&mut p, "W-2", 2010, Msg::from(CU1).action("Withdraw"));
    let t = must(&e, TOKEN, "Transfer");
    assert_eq!(tag(&t, "Recipient"), Some(CU1));
    assert_eq!(tag(&t, "Quantity"), Some("100"));
    assert_eq!(tag(&must(&e, CU1, "Withdrawn"), "Quantity"), Some("100"));

    let e = at(&mut p, "W-3", 3000, Msg::from(CU1).action("Withdraw"));
    error_to(&e, CU1, "Withdraw");
    assert!(find(&e, TOKEN, "Transfer").is_none());
    let e = p.send(Msg::from(STRANGER).action("Withdraw"));
    error_to(&e, STRANGER, "Withdraw");
    let e = p.send(Msg::from(STRANGER).action("Unstake").tag("Quantity", "1"));
    error_to(&e, STRANGER, "Unstake");
    assert_eq!(stake_of(&mut p, CU1), "200");
}

#[test]
fn a_cu_that_attests_two_results_for_one_message_is_slashed_and_the_prover_paid_once() {
    let mut p = registry("PID-REG-ATTEST");
    // 50 of CU1's 300 is unbonding: it is slashed all the same.
    let e = at(
        &mut p,
        "U-1",
        2000,
        Msg::from(CU1).action("Unstake").tag("Quantity", "50"),
    );
    must(&e, CU1, "Unstaked");

    let e = send_as(&mut p, "ATT-A", attest(CU1, WATCHED, "7", "CHAIN-7", R1));
    assert!(
        actions(&e).is_empty(),
        "an accepted statement is silent: {e:?}"
    );
    // The same result again agrees: nothing happens.
    let e = send_as(&mut p, "ATT-A2", attest(CU1, WATCHED, "7", "CHAIN-7", R1));
    assert!(actions(&e).is_empty(), "{e:?}");
    assert_eq!(stake_of(&mut p, CU1), "250");

    let e = send_as(&mut p, "ATT-B", attest(CU1, WATCHED, "7", "CHAIN-7", R2));
    let notice = must(&e, CU1, "Slashed");
    assert_eq!(tag(&notice, "Unit"), Some(CU1));
    assert_eq!(tag(&notice, "Amount"), Some("300"));
    assert_eq!(tag(&notice, "Proof-A"), Some("ATT-A"));
    assert_eq!(tag(&notice, "Proof-B"), Some("ATT-B"));
    assert!(tag(&notice, "Reason").is_some_and(|r| r.contains("Result-SHA-256")));
    assert_eq!(stake_of(&mut p, CU1), "0");
    assert_eq!(p.run(&format!("#Registry.Units['{CU1}'].unbonding")), "0");
    assert_eq!(p.run("Registry.Burned"), "270");
    // No reward is paid without a Prove.
    assert!(find(&e, TOKEN, "Transfer").is_none());

    // Prove pays the prover 10%, once.
    let e = p.send(
        Msg::from(PROVER)
            .action("Prove")
            .tag("Proof-A", "ATT-B")
            .tag("Proof-B", "ATT-A"),
    );
    let t = must(&e, TOKEN, "Transfer");
    assert_eq!(tag(&t, "Recipient"), Some(PROVER));
    assert_eq!(tag(&t, "Quantity"), Some("30"));
    let m = must(&e, PROVER, "Slashed");
    assert_eq!(tag(&m, "Unit"), Some(CU1));
    assert_eq!(tag(&m, "Amount"), Some("300"));
    assert_eq!(tag(&m, "Reward"), Some("30"));
    let e = p.send(
        Msg::from(STRANGER)
            .action("Prove")
            .tag("Proof-A", "ATT-A")
            .tag("Proof-B", "ATT-B"),
    );
    assert!(error_to(&e, STRANGER, "Prove").contains("already paid"));
    assert!(find(&e, TOKEN, "Transfer").is_none());

    // Agreeing attestations do not prove anything.
    let e = p.send(
        Msg::from(PROVER)
            .action("Prove")
            .tag("Proof-A", "ATT-A")
            .tag("Proof-B", "ATT-A2"),
    );
    assert!(error_to(&e, PROVER, "Prove").contains("do not contradict"));

    // Two CUs that disagree never slash each other; nor does one CU across two Hash-Chains.
    let e = send_as(&mut p, "ATT-C", attest(CU2, WATCHED, "8", "CHAIN-8", R1));
    assert!(actions(&e).is_empty());
    let e = send_as(&mut p, "ATT-D", attest(CU3, WATCHED, "8", "CHAIN-8", R2));
    assert!(actions(&e).is_empty());
    let e = send_as(
        &mut p,
        "ATT-E",
        attest(CU2, WATCHED, "8", "FORKED-CHAIN", R2),
    );
    assert!(actions(&e).is_empty());
    for (a, b) in [("ATT-C", "ATT-D"), ("ATT-C", "ATT-E")] {
        let e = p.send(
            Msg::from(PROVER)
                .action("Prove")
                .tag("Proof-A", a)
                .tag("Proof-B", b),
        );
        assert!(error_to(&e, PROVER, "Prove").contains("do not contradict"));
    }
    assert_eq!(stake_of(&mut p, CU2), "200");
    assert_eq!(stake_of(&mut p, CU3), "100");

    // A different Memory-SHA-256 for the same message and chain is a contradiction too; the
    // nonce is read without leading zeros.
    let mut m = attest(CU3, WATCHED, "008", "CHAIN-8", R2);
    m.tags.retain(|(n, _)| *n != "Memory-SHA-256");
    let e = send_as(&mut p, "ATT-F", m.tag("Memory-SHA-256", M2));
    let notice = must(&e, CU3, "Slashed");
    assert_eq!(tag(&notice, "Proof-A"), Some("ATT-D"));
    assert_eq!(tag(&notice, "Amount"), Some("100"));
    assert!(tag(&notice, "Reason").is_some_and(|r| r.contains("Memory-SHA-256")));

    // A statement sent by a process (pushed by the MU) is nobody's signature: refused.
    let e = send_as(
        &mut p,
        "ATT-PUSHED",
        Msg::pushed(FAKE_TOKEN)
            .tag("Type", "Attestation")
            .tag("Process", WATCHED)
            .tag("Nonce", "9")
            .tag("Hash-Chain", "CHAIN-9")
            .tag("Result-SHA-256", R1)
            .tag("Memory-SHA-256", M1),
    );
    assert!(error_to(&e, FAKE_TOKEN, "Attestation").contains("signed by the unit"));
    assert_eq!(p.run("Registry.Statements['ATT-PUSHED'] == nil"), "true");
    // Malformed attestations are answered, not recorded.
    let e = send_as(
        &mut p,
        "ATT-BAD",
        attest(CU2, WATCHED, "9", "CHAIN-9", "xyz"),
    );
    assert!(error_to(&e, CU2, "Attestation").contains("Result-SHA-256"));
    let e = send_as(
        &mut p,
        "ATT-BAD2",
        attest(CU2, WATCHED, "nine", "CHAIN-9", R1),
    );
    assert!(error_to(&e, CU2, "Attestation").contains("Nonce"));

    // An unregistered signer's contradiction is recorded and slashes nothing.
    let e = send_as(
        &mut p,
        "ATT-S1",
        attest(STRANGER, WATCHED, "7", "CHAIN-7", R1),
    );
    assert!(actions(&e).is_empty());
    let e = send_as(
        &mut p,
        "ATT-S2",
        attest(STRANGER, WATCHED, "7", "CHAIN-7", R2),
    );
    assert!(actions(&e).is_empty(), "{e:?}");
    let e = p.send(
        Msg::from(PROVER)
            .action("Prove")
            .tag("Proof-A", "ATT-S1")
            .tag("Proof-B", "ATT-S2"),
    );
    assert!(error_to(&e, PROVER, "Prove").contains("not a registered unit"));

    for (a, b, why) in [
        ("ATT-A", "NOPE", "not seen"),
        ("ATT-A", "ATT-A", "same"),
        ("ATT-A", "", "Proof-B"),
    ] {
        let e = p.send(
            Msg::from(PROVER)
                .action("Prove")
                .tag("Proof-A", a)
                .tag("Proof-B", b),
        );
        assert!(error_to(&e, PROVER, "Prove").contains(why), "{a} {b}");
    }
}

#[test]
fn an_su_that_assigns_two_messages_to_one_nonce_is_slashed() {
    let mut p = registry("PID-REG-ASSIGN");
    let assignment = |message: &'static str, nonce: &'static str| {
        Msg::from(SU1)
            .tag("Type", "Assignment")
            .tag("Process", WATCHED)
            .tag("Nonce", nonce)
            .tag("Message", message)
            .tag("Hash-Chain", "CHAIN-3")
    };
    let e = send_as(&mut p, "ASG-A", assignment("MESSAGE-X", "3"));
    assert!(actions(&e).is_empty(), "{e:?}");
    // The same assignment again, and one for another nonce: nothing.
    let e = send_as(&mut p, "ASG-A2", assignment("MESSAGE-X", "3"));
    assert!(actions(&e).is_empty(), "{e:?}");
    let e = send_as(&mut p, "ASG-C", assignment("MESSAGE-Y", "4"));
    assert!(actions(&e).is_empty(), "{e:?}");
    assert_eq!(stake_of(&mut p, SU1), "1000");

    // The second one reaches the registry as an assignment (its Target is the watched process).
    let mut j = p.message_json("ASG-B", &assignment("MESSAGE-Y", "03"));
    j["Target"] = json!(WATCHED);
    let e = p.evaluate(&j);
    let notice = must(&e, SU1, "Slashed");
    assert_eq!(tag(&notice, "Amount"), Some("1000"));
    assert_eq!(tag(&notice, "Proof-A"), Some("ASG-A"));
    assert_eq!(tag(&notice, "Proof-B"), Some("ASG-B"));
    assert!(tag(&notice, "Reason").is_some_and(|r| r.contains("two messages")));
    assert_eq!(stake_of(&mut p, SU1), "0");

    let e = p.send(
        Msg::from(PROVER)
            .action("Prove")
            .tag("Proof-A", "ASG-A2")
            .tag("Proof-B", "ASG-B"),
    );
    // Another pair of the same lie: the SU has nothing left, so the reward is 0 (no Transfer).
    let m = must(&e, PROVER, "Slashed");
    assert_eq!(tag(&m, "Reward"), Some("0"));
    assert!(find(&e, TOKEN, "Transfer").is_none());
    let e = p.send(
        Msg::from(PROVER)
            .action("Prove")
            .tag("Proof-A", "ASG-A")
            .tag("Proof-B", "ASG-B"),
    );
    assert_eq!(tag(&must(&e, TOKEN, "Transfer"), "Quantity"), Some("100"));

    let e = send_as(
        &mut p,
        "ASG-BAD",
        Msg::from(SU1)
            .tag("Type", "Assignment")
            .tag("Process", WATCHED)
            .tag("Nonce", "5")
            .tag("Hash-Chain", "CHAIN-5"),
    );
    assert!(error_to(&e, SU1, "Assignment").contains("Message"));
}

/// The selection rule, recomputed: staked CUs by lower-case hex SHA-256 of
/// `Process:Nonce:address`, highest first, then address; the first `count`.
fn select(process: &str, nonce: &str, staked_cus: &[&str], count: usize) -> Vec<String> {
    let mut scored: Vec<(String, String)> = staked_cus
        .iter()
        .map(|a| {
            let score = hex::encode(Sha256::digest(format!("{process}:{nonce}:{a}")));
            (score, a.to_string())
        })
        .collect();
    scored.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    scored.into_iter().take(count).map(|(_, a)| a).collect()
}

#[test]
fn a_challenge_picks_cus_by_the_rule_and_resolve_slashes_the_minority() {
    const CHALLENGER: &str = "CHALLENGER-ADDRESS-0000000000000000000000000";
    let mut p = registry("PID-REG-CHALLENGE");

    // Count 2 of the 3 staked CUs: exactly the ones the rule ranks first.
    let want = select(WATCHED, "12", &[CU1, CU2, CU3], 2);
    let e = at(
        &mut p,
        "CH-1",
        5000,
        Msg::from(CHALLENGER)
            .action("Challenge")
            .tag("Process", WATCHED)
            .tag("Nonce", "12")
            .tag("Result-SHA-256", R2)
            .tag("Count", "2"),
    );
    let reply = must(&e, CHALLENGER, "Challenged");
    assert_eq!(tag(&reply, "Deadline"), Some("5100"));
    let chosen: Vec<String> =
        serde_json::from_str(reply["Data"].as_str().expect("data")).expect("JSON");
    assert_eq!(chosen, want);
    for cu in &want {
        let r = must(&e, cu, "Attest-Request");
        assert_eq!(tag(&r, "Process"), Some(WATCHED));
        assert_eq!(tag(&r, "Nonce"), Some("12"));
        assert_eq!(tag(&r, "Challenge"), Some("CH-1"));
    }
    assert_eq!(
        outbox(&e)
            .iter()
            .filter(|m| tag(m, "Action") == Some("Attest-Request"))
            .count(),
        2
    );
    // With the default Count (3) every staked CU would be asked, in the rule's order (the SU and
    // the unstaked MU never).
    assert_eq!(p.run("#Registry.select('P', '1', 3)"), "3");
    let lua_order = p.run("table.concat(Registry.select('P', '1', 3), ',')");
    assert_eq!(lua_order, select("P", "1", &[CU1, CU2, CU3], 3).join(","));

    let again = at(
        &mut p,
        "CH-2",
        5001,
        Msg::from(STRANGER)
            .action("Challenge")
            .tag("Process", WATCHED)
            .tag("Nonce", "12")
            .tag("Result-SHA-256", R2),
    );
    assert!(error_to(&again, STRANGER, "Challenge").contains("already challenged"));

    // CU1 (300) and CU2 (200) attest R1, CU3 (100) attests R2.
    let (first, second) = (want[0].as_str(), want[1].as_str());
    send_as(
        &mut p,
        "V-FIRST",
        attest(
            first,
            WATCHED,
            "12",
            "CHAIN-12",
            if first == CU3 { R2 } else { R1 },
        ),
    );
    // Too early: one of two chosen CUs answered and the deadline is 5100.
    let e = at(
        &mut p,
        "RS-1",
        5050,
        Msg::from(STRANGER)
            .action("Resolve")
            .tag("Process", WATCHED)
            .tag("Nonce", "12"),
    );
    assert!(error_to(&e, STRANGER, "Resolve").contains("1 of 2"));
    for cu in [CU1, CU2, CU3] {
        if cu != first {
            let r = if cu == CU3 { R2 } else { R1 };
            let e = send_as(
                &mut p,
                &format!("V-{cu}"),
                attest(cu, WATCHED, "12", "CHAIN-12", r),
            );
            assert!(actions(&e).is_empty());
        }
    }
    assert!(want.contains(&second.to_string()));
    // Every chosen CU answered: Resolve need not wait for the deadline.
    let e = at(
        &mut p,
        "RS-2",
        5060,
        Msg::from(STRANGER)
            .action("Resolve")
            .tag("Process", WATCHED)
            .tag("Nonce", "12"),
    );
    let r = must(&e, STRANGER, "Resolved");
    assert_eq!(tag(&r, "Result-SHA-256"), Some(R1));
    assert_eq!(tag(&r, "Tie"), Some("false"));
    let slashed: Value = serde_json::from_str(r["Data"].as_str().expect("data")).expect("JSON");
    assert_eq!(slashed, json!([{"unit": CU3, "amount": "100"}]));
    let notice = must(&e, CU3, "Slashed");
    assert_eq!(tag(&notice, "Proof-B"), Some("CH-1"));
    let t = must(&e, TOKEN, "Transfer");
    assert_eq!(tag(&t, "Recipient"), Some(CHALLENGER));
    assert_eq!(tag(&t, "Quantity"), Some("10"));
    assert_eq!(stake_of(&mut p, CU3), "0");
    assert_eq!(stake_of(&mut p, CU1), "300");
    assert_eq!(stake_of(&mut p, CU2), "200");
    let e = at(
        &mut p,
        "RS-3",
        6000,
        Msg::from(STRANGER)
            .action("Resolve")
            .tag("Process", WATCHED)
            .tag("Nonce", "12"),
    );
    assert!(error_to(&e, STRANGER, "Resolve").contains("already resolved"));

    // A tie slashes nobody: CU1 (300) against CU2 (200) + a re-staked CU3 (100).
    credit(&mut p, TOKEN, CU3, "100");
    let e = at(
        &mut p,
        "CH-3",
        7000,
        Msg::from(CHALLENGER)
            .action("Challenge")
            .tag("Process", WATCHED)
            .tag("Nonce", "13")
            .tag("Result-SHA-256", R2)
            .tag("Count", "1"),
    );
    must(&e, CHALLENGER, "Challenged");
    send_as(&mut p, "T-1", attest(CU1, WATCHED, "13", "CHAIN-13", R1));
    send_as(&mut p, "T-2", attest(CU2, WATCHED, "13", "CHAIN-13", R2));
    send_as(&mut p, "T-3", attest(CU3, WATCHED, "13", "CHAIN-13", R2));
    let e = at(
        &mut p,
        "RS-4",
        7100,
        Msg::from(STRANGER)
            .action("Resolve")
            .tag("Process", WATCHED)
            .tag("Nonce", "13"),
    );
    let r = must(&e, STRANGER, "Resolved");
    assert_eq!(tag(&r, "Tie"), Some("true"));
    assert_eq!(tag(&r, "Result-SHA-256"), None);
    assert_eq!(r["Data"], "[]");
    assert!(find(&e, TOKEN, "Transfer").is_none());
    for (cu, s) in [(CU1, "300"), (CU2, "200"), (CU3, "100")] {
        assert_eq!(stake_of(&mut p, cu), s);
    }
}

#[test]
fn bad_challenges_and_resolves_are_answered_with_errors() {
    let mut p = registry("PID-REG-BAD");
    for (m, why) in [
        (
            Msg::from(STRANGER)
                .action("Challenge")
                .tag("Nonce", "1")
                .tag("Result-SHA-256", R1),
            "Process",
        ),
        (
            Msg::from(STRANGER)
                .action("Challenge")
                .tag("Process", WATCHED)
                .tag("Nonce", "1")
                .tag("Result-SHA-256", "abc"),
            "Result-SHA-256",
        ),
        (
            Msg::from(STRANGER)
                .action("Challenge")
                .tag("Process", WATCHED)
                .tag("Nonce", "1")
                .tag("Result-SHA-256", R1)
                .tag("Count", "0"),
            "Count",
        ),
        (
            Msg::from(STRANGER)
                .action("Challenge")
                .tag("Process", WATCHED)
                .tag("Nonce", "x")
                .tag("Result-SHA-256", R1),
            "Nonce",
        ),
    ] {
        let e = p.send(m);
        assert!(error_to(&e, STRANGER, "Challenge").contains(why), "{why}");
    }
    let e = p.send(
        Msg::from(STRANGER)
            .action("Resolve")
            .tag("Process", WATCHED)
            .tag("Nonce", "1"),
    );
    assert!(error_to(&e, STRANGER, "Resolve").contains("not challenged"));
    let e = p.send(
        Msg::from(STRANGER)
            .action("Resolve")
            .tag("Process", WATCHED),
    );
    error_to(&e, STRANGER, "Resolve");
    let e = p.send(Msg::from(STRANGER).action("Prove"));
    assert!(error_to(&e, STRANGER, "Prove").contains("Proof-A"));

    // No staked CU: nobody to ask.
    let mut q = Process::spawn("PID-REG-EMPTY", &[("Authority", MU)]);
    q.run("Blueprint('unit-registry')");
    let e = q.send(
        Msg::from(STRANGER)
            .action("Challenge")
            .tag("Process", WATCHED)
            .tag("Nonce", "1")
            .tag("Result-SHA-256", R1),
    );
    assert!(error_to(&e, STRANGER, "Challenge").contains("no CU"));
    assert_eq!(q.run("next(Registry.Challenges) == nil"), "true");
}
