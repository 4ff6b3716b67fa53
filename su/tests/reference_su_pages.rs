//! The reference SU's own answers, recorded by `scripts/reference-su.sh capture` into
//! `tests/fixtures/reference-su/` (see its README), read with ao-core's rules: the hash chain of
//! the schedule it served, nonces and timestamps in order, and the page rules an HTTP client of it
//! relies on (a cursor resumes after the last edge; `from` is exclusive and `to` inclusive).
//! No SU runs here: these are the reference's bytes, so a change to ao-core's chain rule that
//! would reject the reference's schedules fails here.

use std::path::PathBuf;

use ao_core::ao::{HashChain, verify_chain};
use ao_core::encoding::decode_id;
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/reference-su")
}

fn read(name: &str) -> Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn process_id() -> String {
    std::fs::read_to_string(dir().join("process-id.txt"))
        .expect("process-id.txt")
        .trim()
        .to_string()
}

fn tag<'a>(node: &'a Value, name: &str) -> &'a str {
    node["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .find(|t| t["name"] == name)
        .and_then(|t| t["value"].as_str())
        .unwrap_or_else(|| panic!("no {name} tag in {node}"))
}

/// Every edge of the schedule, page after page as the capture followed the cursors.
fn all_edges() -> Vec<Value> {
    let mut edges = Vec::new();
    for page in 1.. {
        let path = dir().join(format!("page-{page}.json"));
        if !path.exists() {
            break;
        }
        let v = read(&format!("page-{page}.json"));
        let page_edges = v["edges"].as_array().expect("edges");
        assert!(page_edges.len() <= 2, "page {page} is over its limit of 2");
        edges.extend(page_edges.iter().cloned());
    }
    assert!(!edges.is_empty(), "no recorded pages");
    edges
}

#[test]
fn the_reference_schedule_follows_ao_cores_hash_chain_rule() {
    let pid = process_id();
    let edges = all_edges();
    // The process (AOP-6, ENABLE_PROCESS_ASSIGNMENT) and the 5 messages, each once.
    assert_eq!(edges.len(), 6, "{edges:#?}");
    let ids: Vec<[u8; 32]> = edges
        .iter()
        .map(|e| {
            decode_id(
                "assignment id",
                e["node"]["assignment"]["id"].as_str().expect("id"),
            )
            .expect("id")
        })
        .collect();
    let chains: Vec<[u8; 32]> = edges
        .iter()
        .map(|e| {
            decode_id("Hash-Chain", tag(&e["node"]["assignment"], "Hash-Chain")).expect("chain")
        })
        .collect();
    let raw_pid = decode_id("process id", &pid).expect("pid");
    verify_chain(
        HashChain::for_new_process(&raw_pid),
        ids.iter().zip(&chains),
    )
    .expect("the reference's chain links as ao-core says");
    let mut last_ts = 0u64;
    for (n, e) in edges.iter().enumerate() {
        let a = &e["node"]["assignment"];
        assert_eq!(tag(a, "Process"), pid);
        assert_eq!(
            tag(a, "Nonce"),
            n.to_string(),
            "nonces run from 0 without gaps"
        );
        let ts: u64 = tag(a, "Timestamp").parse().expect("timestamp");
        assert!(ts >= last_ts, "timestamps never go back");
        last_ts = ts;
        // A message's assignment names it in a Message tag; the process's own (nonce 0, AOP-6)
        // has no Message tag at all: the process is the edge's `message`.
        let names: Vec<&str> = a["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        if n == 0 {
            assert!(!names.contains(&"Message"), "{names:?}");
            assert_eq!(e["node"]["message"]["id"].as_str(), Some(pid.as_str()));
        } else {
            assert_eq!(Some(tag(a, "Message")), e["node"]["message"]["id"].as_str());
        }
    }
}

