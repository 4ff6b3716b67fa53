//! The local gateway against real RocksDB in temporary directories and real HTTP on 127.0.0.1,
//! spoken with a bare HTTP/1.1 client so that nothing but the bytes on the wire is assumed.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use ao_arweave::local::{self, Config, LocalGateway};
use ao_arweave::{BlockQuery, Bundler, Error, Gateway, HeightRange, Sort, TagFilter, TxQuery};
use ao_core::wallet::Ed25519Wallet;
use ao_core::{DataItem, DataItemBuilder, bundle};

// ---------------------------------------------------------------------------------------------
// helpers

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut raw = Vec::new();
    if method != "HEAD" {
        r.read_to_end(&mut raw).await?;
    }
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked { dechunk(&raw) } else { raw };
    Ok(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&raw[..nl]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[nl + 2..nl + 2 + size]);
        raw = &raw[nl + 2 + size + 2..];
    }
}

async fn get(addr: SocketAddr, path: &str) -> Resp {
    http(addr, "GET", path, None, b"").await.unwrap()
}

async fn post_item(addr: SocketAddr, item: &DataItem) -> Resp {
    http(
        addr,
        "POST",
        "/tx/arweave",
        Some("application/octet-stream"),
        item.as_bytes(),
    )
    .await
    .unwrap()
}

async fn mine(addr: SocketAddr) -> Value {
    let r = http(addr, "POST", "/mine", None, b"").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

async fn gql(addr: SocketAddr, query: &str, variables: Value) -> (u16, Value) {
    let body = json!({"query": query, "variables": variables}).to_string();
    let r = http(
        addr,
        "POST",
        "/graphql",
        Some("application/json"),
        body.as_bytes(),
    )
    .await
    .unwrap();
    (r.status, r.json())
}

/// Ids of `data.transactions.edges[].node.id`, after checking there are no errors.
fn ids_of(v: &Value) -> Vec<String> {
    assert!(v.get("errors").is_none(), "GraphQL errors: {v}");
    v["data"]["transactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn wallet(n: u8) -> Ed25519Wallet {
    Ed25519Wallet::from_seed(&[n; 32]).unwrap()
}

fn item(w: &Ed25519Wallet, tags: &[(&str, &str)], data: &[u8]) -> DataItem {
    let mut b = DataItemBuilder::new().data(data.to_vec());
    for (n, v) in tags {
        b = b.tag(*n, *v);
    }
    b.sign(w).unwrap()
}

fn bundle_item(w: &Ed25519Wallet, children: &[DataItem]) -> DataItem {
    DataItemBuilder::new()
        .tag("Bundle-Format", "binary")
        .tag("Bundle-Version", "2.0.0")
        .data(bundle::write(children))
        .sign(w)
        .unwrap()
}

fn config(dir: &Path) -> Config {
    Config {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        // Blocks only when a test mines, so heights are exact.
        block_interval: Duration::ZERO,
        max_item_size: 64 * 1024,
        ..Config::new(dir)
    }
}

async fn start(dir: &Path) -> LocalGateway {
    local::serve(config(dir)).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// REST

#[tokio::test]
async fn upload_and_read_back_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    let w = wallet(1);
    let target = [7u8; 32];
    let it = DataItemBuilder::new()
        .target(target)
        .anchor(*b"00000000000000000000000000000001")
        .tag("Content-Type", "text/plain")
        .tag("Type", "Process")
        .tag("Scheduler", "sched-addr")
        .data(b"hello".to_vec())
        .sign(&w)
        .unwrap();
    let id = it.id();

    let first = post_item(addr, &it).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let receipt = first.json();
    assert_eq!(receipt["id"], id);
    // Idempotent: the second upload is answered as the first, on either upload route.
    let again = http(
        addr,
        "POST",
        "/tx",
        Some("application/octet-stream"),
        it.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), receipt);

    let raw = get(addr, &format!("/raw/{id}")).await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.body, b"hello");
    assert_eq!(raw.header("content-type"), Some("text/plain"));

    // `/{id}`: the data, and the tags as headers (how the reference MU resolves a target).
    let plain = get(addr, &format!("/{id}")).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body, b"hello");
    assert_eq!(plain.header("content-type"), Some("text/plain"));
    assert_eq!(plain.header("type"), Some("Process"));
    assert_eq!(plain.header("scheduler"), Some("sched-addr"));
    let head = http(addr, "HEAD", &format!("/{id}"), None, b"")
        .await
        .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("type"), Some("Process"));

    let tx = get(addr, &format!("/tx/{id}")).await;
    assert_eq!(tx.status, 200);
    let tx = tx.json();
    assert_eq!(tx["id"], id);
    assert_eq!(tx["target"], ao_core::encoding::b64url(target));
    assert_eq!(tx["data_size"], "5");
    assert_eq!(tx["owner"], ao_core::encoding::b64url(it.owner()));
    assert_eq!(
        tx["tags"][0]["name"],
        ao_core::encoding::b64url("Content-Type")
    );

    let data = get(addr, &format!("/tx/{id}/data")).await;
    assert_eq!(data.text(), ao_core::encoding::b64url(b"hello"));

    // Without a Content-Type tag, data is octet-stream.
    let bare = item(&w, &[], b"\x00\x01");
    assert_eq!(post_item(addr, &bare).await.status, 200);
    let r = get(addr, &format!("/raw/{}", bare.id())).await;
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    gw.shutdown().await;
}

