//! The token blueprint: mint, transfer, insufficient balance and balance queries, with the exact
//! messages and notices the process sends.

mod common;

use common::*;
use serde_json::{Value, json};

const PID: &str = "TOKEN-PROCESS-0000000000000000000000000000";
const BOB: &str = "BOB-ADDRESS-0000000000000000000000000000000";

fn token() -> Process {
    let mut p = Process::spawn(PID, &[("Name", "Test Coin"), ("Authority", MU)]);
    p.run("Ticker = 'TST'; Denomination = 3; Balances = {}; TotalSupply = '0'");
    assert_eq!(p.run("Blueprint('token')"), "Loaded blueprint token");
    p
}

/// The message as (Target, tags after the protocol ones, Data).
fn shape(m: &Value) -> (String, Vec<(String, String)>, String) {
    let tags = tags(m);
    assert_eq!(
        tags[..4]
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["Data-Protocol", "Variant", "Type", "Reference"]
    );
    (
        m["Target"].as_str().unwrap_or_default().to_string(),
        tags[4..].to_vec(),
        m["Data"].as_str().unwrap_or_default().to_string(),
    )
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn gray(s: &str) -> String {
    s.replace("{g}", "\u{1b}[90m")
        .replace("{b}", "\u{1b}[34m")
        .replace("{n}", "\u{1b}[32m")
        .replace("{r}", "\u{1b}[0m")
}

#[test]
fn mint_transfer_and_balances_send_the_exact_notices() {
    let mut p = token();

    // Mint by the owner goes to the process's balance.
    let e = p.send(Msg::from(OWNER).action("Mint").tag("Quantity", "1000"));
    assert_eq!(e.error, None);
    let msgs = e.messages.as_array().expect("messages");
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        shape(&msgs[0]),
        (
            OWNER.to_string(),
            Vec::new(),
            gray("{g}Successfully minted {b}1000{r}")
        )
    );
    assert_eq!(p.run("Balances[ao.id] .. ' ' .. TotalSupply"), "1000 1000");

    // The process transfers to Alice (an Eval by the owner sends as the process).
    p.run(&format!(
        "Send({{Target = ao.id, Action = 'Transfer', Recipient = '{ALICE}', Quantity = '250'}})"
    ));
    // The message arrives back pushed by the MU, From the process itself.
    let e = p.send(
        Msg::pushed(PID)
            .action("Transfer")
            .tag("Recipient", ALICE)
            .tag("Quantity", "250")
            .tag("X-Order", "42"),
    );
    assert_eq!(e.error, None);
    let msgs = e.messages.as_array().expect("messages");
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(
        shape(&msgs[0]),
        (
            PID.to_string(),
            pairs(&[
                ("Action", "Debit-Notice"),
                ("Quantity", "250"),
                ("Recipient", ALICE),
                ("X-Order", "42"),
            ]),
            gray(&format!(
                "{{g}}You transferred {{b}}250{{g}} to {{n}}{ALICE}{{r}}"
            ))
        )
    );
    assert_eq!(
        shape(&msgs[1]),
        (
            ALICE.to_string(),
            pairs(&[
                ("Action", "Credit-Notice"),
                ("Quantity", "250"),
                ("Sender", PID),
                ("X-Order", "42"),
            ]),
            gray(&format!(
                "{{g}}You received {{b}}250{{g}} from {{n}}{PID}{{r}}"
            ))
        )
    );

    // Alice transfers to Bob; balances move exactly.
    let e = p.send(
        Msg::from(ALICE)
            .action("Transfer")
            .tag("Recipient", BOB)
            .tag("Quantity", "100"),
    );
    let msgs = e.messages.as_array().expect("messages");
    assert_eq!(
        (msgs[0]["Target"].as_str(), tag(&msgs[0], "Action")),
        (Some(ALICE), Some("Debit-Notice"))
    );
    assert_eq!(
        (msgs[1]["Target"].as_str(), tag(&msgs[1], "Action")),
        (Some(BOB), Some("Credit-Notice"))
    );

    // Balance queries: the sender's, another account's, all of them.
    let e = p.send(Msg::from(ALICE).action("Balance"));
    assert_eq!(
        shape(&e.messages[0]),
        (
            ALICE.to_string(),
            pairs(&[("Account", ALICE), ("Balance", "150"), ("Ticker", "TST")]),
            "150".to_string()
        )
    );
    let e = p.send(Msg::from(ALICE).action("Balance").tag("Recipient", BOB));
    assert_eq!(tag(&e.messages[0], "Balance"), Some("100"));
    let e = p.send(
        Msg::from(ALICE)
            .action("Balance")
            .tag("Recipient", "NOBODY"),
    );
    assert_eq!(tag(&e.messages[0], "Balance"), Some("0"));
    let e = p.send(Msg::from(BOB).action("Balances"));
    let balances: Value =
        serde_json::from_str(e.messages[0]["Data"].as_str().expect("data")).expect("json");
    assert_eq!(balances, json!({PID: "750", ALICE: "150", BOB: "100"}));

    // Info and Total-Supply.
    let e = p.send(Msg::from(BOB).action("Info"));
    assert_eq!(
        shape(&e.messages[0]).1,
        pairs(&[
            ("Denomination", "3"),
            ("Logo", "SBCCXwwecBlDqRLUjb8dYABExTJXLieawf7m2aBJ-KY"),
            ("Name", "Test Coin"),
            ("Ticker", "TST"),
            ("Total-Supply", "1000"),
        ])
    );
    let e = p.send(Msg::from(BOB).action("Total-Supply"));
    assert_eq!(e.messages[0]["Data"], "1000");
}

