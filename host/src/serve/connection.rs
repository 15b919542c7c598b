//! One accepted connection: hyper's http1 server on it, the phase it is in
//! (idle, reading a request head, busy with requests), the watched socket
//! that enforces the header-read and idle timeouts on it, and its slot,
//! which a newcomer at the cap may tell it to give up.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::io::TokioIo;

use super::Handlers;
use super::listener::ServerLimits;
use super::log::Log;
use super::request::{answer, log_line};
use super::slots::Slot;

/// One accepted connection and what serving it needs.
pub(super) struct Connection {
    pub(super) handlers: Handlers,
    pub(super) limits: Arc<ServerLimits>,
    pub(super) log: Log,
    pub(super) closing: watch::Receiver<bool>,
    /// The server's request counter.
    pub(super) numbers: Arc<AtomicU64>,
}

impl Connection {
    /// Serves the connection's requests until the client closes it, a
    /// timeout closes it, or the server stops (then after the request in
    /// flight, if any).
    pub(super) async fn serve(mut self, stream: TcpStream, slot: Slot) {
        let _ = stream.set_nodelay(true);
        let phase = slot.phase.clone();
        let io = TokioIo::new(Watched::new(stream, phase.clone(), self.limits.clone()));
        let (handlers, log, numbers) = (self.handlers, self.log.clone(), self.numbers);
        let service = service_fn(move |request| {
            let number = numbers.fetch_add(1, Ordering::Relaxed) + 1;
            let in_flight = InFlight::start(phase.clone());
            let line = log_line(&log, &request, number);
            let routed = handlers.route(request);
            async move { Ok::<_, Infallible>(answer(routed, number, line, in_flight).await) }
        });
        let connection = http1::Builder::new().serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            _ = async { self.closing.wait_for(|closing| *closing).await.is_ok() } => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
            _ = slot.evict.notified() => {
                // A newcomer at the cap needs the slot. Evicted while waiting
                // for a request, the connection closes now (unlogged: under a
                // flood that would be a line per connection); if a request
                // started meanwhile, it closes after that request.
                if !matches!(*slot.phase.lock().expect("the phase lock is never poisoned"), Phase::Busy(_)) {
                    return;
                }
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            self.log.write(|| format!("connection closed: {:#}", anyhow::Error::from(e)));
        }
        drop(slot);
    }
}

/// What a connection is doing, which decides how long it may wait for the
/// client.
#[derive(Clone, Copy, Debug)]
pub(super) enum Phase {
    /// Waiting since then for the first byte of a request.
    Idle(Instant),
    /// Reading a request head whose first byte came then.
    Head(Instant),
    /// Serving this many requests (one, but for a pipelined request whose
    /// service starts before the previous response body is dropped).
    Busy(u32),
}

/// A request in flight on a connection, from its head's arrival to the end
/// (or the drop) of its response body.
pub(super) struct InFlight(Arc<Mutex<Phase>>);

impl InFlight {
    fn start(phase: Arc<Mutex<Phase>>) -> InFlight {
        {
            let mut now = phase.lock().expect("the phase lock is never poisoned");
            *now = match *now {
                Phase::Busy(n) => Phase::Busy(n + 1),
                Phase::Idle(_) | Phase::Head(_) => Phase::Busy(1),
            };
        }
        InFlight(phase)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut now = self.0.lock().expect("the phase lock is never poisoned");
        *now = match *now {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
    }
}

/// A connection's socket that fails a read waiting past the phase's timeout
/// (idle, or reading a head) and a write waiting past the idle timeout for a
/// client that does not read. Hyper then closes the connection. While a
/// request is in flight, reads have no timeout of their own: the handler's
/// deadline bounds the request.
struct Watched {
    stream: TcpStream,
    phase: Arc<Mutex<Phase>>,
    limits: Arc<ServerLimits>,
    read_timer: Option<Pin<Box<Sleep>>>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl Watched {
    fn new(stream: TcpStream, phase: Arc<Mutex<Phase>>, limits: Arc<ServerLimits>) -> Watched {
        Watched { stream, phase, limits, read_timer: None, write_timer: None }
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().expect("the phase lock is never poisoned")
    }

    /// When a read waiting now times out, and how to say so.
    fn read_deadline(&self) -> Option<(Instant, &'static str, Duration)> {
        match self.phase() {
            Phase::Idle(since) => Some((since + self.limits.idle_timeout, "no request came", self.limits.idle_timeout)),
            Phase::Head(since) => Some((
                since + self.limits.header_read_timeout,
                "the request head did not arrive",
                self.limits.header_read_timeout,
            )),
            Phase::Busy(_) => None,
        }
    }

    /// A write that returned `poll`: a stall that outlasts the idle timeout
    /// becomes an error.
    fn write_stall<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.write_timer = None;
            return poll;
        }
        let idle = self.limits.idle_timeout;
        let timer = self.write_timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {} ms", idle.as_millis()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        if let Poll::Ready(result) = Pin::new(&mut this.stream).poll_read(cx, buf) {
            if buf.filled().len() > before {
                let mut phase = this.phase.lock().expect("the phase lock is never poisoned");
                if let Phase::Idle(_) = *phase {
                    *phase = Phase::Head(Instant::now());
                }
            }
            return Poll::Ready(result);
        }
        let Some((deadline, what, after)) = this.read_deadline() else {
            this.read_timer = None;
            return Poll::Pending;
        };
        let timer = this.read_timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        ready!(timer.as_mut().poll(cx));
        let message = format!("{what} within {} ms", after.as_millis());
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, message)))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.write_stall(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.write_stall(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.write_stall(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