#[tokio::test]
async fn unknown_ids_and_root_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    let unknown = ao_core::encoding::b64url([9u8; 32]);
    for path in [
        "/".to_string(),
        format!("/{unknown}"),
        format!("/raw/{unknown}"),
        format!("/tx/{unknown}"),
        format!("/tx/{unknown}/status"),
        "/not-an-id".to_string(),
        "/raw/short".to_string(),
        "/block/height/99".to_string(),
    ] {
        let r = get(addr, &path).await;
        assert_eq!(r.status, 404, "GET {path}");
    }
    // Sharp edge 17: the reference MU HEADs `{gateway}/` for spawns.
    let head = http(addr, "HEAD", "/", None, b"").await.unwrap();
    assert_eq!(head.status, 404);
    gw.shutdown().await;
}

#[tokio::test]
async fn bad_items_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    let it = item(&wallet(1), &[("A", "b")], b"payload");

    // A flipped data byte: it parses, but the signature no longer covers it.
    let mut forged = it.as_bytes().to_vec();
    *forged.last_mut().unwrap() ^= 1;
    let r = http(
        addr,
        "POST",
        "/tx/arweave",
        Some("application/octet-stream"),
        &forged,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    let reason = r.json()["error"].as_str().unwrap().to_string();
    assert!(reason.contains("does not verify"), "{reason}");

    // Cut in the middle of the owner.
    let truncated = &it.as_bytes()[..70];
    let r = http(addr, "POST", "/tx", None, truncated).await.unwrap();
    assert_eq!(r.status, 400);
    let reason = r.json()["error"].as_str().unwrap().to_string();
    assert!(reason.contains("does not parse"), "{reason}");

    let r = http(addr, "POST", "/tx", None, b"").await.unwrap();
    assert_eq!(r.status, 400);

    // Above max_item_size (64 KiB in these tests).
    let big = item(&wallet(1), &[], &vec![0u8; 70 * 1024]);
    let r = post_item(addr, &big).await;
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].as_str().unwrap().contains("limit"));
    // And in-process, the same limit.
    assert!(matches!(gw.upload(&big).await, Err(Error::BadRequest(_))));

    // Nothing refused was stored.
    let r = get(addr, &format!("/raw/{}", it.id())).await;
    assert_eq!(r.status, 404);
    let r = get(addr, &format!("/raw/{}", big.id())).await;
    assert_eq!(r.status, 404);
    gw.shutdown().await;
}

