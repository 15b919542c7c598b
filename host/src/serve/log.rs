//! The access log: where a server's log lines go ([`Log`]), and the line
//! each request gets when its response has ended:
//! `#<number>[ i<instance>] <method> <path> <status> <micros> µs[: <why>]`.
//! The number counts the server's requests from 1; a 0.2 guest's own log
//! lines carry it (`<component> #<number> | ...`), and a 0.3 request names
//! the instance whose lines (`<component> i<instance> | ...`) it shares.

use tokio::time::Instant;

/// Where a server's log lines go: nowhere, to stderr, or into a channel (for
/// the tests that read them).
#[derive(Clone, Debug)]
pub enum Log {
    Off,
    Stderr,
    Lines(std::sync::mpsc::Sender<String>),
}

impl Log {
    pub(super) fn on(&self) -> bool {
        !matches!(self, Log::Off)
    }

    /// Writes the line `line` makes, if the log is on.
    pub(crate) fn write(&self, line: impl FnOnce() -> String) {
        match self {
            Log::Off => {}
            Log::Stderr => eprintln!("{}", line()),
            Log::Lines(lines) => {
                let _ = lines.send(line());
            }
        }
    }
}

impl From<bool> for Log {
    fn from(on: bool) -> Log {
        if on { Log::Stderr } else { Log::Off }
    }
}

/// What a request's log line says about the request.
pub(super) struct Line {
    pub(super) log: Log,
    /// The request's number on this server, counted from 1.
    pub(super) number: u64,
    /// The 0.3 instance that took it, if any.
    pub(super) instance: Option<usize>,
    pub(super) method: hyper::Method,
    pub(super) path: String,
    pub(super) head: bool,
    pub(super) start: Instant,
}
