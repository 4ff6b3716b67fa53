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
//!     │  long strings, or a trailing `\`), or, after .editor, until .done
//!     ▼
//!   dot command? .load FILE / .load-blueprint NAME / .editor / .dryrun / .monitor / .unmonitor /
//!     │          .live / .pause / .help / .exit
//!     │  else the chunk
//!     ▼
//!   Client::eval: signed `Action: Eval` ──POST──> MU ──> SU     then GET {cu}/result/{id}
//!   (in dry-run mode instead: POST {cu}/dry-run, nothing sent, nothing kept)
//!     ▼
//!   print Output.data (or Error); the prompt becomes Output.prompt (`*` in front in dry-run mode)
//!     ▼
//!   catch up: the poller polls at once and its finds are printed before the next prompt
//!
//!   poller task, every second (or when the REPL asks): GET {cu}/results/{pid}?sort=ASC&from=<cursor>
//!     └─> results with Output.print = true and data (an Inbox line, a handler's print) go to
//!         the printer thread, which prints them above the prompt, or holds them while .pause'd;
//!         the console's own Eval results are skipped (not polled while one is in flight, then
//!         matched by their Output).
//! ```
//!
//! When standard output is not a terminal, ANSI colours are stripped, so piped output reads
//! cleanly (and tests can look for the prompt's text). When it is closed (`ao console | head`),
//! the console ends at its next write.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal};
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
use crate::output::write_out;

/// The prompt until the process gives one (aos's).
pub const DEFAULT_PROMPT: &str = "aos> ";

/// The prompt of a chunk's further lines.
const CONTINUATION_PROMPT: &str = "...> ";

/// The prompt of `.editor`'s lines: none, as in aos, so pasted code reads as it will run.
const EDITOR_PROMPT: &str = "";

/// What goes before the prompt in dry-run mode: aos's red `*`.
const DRY_RUN_MARK: &str = "\u{1b}[31m*\u{1b}[0m";

/// How often the poller asks the CU for new results.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// Results asked for per poll.
const POLL_PAGE: &str = "25";

/// Own Eval outputs remembered for the poller to skip; older ones are forgotten.
const OWN_OUTPUTS_KEPT: usize = 100;

/// Longest the REPL waits, after an Eval, for the poller to print what arrived meanwhile before
/// it shows the next prompt: long enough for a local CU, short enough that a slow one never
/// stalls typing (its messages then show when they come).
const CATCH_UP_LIMIT: Duration = Duration::from_secs(10);

/// Live messages held while `.pause`d; beyond this the oldest are dropped (and counted), so a
/// console left paused on a busy process does not grow without bound.
const HELD_MAX: usize = 1000;