#[tokio::test]
async fn blocks_status_and_info() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    let info = get(addr, "/info").await.json();
    assert_eq!(info["height"], 0);
    assert_eq!(info["network"], "ao-rs.local");
    let genesis = info["current"].as_str().unwrap().to_string();

    let it = item(&wallet(2), &[("K", "v")], b"x");
    assert_eq!(post_item(addr, &it).await.status, 200);
    let pending = get(addr, &format!("/tx/{}/status", it.id())).await;
    assert_eq!(pending.status, 202);
    assert_eq!(pending.text(), "Pending");

    let b1 = mine(addr).await;
    assert_eq!(b1["height"], 1);
    assert_eq!(b1["previous"], genesis.as_str());
    let info = get(addr, "/info").await.json();
    assert_eq!(info["height"], 1);
    assert_eq!(info["current"], b1["id"]);

    let st = get(addr, &format!("/tx/{}/status", it.id())).await;
    assert_eq!(st.status, 200);
    let st = st.json();
    assert_eq!(st["block_height"], 1);
    assert_eq!(st["block_indep_hash"], b1["id"]);
    assert_eq!(st["number_of_confirmations"], 1);

    mine(addr).await;
    let r = http(addr, "POST", "/mine/3", None, b"").await.unwrap();
    assert_eq!(r.json()["height"], 5);
    let st = get(addr, &format!("/tx/{}/status", it.id())).await.json();
    assert_eq!(st["number_of_confirmations"], 5);

    let blk = get(addr, "/block/height/1").await.json();
    assert_eq!(blk["indep_hash"], b1["id"]);
    assert_eq!(blk["previous_block"], genesis.as_str());
    assert_eq!(
        http(addr, "POST", "/mine/0", None, b"")
            .await
            .unwrap()
            .status,
        400
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn the_miner_makes_blocks_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let gw = local::serve(Config {
        block_interval: Duration::from_millis(100),
        ..config(dir.path())
    })
    .await
    .unwrap();
    let it = item(&wallet(3), &[], b"auto");
    gw.upload(&it).await.unwrap();
    let mut confirmed = false;
    for _ in 0..100 {
        if gw.tx_status(&it.id()).await.unwrap().is_some() {
            confirmed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(confirmed, "no block included the item within 5 s");
    gw.shutdown().await;
}

#[tokio::test]
async fn bundles_are_unbundled_recursively() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    let (w1, w2) = (wallet(4), wallet(5));
    let a = item(&w1, &[("Kind", "a"), ("Content-Type", "text/plain")], b"A");
    let b = item(&w2, &[("Kind", "b")], b"B");
    let d = item(&w2, &[("Kind", "d")], b"D");
    let c = bundle_item(&w1, std::slice::from_ref(&d));
    let outer = bundle_item(&w2, &[a.clone(), b.clone(), c.clone()]);
    let r = post_item(addr, &outer).await;
    assert_eq!(r.status, 200, "{}", r.text());

    let r = get(addr, &format!("/raw/{}", d.id())).await;
    assert_eq!(r.body, b"D");
    let r = get(addr, &format!("/{}", a.id())).await;
    assert_eq!(
        (r.body.as_slice(), r.header("content-type")),
        (&b"A"[..], Some("text/plain"))
    );

    let q = "query($b: [ID!]) { transactions(bundledIn: $b, sort: HEIGHT_ASC) { edges { node { id bundledIn { id } parent { id } } } } }";
    let (_, v) = gql(addr, q, json!({"b": [outer.id()]})).await;
    assert_eq!(ids_of(&v), vec![a.id(), b.id(), c.id()]);
    assert_eq!(
        v["data"]["transactions"]["edges"][0]["node"]["bundledIn"]["id"],
        outer.id()
    );
    assert_eq!(
        v["data"]["transactions"]["edges"][0]["node"]["parent"]["id"],
        outer.id()
    );
    let (_, v) = gql(addr, q, json!({"b": [c.id()]})).await;
    assert_eq!(ids_of(&v), vec![d.id()]);

    // All of it lands in the same block.
    mine(addr).await;
    let st_outer = get(addr, &format!("/tx/{}/status", outer.id()))
        .await
        .json();
    let st_d = get(addr, &format!("/tx/{}/status", d.id())).await.json();
    assert_eq!(st_outer, st_d);

    // A bundle with a forged child is refused whole, naming the child.
    let mut forged = b.as_bytes().to_vec();
    *forged.last_mut().unwrap() ^= 1;
    let forged = DataItem::parse(forged).unwrap();
    let bad = bundle_item(&w1, &[item(&w1, &[], b"ok"), forged]);
    let r = post_item(addr, &bad).await;
    assert_eq!(r.status, 400);
    let reason = r.json()["error"].as_str().unwrap().to_string();
    assert!(reason.contains("item 1"), "{reason}");
    assert_eq!(get(addr, &format!("/raw/{}", bad.id())).await.status, 404);

    // Tagged as a bundle but its data is not one.
    let liar = DataItemBuilder::new()
        .tag("Bundle-Format", "binary")
        .tag("Bundle-Version", "2.0.0")
        .data(b"not a bundle".to_vec())
        .sign(&w1)
        .unwrap();
    assert_eq!(post_item(addr, &liar).await.status, 400);
    gw.shutdown().await;
}

#[tokio::test]
async fn l1_transactions_are_accepted_with_inline_data() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    let read = |name: &str| std::fs::read_to_string(fixtures().join("l1-tx").join(name)).unwrap();
    let post = |body: String| async move {
        http(
            addr,
            "POST",
            "/tx",
            Some("application/json"),
            body.as_bytes(),
        )
        .await
        .unwrap()
    };

    let data_tx = read("v2-data-tx.json");
    let json: Value = serde_json::from_str(&data_tx).unwrap();
    let id = json["id"].as_str().unwrap().to_string();
    let r = post(data_tx.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], id);
    assert_eq!(post(data_tx.clone()).await.status, 200);
    let raw = get(addr, &format!("/raw/{id}")).await;
    assert_eq!(raw.text(), "hello arweave L1");
    // `/tx/{id}` gives the transaction back as posted, without its data.
    let mut expected = json.clone();
    expected["data"] = json!("");
    assert_eq!(get(addr, &format!("/tx/{id}")).await.json(), expected);
    let (_, v) = gql(
        addr,
        &format!("{{ transactions(ids: [\"{id}\"]) {{ edges {{ node {{ {FULL_NODE} }} }} }} }}"),
        json!({}),
    )
    .await;
    let node = &v["data"]["transactions"]["edges"][0]["node"];
    assert_eq!(node["owner"]["key"], json["owner"]);
    assert_eq!(node["anchor"], json["last_tx"]);
    assert_eq!(node["data"]["size"], "16");

    // A bundle carried by an L1 transaction is unbundled, as gateways do.
    let bundle_tx = read("v2-bundle-tx.json");
    let bundle_id = serde_json::from_str::<Value>(&bundle_tx).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(post(bundle_tx).await.status, 200);
    let q = "query($b: [ID!]) { transactions(bundledIn: $b) { edges { node { id } } } }";
    let (_, v) = gql(addr, q, json!({"b": [bundle_id]})).await;
    assert_eq!(ids_of(&v).len(), 3);

    // A header without its data (a chunked upload) and a forged transaction are refused.
    let mut header_only = json.clone();
    header_only["data"] = json!("");
    let r = post(header_only.to_string()).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("chunk"));
    let mut forged = json.clone();
    forged["reward"] = json!("1");
    let r = post(forged.to_string()).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("does not verify")
    );
    assert_eq!(post("{not json".into()).await.status, 400);
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// GraphQL