#[test]
fn refused_transfers_and_mints_answer_with_errors_and_move_nothing() {
    let mut p = token();
    p.send(Msg::from(OWNER).action("Mint").tag("Quantity", "10"));
    p.run(&format!("Balances['{ALICE}'] = '5'"));

    let cases: [(&str, Option<&str>, &str); 5] = [
        ("6", Some(BOB), "Insufficient Balance!"),
        ("0", Some(BOB), "Quantity must be greater than 0"),
        ("-3", Some(BOB), "Quantity must be greater than 0"),
        ("1.5", Some(BOB), "Quantity must be an integer, not 1.5"),
        ("1", None, "Recipient is required!"),
    ];
    for (qty, recipient, why) in cases {
        let mut m = Msg::from(ALICE).action("Transfer").tag("Quantity", qty);
        if let Some(r) = recipient {
            m = m.tag("Recipient", r);
        }
        let e = p.send(m);
        assert_eq!(e.error, None);
        let msgs = e.messages.as_array().expect("messages");
        assert_eq!(msgs.len(), 1, "{qty}: {msgs:?}");
        let (target, tags, _) = shape(&msgs[0]);
        assert_eq!(target, ALICE);
        assert_eq!(
            tags[..2],
            pairs(&[("Action", "Transfer-Error"), ("Error", why)]),
            "{qty}"
        );
        assert!(tags[2].0 == "Message-Id" && tags[2].1.starts_with("MSG-"));
    }
    // A huge quantity is compared exactly, not as a float.
    p.run(&format!(
        "Balances['{ALICE}'] = '100000000000000000000000000001'"
    ));
    let e = p.send(
        Msg::from(ALICE)
            .action("Transfer")
            .tag("Recipient", BOB)
            .tag("Quantity", "100000000000000000000000000002"),
    );
    assert_eq!(tag(&e.messages[0], "Error"), Some("Insufficient Balance!"));
    let e = p.send(
        Msg::from(ALICE)
            .action("Transfer")
            .tag("Recipient", BOB)
            .tag("Quantity", "100000000000000000000000000000"),
    );
    assert_eq!(tag(&e.messages[0], "Action"), Some("Debit-Notice"));
    assert_eq!(
        p.run(&format!("Balances['{ALICE}'] .. ' ' .. Balances['{BOB}']")),
        "1 100000000000000000000000000000"
    );

    // Only the process or its owner mints.
    let e = p.send(Msg::from(ALICE).action("Mint").tag("Quantity", "5"));
    assert_eq!(tag(&e.messages[0], "Action"), Some("Mint-Error"));
    assert_eq!(p.run("TotalSupply"), "10");

    // Cast: the transfer happens, no notices.
    p.run(&format!("Balances['{ALICE}'] = '5'"));
    let e = p.send(
        Msg::from(ALICE)
            .action("Transfer")
            .tag("Recipient", BOB)
            .tag("Quantity", "2")
            .tag("Cast", "true"),
    );
    assert_eq!(e.messages, json!([]));
    assert_eq!(p.run(&format!("Balances['{ALICE}']")), "3");
}

/// The README's example, exactly as it shows it: the code, the Transfer, and the two notices.
#[test]
fn the_readme_token_example_sends_the_notices_the_readme_shows() {
    let mut p = Process::spawn("README-TOKEN", &[]);
    let e = p.eval(include_str!("../examples/token.lua"));
    assert_eq!(e.error, None);
    let e = p.send(
        Msg::from(OWNER)
            .action("Transfer")
            .tag("Recipient", ALICE)
            .tag("Quantity", "250"),
    );
    let shown = json!([
        {"Target": OWNER, "Anchor": "00000000000000000000000000000001", "Tags": [
            {"name": "Data-Protocol", "value": "ao"}, {"name": "Variant", "value": "ao.TN.1"},
            {"name": "Type", "value": "Message"}, {"name": "Reference", "value": "1"},
            {"name": "Action", "value": "Debit-Notice"}, {"name": "Quantity", "value": "250"},
            {"name": "Recipient", "value": ALICE}]},
        {"Target": ALICE, "Anchor": "00000000000000000000000000000002", "Tags": [
            {"name": "Data-Protocol", "value": "ao"}, {"name": "Variant", "value": "ao.TN.1"},
            {"name": "Type", "value": "Message"}, {"name": "Reference", "value": "2"},
            {"name": "Action", "value": "Credit-Notice"}, {"name": "Quantity", "value": "250"},
            {"name": "Sender", "value": OWNER}]},
    ]);
    assert_eq!(e.messages, shown);
    let e = p.send(Msg::from(ALICE).action("Balance"));
    assert_eq!(tag(&e.messages[0], "Balance"), Some("250"));
    let e = p.send(
        Msg::from(ALICE)
            .action("Transfer")
            .tag("Recipient", OWNER)
            .tag("Quantity", "251"),
    );
    assert_eq!(tag(&e.messages[0], "Error"), Some("Insufficient Balance!"));
}
