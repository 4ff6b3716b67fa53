//! AO's typed views and builders, end to end: every builder's item survives serialization, parsing
//! and signature verification and reads back the same; every missing or malformed required tag is
//! named in the error; and the items aoconnect and the fixture generator made are accepted by the
//! right view and refused by the wrong ones.

use ao_core::ao::hashchain::next_hash_chain_b64;
use ao_core::ao::{
    self, Assignment, AssignmentBuilder, Checkpoint, CheckpointBuilder, HashChain, Interval,
    Message, MessageBuilder, Module, ModuleBuilder, OnBoot, Process, ProcessBuilder,
    SchedulerLocation, SchedulerLocationBuilder, next_hash_chain, verify_chain,
};
use ao_core::encoding::{b64url, decode_id, sha256};
use ao_core::wallet::Ed25519Wallet;
use ao_core::{DataItem, DataItemBuilder, Error, Result};

// ---------------------------------------------------------------------------------------------
// helpers

use ao_tests::fixtures;

fn fixture(file: &str) -> DataItem {
    let path = fixtures().join(file);
    let raw = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (set AO_FIXTURES to shared/fixtures/ans104)",
            path.display()
        )
    });
    let item = DataItem::parse(raw).unwrap_or_else(|e| panic!("{file}: {e}"));
    item.verify().unwrap_or_else(|e| panic!("{file}: {e}"));
    item
}

/// Serialize, parse again and verify: what a unit receiving the item would have.
fn reparse(item: &DataItem) -> DataItem {
    let again = DataItem::parse(item.as_bytes().to_vec()).expect("our items parse");
    again.verify().expect("our items verify");
    assert_eq!(again.id(), item.id());
    again
}

fn item(tags: &[(&str, &str)], target: Option<[u8; 32]>) -> DataItem {
    let w = Ed25519Wallet::generate();
    let mut b = DataItemBuilder::new().data(" ");
    for (n, v) in tags {
        b = b.tag(*n, *v);
    }
    if let Some(t) = target {
        b = b.target(t);
    }
    b.sign(&w).expect("signed")
}

/// `tags` without the tag named `name`.
fn without<'a>(tags: &[(&'a str, &'a str)], name: &str) -> Vec<(&'a str, &'a str)> {
    tags.iter().filter(|(n, _)| *n != name).copied().collect()
}

/// `tags` with the value of `name` replaced.
fn with<'a>(tags: &[(&'a str, &'a str)], name: &str, value: &'a str) -> Vec<(&'a str, &'a str)> {
    tags.iter()
        .map(|&(n, v)| if n == name { (n, value) } else { (n, v) })
        .collect()
}

#[track_caller]
fn assert_missing<T: std::fmt::Debug>(r: Result<T>, kind: &str, tag: &str) {
    match r {
        Err(Error::MissingTag { kind: k, tag: t }) if k == kind && t == tag => {}
        other => panic!("expected {kind}: missing {tag}, got {other:?}"),
    }
}

#[track_caller]
fn assert_bad<T: std::fmt::Debug>(r: Result<T>, kind: &str, tag: &str) {
    match r {
        Err(Error::BadTag {
            kind: k, tag: t, ..
        }) if k == kind && t == tag => {}
        other => panic!("expected {kind}: bad {tag}, got {other:?}"),
    }
}

const ID_A: &str = "8J-GU9trC56532iRMLVbXcDqXKTx8WziL2Z-3TTIkB8";
const ID_B: &str = "Af97X8p4QslIcHL2FXFboLmnLJyMIFDQKgQ79_F40hI";
const HASH: &str = "lBSIax6_Al2wZ6TL0ToJA_vZczpTcruhtYvXLBaZt5g";

// ---------------------------------------------------------------------------------------------
// builders round trip