const FULL_NODE: &str = "id anchor signature recipient owner { address key } tags { name value } data { size type } block { id height timestamp previous } bundledIn { id } parent { id }";

#[tokio::test]
async fn graphql_filters_sorts_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    let (w1, w2) = (wallet(10), wallet(11));
    let target = [3u8; 32];
    let target_id = ao_core::encoding::b64url(target);
    // Block 1: m1 (w1, Message, to target), p1 (w2, Process)
    let m1 = DataItemBuilder::new()
        .target(target)
        .tag("Data-Protocol", "ao")
        .tag("Type", "Message")
        .tag("Action", "Eval")
        .data(b"m1".to_vec())
        .sign(&w1)
        .unwrap();
    let p1 = item(&w2, &[("Data-Protocol", "ao"), ("Type", "Process")], b"p1");
    // Block 2: m2 (w2, Message)
    let m2 = item(&w2, &[("Data-Protocol", "ao"), ("Type", "Message")], b"m2");
    // Pending: x (w1, other protocol)
    let x = item(
        &w1,
        &[("Data-Protocol", "other"), ("Type", "Message")],
        b"x",
    );
    for i in [&m1, &p1] {
        assert_eq!(post_item(addr, i).await.status, 200);
    }
    let b1 = mine(addr).await;
    assert_eq!(post_item(addr, &m2).await.status, 200);
    mine(addr).await;
    assert_eq!(post_item(addr, &x).await.status, 200);

    let tx_q = |args: &str| {
        format!(
            "query($ids: [ID!], $owners: [String!], $recipients: [String!], $tags: [TagFilter!], $first: Int, $after: String) {{ transactions(ids: $ids, owners: $owners, recipients: $recipients, tags: $tags, first: $first, after: $after{args}) {{ pageInfo {{ hasNextPage }} edges {{ cursor node {{ {FULL_NODE} }} }} }} }}"
        )
    };
    let desc = tx_q("");
    let asc = tx_q(", sort: HEIGHT_ASC");

    // No filter: everything, newest (pending) first by default.
    let (s, v) = gql(addr, &desc, json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(ids_of(&v), vec![x.id(), m2.id(), p1.id(), m1.id()]);
    let (_, v) = gql(addr, &asc, json!({})).await;
    assert_eq!(ids_of(&v), vec![m1.id(), p1.id(), m2.id(), x.id()]);

    // Pending items have block null; mined ones their block.
    let edges = &v["data"]["transactions"]["edges"];
    assert!(edges[3]["node"]["block"].is_null());
    assert_eq!(edges[0]["node"]["block"]["id"], b1["id"]);
    assert_eq!(edges[0]["node"]["block"]["height"], 1);
    assert_eq!(edges[0]["node"]["block"]["timestamp"], b1["timestamp"]);
    assert_eq!(edges[0]["node"]["block"]["previous"], b1["previous"]);
    // Every field of the node.
    let n = &edges[0]["node"];
    assert_eq!(n["recipient"], target_id);
    assert_eq!(n["owner"]["address"], m1.owner_address());
    assert_eq!(n["owner"]["key"], ao_core::encoding::b64url(m1.owner()));
    assert_eq!(n["signature"], ao_core::encoding::b64url(m1.signature()));
    assert_eq!(n["anchor"], "");
    assert_eq!(n["data"]["size"], "2");
    assert!(n["data"]["type"].is_null());
    assert!(n["bundledIn"].is_null());
    assert_eq!(n["tags"][2], json!({"name": "Action", "value": "Eval"}));

    // Tags: AND across filters, OR within values.
    let tags = json!([{"name": "Data-Protocol", "values": ["ao"]}, {"name": "Type", "values": ["Message"]}]);
    let (_, v) = gql(addr, &asc, json!({"tags": tags})).await;
    assert_eq!(ids_of(&v), vec![m1.id(), m2.id()]);
    let tags = json!([{"name": "Type", "values": ["Process", "Message"]}, {"name": "Data-Protocol", "values": ["ao"]}]);
    let (_, v) = gql(addr, &asc, json!({"tags": tags})).await;
    assert_eq!(ids_of(&v), vec![m1.id(), p1.id(), m2.id()]);
    let tags = json!([{"name": "Type", "values": ["Nothing"]}]);
    let (_, v) = gql(addr, &asc, json!({"tags": tags})).await;
    assert!(ids_of(&v).is_empty());

    // Owners, recipients, ids, and their AND with tags.
    let (_, v) = gql(addr, &asc, json!({"owners": [w1_addr(&m1)]})).await;
    assert_eq!(ids_of(&v), vec![m1.id(), x.id()]);
    let (_, v) = gql(
        addr,
        &asc,
        json!({"owners": [w1_addr(&m1), p1.owner_address()], "tags": [{"name": "Type", "values": ["Message"]}]}),
    )
    .await;
    assert_eq!(ids_of(&v), vec![m1.id(), m2.id(), x.id()]);
    let (_, v) = gql(addr, &asc, json!({"recipients": [target_id]})).await;
    assert_eq!(ids_of(&v), vec![m1.id()]);
    let unknown = ao_core::encoding::b64url([1u8; 32]);
    let (_, v) = gql(
        addr,
        &desc,
        json!({"ids": [m1.id(), x.id(), unknown, "junk"]}),
    )
    .await;
    assert_eq!(ids_of(&v), vec![x.id(), m1.id()]);

    // Block range: heights 2..=2, and min only (pending never matches a range).
    let q = "query($min: Int, $max: Int) { transactions(block: {min: $min, max: $max}, sort: HEIGHT_ASC) { edges { node { id block { height } } } } }";
    let (_, v) = gql(addr, q, json!({"min": 2, "max": 2})).await;
    assert_eq!(ids_of(&v), vec![m2.id()]);
    let (_, v) = gql(addr, q, json!({"min": 1})).await;
    assert_eq!(ids_of(&v), vec![m1.id(), p1.id(), m2.id()]);
    let (_, v) = gql(addr, q, json!({"max": 1})).await;
    assert_eq!(ids_of(&v), vec![m1.id(), p1.id()]);
    let (_, v) = gql(addr, q, json!({"min": 3})).await;
    assert!(ids_of(&v).is_empty());

    // Pagination both ways: first/after/hasNextPage, cursors stable.
    for (query, expected) in [
        (&asc, vec![m1.id(), p1.id(), m2.id(), x.id()]),
        (&desc, vec![x.id(), m2.id(), p1.id(), m1.id()]),
    ] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (_, v) = gql(addr, query, json!({"first": 3, "after": after})).await;
            let page = ids_of(&v);
            seen.extend(page.clone());
            let conn = &v["data"]["transactions"];
            if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            assert_eq!(page.len(), 3);
            after = conn["edges"][2]["cursor"].as_str().map(str::to_string);
        }
        assert_eq!(seen, expected);
    }
    // A cursor survives new blocks: the page after m1 still starts with p1.
    let (_, v) = gql(addr, &asc, json!({"first": 1})).await;
    let cursor = v["data"]["transactions"]["edges"][0]["cursor"].clone();
    mine(addr).await;
    let (_, v) = gql(addr, &asc, json!({"first": 1, "after": cursor})).await;
    assert_eq!(ids_of(&v), vec![p1.id()]);
    // `first` above the cap is lowered, not refused; 0 gives an empty page.
    let (s, _) = gql(addr, &asc, json!({"first": 100000})).await;
    assert_eq!(s, 200);
    let (_, v) = gql(addr, &asc, json!({"first": 0})).await;
    assert!(ids_of(&v).is_empty());
    assert_eq!(v["data"]["transactions"]["pageInfo"]["hasNextPage"], true);

    // The same through the in-process Gateway.
    let page = gw
        .query(&TxQuery {
            tags: vec![TagFilter {
                name: "Type".into(),
                values: vec!["Message".into()],
            }],
            owners: vec![m2.owner_address()],
            first: 10,
            sort: Sort::HeightAsc,
            ..TxQuery::default()
        })
        .await
        .unwrap();
    let got: Vec<_> = page.edges.iter().map(|(_, t)| t.id.clone()).collect();
    assert_eq!(got, vec![m2.id()]);
    assert_eq!(page.edges[0].1.block.as_ref().unwrap().height, 2);
    gw.shutdown().await;
}

