//! The access log: where a server's log lines go ([`Log`]), and the line
//! each request gets when its response has ended:
//! `#<number>[ [<route> <component>]][ i<instance>] <method> <path> <status> <micros> µs[: <why>]`
//! (the route only in an app).
//! The number counts the server's requests from 1; a 0.2 guest's own log
//! lines carry it (`<component> #<number> | ...`), and a 0.3 request names
//! the instance whose lines (`<component> i<instance> | ...`) it shares.
//!
//! Lines for stderr (access and guest lines alike) go to one writer thread
//! ([`stderr`]), so a request pays for formatting its line and a channel
//! send, not for a locked, unbuffered write to the terminal.

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
            Log::Stderr => stderr::send(line()),
            Log::Lines(lines) => {
                let _ = lines.send(line());
            }
        }
    }
}

/// Returns once every line sent to stderr before the call is written.
pub fn flush() {
    stderr::flush();
}

/// The writer thread behind [`Log::Stderr`]: lines in the order sent, in
/// batches (whatever arrived while it wrote the last one) with one flush
/// each, so a line shows as soon as the thread gets to it.
mod stderr {
    use std::io::Write;
    use std::sync::{OnceLock, mpsc};

    enum Message {
        Line(String),
        Flush(mpsc::SyncSender<()>),
    }

    static WRITER: OnceLock<Option<mpsc::Sender<Message>>> = OnceLock::new();

    /// The channel to the writer thread, started on first use; `None` if
    /// the thread could not be started (then lines are written in place).
    fn writer() -> Option<&'static mpsc::Sender<Message>> {
        WRITER
            .get_or_init(|| {
                let (send, receive) = mpsc::channel();
                let spawned = std::thread::Builder::new().name("edgekit-log".into()).spawn(move || write(receive));
                spawned.ok().map(|_| send)
            })
            .as_ref()
    }

    fn write(receive: mpsc::Receiver<Message>) {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
        while let Ok(first) = receive.recv() {
            let mut next = Some(first);
            while let Some(message) = next {
                match message {
                    Message::Line(line) => {
                        let _ = out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n"));
                    }
                    Message::Flush(done) => {
                        let _ = out.flush();
                        let _ = done.send(());
                    }
                }
                next = receive.try_recv().ok();
            }
            let _ = out.flush();
        }
    }

    pub(super) fn send(line: String) {
        match writer() {
            Some(writer) => {
                if let Err(mpsc::SendError(Message::Line(line))) = writer.send(Message::Line(line)) {
                    eprintln!("{line}");
                }
            }
            None => eprintln!("{line}"),
        }
    }

    pub(super) fn flush() {
        let Some(Some(writer)) = WRITER.get() else { return };
        let (done, flushed) = mpsc::sync_channel(1);
        if writer.send(Message::Flush(done)).is_ok() {
            let _ = flushed.recv();
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
    /// In an app, its route and component (`/api/... middleware+http-api`),
    /// or `no route`.
    pub(super) route: Option<std::sync::Arc<str>>,
    pub(super) method: hyper::Method,
    pub(super) path: String,
    pub(super) head: bool,
    pub(super) start: Instant,
}