#[test]
fn process_builder_round_trips() {
    let w = Ed25519Wallet::generate();
    let module = [7u8; 32];
    let built = ProcessBuilder::new(module, "su-wallet")
        .tag("Name", "counter")
        .tag("Memory-Limit", "512-mb")
        .tag("Compute-Limit", "9000000000000")
        .tag("Cron-Interval", "10-minutes")
        .tag("Cron-Tag-Action", "Tick")
        .tag("On-Boot", ID_B)
        .authority("mu-wallet")
        .authority("other-wallet")
        .timestamp(1_735_689_600_000)
        .data("print('hi')")
        .sign(&w)
        .expect("signed");
    let p = Process::new(reparse(built.item())).expect("a process");
    assert_eq!(p.id(), built.id());
    assert_eq!(p.module(), b64url(module));
    assert_eq!(p.scheduler(), "su-wallet");
    assert_eq!(
        p.authorities().collect::<Vec<_>>(),
        ["mu-wallet", "other-wallet"]
    );
    assert_eq!(p.memory_limit().expect("valid"), Some(512 << 20));
    assert_eq!(p.compute_limit().expect("valid"), Some(9_000_000_000_000));
    let crons = p.crons().expect("valid");
    assert_eq!(crons.len(), 1);
    assert_eq!(crons[0].id, "0-10-minutes");
    assert_eq!(crons[0].interval, Interval::Seconds(600));
    assert_eq!(
        p.on_boot().expect("valid"),
        Some(OnBoot::Transaction(decode_id("test", ID_B).expect("id")))
    );
    assert_eq!(p.variant(), Some("ao.TN.1"));
    assert_eq!(p.item().tag("Timestamp"), Some("1735689600000"));
    assert_eq!(p.owner_address(), b64url(sha256(p.item().owner())));
    assert_eq!(p.item().data(), b"print('hi')");
}

#[test]
fn message_builder_round_trips() {
    let w = Ed25519Wallet::generate();
    let pid = [9u8; 32];
    let anchor = *b"00000000000000000000000000000042";
    let built = MessageBuilder::new(pid)
        .tag("Action", "Transfer")
        .tag("Quantity", "100")
        .anchor(anchor)
        .pushed(ID_A, ID_B, Some(HASH.to_owned()))
        .sign(&w)
        .expect("signed");
    let m = Message::new(reparse(built.item())).expect("a message");
    assert_eq!(m.process_raw(), pid);
    assert_eq!(m.process_id(), b64url(pid));
    assert_eq!(m.item().anchor(), Some(&anchor));
    assert!(m.is_pushed());
    assert_eq!(m.from(), ID_A);
    assert_eq!(m.from_module(), Some(ID_B));
    assert_eq!(m.pushed_for(), Some(HASH));
    assert_eq!(m.item().tag("Action"), Some("Transfer"));
    assert_eq!(m.item().data(), b" ");
    assert_eq!(m.item().tag("Content-Type"), Some("text/plain"));
}

#[test]
fn module_builder_round_trips() {
    let w = Ed25519Wallet::generate();
    let built = ModuleBuilder::new(
        "wasm32-unknown-emscripten-metering",
        "JSON-1",
        "JSON-1",
        b"\0asm\x01\0\0\0".to_vec(),
    )
    .memory_limit("1-gb")
    .compute_limit(9_000_000_000_000)
    .tag("Content-Type", "application/wasm")
    .sign(&w)
    .expect("signed");
    let m = Module::new(reparse(built.item())).expect("a module");
    assert_eq!(m.format(), "wasm32-unknown-emscripten-metering");
    assert!(m.format_is_known());
    assert_eq!(m.output_encoding(), "JSON-1");
    assert_eq!(m.memory_limit().expect("valid"), Some(1 << 30));
    assert_eq!(m.compute_limit().expect("valid"), Some(9_000_000_000_000));
    assert_eq!(m.extensions().count(), 0);
    assert_eq!(m.item().data(), b"\0asm\x01\0\0\0");

    // The process's limits override the module's; the module fills in the rest.
    let p = ProcessBuilder::new(m.item().raw_id(), "su")
        .tag("Memory-Limit", "2-gb")
        .sign(&w)
        .expect("signed");
    let limits = ao::limits::resolve(&p, &m).expect("both limits present");
    assert_eq!(limits.memory, 2 << 30);
    assert_eq!(limits.compute, 9_000_000_000_000);
    let bare = ModuleBuilder::new("wasm32-unknown-emscripten", "JSON-1", "JSON-1", Vec::new())
        .sign(&w)
        .expect("signed");
    assert_missing(ao::limits::resolve(&p, &bare), "Module", "Compute-Limit");
}