fn w1_addr(i: &DataItem) -> String {
    i.owner_address()
}

#[tokio::test]
async fn graphql_blocks_query() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    for _ in 0..5 {
        mine(addr).await;
    }
    // The CU's GetBlocks query (spec 4.6).
    let q = "query($min: Int!, $limit: Int!) { blocks(height: {min: $min}, first: $limit, sort: HEIGHT_ASC) { pageInfo { hasNextPage } edges { node { timestamp height } } } }";
    let (s, v) = gql(addr, q, json!({"min": 2, "limit": 3})).await;
    assert_eq!(s, 200, "{v}");
    let heights: Vec<_> = v["data"]["blocks"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights, vec![2, 3, 4]);
    assert_eq!(v["data"]["blocks"]["pageInfo"]["hasNextPage"], true);

    let q = "query($after: String) { blocks(first: 4, after: $after) { pageInfo { hasNextPage } edges { cursor node { id height previous } } } }";
    let (_, v) = gql(addr, q, json!({})).await;
    let edges = v["data"]["blocks"]["edges"].as_array().unwrap().clone();
    let heights: Vec<_> = edges
        .iter()
        .map(|e| e["node"]["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights, vec![5, 4, 3, 2]);
    assert_eq!(edges[0]["node"]["previous"], edges[1]["node"]["id"]);
    let (_, v) = gql(addr, q, json!({"after": edges[3]["cursor"]})).await;
    let heights: Vec<_> = v["data"]["blocks"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights, vec![1, 0]);
    assert_eq!(v["data"]["blocks"]["pageInfo"]["hasNextPage"], false);

    // By id: `block(id)`, the tip when no id is given, and `blocks(ids)`.
    let (b2, b4) = (
        edges[3]["node"]["id"].as_str().unwrap().to_string(),
        edges[1]["node"]["id"].as_str().unwrap().to_string(),
    );
    let q = "query($id: String) { block(id: $id) { id height } }";
    let (_, v) = gql(addr, q, json!({"id": b2})).await;
    assert_eq!(v["data"]["block"]["height"], 2);
    let (_, v) = gql(addr, q, json!({})).await;
    assert_eq!(v["data"]["block"]["height"], 5);
    let (_, v) = gql(addr, q, json!({"id": "unknown"})).await;
    assert!(v["data"]["block"].is_null());
    let q =
        "query($ids: [ID!]) { blocks(ids: $ids, sort: HEIGHT_ASC) { edges { node { height } } } }";
    let (_, v) = gql(addr, q, json!({"ids": [b4, b2, "junk"]})).await;
    assert_eq!(v["data"]["blocks"]["edges"][0]["node"]["height"], 2);
    assert_eq!(v["data"]["blocks"]["edges"][1]["node"]["height"], 4);

    // In-process.
    let page = gw
        .blocks(&BlockQuery {
            height: Some(HeightRange {
                min: Some(1),
                max: Some(2),
            }),
            first: 10,
            after: None,
            sort: Sort::HeightDesc,
        })
        .await
        .unwrap();
    let hs: Vec<_> = page.edges.iter().map(|(_, b)| b.height).collect();
    assert_eq!(hs, vec![2, 1]);
    gw.shutdown().await;
}

#[tokio::test]
async fn graphql_errors_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    // Not GraphQL.
    let (s, v) = gql(addr, "query { transactions(", json!({})).await;
    assert_eq!(s, 400);
    assert!(v["errors"][0]["message"].is_string(), "{v}");
    // Unknown field.
    let (s, v) = gql(
        addr,
        "{ transactions { edges { node { nope } } } }",
        json!({}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("nope"));
    // A bad cursor.
    let (s, v) = gql(
        addr,
        "{ transactions(after: \"garbage!\") { edges { cursor } } }",
        json!({}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cursor"),
        "{v}"
    );
    // Not JSON.
    let r = http(addr, "POST", "/graphql", Some("application/json"), b"{{")
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].is_string());
    // Negative first.
    let (s, _) = gql(
        addr,
        "{ transactions(first: -1) { edges { cursor } } }",
        json!({}),
    )
    .await;
    assert_eq!(s, 400);
    gw.shutdown().await;
}

