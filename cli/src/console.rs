//! `ao console PID`: an aos-style REPL on a process.
//!
//! Why: the quickest way to develop a process is to talk to it in Lua and watch what arrives,
//! as aos does; this is that, on any MU and CU that speak the AO HTTP API.
//!
//! How data flows:
//!
//! ```text
//!   line editor (rustyline on a TTY, plain lines otherwise)
//!     │  lines gathered until the Lua chunk is complete (incomplete(): open blocks, brackets,
//!     │  long strings, or a trailing `\`)
//!     ▼
//!   dot command? .load FILE / .load-blueprint NAME / .help / .exit
//!     │  else the chunk
//!     ▼
//!   Client::eval: signed `Action: Eval` ──POST──> MU ──> SU     then GET {cu}/result/{id}
//!     ▼
//!   print Output.data (or Error); the prompt becomes Output.prompt
//!
//!   poller task, every second: GET {cu}/results/{pid}?sort=ASC&from=<cursor>
//!     └─> results with Output.print = true and data (an Inbox line, a handler's print) are printed
//!         above the prompt; the console's own Eval results are skipped (not polled while one is in
//!         flight, then matched by their Output).
//! ```
//!
//! When standard output is not a terminal, ANSI colours are stripped, so piped output reads
//! cleanly (and tests can look for the prompt's text).

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, anyhow};
use ao_core::Tag;
use clap::Args;
use rustyline::ExternalPrinter;
use rustyline::error::ReadlineError;
use serde_json::Value;

use crate::client::{self, Client, Connection, parse_id};

/// The prompt until the process gives one (aos's).
pub const DEFAULT_PROMPT: &str = "aos> ";

/// The prompt of a chunk's further lines.
const CONTINUATION_PROMPT: &str = "...> ";

/// How often the poller asks the CU for new results.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// Results asked for per poll.
const POLL_PAGE: &str = "25";

/// Own Eval outputs remembered for the poller to skip; older ones are forgotten.
const OWN_OUTPUTS_KEPT: usize = 100;

/// `ao console`: a REPL on a process.
#[derive(Args, Debug)]
pub struct ConsoleArgs {
    /// The process id (its Owner must be this wallet: aos evaluates only the Owner's Evals).
    pub pid: String,
    #[command(flatten)]
    pub connection: Connection,
}

const HELP: &str = "\
Lua typed here runs in the process (an Action: Eval message); its value and printed lines show.
A chunk continues on the next line while a block, bracket or long string is open, or after a
line ending in \\.
  .load FILE              run a Lua file in the process
  .load-blueprint NAME    load a blueprint (token, chatroom)
  .help                   this text
  .exit                   quit (or Ctrl-D)
Messages that reach the process's Inbox are shown as they are evaluated.";

/// What the poller and the REPL share.
#[derive(Default)]
struct Live {
    /// An Eval of the console's own is on its way: its result must not be printed twice.
    in_flight: bool,
    /// `Output`s of the console's own Evals the poller has not passed yet.
    own: VecDeque<Value>,
}

/// One line from the user, or why there is none.
enum Line {
    Text(String),
    Interrupted,
    Eof,
}

/// Where lines come from: the line editor on a terminal, plain lines otherwise.
enum Input {
    Tty {
        editor: Box<rustyline::DefaultEditor>,
        history: Option<PathBuf>,
    },
    Plain(std::io::Lines<std::io::StdinLock<'static>>),
}

impl Input {
    fn line(&mut self, prompt: &str, out: &Out) -> anyhow::Result<Line> {
        match self {
            Input::Tty { editor, .. } => match editor.readline(prompt) {
                Ok(l) => Ok(Line::Text(l)),
                Err(ReadlineError::Interrupted) => Ok(Line::Interrupted),
                Err(ReadlineError::Eof) => Ok(Line::Eof),
                Err(e) => Err(anyhow!("cannot read the terminal: {e}")),
            },
            Input::Plain(lines) => {
                out.write(prompt, false);
                match lines.next() {
                    Some(Ok(l)) => Ok(Line::Text(l)),
                    Some(Err(e)) => Err(anyhow!("cannot read standard input: {e}")),
                    None => Ok(Line::Eof),
                }
            }
        }
    }

