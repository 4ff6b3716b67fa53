//! A Lua process on our CU's loader, fed messages shaped as the CU shapes them (spec 4.5), for
//! the module's tests and benchmark.
#![allow(dead_code)]

use std::sync::OnceLock;

use ao_cu::loader::{CompiledModule, Evaluation, ModuleFormat, Options, ProcessRunner, Runtime};
use serde_json::{Map, Value, json};

/// The process's owner (the wallet that signed its process message).
pub const OWNER: &str = "OWNER-ADDRESS-0000000000000000000000000000";
/// The MU wallet that pushes messages between processes.
pub const MU: &str = "MU-ADDRESS-000000000000000000000000000000000";
/// Another user.
pub const ALICE: &str = "ALICE-ADDRESS-00000000000000000000000000000";
/// Another process.
pub const OTHER: &str = "OTHER-PROCESS-00000000000000000000000000000";

/// The committed module, compiled once per test binary.
pub fn module() -> CompiledModule {
    static MODULE: OnceLock<CompiledModule> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            Runtime::new()
                .compile(ao_module_lua::PROCESS_WASM, ModuleFormat::Emscripten2)
                .expect("compile the Lua module")
        })
        .clone()
}

/// The `env` of a process (spec 4.5).
pub fn env(pid: &str, tags: &[(&str, &str)]) -> Value {
    json!({
        "Process": {"Id": pid, "Owner": OWNER, "Tags": tag_list(tags)},
        "Module": {"Id": "MODULE-ID", "Owner": OWNER,
            "Tags": tag_list(ao_module_lua::MODULE_TAGS)},
    })
}

fn tag_list(tags: &[(&str, &str)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect(),
    )
}

/// A message as the CU hands it over: `from_process` set means an MU (`signer`) pushed it.
pub struct Msg<'a> {
    pub signer: &'a str,
    pub from_process: Option<&'a str>,
    pub tags: Vec<(&'a str, &'a str)>,
    pub data: &'a str,
}

impl<'a> Msg<'a> {
    /// A message signed by `signer` itself.
    pub fn from(signer: &'a str) -> Msg<'a> {
        Msg {
            signer,
            from_process: None,
            tags: Vec::new(),
            data: "",
        }
    }

    /// A message from process `pid`, pushed by the MU.
    pub fn pushed(pid: &'a str) -> Msg<'a> {
        Msg {
            signer: MU,
            from_process: Some(pid),
            tags: Vec::new(),
            data: "",
        }
    }

    pub fn action(self, action: &'a str) -> Msg<'a> {
        self.tag("Action", action)
    }

    pub fn tag(mut self, name: &'a str, value: &'a str) -> Msg<'a> {
        self.tags.push((name, value));
        self
    }

    pub fn data(mut self, data: &'a str) -> Msg<'a> {
        self.data = data;
        self
    }
}

/// Message `id` to process `pid` at slot `nonce`, as the CU hands it over (spec 4.5).
pub fn message(pid: &str, id: &str, nonce: u64, m: &Msg<'_>) -> Value {
    let mut o = Map::new();
    o.insert("Id".into(), json!(id));
    o.insert("Signature".into(), json!("SIGNATURE"));
    o.insert("Data".into(), json!(m.data));
    o.insert("Owner".into(), json!(m.signer));
    o.insert("Target".into(), json!(pid));
    o.insert("Anchor".into(), Value::Null);
    o.insert("From".into(), json!(m.from_process.unwrap_or(m.signer)));
    let mut tags = m.tags.clone();
    if let Some(from) = m.from_process {
        o.insert("Forwarded-By".into(), json!(m.signer));
        tags.push(("From-Process", from));
    }
    o.insert("Tags".into(), tag_list(&tags));
    o.insert("Epoch".into(), json!(0));
    o.insert("Nonce".into(), json!(nonce));
    o.insert("Timestamp".into(), json!(T0 + 1000 * nonce));
    o.insert("Block-Height".into(), json!(1000 + nonce));
    o.insert("Hash-Chain".into(), json!("HASH-CHAIN"));
    o.insert("Cron".into(), json!(false));
    o.insert("Read-Only".into(), json!(false));
    Value::Object(o)
}

/// The tags of a process of this module: the protocol ones, then `tags`.
pub fn process_tags<'a>(tags: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![
        ("Data-Protocol", "ao"),
        ("Variant", "ao.TN.1"),
        ("Type", "Process"),
        ("Module", "MODULE-ID"),
        ("Scheduler", "SU-ADDRESS"),
    ];
    all.extend_from_slice(tags);
    all
}

/// One process and its slot counter.
pub struct Process {
    pub id: String,
    pub env: Value,
    runner: ProcessRunner,
    nonce: u64,
}

/// The timestamp of nonce 0; each message is 1 s later.
pub const T0: u64 = 1_700_000_000_000;

impl Process {
    /// Spawn a process of the module with `tags` (besides the protocol ones) and evaluate its
    /// process message.
    pub fn spawn(pid: &str, tags: &[(&str, &str)]) -> Process {
        Process::spawn_with(pid, tags, "", Options::default())
    }

    /// `spawn` with process data and loader options.
    pub fn spawn_with(pid: &str, tags: &[(&str, &str)], data: &str, options: Options) -> Process {
        let all = process_tags(tags);
        let env = env(pid, &all);
        let mut p = Process {
            id: pid.to_string(),
            env,
            runner: ProcessRunner::new(module(), options, None),
            nonce: 0,
        };
        let boot = p.message_json(
            pid,
            &Msg {
                signer: OWNER,
                from_process: None,
                tags: all,
                data,
            },
        );
        let e = p.evaluate(&boot);
        assert_eq!(e.error, None, "the process message failed: {e:?}");
        p
    }

    /// The JSON for `m`, with the next slot.
    pub fn message_json(&mut self, id: &str, m: &Msg<'_>) -> Value {
        let json = message(&self.id, id, self.nonce, m);
        self.nonce += 1;
        json
    }

    /// Evaluate a message JSON.
    pub fn evaluate(&mut self, msg: &Value) -> Evaluation {
        self.runner.evaluate(msg, &self.env).expect("evaluate")
    }

    /// Evaluate `m` as message `MSG-<nonce>`.
    pub fn send(&mut self, m: Msg<'_>) -> Evaluation {
        let id = format!("MSG-{}", self.nonce);
        let json = self.message_json(&id, &m);
        self.evaluate(&json)
    }

    /// Evaluate Lua code from the owner; the evaluation (check `error` yourself).
    pub fn eval(&mut self, code: &str) -> Evaluation {
        self.send(Msg::from(OWNER).action("Eval").data(code))
    }

    /// Evaluate Lua code from the owner; its printed output (panics on an error).
    pub fn run(&mut self, code: &str) -> String {
        let e = self.eval(code);
        assert_eq!(e.error, None, "Eval of {code:?} failed");
        data(&e)
    }

    /// The memory in bytes.
    pub fn memory_size(&mut self) -> usize {
        self.runner.memory_size().expect("memory")
    }
}

/// `Output.data` of an evaluation.
pub fn data(e: &Evaluation) -> String {
    e.output["data"].as_str().unwrap_or_default().to_string()
}

/// The value of tag `name` in an outbox message.
pub fn tag<'a>(msg: &'a Value, name: &str) -> Option<&'a str> {
    msg["Tags"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == name)
        .and_then(|t| t["value"].as_str())
}

/// An outbox message's tags as (name, value) pairs, in order.
pub fn tags(msg: &Value) -> Vec<(String, String)> {
    msg["Tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    (
                        t["name"].as_str().unwrap_or_default().to_string(),
                        t["value"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
