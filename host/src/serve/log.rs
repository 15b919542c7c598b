//! The access log: where a server's log lines go ([`Log`]), and the line
//! each request gets when its response has ended.

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
    pub(super) fn write(&self, line: impl FnOnce() -> String) {
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
    pub(super) method: hyper::Method,
    pub(super) path: String,
    pub(super) head: bool,
    pub(super) start: Instant,
}