/// The fixtures folder: `$AO_FIXTURES`, else `shared/fixtures/ans104` beside the clone.
fn fixtures() -> std::path::PathBuf {
    std::env::var_os("AO_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures/ans104"
            ))
        })
}

#[tokio::test]
async fn answers_aoconnects_module_lookup() {
    let path = fixtures().join("aoconnect-captured/captured-requests.json");
    let captured: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (set AO_FIXTURES)", path.display())),
    )
    .unwrap();
    let request = captured["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "gateway" && r["url"] == "/graphql")
        .expect("aoconnect's spawn sends one GraphQL request")["body"]["json"]
        .clone();

    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    let w = wallet(20);
    let module = item(
        &w,
        &[
            ("Data-Protocol", "ao"),
            ("Variant", "ao.TN.1"),
            ("Type", "Module"),
            (
                "Module-Format",
                "wasm64-unknown-emscripten-draft_2024_02_15",
            ),
            ("Input-Encoding", "JSON-1"),
            ("Output-Encoding", "JSON-1"),
            ("Content-Type", "application/wasm"),
        ],
        b"\0asm\x01\0\0\0",
    );
    assert_eq!(post_item(addr, &module).await.status, 200);
    let block = mine(addr).await;

    // The exact body aoconnect 0.0.98 sent, with the captured id replaced by our module's.
    let mut body = request.clone();
    body["variables"]["transactionIds"] = json!([module.id()]);
    let r = http(
        addr,
        "POST",
        "/graphql",
        Some("application/json"),
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let edges = v["data"]["transactions"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1);
    let node = &edges[0]["node"];
    assert_eq!(node["owner"]["address"], module.owner_address());
    assert_eq!(node["block"]["id"], block["id"]);
    assert_eq!(node["block"]["height"], 1);
    assert_eq!(node["block"]["timestamp"], block["timestamp"]);
    // Same shape and tags as the captured answer, field for field.
    let expected = &request_response(&captured)["data"]["transactions"]["edges"][0]["node"];
    assert_eq!(node["tags"], expected["tags"]);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(node), keys(expected));
    assert_eq!(keys(&node["block"]), keys(&expected["block"]));
    gw.shutdown().await;
}

