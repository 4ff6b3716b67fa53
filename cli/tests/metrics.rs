//! Every metric the Grafana dashboard (`deploy/grafana/ao-overview.json`) and the alert rules
//! (`deploy/prometheus/ao-rules.yaml`) name is one a unit really exports: a real `ao devnet`
//! runs one spawn and one message, every unit's `/metrics` is scraped, checked strictly (each
//! sample under its family's `# HELP` and `# TYPE`, valid names and values) and by
//! `promtool check metrics`, and each name in the dashboard's and the rules' PromQL must be among
//! what the units export. A dashboard panel or an alert on a metric nobody exports stays empty
//! (or never fires) without a word; this test is where that shows.
//!
//! promtool comes from Debian's `prometheus` package, which `.ci/run` installs; without it the
//! test fails and says so rather than skipping.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest wait for one scrape or one `ao` command's answer.
const TIMEOUT: Duration = Duration::from_secs(120);

mod common;

use common::{Ao, start_devnet};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `GET {url}/metrics` over a plain socket: the status line and the body.
fn scrape(url: &str) -> String {
    let answer = common::get(url, "/metrics");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200"), "{url}/metrics: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{url}/metrics: {head}"
    );
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "{head}"
    );
    body.to_string()
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Check `text` strictly as the text exposition format and return the sample names it exports
/// (a histogram's `_bucket`, `_sum` and `_count` included, even before its first sample).
fn exported(unit: &str, text: &str) -> BTreeSet<String> {
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeSet<String> = BTreeSet::new();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(valid_name(name), "{unit}: bad name in {line:?}");
            assert!(!help.trim().is_empty(), "{unit}: empty help: {line:?}");
            assert!(
                helps.insert(name.to_string()),
                "{unit}: two HELP for {name}"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{unit}: {line:?}"
            );
            assert!(helps.contains(name), "{unit}: TYPE before HELP for {name}");
            assert!(
                kinds.insert(name.to_string(), kind.to_string()).is_none(),
                "{unit}: two TYPE for {name}"
            );
            names.insert(name.to_string());
            if kind == "histogram" {
                for s in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{s}"));
                }
            }
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            let end = line.find(['{', ' ']).expect("a sample: name value");
            let name = &line[..end];
            assert!(valid_name(name), "{unit}: bad name in {line:?}");
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(
                value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
                "{unit}: bad value in {line:?}"
            );
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    let base = name.strip_suffix(s)?;
                    (kinds.get(base).map(String::as_str) == Some("histogram")).then_some(base)
                })
                .unwrap_or(name);
            assert!(
                kinds.contains_key(family),
                "{unit}: sample {name} without its family's TYPE (before it)"
            );
            names.insert(name.to_string());
        }
    }
    names
}

/// `promtool check metrics` on a scrape: its lints must find nothing.
fn promtool_check_metrics(unit: &str, text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install Debian's `prometheus` package \
                 (apt-get install prometheus; .ci/run does), the metrics test needs it"
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics on the {unit}'s /metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The metric names a PromQL expression uses: identifiers starting `ao_` or `process_`, outside
/// string literals. Recording rules' names (`level:metric:operation`, with colons) are left out:
/// the rules define them.
fn promql_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut keep = |word: &mut String| {
        if (word.starts_with("ao_") || word.starts_with("process_")) && !word.contains(':') {
            names.insert(word.clone());
        }
        word.clear();
    };
    for c in expr.chars().chain(std::iter::once(' ')) {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == '"' || c == '\'' || c == '`' {
            keep(&mut word);
            quote = Some(c);
        } else if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            keep(&mut word);
        }
    }
    names
}

/// Every `expr` of the dashboard's panels.
fn dashboard_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => dashboard_exprs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| dashboard_exprs(v, out)),
        _ => {}
    }
}

/// Every `expr:` of a rules file (plain or block scalar), read line by line: the file's shape is
/// ours and simple, and promtool (run by .ci/run) checks it is valid YAML and PromQL.
fn rules_exprs(yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let Some(value) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let indent = line.len() - trimmed.len();
            let mut block = String::new();
            while let Some(next) = lines.peek() {
                let t = next.trim_start();
                if !t.is_empty() && next.len() - t.len() <= indent {
                    break;
                }
                block.push_str(t);
                block.push('\n');
                lines.next();
            }
            out.push(block);
        } else {
            out.push(value.to_string());
        }
    }
    out
}

