//! The blueprints beside token and chatroom (issue 13): staking, voting and chat, loaded with
//! `Blueprint(name)`, behave as aos's blueprints of the same names.

mod common;

use common::*;

const BOB: &str = "BOB-ADDRESS-0000000000000000000000000000000";

#[test]
fn staking_locks_and_releases_balances() {
    let mut p = Process::spawn("PID-BP-STAKING", &[]);
    p.run(&format!("Balances = {{['{ALICE}'] = '1000'}}"));
    p.run("Blueprint('staking')");

    let e = p.send(Msg::from(ALICE).action("Stake").tag("Quantity", "300"));
    assert_eq!(e.error, None, "{e:?}");
    assert_eq!(e.messages[0]["Target"], ALICE);
    assert_eq!(e.messages[0]["Data"], "Successfully Staked 300");
    assert_eq!(p.run(&format!("Balances['{ALICE}']")), "700");

    let e = p.send(Msg::from(ALICE).action("Stakers"));
    let stakers: serde_json::Value =
        serde_json::from_str(e.messages[0]["Data"].as_str().expect("data")).expect("json");
    assert_eq!(stakers[ALICE]["amount"], "300");

    let e = p.send(Msg::from(ALICE).action("Stake").tag("Quantity", "5000"));
    assert!(
        e.error
            .as_ref()
            .is_some_and(|v| v.to_string().contains("Insufficient balance to stake")),
        "{e:?}"
    );
    let e = p.send(Msg::from(BOB).action("Unstake").tag("Quantity", "1"));
    assert!(
        e.error
            .as_ref()
            .is_some_and(|v| v.to_string().contains("Insufficient staked amount")),
        "{e:?}"
    );

    let e = p.send(Msg::from(ALICE).action("Unstake").tag("Quantity", "100"));
    assert_eq!(e.messages[0]["Data"], "Successfully unstaked 100");
    // Not released before the stake's height + UnstakeDelay (670 blocks; test heights are small).
    assert_eq!(p.run(&format!("Balances['{ALICE}']")), "700");
    p.run("UnstakeDelay = 0");
    p.run(&format!("Unstaking['{ALICE}'].release_at = 0"));
    // The next message of any kind releases it.
    assert_eq!(p.run(&format!("Balances['{ALICE}']")), "800");
    assert_eq!(p.run("next(Unstaking) == nil"), "true");
}

#[test]
fn voting_weighs_votes_by_stake_and_settles_at_the_deadline() {
    let mut p = Process::spawn("PID-BP-VOTING", &[]);
    p.run(&format!("Balances = {{['{ALICE}'] = '1000'}}"));
    p.run("Blueprint('staking'); Blueprint('voting')");
    p.send(Msg::from(ALICE).action("Stake").tag("Quantity", "300"));

    let e = p.send(
        Msg::from(BOB)
            .action("Vote")
            .tag("Target", "PROPOSAL-1")
            .tag("Side", "yay")
            .tag("Deadline", "10"),
    );
    assert!(
        e.error
            .as_ref()
            .is_some_and(|v| v.to_string().contains("No staked tokens to vote")),
        "{e:?}"
    );
    let e = p.send(
        Msg::from(ALICE)
            .action("Vote")
            .tag("Target", "PROPOSAL-1")
            .tag("Side", "yay")
            .tag("Deadline", "1000"),
    );
    assert_eq!(e.error, None, "{e:?}");
    assert_eq!(
        p.run("Votes['PROPOSAL-1'].yay .. '/' .. Votes['PROPOSAL-1'].nay"),
        "300/0"
    );
    // Past the deadline the proposal is settled on the next message.
    p.run("Votes['PROPOSAL-1'].deadline = 0");
    let e = p.send(Msg::from(BOB).action("Ping"));
    assert!(data(&e).contains("Handle Vote"), "{}", data(&e));
    assert_eq!(p.run("next(Votes) == nil"), "true");
}

