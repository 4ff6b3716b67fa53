//! Standard output that may be closed under us: `ao send ... | head` must end quietly, as other
//! Unix tools do, not panic as `println!` does when the reader has gone.
//!
//! Why not reset SIGPIPE to its default (die on the signal, as C tools do)? This binary also runs
//! servers (`ao devnet` hosts the units, or starts them as child processes) and talks HTTP: with
//! the default action, any write to any pipe or socket whose other end closed would kill the whole
//! process on the spot, units and all, with no clean stop. Rust ignores SIGPIPE, so such writes
//! fail with `BrokenPipe` instead; here every write to standard output goes through [`outln!`] /
//! [`write_out`], a closed standard output becomes [`StdoutClosed`], and `main` ends the command
//! quietly (exit 0: the reader chose to stop reading) on that error alone. Other broken pipes
//! (a unit's socket) stay ordinary errors.

use std::io::Write;

/// Standard output's reader has gone (EPIPE): the command ends without a word.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// A failed write to standard output as an error: [`StdoutClosed`] when the reader has gone,
/// else the I/O error named.
pub fn stdout_failed(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("cannot write to standard output")
    }
}

/// Whether `e` is (or was caused by) standard output being closed.
pub fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<StdoutClosed>())
}

/// Write `text` to standard output and flush it (for prompts, which end without a newline).
pub fn write_out(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(stdout_failed)
}

/// `println!` that returns an `anyhow::Result<()>` instead of panicking: [`StdoutClosed`] when
/// the reader has gone.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::output::stdout_failed)
    }};
}