/// `ao console`: a REPL on a process.
#[derive(Args, Debug)]
pub struct ConsoleArgs {
    /// The process id (its Owner must be this wallet: aos evaluates only the Owner's Evals).
    #[arg(allow_hyphen_values = true)]
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
  .editor                 write several lines, sent as one Eval on .done (.cancel or Ctrl-D
                          drops them, .delete drops the last line, .print shows them unsent)
  .dryrun                 toggle dry-run mode (prompt marked *): each Eval is a CU dry-run,
                          nothing is sent and the process's state does not change
  .monitor                start the MU's cron monitor of this process (its cron messages go out)
  .unmonitor              stop it
  .pause                  hold the live feed of messages (they show on .live)
  .live                   resume the live feed
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

/// What the printer thread is told.
enum Show {
    /// A live message's text.
    Text(String),
    /// `.pause`: hold texts from now on.
    Pause,
    /// `.live`: print what was held, and texts as they come.
    Resume,
    /// Answer once everything sent before has been printed (or held).
    Flush(mpsc::SyncSender<()>),
}

/// One line from the user, or why there is none.
enum Line {
    Text(String),
    Interrupted,
    Eof,
}

/// How `.editor` ended.
enum Edited {
    /// `.done`: the lines, to send.
    Done(String),
    /// `.cancel`, `.print`, Ctrl-C or Ctrl-D on a terminal: nothing to send.
    Dropped,
    /// The end of piped input: the console ends.
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
                out.write(prompt, false)?;
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
                        out.write("\n", false)?;
                    }
                    return Ok((!buf.is_empty()).then_some(buf));
                }
                Line::Interrupted => {
                    if buf.is_empty() {
                        out.line("(.exit or Ctrl-D to quit)")?;
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

    /// `.editor`'s lines, as aos takes them: every line as typed (no completeness check) until
    /// `.done` sends them; `.cancel` drops them, `.delete` drops the last one, `.print` shows them
    /// and leaves without sending. Ctrl-C or Ctrl-D on a terminal drop them too (and keep the
    /// console open); the end of piped input ends it.
    fn editor(&mut self, out: &Out) -> anyhow::Result<Edited> {
        let mut lines: Vec<String> = Vec::new();
        loop {
            match self.line(EDITOR_PROMPT, out)? {
                Line::Eof if matches!(self, Input::Plain(_)) => return Ok(Edited::Eof),
                Line::Eof | Line::Interrupted => {
                    out.line("(editor cancelled)")?;
                    return Ok(Edited::Dropped);
                }
                Line::Text(l) => match l.trim() {
                    ".done" => {
                        let code = lines.join("\n");
                        self.remember(&code);
                        return Ok(Edited::Done(code));
                    }
                    ".cancel" => return Ok(Edited::Dropped),
                    ".delete" => {
                        if let Some(last) = lines.pop() {
                            out.line(&format!("(deleted: {last})"))?;
                        }
                    }
                    ".print" => {
                        out.line(&lines.join("\n"))?;
                        return Ok(Edited::Dropped);
                    }
                    _ => lines.push(l),
                },
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

/// Standard output, shared by the REPL and the printer; colours stripped when it is not a
/// terminal. A write fails (with `StdoutClosed` when the reader has gone), and the REPL ends.
#[derive(Clone)]
struct Out {
    colour: bool,
    lock: Arc<Mutex<()>>,
}

impl Out {
    fn write(&self, text: &str, newline: bool) -> anyhow::Result<()> {
        let mut text = if self.colour {
            text.to_string()
        } else {
            strip_ansi(text)
        };
        if newline {
            text.push('\n');
        }
        let _guard = self.lock.lock();
        write_out(&text)
    }

    fn line(&self, text: &str) -> anyhow::Result<()> {
        self.write(text, true)
    }
}

/// The REPL's side: where it sends, what it prints, and its modes.
struct Console {
    rt: tokio::runtime::Runtime,
    client: Arc<Client>,
    pid: String,
    live: Arc<Mutex<Live>>,
    out: Out,
    /// To the printer thread.
    show: mpsc::Sender<Show>,
    /// Asks the poller to poll now; it answers on the given channel once its finds are shown.
    catch_up: tokio::sync::mpsc::UnboundedSender<mpsc::SyncSender<()>>,
    /// The process's prompt, as its last result gave it.
    prompt: String,
    /// `.dryrun`: Evals go to the CU's dry-run, not to the process.
    dry_run: bool,
}

impl Console {
    /// The prompt to show: the process's, marked in dry-run mode.
    fn prompt(&self) -> String {
        if self.dry_run {
            format!("{DRY_RUN_MARK}{}", self.prompt)
        } else {
            self.prompt.clone()
        }
    }

    /// Have the poller poll now and wait (at most [`CATCH_UP_LIMIT`]) until what it found is
    /// printed: messages that arrived before an Eval's result show before the next prompt.
    fn catch_up(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.catch_up.send(done).is_ok() {
            let _ = wait.recv_timeout(CATCH_UP_LIMIT);
        }
    }

    /// Send `code` as an Eval (or dry-run it), print its Output (or Error), take the prompt the
    /// result gives, then catch up with live messages.
    fn eval(&mut self, code: &str) -> anyhow::Result<()> {
        let answer = if self.dry_run {
            let message =
                self.client
                    .dry_run_message(&self.pid, &[Tag::new("Action", "Eval")], Some(code));
            self.rt.block_on(self.client.dry_run(&self.pid, &message))
        } else {
            set_in_flight(&self.live, true, None);
            let answer = self.rt.block_on(self.client.eval(&self.pid, code));
            let own = answer
                .as_ref()
                .ok()
                .filter(|(_, r)| client::error_text(r).is_none())
                .and_then(|(_, r)| r.get("Output").cloned());
            set_in_flight(&self.live, false, own);
            answer.map(|(_, r)| r)
        };
        match answer {
            Ok(result) => {
                if let Some(e) = client::error_text(&result) {
                    self.out.line(&e)?;
                } else if let Some(text) = client::output_text(&result) {
                    self.out.line(&text)?;
                }
                if let Some(p) = client::output_prompt(&result) {
                    self.prompt = p;
                }
            }
            Err(e) => self.out.line(&format!("error: {e:#}"))?,
        }
        self.catch_up();
        Ok(())
    }

    /// `.monitor` / `.unmonitor`: aos's words, and the MU's reason when it refuses.
    fn monitor(&self, on: bool) -> anyhow::Result<()> {
        let (did, verb) = if on {
            ("started", "start")
        } else {
            ("stopped", "stop")
        };
        match self.rt.block_on(self.client.monitor(&self.pid, on)) {
            Ok(_) => self.out.line(&format!(
                "\u{1b}[32mSuccessfully {did} cron monitoring process.\u{1b}[0m"
            )),
            Err(e) => self.out.line(&format!(
                "\u{1b}[31mCould not {verb} cron monitoring process: {e:#}\u{1b}[0m"
            )),
        }
    }

    /// Run one dot command (`rest` is what follows the dot); the code to evaluate when the
    /// command makes some, and whether the console goes on.
    fn command(&mut self, rest: &str, input: &mut Input) -> anyhow::Result<(Option<String>, bool)> {
        let (cmd, arg) = match rest.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (rest, ""),
        };
        match cmd {
            "exit" | "quit" => return Ok((None, false)),
            "help" => self.out.line(HELP)?,
            "load" if !arg.is_empty() => match std::fs::read_to_string(arg) {
                Ok(code) => return Ok((Some(code), true)),
                Err(e) => self.out.line(&format!("cannot read {arg}: {e}"))?,
            },
            "load-blueprint" if !arg.is_empty() => match ao_module_lua::blueprint(arg) {
                Some(src) => return Ok((Some(src.to_string()), true)),
                None => {
                    let names: Vec<&str> =
                        ao_module_lua::BLUEPRINTS.iter().map(|(n, _)| *n).collect();
                    self.out.line(&format!(
                        "no blueprint named {arg}; there are: {}",
                        names.join(", ")
                    ))?;
                }
            },
            "editor" => {
                self.out
                    .line("<editor mode> use '.done' to submit or '.cancel' to cancel")?;
                return match input.editor(&self.out)? {
                    Edited::Done(code) if code.trim().is_empty() => {
                        self.out.line("(nothing to send)")?;
                        Ok((None, true))
                    }
                    Edited::Done(code) => Ok((Some(code), true)),
                    Edited::Dropped => Ok((None, true)),
                    Edited::Eof => Ok((None, false)),
                };
            }
            "dryrun" | "dry-run" => {
                self.dry_run = !self.dry_run;
                self.out.line(if self.dry_run {
                    "\u{1b}[32mDryrun Mode Engaged\u{1b}[0m"
                } else {
                    "\u{1b}[31mDryrun Mode Disengaged\u{1b}[0m"
                })?;
            }
            "monitor" => self.monitor(true)?,
            "unmonitor" => self.monitor(false)?,
            "live" => {
                self.out.line("=== Starting Live Feed ===")?;
                let _ = self.show.send(Show::Resume);
                self.catch_up();
            }
            "pause" => {
                self.out.line("=== Pausing Live Feed ===")?;
                let _ = self.show.send(Show::Pause);
            }
            _ => self
                .out
                .line(&format!("unknown command .{rest} (.help lists them)"))?,
        }
        Ok((None, true))
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
    let prompt = client::output_prompt(&first).unwrap_or_else(|| DEFAULT_PROMPT.into());
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
    let (tx, rx) = mpsc::channel::<Show>();
    let printer: Option<Box<dyn ExternalPrinter + Send>> = match &mut input {
        Input::Tty { editor, .. } => editor
            .create_external_printer()
            .ok()
            .map(|p| Box::new(p) as Box<dyn ExternalPrinter + Send>),
        Input::Plain(_) => None,
    };
    let printer_out = out.clone();
    std::thread::spawn(move || print_live(rx, printer, printer_out));
    let live = Arc::new(Mutex::new(Live::default()));
    let (catch_up, asked) = tokio::sync::mpsc::unbounded_channel();
    rt.spawn(poll(
        client.clone(),
        pid.clone(),
        cursor,
        live.clone(),
        tx.clone(),
        asked,
    ));

    if tty {
        out.line(&format!(
            "ao console on process {pid} as {} (.help for help)",
            client.address()
        ))?;
    }
    let mut console = Console {
        rt,
        client,
        pid,
        live,
        out,
        show: tx,
        catch_up,
        prompt,
        dry_run: false,
    };
    while let Some(chunk) = input.chunk(&console.prompt(), &console.out)? {
        let code = match chunk.trim().strip_prefix('.') {
            Some(rest) => match console.command(rest, &mut input)? {
                (_, false) => break,
                (Some(code), true) => code,
                (None, true) => continue,
            },
            None => chunk,
        };
        console.eval(&code)?;
    }
    let Console { rt, show, .. } = console;
    drop(show);
    rt.shutdown_background();
    Ok(ExitCode::SUCCESS)
}

/// The printer thread: prints live texts (above the prompt on a terminal), holds them while
/// paused, answers flushes. Ends when the console does, or when standard output fails.
fn print_live(
    rx: mpsc::Receiver<Show>,
    mut printer: Option<Box<dyn ExternalPrinter + Send>>,
    out: Out,
) {
    let mut print = |text: String| -> anyhow::Result<()> {
        match printer.as_mut() {
            Some(p) => match p.print(format!("{text}\n")) {
                Ok(()) => Ok(()),
                Err(_) => out.line(&text),
            },
            None => out.line(&text),
        }
    };
    let mut paused = false;
    let mut held: VecDeque<String> = VecDeque::new();
    let mut dropped = 0usize;
    for show in rx {
        let printed = match show {
            Show::Text(text) if paused => {
                held.push_back(text);
                if held.len() > HELD_MAX {
                    held.pop_front();
                    dropped += 1;
                }
                Ok(())
            }
            Show::Text(text) => print(text),
            Show::Pause => {
                paused = true;
                Ok(())
            }
            Show::Resume => {
                paused = false;
                let mut r = Ok(());
                if dropped > 0 {
                    r = print(format!(
                        "({dropped} older messages were dropped while paused)"
                    ));
                    dropped = 0;
                }
                while let Some(text) = held.pop_front() {
                    if r.is_err() {
                        break;
                    }
                    r = print(text);
                }
                r
            }
            Show::Flush(done) => {
                let _ = done.try_send(());
                Ok(())
            }
        };
        if printed.is_err() {
            return;
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

/// Every [`POLL_EVERY`], or at once when the REPL asks (then answering through the printer once
/// what was found is shown), the results after `cursor`: printable Outputs go to `tx`.
async fn poll(
    client: Arc<Client>,
    pid: String,
    mut cursor: String,
    live: Arc<Mutex<Live>>,
    tx: mpsc::Sender<Show>,
    mut asked: tokio::sync::mpsc::UnboundedReceiver<mpsc::SyncSender<()>>,
) {
    let mut said_down = false;
    loop {
        let done = tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => None,
            ask = asked.recv() => match ask {
                Some(done) => Some(done),
                None => return,
            },
        };
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
                        let _ = tx.send(Show::Text(format!("(live messages paused: {e:#})")));
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
                    && tx.send(Show::Text(text)).is_err()
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
        if let Some(done) = done
            && tx.send(Show::Flush(done)).is_err()
        {
            return;
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
