//! Log lines on `wasi:cli/stderr`, which both lines' http worlds include, so
//! logging keeps a component inside `wasi:http/proxy` or
//! `wasi:http/service`.
//!
//! One call writes one line, `LEVEL message`, in one write: the macros take
//! the message in pieces (`&str`s) and join them, so no `core::fmt` is
//! linked unless the caller formats a piece itself. `cargo xtask serve`
//! prints each line tagged with the component and the request;
//! `wasmtime serve` prints it as `stderr [N] :: <line>`.
//!
//! ```no_run
//! # fn demo(path: &str) {
//! edgekit::info!("GET ", path);
//! edgekit::warn!("slow upstream: ", "api.internal");
//! # }
//! ```

use alloc::vec::Vec;

/// The longest line written, in bytes, the level and newline included; a
/// longer message is cut there (at a byte, not a character, boundary).
pub const MAX_LINE: usize = 4096;

/// How much a line matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something looks wrong but the request goes on.
    Warn,
    /// What happened: one line per request, say.
    Info,
    /// Detail for a developer.
    Debug,
}

impl Level {
    /// The level and the space after it, as a line starts.
    fn prefix(self) -> &'static str {
        match self {
            Level::Error => "ERROR ",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG ",
        }
    }

    /// The level as it starts a line.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// Writes `LEVEL` and the pieces joined as one line to stderr. The macros
/// ([`info!`](crate::info) and its siblings) call it; call it directly to
/// choose the level at run time.
pub fn write(level: Level, pieces: &[&str]) {
    #[cfg(all(feature = "p2", not(feature = "p3")))]
    {
        // On 0.2 the write is done when the call returns: the line is built
        // on the stack, with no allocation and no vector growth to link.
        let mut buf = [0; MAX_LINE];
        let len = fill(&mut buf, level, pieces);
        crate::p2::write_stderr(buf.get(..len).unwrap_or_default());
    }
    // On 0.3 the host reads the line after the call returns: it is owned.
    #[cfg(feature = "p3")]
    crate::p3::write_stderr(line(level, pieces));
}

/// Writes the line into `buf` (cut to [`MAX_LINE`], the newline kept) and
/// returns its length.
fn fill(buf: &mut [u8; MAX_LINE], level: Level, pieces: &[&str]) -> usize {
    // The prefix, then each piece, as much as fits before the newline (a
    // plain loop: `once(prefix).chain(pieces)` is 40 bytes more of code).
    let mut len = 0;
    let mut rest = pieces.iter();
    let mut piece = level.prefix();
    loop {
        let take = piece.len().min(MAX_LINE - 1 - len);
        if let (Some(to), Some(from)) = (buf.get_mut(len..len + take), piece.as_bytes().get(..take)) {
            to.copy_from_slice(from);
        }
        len += take;
        match rest.next() {
            Some(next) => piece = next,
            None => break,
        }
    }
    if let Some(end) = buf.get_mut(len) {
        *end = b'\n';
    }
    len + 1
}

/// The bytes of one line: `LEVEL message\n`, at most [`MAX_LINE`] long.
pub fn line(level: Level, pieces: &[&str]) -> Vec<u8> {
    let mut buf = [0; MAX_LINE];
    let len = fill(&mut buf, level, pieces);
    buf.get(..len).unwrap_or_default().to_vec()
}

/// Logs an `INFO` line: `edgekit::info!("GET ", path)`. The arguments are
/// `&str` pieces, joined with nothing between them.
#[macro_export]
macro_rules! info {
    ($($piece:expr),+ $(,)?) => {
        $crate::log::write($crate::log::Level::Info, &[$($piece),+])
    };
}

/// Logs a `WARN` line; the arguments are `&str` pieces, as for [`info!`].
#[macro_export]
macro_rules! warn {
    ($($piece:expr),+ $(,)?) => {
        $crate::log::write($crate::log::Level::Warn, &[$($piece),+])
    };
}

/// Logs an `ERROR` line; the arguments are `&str` pieces, as for [`info!`].
#[macro_export]
macro_rules! error {
    ($($piece:expr),+ $(,)?) => {
        $crate::log::write($crate::log::Level::Error, &[$($piece),+])
    };
}

/// Logs a `DEBUG` line; the arguments are `&str` pieces, as for [`info!`].
#[macro_export]
macro_rules! debug {
    ($($piece:expr),+ $(,)?) => {
        $crate::log::write($crate::log::Level::Debug, &[$($piece),+])
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_level_pieces_newline() {
        assert_eq!(line(Level::Info, &["GET ", "/items", " 200"]), b"INFO GET /items 200\n");
        assert_eq!(line(Level::Error, &[]), b"ERROR \n");
    }

    #[test]
    fn a_long_line_is_cut_to_the_limit() {
        let long = "x".repeat(2 * MAX_LINE);
        let line = line(Level::Warn, &[&long]);
        assert_eq!(line.len(), MAX_LINE);
        assert!(line.starts_with(b"WARN xxx"));
        assert_eq!(line.last(), Some(&b'\n'));
    }
}