#[test]
fn the_dashboard_and_the_rules_use_only_exported_metrics() {
    // Fail at once, and say why, when promtool is missing: not after minutes of devnet.
    let version = Command::new("promtool").arg("--version").output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "promtool is not on PATH: install Debian's `prometheus` package (apt-get install \
         prometheus; .ci/run does), the metrics test needs it"
    );

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/ao-overview.json"))
            .expect("the dashboard"),
    )
    .expect("the dashboard is JSON");
    let rules =
        std::fs::read_to_string(repo().join("deploy/prometheus/ao-rules.yaml")).expect("the rules");
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard, &mut exprs);
    let dashboard_names: BTreeSet<String> = exprs.iter().flat_map(|e| promql_names(e)).collect();
    let rule_exprs = rules_exprs(&rules);
    assert!(rule_exprs.len() >= 10, "rule exprs read: {rule_exprs:?}");
    let rule_names: BTreeSet<String> = rule_exprs.iter().flat_map(|e| promql_names(e)).collect();
    assert!(dashboard_names.len() > 30, "{dashboard_names:?}");

    // One spawn and one message through the real computer, so every series exists.
    let dir = tempfile::tempdir().expect("tmp");
    let (_devnet, v) = start_devnet(&dir.path().join("net"), false, &[], &[]);
    let ao = Ao::new(&v, dir.path());
    let ao = |args: &[&str]| ao.run(args);
    let pid = ao(&["spawn", "--name", "metrics"]);
    let out = ao(&[
        "send",
        &pid,
        "--action",
        "Eval",
        "--data",
        "return 6 * 7",
        "--wait",
    ]);
    assert!(out.contains("\"42\""), "{out}");

    let mut all = BTreeSet::new();
    let deadline = Instant::now() + TIMEOUT;
    for unit in ["su", "cu", "mu", "gateway"] {
        let url = v[unit].as_str().expect("unit URL");
        let text = scrape(url);
        assert!(Instant::now() < deadline, "scrapes took too long");
        let names = exported(unit, &text);
        let prefix = if unit == "gateway" {
            "ao_gateway_"
        } else {
            &format!("ao_{unit}_")
        };
        // Each unit exports its own names (and the shared process ones), nobody else's.
        for n in &names {
            assert!(
                n.starts_with(prefix) || n.starts_with("process_") || n.starts_with("ao_process_"),
                "{unit} exports {n}"
            );
        }
        for must in [
            format!("{prefix}http_request_duration_seconds_bucket"),
            format!("{prefix}ready"),
            "process_resident_memory_bytes".to_string(),
            "process_cpu_seconds_total".to_string(),
        ] {
            assert!(
                names.contains(&must),
                "{unit} does not export {must}:\n{text}"
            );
        }
        promtool_check_metrics(unit, &text);
        all.extend(names);
    }

    let missing_dashboard: Vec<_> = dashboard_names.difference(&all).collect();
    assert!(
        missing_dashboard.is_empty(),
        "the dashboard uses metrics no unit exports: {missing_dashboard:?}"
    );
    let missing_rules: Vec<_> = rule_names.difference(&all).collect();
    assert!(
        missing_rules.is_empty(),
        "the alert rules use metrics no unit exports: {missing_rules:?}"
    );
}

#[test]
fn promql_names_skip_strings_and_recording_rules() {
    let names = promql_names(
        r#"sum by (le) (rate(ao_cu_http_request_duration_seconds_bucket{route="/ao_x"}[5m])) / ao_cu:busy_ratio:rate5m > process_open_fds"#,
    );
    let expected: BTreeSet<String> = [
        "ao_cu_http_request_duration_seconds_bucket",
        "process_open_fds",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, expected);
    let yaml = "  - alert: X\n    expr: |\n      a_metric\n        or ao_b_total\n    for: 1m\n  - record: y\n    expr: ao_c > 1\n";
    assert_eq!(
        rules_exprs(yaml),
        vec!["a_metric\nor ao_b_total\n", "ao_c > 1"]
    );
}