#[test]
fn a_broken_link_in_the_recorded_pages_is_found() {
    // The check above is not vacuous: swapping two messages breaks the chain at the first of them.
    let pid = decode_id("process id", &process_id()).expect("pid");
    let mut edges = all_edges();
    edges.swap(2, 3);
    let ids: Vec<[u8; 32]> = edges
        .iter()
        .map(|e| decode_id("id", e["node"]["assignment"]["id"].as_str().expect("id")).expect("id"))
        .collect();
    let chains: Vec<[u8; 32]> = edges
        .iter()
        .map(|e| decode_id("chain", tag(&e["node"]["assignment"], "Hash-Chain")).expect("chain"))
        .collect();
    let broken = verify_chain(HashChain::for_new_process(&pid), ids.iter().zip(&chains))
        .expect_err("a swapped pair must break the chain");
    assert_eq!(broken.index, 2);
}

#[test]
fn the_reference_range_excludes_from_and_includes_to() {
    // from = the 2nd message's assignment Timestamp, to = the 4th's: the 3rd and 4th come back.
    let ts = |name: &str| tag(&read(name)["assignment"], "Timestamp").to_string();
    let page = read("range-t2-t4.json");
    let got: Vec<String> = page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| tag(&e["node"]["assignment"], "Timestamp").to_string())
        .collect();
    assert_eq!(got, [ts("message-3.json"), ts("message-4.json")]);
    assert_eq!(page["page_info"]["has_next_page"], false);
    // The same with nonces: from-nonce=2&to-nonce=4 gives nonces 3 and 4, cursors are nonces.
    let page = read("range-nonce-2-4.json");
    let cursors: Vec<&str> = page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["cursor"].as_str().expect("cursor"))
        .collect();
    assert_eq!(cursors, ["3", "4"]);
}

#[test]
fn a_full_last_page_says_there_is_a_next_page_and_the_next_is_empty() {
    // has_next_page is true whenever a page is full, so a client reads one empty page at the end.
    let mut last = 1;
    while dir().join(format!("page-{}.json", last + 1)).exists() {
        last += 1;
    }
    let before = read(&format!("page-{}.json", last - 1));
    assert_eq!(before["edges"].as_array().expect("edges").len(), 2);
    assert_eq!(before["page_info"]["has_next_page"], true);
    let end = read(&format!("page-{last}.json"));
    assert!(end["edges"].as_array().expect("edges").is_empty());
    assert_eq!(end["page_info"]["has_next_page"], false);
}

#[test]
fn a_repeated_spawn_leaves_a_nonce_gap_and_a_chain_no_page_can_verify() {
    // The reference answers 200 to the same Process item twice; the second spawn takes nonce 1,
    // which no page serves, and the first message's Hash-Chain links to that unseen assignment.
    // A client reading such a schedule from nonce 0 must report the break, not hide it.
    let pid = std::fs::read_to_string(dir().join("duplicate-process-id.txt")).expect("pid");
    let raw_pid = decode_id("process id", pid.trim()).expect("pid");
    let page = read("duplicate-schedule.json");
    let edges = page["edges"].as_array().expect("edges");
    let nonces: Vec<&str> = edges
        .iter()
        .map(|e| tag(&e["node"]["assignment"], "Nonce"))
        .collect();
    assert_eq!(nonces, ["0", "2"]);
    let ids: Vec<[u8; 32]> = edges
        .iter()
        .map(|e| decode_id("id", e["node"]["assignment"]["id"].as_str().expect("id")).expect("id"))
        .collect();
    let chains: Vec<[u8; 32]> = edges
        .iter()
        .map(|e| decode_id("chain", tag(&e["node"]["assignment"], "Hash-Chain")).expect("chain"))
        .collect();
    let broken = verify_chain(
        HashChain::for_new_process(&raw_pid),
        ids.iter().zip(&chains),
    )
    .expect_err("the link to the unserved nonce 1 cannot verify");
    assert_eq!(broken.index, 1);
}