#[test]
fn chat_talks_to_a_chatroom() {
    let mut p = Process::spawn("PID-BP-CHAT", &[("Authority", MU)]);
    let out = p.run("Blueprint('chat')");
    assert!(out.contains("Loaded blueprint chat"), "{out}");

    let e = p.eval(&format!("Join('{OTHER}', 'alice')"));
    let m = &e.messages[0];
    assert_eq!(m["Target"], OTHER);
    assert_eq!(tag(m, "Action"), Some("Register"));
    assert_eq!(tag(m, "Nickname"), Some("alice"));

    let e = p.eval(&format!("Say('hello room', '{OTHER}')"));
    let m = &e.messages[0];
    assert_eq!(m["Target"], OTHER);
    assert_eq!(tag(m, "Action"), Some("Broadcast"));
    assert_eq!(m["Data"], "hello room");

    // The chatroom blueprint's notice and a DevChat room's broadcast are both shown.
    let e = p.send(
        Msg::pushed(OTHER)
            .action("Broadcast-Notice")
            .data("hi from the room"),
    );
    assert!(data(&e).contains("hi from the room"), "{}", data(&e));
    let e = p.send(
        Msg::pushed(OTHER)
            .action("Broadcasted")
            .tag("Nickname", "bob")
            .tag("Broadcaster", BOB)
            .data("hi there"),
    );
    assert!(
        data(&e).contains("bob") && data(&e).contains("hi there"),
        "{}",
        data(&e)
    );

    // Tip goes to the last sender, through the room.
    let e = p.eval("Tip()");
    let m = &e.messages[0];
    assert_eq!(m["Target"], OTHER);
    assert_eq!(tag(m, "Action"), Some("Transfer"));
    assert_eq!(tag(m, "Recipient"), Some(BOB));
    assert_eq!(tag(m, "Quantity"), Some("1"));

    let e = p.eval(&format!("Leave('{OTHER}')"));
    assert_eq!(tag(&e.messages[0], "Action"), Some("Unregister"));
    assert_eq!(
        p.run("List()"),
        "No DevChat.Router is set: set it to a room index process first."
    );
}

#[test]
fn arena_gathers_paid_players_plays_and_pays_the_winner() {
    const TOKEN: &str = "TOKEN-PROCESS-00000000000000000000000000000";
    let mut p = Process::spawn("PID-BP-ARENA", &[("Authority", MU)]);
    p.run("Blueprint('arena')");
    // Ten seconds of waiting: ten messages, as each test message is 1 s after the previous.
    p.run(&format!("PaymentToken = '{TOKEN}'; WaitTime = 10000"));

    let e = p.send(Msg::from(ALICE).action("Register"));
    let actions: Vec<_> = e
        .messages
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["Target"].as_str().unwrap_or_default().to_string(),
                tag(m, "Action").unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        actions.contains(&(ALICE.to_string(), "Registered".to_string())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(ALICE.to_string(), "Announcement".to_string())),
        "{actions:?}"
    );
    p.send(Msg::from(BOB).action("Register"));
    for player in [ALICE, BOB] {
        let e = p.send(
            Msg::pushed(TOKEN)
                .action("Credit-Notice")
                .tag("Sender", player)
                .tag("Quantity", "1000"),
        );
        assert!(
            e.messages
                .as_array()
                .expect("messages")
                .iter()
                .any(|m| m["Target"] == player && tag(m, "Action") == Some("Payment-Received")),
            "{e:?}"
        );
    }
    for _ in 0..10 {
        p.send(Msg::from(ALICE).action("Ping"));
    }
    assert_eq!(p.run("GameMode"), "Playing");

    let e = p.send(Msg::from(ALICE).action("GetGameState"));
    let state = e
        .messages
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| tag(m, "Action") == Some("GameState"))
        .expect("GameState");
    let state: serde_json::Value =
        serde_json::from_str(state["Data"].as_str().expect("data")).expect("json");
    assert_eq!(state["GameMode"], "Playing");

    // BOB is out: ALICE, the last player, wins her fee back and the whole bonus.
    let e = p.eval(&format!("eliminatePlayer('{BOB}', '{ALICE}')"));
    assert_eq!(e.error, None, "{e:?}");
    let msgs = e.messages.as_array().expect("messages");
    let transfer = |reason: &str| {
        msgs.iter()
            .find(|m| tag(m, "Action") == Some("Transfer") && tag(m, "Reason") == Some(reason))
            .map(|m| {
                (
                    m["Target"].clone(),
                    tag(m, "Recipient").map(str::to_string),
                    tag(m, "Quantity").map(str::to_string),
                )
            })
    };
    assert_eq!(
        transfer("Eliminated-Player"),
        Some((
            serde_json::json!(TOKEN),
            Some(ALICE.to_string()),
            Some("1000".to_string())
        ))
    );
    assert_eq!(
        transfer("Win"),
        Some((
            serde_json::json!(TOKEN),
            Some(ALICE.to_string()),
            Some("2000".to_string())
        ))
    );
    assert!(
        msgs.iter()
            .any(|m| m["Target"] == BOB && tag(m, "Action") == Some("Eliminated")),
        "{msgs:?}"
    );
    assert_eq!(p.run("GameMode"), "Waiting");
}
