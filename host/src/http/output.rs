//! What a guest writes to `wasi:cli/stdout` and `wasi:cli/stderr`, turned
//! into log lines on the host: split at newlines, each line tagged with the
//! component's name and the request (0.2) or instance (0.3) that wrote it,
//! written to a [`Log`] (serve's stderr, or a channel the tests read).
//!
//! The format is `<component> #<request> | <text>` on WASI 0.2, where
//! `<request>` is the number the access log line of that request starts
//! with, and `<component> i<instance> | <text>` on WASI 0.3, where an
//! instance serves several requests at once and a write cannot be told
//! apart by request; the access log line of a 0.3 request names its
//! instance.
//!
//! A guest cannot flood the host: a line is cut at [`MAX_LINE`] bytes (the
//! rest of it up to the newline is dropped, and the line says so), and after
//! [`MAX_LINES`] lines per request the others are counted and reported in
//! one line at the end. Writing costs a short lock on the sink's buffers (the
//! stream's own: never held across an await) and, per completed line, one
//! write to the log. A partial last line is written when the sink is
//! dropped: with its store, at the end of the request on 0.2, when the
//! instance is retired on 0.3.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::profile::Profile;
use crate::serve::Log;

/// The longest line kept, in bytes; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 4096;
/// Lines kept per request (on 0.3: per instance, counted afresh each time
/// it takes a request); the others are counted, then reported in one line.
pub const MAX_LINES: usize = 1000;

/// What marks a line cut at [`MAX_LINE`].
const TRUNCATED: &str = " [line truncated at 4096 bytes]";

/// Where a handler's guests' lines go, and the name they are tagged with;
/// and the profile their stores sample into, if one is taken
/// (`Handler::profiled`).
#[derive(Clone, Debug)]
pub struct GuestOutput {
    pub name: Arc<str>,
    pub log: Log,
    pub profile: Option<Profile>,
}

impl Default for GuestOutput {
    /// Lines on serve's stderr, tagged `component` until the handler is
    /// named (`Handler::named`).
    fn default() -> GuestOutput {
        GuestOutput { name: "component".into(), log: Log::Stderr, profile: None }
    }
}

impl GuestOutput {
    /// A sink for one store, tagging its lines with `who` (`#12`, `i3`);
    /// `None` when the log is off, so the guest's output is dropped unread.
    pub(crate) fn sink(&self, who: &str) -> Option<Arc<Sink>> {
        if matches!(self.log, Log::Off) {
            return None;
        }
        let state = State { partial: [Vec::new(), Vec::new()], skipping: [false, false], kept: 0, dropped: 0 };
        Some(Arc::new(Sink { tag: format!("{} {who}", self.name), log: self.log.clone(), state: Mutex::new(state) }))
    }
}

/// One store's output: the tag, the log, and what is not yet a whole line.
pub(crate) struct Sink {
    tag: String,
    log: Log,
    state: Mutex<State>,
}

/// The two streams' partial lines (stdout, stderr), and the line budget.
struct State {
    partial: [Vec<u8>; 2],
    /// Whether each stream is dropping the rest of a line cut at [`MAX_LINE`].
    skipping: [bool; 2],
    kept: usize,
    dropped: usize,
}

/// Which of a guest's streams a write came on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Which {
    Stdout = 0,
    Stderr = 1,
}

impl Sink {
    /// Takes `bytes` written on `which` and logs the lines they complete.
    fn write(&self, which: Which, bytes: &[u8]) {
        let mut lines = Vec::new();
        {
            let mut state = self.state.lock().expect("the output lock is never poisoned");
            let i = which as usize;
            for piece in bytes.split_inclusive(|b| *b == b'\n') {
                let (text, ends) = match piece.strip_suffix(b"\n") {
                    Some(text) => (text, true),
                    None => (piece, false),
                };
                if !state.skipping[i] {
                    let room = MAX_LINE - state.partial[i].len();
                    if text.len() > room {
                        state.partial[i].extend_from_slice(&text[..room]);
                        let cut = std::mem::take(&mut state.partial[i]);
                        state.keep(&mut lines, cut, true);
                        state.skipping[i] = !ends;
                    } else {
                        state.partial[i].extend_from_slice(text);
                        if ends {
                            let line = std::mem::take(&mut state.partial[i]);
                            state.keep(&mut lines, line, false);
                        }
                    }
                } else if ends {
                    state.skipping[i] = false;
                }
            }
        }
        for line in lines {
            self.log.write(|| format!("{} | {line}", self.tag));
        }
    }

    /// Starts a fresh line budget (a 0.3 instance taking a request).
    pub(crate) fn new_budget(&self) {
        let dropped = {
            let mut state = self.state.lock().expect("the output lock is never poisoned");
            state.kept = 0;
            std::mem::take(&mut state.dropped)
        };
        self.report_dropped(dropped);
    }

    fn report_dropped(&self, dropped: usize) {
        if dropped > 0 {
            self.log.write(|| format!("{} | [{dropped} lines dropped: at most {MAX_LINES} per request]", self.tag));
        }
    }
}

impl State {
    /// Adds `line` to `lines` if the budget allows, else counts it dropped.
    fn keep(&mut self, lines: &mut Vec<String>, line: Vec<u8>, truncated: bool) {
        if self.kept >= MAX_LINES {
            self.dropped += 1;
            return;
        }
        self.kept += 1;
        let mut text = printable(&line);
        if truncated {
            text.push_str(TRUNCATED);
        }
        lines.push(text);
    }
}

/// The line as text a terminal shows as it is: invalid UTF-8 replaced, a
/// trailing `\r` dropped, and control characters other than tab escaped.
fn printable(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return text.into_owned();
    }
    text.chars()
        .map(|c| if c.is_control() && c != '\t' { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

impl Drop for Sink {
    /// Logs the partial last lines, and how many lines the budget dropped.
    fn drop(&mut self) {
        let mut lines = Vec::new();
        let state = self.state.get_mut().expect("the output lock is never poisoned");
        for i in 0..2 {
            let rest = std::mem::take(&mut state.partial[i]);
            if !rest.is_empty() {
                state.keep(&mut lines, rest, false);
            }
        }
        let dropped = state.dropped;
        for line in lines {
            self.log.write(|| format!("{} | {line}", self.tag));
        }
        self.report_dropped(dropped);
    }
}

/// One of a store's streams, as `WasiCtxBuilder::stdout` and `stderr` take
/// it: each stream the guest opens on it writes into the same [`Sink`].
pub(crate) struct Stream {
    sink: Arc<Sink>,
    which: Which,
}

impl Stream {
    pub(crate) fn new(sink: Arc<Sink>, which: Which) -> Stream {
        Stream { sink, which }
    }
}

impl IsTerminal for Stream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Stream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(Writer { sink: self.sink.clone(), which: self.which })
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(Writer { sink: self.sink.clone(), which: self.which })
    }
}

/// A stream the guest writes to (0.2's `output-stream`, or what 0.3's
/// `write-via-stream` copies into): every write is taken at once.
struct Writer {
    sink: Arc<Sink>,
    which: Which,
}

/// What a 0.2 guest may write at once (its `check-write`).
const WRITE_BUDGET: usize = 64 << 10;

impl OutputStream for Writer {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.sink.write(self.which, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Writer {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Writer {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.sink.write(self.which, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