#[tokio::test]
async fn answers_the_reference_units_queries() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    let (su1, su2, cu) = (wallet(21), wallet(22), wallet(23));
    let location = |w: &Ed25519Wallet, url: &str| {
        item(
            w,
            &[
                ("Data-Protocol", "ao"),
                ("Variant", "ao.TN.1"),
                ("Type", "Scheduler-Location"),
                ("Url", url),
                ("Time-To-Live", "3600000"),
            ],
            b"",
        )
    };
    let old = location(&su1, "http://old");
    let new = location(&su1, "http://new");
    let other = location(&su2, "http://other");
    post_item(addr, &old).await;
    mine(addr).await;
    post_item(addr, &new).await;
    post_item(addr, &other).await;
    mine(addr).await;

    // The MU's scheduler-location walk (spec 3.6): pages of 100 by cursor.
    let q = r#"query($cursor: String) { transactions(tags: [{name: "Type", values: ["Scheduler-Location"]}, {name: "Data-Protocol", values: ["ao"]}], first: 100, after: $cursor) { pageInfo { hasNextPage } edges { cursor node { id owner { address } tags { name value } block { id height timestamp } } } } }"#;
    let (s, v) = gql(addr, q, json!({"cursor": null})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(ids_of(&v), vec![other.id(), new.id(), old.id()]);
    assert_eq!(v["data"]["transactions"]["pageInfo"]["hasNextPage"], false);

    // scheduler-utils `locate` (spec 5.3): the newest record of one owner.
    let q = r#"query($owners: [String!]!) { transactions(owners: $owners, tags: [{name: "Data-Protocol", values: ["ao"]}, {name: "Type", values: ["Scheduler-Location"]}], sort: HEIGHT_DESC, first: 1) { edges { node { tags { name value } } } } }"#;
    let (_, v) = gql(addr, q, json!({"owners": [old.owner_address()]})).await;
    let tags = &v["data"]["transactions"]["edges"][0]["node"]["tags"];
    assert_eq!(tags[3], json!({"name": "Url", "value": "http://new"}));

    // The CU's checkpoint lookup (spec 4.9).
    let pid = ao_core::encoding::b64url([8u8; 32]);
    let cp = item(
        &cu,
        &[
            ("Process", &pid),
            ("Type", "Checkpoint"),
            ("Data-Protocol", "ao"),
            ("Nonce", "7"),
        ],
        b"memory",
    );
    post_item(addr, &cp).await;
    let q = r#"query GetAoProcessCheckpoints($owners: [String!], $processId: String!, $limit: Int) { transactions(tags: [{name: "Process", values: [$processId]}, {name: "Type", values: ["Checkpoint"]}, {name: "Data-Protocol", values: ["ao"]}], owners: $owners, first: $limit, sort: HEIGHT_DESC) { edges { node { id owner { address } tags { name value } } } } }"#;
    let (_, v) = gql(
        addr,
        q,
        json!({"owners": [cp.owner_address()], "processId": pid, "limit": 50}),
    )
    .await;
    assert_eq!(ids_of(&v), vec![cp.id()]);
    let (_, v) = gql(
        addr,
        q,
        json!({"owners": [old.owner_address()], "processId": pid}),
    )
    .await;
    assert!(ids_of(&v).is_empty());

    // The CU's assignment lookup (spec 4.7) with its `@skip` directives, and the singular query.
    let q = r#"query GetTransactions($ids: [ID!]!, $skipTags: Boolean!) { transactions(ids: $ids) { edges { node { id signature anchor owner { address key } tags @skip(if: $skipTags) { name value } recipient } } } }"#;
    let (_, v) = gql(addr, q, json!({"ids": [cp.id()], "skipTags": true})).await;
    let node = &v["data"]["transactions"]["edges"][0]["node"];
    assert_eq!(node["id"], cp.id());
    assert!(node.get("tags").is_none());
    let q = r#"query($id: ID!) { transaction(id: $id) { id block { height } } }"#;
    let (_, v) = gql(addr, q, json!({"id": new.id()})).await;
    assert_eq!(v["data"]["transaction"]["block"]["height"], 2);
    gw.shutdown().await;
}

fn request_response(captured: &Value) -> Value {
    captured["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "gateway")
        .unwrap()["response"]["json"]
        .clone()
}

// ---------------------------------------------------------------------------------------------
// in-process traits, restart, crash

#[tokio::test]
async fn in_process_gateway_and_bundler() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let w = wallet(30);
    let a = item(&w, &[("Content-Type", "text/plain")], b"in-process");
    let b = item(&w, &[], b"b");
    let ra = gw.upload(&a).await.unwrap();
    assert_eq!(ra.id, a.id());
    assert_eq!(gw.upload(&a).await.unwrap(), ra);
    gw.upload(&b).await.unwrap();

    assert_eq!(gw.data(&a.id()).await.unwrap().as_ref(), b"in-process");
    assert!(matches!(gw.data("nope").await, Err(Error::NotFound(_))));
    let metas = gw
        .transactions_by_id(&[b.id(), "unknown".into(), a.id()])
        .await
        .unwrap();
    let ids: Vec<_> = metas.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, vec![b.id(), a.id()]);
    assert_eq!(metas[1].data_type.as_deref(), Some("text/plain"));
    assert!(metas[1].block.is_none());

    assert_eq!(gw.tx_status(&a.id()).await.unwrap(), None);
    let block = gw.mine().await.unwrap();
    let st = gw.tx_status(&a.id()).await.unwrap().unwrap();
    assert_eq!((st.block_height, st.number_of_confirmations), (1, 1));
    assert_eq!(st.block_indep_hash, block.id);
    let info = gw.info().await.unwrap();
    assert_eq!((info.height, info.current), (1, block.id));
    let unknown = ao_core::encoding::b64url([5u8; 32]);
    assert!(matches!(
        gw.tx_status(&unknown).await,
        Err(Error::NotFound(_))
    ));
    gw.shutdown().await;
}