#[test]
fn assignment_builder_writes_the_exact_su_order_and_reads_back() {
    let w = Ed25519Wallet::generate();
    let b = AssignmentBuilder {
        process: decode_id("test", ID_A).expect("id"),
        epoch: 0,
        nonce: 12,
        hash_chain: decode_id("test", HASH).expect("id"),
        block_height: 1_602_411,
        timestamp: 1_735_689_600_123,
        message: Some(decode_id("test", ID_B).expect("id")),
        exclude: vec!["Data".into(), "Anchor".into()],
        anchor: Some([0x5a; 32]),
    };
    let built = b.sign(&w).expect("signed");
    let item = reparse(built.item());
    let tags: Vec<(&str, &str)> = item
        .tags()
        .iter()
        .map(|t| (t.name.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(
        tags,
        [
            ("Process", ID_A),
            ("Epoch", "0"),
            ("Nonce", "12"),
            ("Hash-Chain", HASH),
            ("Block-Height", "000001602411"),
            ("Timestamp", "1735689600123"),
            ("Data-Protocol", "ao"),
            ("Type", "Assignment"),
            ("Variant", "ao.TN.1"),
            ("Message", ID_B),
            ("Exclude", "Data"),
            ("Exclude", "Anchor"),
        ]
    );
    assert!(item.data().is_empty());
    assert!(item.target().is_none());
    assert_eq!(item.anchor(), Some(&[0x5a; 32]));

    let a = Assignment::new(item).expect("an assignment");
    assert_eq!(a.process_id(), ID_A);
    assert_eq!(a.epoch(), 0);
    assert_eq!(a.nonce(), 12);
    assert_eq!(a.hash_chain(), HASH);
    assert_eq!(a.block_height(), 1_602_411);
    assert_eq!(a.timestamp(), 1_735_689_600_123);
    assert_eq!(a.message_id().as_deref(), Some(ID_B));
    assert_eq!(a.exclude(), ["Data", "Anchor"]);
    assert_eq!(a.variant(), Some("ao.TN.1"));
    assert!(!a.is_process_assignment());

    // A single Exclude is still a list.
    let one = AssignmentBuilder {
        exclude: vec!["Tags".into()],
        ..b.clone()
    }
    .sign(&w)
    .expect("signed");
    assert_eq!(one.exclude(), ["Tags"]);
    // The process's own assignment has no Message.
    let own = AssignmentBuilder {
        message: None,
        exclude: vec![],
        ..b
    }
    .sign(&w)
    .expect("signed");
    assert!(own.is_process_assignment());
    assert_eq!(own.item().tag("Message"), None);
}

#[test]
fn scheduler_location_builder_round_trips() {
    let w = Ed25519Wallet::generate();
    let built = SchedulerLocationBuilder::new("https://su.example.org/", 3_600_000)
        .sign(&w)
        .expect("signed");
    let loc = SchedulerLocation::new(reparse(built.item())).expect("a location");
    assert_eq!(loc.url(), "https://su.example.org");
    assert_eq!(loc.time_to_live(), 3_600_000);
    assert_eq!(loc.scheduler(), b64url(sha256(w_owner(&w))));
    let names: Vec<&str> = loc.item().tags().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["Data-Protocol", "Type", "Variant", "Url", "Time-To-Live"]
    );
}

fn w_owner(w: &Ed25519Wallet) -> Vec<u8> {
    use ao_core::Signer;
    w.owner().to_vec()
}

#[test]
fn checkpoint_builder_round_trips() {
    let w = Ed25519Wallet::generate();
    let memory = vec![0u8; 4096];
    let b = CheckpointBuilder {
        module: [1; 32],
        process: [2; 32],
        nonce: Some(10),
        ordinate: 10,
        timestamp: 1_735_689_600_000,
        block_height: 1_500_001,
        memory_sha256: sha256(&memory),
        unit_identifier: "3f0c2f7e-0000-4000-8000-000000000001".into(),
        assignment: Some([3; 32]),
        hash_chain: Some([4; 32]),
        epoch: 1,
        cron: None,
        gzip_memory: b"pretend this is gzip".to_vec(),
    };
    let built = b.sign(&w).expect("signed");
    let c = Checkpoint::new(reparse(built.item())).expect("a checkpoint");
    assert_eq!(c.process_raw(), [2; 32]);
    assert_eq!(c.module_raw(), [1; 32]);
    assert_eq!(c.nonce(), 10);
    assert_eq!(c.ordinate(), 10);
    assert_eq!(c.timestamp(), 1_735_689_600_000);
    assert_eq!(c.block_height(), 1_500_001);
    assert_eq!(c.memory_sha256(), sha256(&memory));
    assert_eq!(
        c.item().tag("SHA-256"),
        Some(hex::encode(sha256(&memory)).as_str())
    );
    assert_eq!(c.epoch(), 1);
    assert_eq!(c.assignment_raw(), Some([3; 32]));
    assert_eq!(c.hash_chain_raw(), Some([4; 32]));
    assert!(c.is_gzip());
    assert_eq!(c.content_encoding(), Some("gzip"));
    assert_eq!(
        c.item().tag("Content-Type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        c.unit_identifier(),
        Some("3f0c2f7e-0000-4000-8000-000000000001")
    );
    assert_eq!(c.cron(), None);
    assert_eq!(c.item().data(), b"pretend this is gzip");
    // Epoch 0 is not written.
    let zero = CheckpointBuilder { epoch: 0, ..b }
        .sign(&w)
        .expect("signed");
    assert_eq!(zero.item().tag("Epoch"), None);
}

// ---------------------------------------------------------------------------------------------
// required tags

const PROCESS_TAGS: &[(&str, &str)] = &[
    ("Data-Protocol", "ao"),
    ("Variant", "ao.TN.1"),
    ("Type", "Process"),
    ("Module", ID_A),
    ("Scheduler", ID_B),
];

#[test]
fn process_required_tags_are_named() {
    let t = PROCESS_TAGS;
    assert!(Process::new(item(t, None)).is_ok());
    assert_missing(
        Process::new(item(&without(t, "Data-Protocol"), None)),
        "Process",
        "Data-Protocol",
    );
    assert_bad(
        Process::new(item(&with(t, "Data-Protocol", "warp"), None)),
        "Process",
        "Data-Protocol",
    );
    assert_missing(
        Process::new(item(&without(t, "Type"), None)),
        "Process",
        "Type",
    );
    assert_bad(
        Process::new(item(&with(t, "Type", "Message"), None)),
        "Process",
        "Type",
    );
    assert_bad(
        Process::new(item(&with(t, "Type", "process"), None)),
        "Process",
        "Type",
    );
    assert_missing(
        Process::new(item(&without(t, "Module"), None)),
        "Process",
        "Module",
    );
    assert_bad(
        Process::new(item(&with(t, "Module", "not-an-id"), None)),
        "Process",
        "Module",
    );
    assert_bad(
        Process::new(item(&with(t, "Module", ""), None)),
        "Process",
        "Module",
    );
    assert_missing(
        Process::new(item(&without(t, "Scheduler"), None)),
        "Process",
        "Scheduler",
    );
    assert_bad(
        Process::new(item(&with(t, "Scheduler", ""), None)),
        "Process",
        "Scheduler",
    );

    // Spec 7.9: the SU refuses +link in any tag name or value.
    let mut linked = t.to_vec();
    linked.push(("Data+link", "x"));
    assert_bad(Process::new(item(&linked, None)), "Process", "Data+link");
    let mut linked = t.to_vec();
    linked.push(("Action", "abc+link"));
    assert_bad(Process::new(item(&linked, None)), "Process", "Action");

    // Spec 7.8: the lowercase names the SU accepts.
    let lower: Vec<(&str, &str)> = t
        .iter()
        .map(|&(n, v)| match n {
            "Type" => ("type", v),
            "Data-Protocol" => ("data-protocol", v),
            _ => (n, v),
        })
        .collect();
    assert!(Process::new(item(&lower, None)).is_ok());
    // ... but only those two: Module and Scheduler are exact.
    let lower_module = without(t, "Module")
        .into_iter()
        .chain([("module", ID_A)])
        .collect::<Vec<_>>();
    assert_missing(Process::new(item(&lower_module, None)), "Process", "Module");

    // The first Scheduler wins, as in the MU.
    let mut two = t.to_vec();
    two.push(("Scheduler", "second"));
    let p = Process::new(item(&two, None)).expect("valid");
    assert_eq!(p.scheduler(), ID_B);
}

#[test]
fn process_evaluation_tags_report_the_tag() {
    let mut t = PROCESS_TAGS.to_vec();
    t.extend([
        ("Memory-Limit", "1-gib"),
        ("Compute-Limit", "lots"),
        ("On-Boot", "Lua"),
        ("Cron-Tag-Action", "Tick"),
    ]);
    let p = Process::new(item(&t, None)).expect("evaluation tags are not checked up front");
    assert_bad(p.memory_limit(), "Process", "Memory-Limit");
    assert_bad(p.compute_limit(), "Process", "Compute-Limit");
    assert_bad(p.on_boot(), "Process", "On-Boot");
    assert_bad(p.crons(), "Process", "Cron-Tag-Action");
    let mut t = PROCESS_TAGS.to_vec();
    t.push(("Cron-Interval", "0-blocks"));
    let p = Process::new(item(&t, None)).expect("valid");
    assert_bad(p.crons(), "Process", "Cron-Interval");
}

const MESSAGE_TAGS: &[(&str, &str)] = &[
    ("Data-Protocol", "ao"),
    ("Variant", "ao.TN.1"),
    ("Type", "Message"),
    ("Action", "Eval"),
];

#[test]
fn message_required_tags_are_named() {
    let t = MESSAGE_TAGS;
    let pid = Some([1u8; 32]);
    assert!(Message::new(item(t, pid)).is_ok());
    assert_missing(Message::new(item(t, None)), "Message", "Target");
    assert_missing(
        Message::new(item(&without(t, "Data-Protocol"), pid)),
        "Message",
        "Data-Protocol",
    );
    assert_missing(
        Message::new(item(&without(t, "Type"), pid)),
        "Message",
        "Type",
    );
    assert_bad(
        Message::new(item(&with(t, "Type", "Process"), pid)),
        "Message",
        "Type",
    );
    assert_bad(
        Message::new(item(&with(t, "Action", "x+link"), pid)),
        "Message",
        "Action",
    );
    // The first Type wins (the MU uses the earliest).
    let both = [
        ("Type", "Process"),
        ("Data-Protocol", "ao"),
        ("Type", "Message"),
    ];
    assert_bad(Message::new(item(&both, pid)), "Message", "Type");
}

const MODULE_TAGS: &[(&str, &str)] = &[
    ("Data-Protocol", "ao"),
    ("Type", "Module"),
    (
        "Module-Format",
        "wasm64-unknown-emscripten-draft_2024_02_15",
    ),
    ("Input-Encoding", "JSON-1"),
    ("Output-Encoding", "JSON-1"),
    ("Memory-Limit", "1-gb"),
    ("Compute-Limit", "9000000000000"),
];

#[test]
fn module_required_tags_are_named() {
    let t = MODULE_TAGS;
    assert!(Module::new(item(t, None)).is_ok());
    for tag in [
        "Data-Protocol",
        "Type",
        "Module-Format",
        "Input-Encoding",
        "Output-Encoding",
    ] {
        assert_missing(Module::new(item(&without(t, tag), None)), "Module", tag);
    }
    assert_bad(
        Module::new(item(&with(t, "Type", "Process"), None)),
        "Module",
        "Type",
    );
    assert_bad(
        Module::new(item(&with(t, "Module-Format", ""), None)),
        "Module",
        "Module-Format",
    );
    // Limits are optional on a module, and parsed on demand.
    let m = Module::new(item(
        &without(&without(t, "Memory-Limit"), "Compute-Limit"),
        None,
    ))
    .expect("valid");
    assert_eq!(m.memory_limit().expect("absent"), None);
    let m = Module::new(item(&with(t, "Memory-Limit", "big"), None)).expect("valid");
    assert_bad(m.memory_limit(), "Module", "Memory-Limit");
    // Unknown formats are modules a CU will not run, not malformed ones.
    let m = Module::new(item(&with(t, "Module-Format", "wasm32-wasi"), None)).expect("valid");
    assert!(!m.format_is_known());
}

const ASSIGNMENT_TAGS: &[(&str, &str)] = &[
    ("Process", ID_A),
    ("Epoch", "0"),
    ("Nonce", "1"),
    ("Hash-Chain", HASH),
    ("Block-Height", "000001500000"),
    ("Timestamp", "1735689600000"),
    ("Data-Protocol", "ao"),
    ("Type", "Assignment"),
    ("Variant", "ao.TN.1"),
    ("Message", ID_B),
];

#[test]
fn assignment_required_tags_are_named() {
    let t = ASSIGNMENT_TAGS;
    assert!(Assignment::new(item(t, None)).is_ok());
    for tag in [
        "Process",
        "Epoch",
        "Nonce",
        "Hash-Chain",
        "Block-Height",
        "Timestamp",
        "Data-Protocol",
        "Type",
    ] {
        assert_missing(
            Assignment::new(item(&without(t, tag), None)),
            "Assignment",
            tag,
        );
    }
    assert!(Assignment::new(item(&without(t, "Variant"), None)).is_ok());
    assert!(Assignment::new(item(&without(t, "Message"), None)).is_ok());
    for (tag, bad) in [
        ("Process", "short"),
        ("Epoch", "-1"),
        ("Nonce", "1.0"),
        ("Nonce", ""),
        ("Hash-Chain", "not/base64url+"),
        ("Block-Height", "0x10"),
        ("Timestamp", "2025-01-01"),
        ("Message", "abc"),
        ("Type", "Message"),
    ] {
        assert_bad(
            Assignment::new(item(&with(t, tag, bad), None)),
            "Assignment",
            tag,
        );
    }
}

#[test]
fn scheduler_location_required_tags_are_named() {
    let t: &[(&str, &str)] = &[
        ("Data-Protocol", "ao"),
        ("Type", "Scheduler-Location"),
        ("Variant", "ao.TN.1"),
        ("Url", "https://su.example"),
        ("Time-To-Live", "86400000"),
    ];
    assert!(SchedulerLocation::new(item(t, None)).is_ok());
    for tag in ["Data-Protocol", "Type", "Url", "Time-To-Live"] {
        assert_missing(
            SchedulerLocation::new(item(&without(t, tag), None)),
            "Scheduler-Location",
            tag,
        );
    }
    assert_bad(
        SchedulerLocation::new(item(&with(t, "Time-To-Live", "1h"), None)),
        "Scheduler-Location",
        "Time-To-Live",
    );
    assert_bad(
        SchedulerLocation::new(item(&with(t, "Url", "ftp://x"), None)),
        "Scheduler-Location",
        "Url",
    );
    assert_bad(
        SchedulerLocation::new(item(&with(t, "Type", "Process"), None)),
        "Scheduler-Location",
        "Type",
    );
}

#[test]
fn checkpoint_required_tags_are_named() {
    let sha = "ab".repeat(32);
    let t: Vec<(&str, &str)> = vec![
        ("Data-Protocol", "ao"),
        ("Variant", "ao.TN.1"),
        ("Type", "Checkpoint"),
        ("Module", ID_A),
        ("Process", ID_B),
        ("Nonce", "3"),
        ("Timestamp", "1735689600000"),
        ("Block-Height", "1500000"),
        ("Content-Type", "application/octet-stream"),
        ("SHA-256", &sha),
        ("Content-Encoding", "gzip"),
        ("Unit-Identifier", "cu"),
        ("Ordinate", "3"),
    ];
    assert!(Checkpoint::new(item(&t, None)).is_ok());
    for tag in [
        "Data-Protocol",
        "Type",
        "Module",
        "Process",
        "Nonce",
        "Timestamp",
        "Block-Height",
        "SHA-256",
    ] {
        assert_missing(
            Checkpoint::new(item(&without(&t, tag), None)),
            "Checkpoint",
            tag,
        );
    }
    assert_bad(
        Checkpoint::new(item(&with(&t, "SHA-256", "abcd"), None)),
        "Checkpoint",
        "SHA-256",
    );
    assert_bad(
        Checkpoint::new(item(&with(&t, "Ordinate", "x"), None)),
        "Checkpoint",
        "Ordinate",
    );
    let c = Checkpoint::new(item(&without(&t, "Content-Encoding"), None)).expect("valid");
    assert!(!c.is_gzip());
}

// ---------------------------------------------------------------------------------------------
// fixtures made by arbundles / aoconnect

#[test]
fn fixture_process_is_a_process_and_nothing_else() {
    let it = fixture("items/ao-process.bin");
    let p = Process::new(it.clone()).expect("ao-process.bin is a process");
    assert_eq!(p.id(), ID_A);
    assert_eq!(p.module(), "Do_Uc2Sju_ffp6Ev0AnLVdPtot15rvMjP-a9VVaA5fM");
    assert_eq!(p.scheduler(), "_GQ33BkPtZrqxA84vM8Zk-N2aO0toNNu_C-l-rawrBA");
    assert_eq!(
        p.authorities().collect::<Vec<_>>(),
        ["_GQ33BkPtZrqxA84vM8Zk-N2aO0toNNu_C-l-rawrBA"]
    );
    assert_eq!(p.variant(), Some("ao.TN.1"));
    assert_eq!(p.memory_limit().expect("absent"), None);
    assert!(p.crons().expect("none").is_empty());
    assert_eq!(
        p.owner_address(),
        "gi8gPsxnKTcSGbgX55dR5c2CKnO15UIs_GgQAPxt7W4"
    );

    assert_bad(Message::new(it.clone()), "Message", "Type");
    assert_bad(Module::new(it.clone()), "Module", "Type");
    assert_bad(Assignment::new(it.clone()), "Assignment", "Type");
    assert_bad(Checkpoint::new(it.clone()), "Checkpoint", "Type");
    assert_bad(SchedulerLocation::new(it), "Scheduler-Location", "Type");
}

#[test]
fn fixture_messages_are_messages_for_the_fixture_process() {
    for (file, action) in [
        ("items/ao-message-eval.bin", "Eval"),
        ("items/ao-message-transfer.bin", "Transfer"),
    ] {
        let it = fixture(file);
        let m = Message::new(it.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(m.process_id(), ID_A, "{file}");
        assert_eq!(m.item().tag("Action"), Some(action));
        assert!(!m.is_pushed());
        assert_eq!(m.from(), "gi8gPsxnKTcSGbgX55dR5c2CKnO15UIs_GgQAPxt7W4");
        assert_bad(Process::new(it.clone()), "Process", "Type");
        assert_bad(Assignment::new(it.clone()), "Assignment", "Type");
        assert_bad(Module::new(it), "Module", "Type");
    }
    let m = Message::new(fixture("items/ao-message-eval.bin")).expect("message");
    assert_eq!(m.id(), ID_B);
    assert_eq!(
        m.item().anchor_utf8(),
        Some("00000000000000000000000000000001")
    );
}

#[test]
fn fixture_assignment_reads_back_its_fields() {
    let it = fixture("items/ao-assignment.bin");
    let a = Assignment::new(it.clone()).expect("ao-assignment.bin is an assignment");
    println!(
        "ao-assignment.bin: id={} process={} epoch={} nonce={} hash-chain={} block-height={} \
         timestamp={} message={:?} exclude={:?} variant={:?}",
        a.id(),
        a.process_id(),
        a.epoch(),
        a.nonce(),
        a.hash_chain(),
        a.block_height(),
        a.timestamp(),
        a.message_id(),
        a.exclude(),
        a.variant(),
    );
    assert_eq!(a.id(), "uGLAi9kLQPECdq6HE7yXquZTSRhUUFxfx_zPAxnQivw");
    assert_eq!(a.process_id(), ID_A);
    assert_eq!(a.epoch(), 0);
    assert_eq!(a.nonce(), 1);
    assert_eq!(a.hash_chain(), HASH);
    // The fixture's height is not zero-padded; both forms must read.
    assert_eq!(a.item().tag("Block-Height"), Some("1500000"));
    assert_eq!(a.block_height(), 1_500_000);
    assert_eq!(a.timestamp(), 1_735_689_600_000);
    assert_eq!(a.message_id().as_deref(), Some(ID_B));
    assert!(a.exclude().is_empty());
    assert_eq!(a.variant(), Some("ao.TN.1"));
    assert_eq!(
        a.item().anchor_utf8(),
        Some("Zm9vYmFyYmF6cXV4MDEyMzQ1Njc4OWFi")
    );

    // Our builder, given the fixture's fields, writes the same tag names in the same order (only
    // the height differs: we pad it as the SU does).
    let ours = AssignmentBuilder {
        process: a.process_raw(),
        epoch: a.epoch(),
        nonce: a.nonce(),
        hash_chain: a.hash_chain_raw(),
        block_height: a.block_height(),
        timestamp: a.timestamp(),
        message: a.message_raw(),
        exclude: vec![],
        anchor: a.item().anchor().copied(),
    }
    .build_tags()
    .expect("tags");
    let theirs = a.item().tags();
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(theirs) {
        assert_eq!(o.name, t.name);
        if o.name != "Block-Height" {
            assert_eq!(o.value, t.value);
        }
    }

    assert_bad(Process::new(it.clone()), "Process", "Type");
    assert_bad(Message::new(it.clone()), "Message", "Type");
    assert_bad(Checkpoint::new(it), "Checkpoint", "Type");
}

#[test]
fn aoconnect_items_are_accepted_and_our_builders_reproduce_their_tag_blocks() {
    // A spawn aoconnect 0.0.98 sent: Name, Authority, SDK, then the AO section with Timestamp.
    let spawn = fixture("aoconnect-captured/mu-post-Process-0.bin");
    let p = Process::new(spawn.clone()).expect("aoconnect spawn is a process");
    let w = Ed25519Wallet::generate();
    let ours = ProcessBuilder::new(p.module_raw(), p.scheduler())
        .tag("Name", "capture-test")
        .tag("Authority", "_GQ33BkPtZrqxA84vM8Zk-N2aO0toNNu_C-l-rawrBA")
        .tag("SDK", "aoconnect")
        .timestamp(1_795_464_465_046)
        .data(spawn.data().to_vec())
        .sign(&w)
        .expect("signed");
    assert_eq!(ours.item().tags(), spawn.tags());
    assert_eq!(ours.item().raw_tags(), spawn.raw_tags());

    // A spawn without data: aoconnect sends " " with Content-Type: text/plain.
    let spawn = fixture("aoconnect-captured/mu-post-Process-1.bin");
    let p = Process::new(spawn.clone()).expect("aoconnect spawn is a process");
    assert_eq!(p.item().data(), b" ");
    assert_eq!(p.item().tag("Content-Type"), Some("text/plain"));

    // A message with data.
    let msg = fixture("aoconnect-captured/mu-post-Message-2.bin");
    let m = Message::new(msg.clone()).expect("aoconnect message is a message");
    let ours = MessageBuilder::new(m.process_raw())
        .tag("Action", "Eval")
        .tag("SDK", "aoconnect")
        .data(msg.data().to_vec())
        .sign(&w)
        .expect("signed");
    assert_eq!(ours.item().raw_tags(), msg.raw_tags());

    // A message with an anchor and no data.
    let msg = fixture("aoconnect-captured/mu-post-Message-3.bin");
    let m = Message::new(msg.clone()).expect("aoconnect message is a message");
    assert_eq!(
        m.item().anchor_utf8(),
        Some("00000000000000000000000000000042")
    );
    assert_bad(Process::new(msg), "Process", "Type");

    // monitor() sends an untagged item: not an AO message at all.
    let untagged = fixture("aoconnect-captured/mu-post-item-4.bin");
    assert_missing(Message::new(untagged), "Message", "Data-Protocol");
}

// ---------------------------------------------------------------------------------------------
// a hash-chained log built and checked with the public API

#[test]
fn a_chain_of_built_assignments_verifies_and_a_tampered_one_is_found() {
    let su = Ed25519Wallet::generate();
    let user = Ed25519Wallet::generate();
    let process = ProcessBuilder::new([7; 32], "su")
        .sign(&user)
        .expect("signed");
    let pid = process.raw_id();

    // The SU's side: stamp each slot with the chain value, starting from the process itself.
    let mut chain = HashChain::for_new_process(&pid);
    let mut log = Vec::new();
    for nonce in 0..5u64 {
        let message = (nonce > 0).then(|| {
            MessageBuilder::new(pid)
                .tag("Action", format!("N{nonce}"))
                .sign(&user)
                .expect("signed")
                .raw_id()
        });
        let hash_chain = chain.expected().expect("known");
        let a = AssignmentBuilder {
            process: pid,
            epoch: 0,
            nonce,
            hash_chain,
            block_height: 1_500_000 + nonce,
            timestamp: 1_735_689_600_000 + nonce,
            message,
            exclude: vec![],
            anchor: Some([nonce as u8; 32]),
        }
        .sign(&su)
        .expect("signed");
        chain.push(&a.raw_id(), &hash_chain).expect("in order");
        log.push(Assignment::new(reparse(a.item())).expect("assignment"));
    }
    assert_eq!(
        log[0].hash_chain_raw(),
        next_hash_chain(None, &pid),
        "the first link hashes the process id"
    );
    assert_eq!(
        next_hash_chain_b64(Some(&log[0].id()), &log[0].hash_chain()).expect("ids"),
        log[1].hash_chain()
    );

    // The CU's side.
    let links: Vec<([u8; 32], [u8; 32])> = log
        .iter()
        .map(|a| (a.raw_id(), a.hash_chain_raw()))
        .collect();
    let refs = links.iter().map(|(a, h)| (a, h));
    assert!(verify_chain(HashChain::for_new_process(&pid), refs).is_ok());
    let refs = links[2..].iter().map(|(a, h)| (a, h));
    assert!(verify_chain(HashChain::unknown(), refs).is_ok());

    // Drop slot 2: the link after the gap is reported.
    let gap: Vec<_> = links
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| *l)
        .collect();
    let err = verify_chain(
        HashChain::for_new_process(&pid),
        gap.iter().map(|(a, h)| (a, h)),
    )
    .expect_err("a missing slot breaks the chain");
    assert_eq!(err.index, 2);
    assert_eq!(err.assignment_id, links[3].0);
    println!("{err}");
}