    /// Lines until the chunk is complete; `None` at the end of input.
    fn chunk(&mut self, prompt: &str, out: &Out) -> anyhow::Result<Option<String>> {
        let mut buf = String::new();
        loop {
            let p = if buf.is_empty() {
                prompt
            } else {
                CONTINUATION_PROMPT
            };
            match self.line(p, out)? {
                Line::Eof => {
                    if let Input::Plain(_) = self {
                        out.write("\n", false);
                    }
                    return Ok((!buf.is_empty()).then_some(buf));
                }
                Line::Interrupted => {
                    if buf.is_empty() {
                        out.line("(.exit or Ctrl-D to quit)");
                    }
                    buf.clear();
                }
                Line::Text(l) => {
                    let (text, more) = match l.strip_suffix('\\') {
                        Some(t) => (t, true),
                        None => (l.as_str(), false),
                    };
                    if !buf.is_empty() {
                        buf.push('\n');
                    }
                    buf.push_str(text);
                    if buf.trim().is_empty() {
                        buf.clear();
                        continue;
                    }
                    let dot = buf.trim_start().starts_with('.') && !buf.contains('\n');
                    if !more && (dot || !incomplete(&buf)) {
                        self.remember(&buf);
                        return Ok(Some(buf));
                    }
                }
            }
        }
    }

    /// Keep a chunk in the history (terminal only), saved at once so a killed console keeps it.
    fn remember(&mut self, chunk: &str) {
        if let Input::Tty { editor, history } = self {
            let _ = editor.add_history_entry(chunk);
            if let Some(path) = history {
                let _ = editor.save_history(path);
            }
        }
    }
}

/// Standard output, shared by the REPL and the poller; colours stripped when it is not a terminal.
#[derive(Clone)]
struct Out {
    colour: bool,
    lock: Arc<Mutex<()>>,
}

impl Out {
    fn write(&self, text: &str, newline: bool) {
        let text = if self.colour {
            text.to_string()
        } else {
            strip_ansi(text)
        };
        let _guard = self.lock.lock();
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        if newline {
            let _ = stdout.write_all(b"\n");
        }
        let _ = stdout.flush();
    }