#[tokio::test]
async fn restart_keeps_items_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let w = wallet(40);
    let mined = item(&w, &[("T", "1")], b"mined");
    let pending = item(&w, &[("T", "2")], b"pending");
    let (block, cursor) = {
        let gw = start(dir.path()).await;
        gw.upload(&mined).await.unwrap();
        let block = gw.mine().await.unwrap();
        gw.upload(&pending).await.unwrap();
        let page = gw.query(&TxQuery::default()).await.unwrap();
        let cursor = page.edges[0].0.clone();
        gw.shutdown().await;
        (block, cursor)
    };
    let gw = start(dir.path()).await;
    let addr = gw.http_addr();
    assert_eq!(
        get(addr, &format!("/raw/{}", mined.id())).await.body,
        b"mined"
    );
    assert_eq!(
        get(addr, &format!("/raw/{}", pending.id())).await.body,
        b"pending"
    );
    let info = gw.info().await.unwrap();
    assert_eq!((info.height, info.current.clone()), (1, block.id.clone()));
    assert_eq!(
        get(addr, &format!("/tx/{}/status", pending.id()))
            .await
            .status,
        202
    );
    // The pending item goes into the next block; sequence numbers carry on.
    let again = item(&w, &[("T", "3")], b"after restart");
    gw.upload(&again).await.unwrap();
    let b2 = gw.mine().await.unwrap();
    assert_eq!(b2.previous, block.id);
    let st = gw.tx_status(&pending.id()).await.unwrap().unwrap();
    assert_eq!(st.block_height, 2);
    // Cursors from before the restart still work.
    let page = gw
        .query(&TxQuery {
            after: Some(cursor),
            ..TxQuery::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = page.edges.iter().map(|(_, t)| t.id.clone()).collect();
    assert_eq!(ids, vec![mined.id()]);
    let all = gw
        .query(&TxQuery {
            sort: Sort::HeightAsc,
            ..TxQuery::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = all.edges.iter().map(|(_, t)| t.id.clone()).collect();
    assert_eq!(ids, vec![mined.id(), pending.id(), again.id()]);
    gw.shutdown().await;
}

/// Start the real binary; returns the child and the address from its ready line.
async fn spawn_binary(dir: &Path) -> (tokio::process::Child, SocketAddr) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_arweave-local"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--http-addr", "127.0.0.1:0", "--block-interval", "300ms"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("no ready line within 30 s")
    .unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap();
    let addr = ready["http"].as_str().unwrap().parse().unwrap();
    (child, addr)
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_item() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_binary(dir.path()).await;

    // Four writers post as fast as they can; each remembers what got a 200.
    let (kill_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for n in 0..4u8 {
        let mut stop = kill_tx.subscribe();
        let acks = acks.clone();
        writers.push(tokio::spawn(async move {
            let w = wallet(100 + n);
            let mut acked = Vec::new();
            for i in 0u32.. {
                if stop.try_recv().is_ok() || i > 10_000 {
                    break;
                }
                let it = item(&w, &[("N", &i.to_string())], format!("{n}/{i}").as_bytes());
                match post_item_result(addr, &it).await {
                    Ok(r) if r.status == 200 => {
                        acked.push(it);
                        acks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(r) => panic!("refused: {} {}", r.status, r.text()),
                    // The server died under us: stop.
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    // Let some items through and a few blocks be made (some acknowledged items are then mined,
    // others pending), then kill -9 mid-stream. Waits on what it needs, to a deadline, rather
    // than for a fixed time that a slow machine might not fill.
    const KILL_AFTER_ACKS: usize = 50;
    const KILL_AFTER_BLOCKS: u64 = 2;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let height = get(addr, "/info").await.json()["height"].as_u64().unwrap();
        let acked = acks.load(std::sync::atomic::Ordering::Relaxed);
        if acked >= KILL_AFTER_ACKS && height >= KILL_AFTER_BLOCKS {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after 60 s only {acked} items acknowledged and {height} blocks made"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let _ = kill_tx.send(());
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(acked.len() >= 10, "only {} items acknowledged", acked.len());
    eprintln!("{} items acknowledged before SIGKILL", acked.len());

    let (mut child, addr) = spawn_binary(dir.path()).await;
    for it in &acked {
        let r = get(addr, &format!("/raw/{}", it.id())).await;
        assert_eq!(r.status, 200, "acknowledged {} lost", it.id());
        assert_eq!(r.body, it.data());
    }
    // And they are queryable and get mined.
    let (_, v) = gql(
        addr,
        "query($ids: [ID!]) { transactions(ids: $ids, first: 100) { edges { node { id } } } }",
        json!({"ids": acked.iter().take(100).map(|i| i.id()).collect::<Vec<_>>()}),
    )
    .await;
    assert_eq!(ids_of(&v).len(), acked.len().min(100));
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

async fn post_item_result(addr: SocketAddr, item: &DataItem) -> std::io::Result<Resp> {
    http(
        addr,
        "POST",
        "/tx/arweave",
        Some("application/octet-stream"),
        item.as_bytes(),
    )
    .await
}