    fn line(&self, text: &str) {
        self.write(text, true);
    }
}

/// `ao console PID`.
pub fn run(args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    let client = Arc::new(args.connection.client()?);
    let pid = args.pid;
    parse_id("process", &pid)?;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let out = Out {
        colour: std::io::stdout().is_terminal(),
        lock: Arc::new(Mutex::new(())),
    };
    // One worker: the poller runs there while the REPL blocks on the terminal.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;

    // A dry-run Eval of nothing: checks that the CU knows the process, brings it up to date
    // (so the poller starts after everything already there) and gives the prompt.
    let hello = client.dry_run_message(&pid, &[Tag::new("Action", "Eval")], Some(""));
    let first = rt
        .block_on(client.dry_run(&pid, &hello))
        .with_context(|| format!("cannot open process {pid}"))?;
    let mut prompt = client::output_prompt(&first).unwrap_or_else(|| DEFAULT_PROMPT.into());
    let cursor = rt.block_on(newest_cursor(&client, &pid));

    let mut input = if tty {
        let mut editor = rustyline::DefaultEditor::new()
            .map_err(|e| anyhow!("cannot set up the line editor: {e}"))?;
        let history = std::env::home_dir()
            .filter(|h| !h.as_os_str().is_empty())
            .map(|h| h.join(".ao_history"));
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        Input::Tty {
            editor: Box::new(editor),
            history,
        }
    } else {
        Input::Plain(std::io::stdin().lock().lines())
    };

    // Live messages: the poller sends text to a printer thread, which prints above the prompt on
    // a terminal (rustyline's external printer) or as plain lines.
    let (tx, rx) = mpsc::channel::<String>();
    let mut printer: Option<Box<dyn ExternalPrinter + Send>> = match &mut input {
        Input::Tty { editor, .. } => editor
            .create_external_printer()
            .ok()
            .map(|p| Box::new(p) as Box<dyn ExternalPrinter + Send>),
        Input::Plain(_) => None,
    };
    let printer_out = out.clone();
    std::thread::spawn(move || {
        for text in rx {
            match printer.as_mut() {
                Some(p) => {
                    if p.print(format!("{text}\n")).is_err() {
                        printer_out.line(&text);
                    }
                }
                None => printer_out.line(&text),
            }
        }
    });
    let live = Arc::new(Mutex::new(Live::default()));
    rt.spawn(poll(
        client.clone(),
        pid.clone(),
        cursor,
        live.clone(),
        tx.clone(),
    ));

    if tty {
        out.line(&format!(
            "ao console on process {pid} as {} (.help for help)",
            client.address()
        ));
    }
    while let Some(chunk) = input.chunk(&prompt, &out)? {
        let chunk_trim = chunk.trim();
        let code = if let Some(rest) = chunk_trim.strip_prefix('.') {
            let (cmd, arg) = match rest.split_once(char::is_whitespace) {
                Some((c, a)) => (c, a.trim()),
                None => (rest, ""),
            };
            match cmd {
                "exit" | "quit" => break,
                "help" => {
                    out.line(HELP);
                    continue;
                }
                "load" if !arg.is_empty() => match std::fs::read_to_string(arg) {
                    Ok(code) => code,
                    Err(e) => {
                        out.line(&format!("cannot read {arg}: {e}"));
                        continue;
                    }
                },
                "load-blueprint" if !arg.is_empty() => match ao_module_lua::blueprint(arg) {
                    Some(src) => src.to_string(),
                    None => {
                        let names: Vec<&str> =
                            ao_module_lua::BLUEPRINTS.iter().map(|(n, _)| *n).collect();
                        out.line(&format!(
                            "no blueprint named {arg}; there are: {}",
                            names.join(", ")
                        ));
                        continue;
                    }
                },
                _ => {
                    out.line(&format!("unknown command .{rest} (.help lists them)"));
                    continue;
                }
            }
        } else {
            chunk
        };
        if let Some(p) = eval(&rt, &client, &pid, &code, &live, &out) {
            prompt = p;
        }
    }
    drop(tx);
    rt.shutdown_background();
    Ok(ExitCode::SUCCESS)
}

/// Send `code` as an Eval, print its Output (or Error); the new prompt if the result gave one.
fn eval(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    pid: &str,
    code: &str,
    live: &Mutex<Live>,
    out: &Out,
) -> Option<String> {
    set_in_flight(live, true, None);
    let answer = rt.block_on(client.eval(pid, code));
    match answer {
        Ok((_, result)) => {
            let own = client::error_text(&result)
                .is_none()
                .then(|| result.get("Output").cloned())
                .flatten();
            set_in_flight(live, false, own);
            if let Some(e) = client::error_text(&result) {
                out.line(&e);
            } else if let Some(text) = client::output_text(&result) {
                out.line(&text);
            }
            client::output_prompt(&result)
        }
        Err(e) => {
            set_in_flight(live, false, None);
            out.line(&format!("error: {e:#}"));
            None
        }
    }
}

fn set_in_flight(live: &Mutex<Live>, in_flight: bool, own: Option<Value>) {
    let mut l = live.lock().unwrap_or_else(|p| p.into_inner());
    l.in_flight = in_flight;
    if let Some(o) = own {
        l.own.push_back(o);
        while l.own.len() > OWN_OUTPUTS_KEPT {
            l.own.pop_front();
        }
    }
}

/// Where the poller starts: after the newest stored result, else after now.
async fn newest_cursor(client: &Client, pid: &str) -> String {
    let page = client
        .results(pid, &[("sort", "DESC"), ("limit", "1")])
        .await
        .ok();
    page.as_ref()
        .and_then(|p| p["edges"].get(0))
        .and_then(|e| e["cursor"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| client::now_ms().to_string())
}

/// Every [`POLL_EVERY`], the results after `cursor`: printable Outputs go to `tx`.
async fn poll(
    client: Arc<Client>,
    pid: String,
    mut cursor: String,
    live: Arc<Mutex<Live>>,
    tx: mpsc::Sender<String>,
) {
    let mut said_down = false;
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        loop {
            if live.lock().map(|l| l.in_flight).unwrap_or(false) {
                break;
            }
            let query = [
                ("sort", "ASC"),
                ("limit", POLL_PAGE),
                ("from", cursor.as_str()),
            ];
            let page = match client.results(&pid, &query).await {
                Ok(p) => {
                    said_down = false;
                    p
                }
                Err(e) => {
                    if !said_down {
                        said_down = true;
                        let _ = tx.send(format!("(live messages paused: {e:#})"));
                    }
                    break;
                }
            };
            let mut l = live.lock().unwrap_or_else(|p| p.into_inner());
            // An Eval started while this page was asked for: its result may be in the page
            // before the console knows its Output. Ask again after it.
            if l.in_flight {
                break;
            }
            let edges = page["edges"].as_array().cloned().unwrap_or_default();
            for edge in &edges {
                let Some(c) = edge["cursor"].as_str() else {
                    continue;
                };
                cursor = c.to_string();
                if let Some(text) = printable(&edge["node"], &mut l.own)
                    && tx.send(text).is_err()
                {
                    return;
                }
            }
            drop(l);
            let more = page["pageInfo"]["hasNextPage"].as_bool().unwrap_or(false);
            if !more || edges.is_empty() {
                break;
            }
        }
    }
}

/// The text to show for a result found by the poller: `Output.print` with data, unless it is
/// one of the console's own Eval results (which is then forgotten).
fn printable(node: &Value, own: &mut VecDeque<Value>) -> Option<String> {
    let output = node.get("Output")?;
    if let Some(i) = own.iter().position(|o| o == output) {
        own.remove(i);
        return None;
    }
    if output.get("print").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    client::output_text(node)
}

/// Whether `code` is an unfinished Lua chunk: more blocks opened (`function`, `do`, `if`,
/// `repeat`) than closed (`end`, `until`), more brackets opened than closed, or a long string or
/// comment left open. Strings and comments are skipped; a heuristic, not a parser: what it calls
/// complete goes to the process, and Lua reports any error.
pub fn incomplete(code: &str) -> bool {
    let b = code.as_bytes();
    let mut i = 0;
    let mut depth: i64 = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i += 2;
                if let Some(level) = long_bracket(b, i) {
                    match long_close(b, i + level + 2, level) {
                        Some(end) => i = end,
                        None => return true,
                    }
                } else {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
            }
            b'[' => {
                if let Some(level) = long_bracket(b, i) {
                    match long_close(b, i + level + 2, level) {
                        Some(end) => i = end,
                        None => return true,
                    }
                } else {
                    depth += 1;
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                i += 1;
                while i < b.len() && b[i] != c && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' | b'(' => {
                depth += 1;
                i += 1;
            }
            b'}' | b')' | b']' => {
                depth -= 1;
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                match &code[start..i] {
                    "function" | "do" | "if" | "repeat" => depth += 1,
                    "end" | "until" => depth -= 1,
                    _ => {}
                }
            }
            c if c.is_ascii_digit() => {
                // A number, with its exponent and hex digits (`1e10`, `0xff`), is no keyword.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    depth > 0
}

/// At `b[i]`, `[` `=`* `[` opens a long string or comment: its level (the number of `=`).
fn long_bracket(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = i + 1;
    while b.get(j) == Some(&b'=') {
        j += 1;
    }
    (b.get(j) == Some(&b'[')).then_some(j - i - 1)
}

/// From `from`, the end (just past) of the `]` `=`*level `]` that closes a long bracket.
fn long_close(b: &[u8], from: usize, level: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        if b[i] == b']' {
            let mut j = i + 1;
            while b.get(j) == Some(&b'=') {
                j += 1;
            }
            if j - i - 1 == level && b.get(j) == Some(&b']') {
                return Some(j + 1);
            }
        }
        i += 1;
    }
    None
}

/// `text` without ANSI escape sequences (CSI `ESC [ ... letter`, and a lone `ESC x`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // CSI: parameters up to a final byte in @..~; any other escape is two characters.
        if chars.next() == Some('[') {
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn complete_chunks_are_complete() {
        for code in [
            "x = 5",
            "return x * 2",
            "function f() return 1 end",
            "for i = 1, 3 do print(i) end",
            "if a then b() elseif c then d() else e() end",
            "repeat x = x + 1 until x > 3",
            "t = { a = 1, b = { 2 } }",
            "s = 'function do ('",
            "s = \"end end\"",
            "-- a comment with function\nx = 1",
            "s = [[a\nfunction]]",
            "s = [==[ ]] ]==]",
            "--[[ function\n do ]] x = 1",
            "x = 1e10 + 0xff",
            "end",
            ")",
        ] {
            assert!(!incomplete(code), "{code:?} is complete");
        }
    }

    #[test]
    fn open_chunks_are_incomplete() {
        for code in [
            "function f()",
            "for i = 1, 3 do",
            "if x then",
            "Handlers.add('ping', 'Ping', function(msg)",
            "t = {",
            "print(",
            "s = [[abc",
            "--[==[ a long comment",
            "repeat",
            "while true do\n  if x then break end",
        ] {
            assert!(incomplete(code), "{code:?} is open");
        }
    }

    #[test]
    fn ansi_colours_are_stripped() {
        assert_eq!(strip_ansi("\u{1b}[32maos\u{1b}[90m@\u{1b}[0m> "), "aos@> ");
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn own_results_are_skipped_once_and_prints_shown() {
        let mine = json!({"data": "10", "prompt": "> ", "print": true});
        let mut own = VecDeque::from([mine.clone()]);
        assert_eq!(printable(&json!({"Output": mine.clone()}), &mut own), None);
        assert!(own.is_empty());
        assert_eq!(
            printable(&json!({"Output": mine}), &mut own),
            Some("10".into())
        );
        assert_eq!(
            printable(&json!({"Output": {"data": "x", "prompt": "> "}}), &mut own),
            None
        );
        assert_eq!(
            printable(&json!({"Output": {"data": "", "print": true}}), &mut own),
            None
        );
    }
}
