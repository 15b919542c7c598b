//! The accept loop and the connection policy: what one client may hold of
//! the server ([`ServerLimits`]), the cap on open connections with its
//! canned 503, the backoff when accepting fails, and the graceful drain when
//! the server stops.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::connection::Connection;
use super::log::Log;
use super::slots::Slots;
use super::threads::Threads;
use super::{Handlers, Server};
use crate::http::MOST_SERVING_THREADS;

/// What one client may hold of the server: how long a connection may wait
/// for a request head or sit idle, and how many connections may be open at
/// once. The command line exposes each field as a flag.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// Time from a request's first byte to the end of its head (request line
    /// and headers); past it the connection is closed. A client sending its
    /// head a byte at a time cannot hold a connection longer than this.
    pub header_read_timeout: Duration,
    /// Time a connection may sit with no request in flight (before its first
    /// request, or between two on a keep-alive connection), and time a write
    /// may wait for a client that does not read; past it the connection is
    /// closed.
    pub idle_timeout: Duration,
    /// Connections open at once. A newcomer at the cap makes room: the
    /// connection that has waited longest for the rest of a request head is
    /// closed, or else the one idle longest between requests. Only when
    /// every open connection is serving a request does the newcomer get a
    /// canned 503, without its request being read.
    pub max_connections: u32,
    /// Serving threads, each with its own event loop, its own connections
    /// and its own 0.3 instances (see `serve/threads.rs`); at most
    /// [`MOST_SERVING_THREADS`].
    pub threads: usize,
}

impl Default for ServerLimits {
    /// What an edge host would use: 10 s for a request head, 30 s idle, and
    /// as many connections as the process's file limit allows
    /// ([`connections_for_file_limit`]), and a serving thread per core
    /// ([`threads_for_cores`]).
    fn default() -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: connections_for_file_limit(),
            threads: threads_for_cores(),
        }
    }
}

/// A serving thread per core the process may run on (1 where that cannot
/// be read), at most [`MOST_SERVING_THREADS`].
pub fn threads_for_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MOST_SERVING_THREADS)
}

/// File descriptors kept for what is not a client connection: the
/// listener, stdio, outbound requests, wasmtime's and tokio's own.
pub const FD_HEADROOM: u64 = 128;

/// The most connections anyone gets, whatever the file limit.
const MOST_CONNECTIONS: u64 = 1 << 20;

/// The connections the process's file limit (the soft `RLIMIT_NOFILE`)
/// leaves room for: the limit less [`FD_HEADROOM`], at least 1 (and 1024
/// where there is no such limit to read).
pub fn connections_for_file_limit() -> u32 {
    let Some(limit) = file_limit() else { return 1024 };
    limit.saturating_sub(FD_HEADROOM).clamp(1, MOST_CONNECTIONS) as u32
}

/// The soft file limit, if the platform has one.
fn file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes only the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        Some(if limit.rlim_cur == libc::RLIM_INFINITY { MOST_CONNECTIONS + FD_HEADROOM } else { limit.rlim_cur })
    }
    #[cfg(not(unix))]
    None
}

/// Raises the process's soft file limit to its hard limit, as a server
/// expecting many connections does (the soft limit is often 1024 for a
/// hard limit far above), and returns the soft limit now in force.
pub fn raise_file_limit() -> Result<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit read or write only the struct
        // they are given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            bail!("cannot read the file limit (RLIMIT_NOFILE): {}", std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
                bail!(
                    "cannot raise the file limit from {} to {}: {}; raise it with `ulimit -n` or pass --max-connections",
                    limit.rlim_cur,
                    limit.rlim_max,
                    std::io::Error::last_os_error()
                );
            }
            limit.rlim_cur = limit.rlim_max;
        }
        Ok(limit.rlim_cur)
    }
    #[cfg(not(unix))]
    Ok(0)
}

impl ServerLimits {
    pub(super) fn check(&self) -> Result<()> {
        if self.header_read_timeout.is_zero() || self.idle_timeout.is_zero() {
            bail!("the header read timeout and the idle timeout must be at least 1 ms");
        }
        if self.max_connections == 0 {
            bail!("the connection cap must be at least 1");
        }
        if !(1..=MOST_SERVING_THREADS).contains(&self.threads) {
            bail!("the serving threads must number 1 to {MOST_SERVING_THREADS}, not {}", self.threads);
        }
        Ok(())
    }
}

/// Connections the kernel queues for the accept loop (capped by
/// `net.core.somaxconn`, 4096 by default since Linux 5.4). Under a flood of
/// reconnecting clients a short queue overflows, and a normal client's
/// connection attempt is then dropped and retried only after a second (then
/// three): the gaps a flood would cause.
const BACKLOG: i32 = 4096;

/// Sets the listening socket's accept queue to [`BACKLOG`] (std listens with
/// 128, tokio with 1024); listening again on a listening socket only resizes
/// its queue. Best effort: the default queue still serves.
pub(super) fn widen_backlog(listener: &impl std::os::fd::AsRawFd) {
    // SAFETY: listen has no memory effects; the descriptor is a bound,
    // listening socket the caller owns.
    let _ = unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
}

/// How long a graceful stop waits beyond the per-request deadline for the
/// last responses to reach their clients.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// The first and the longest pause after a failed accept (out of file
/// descriptors, say); the pause doubles while accepting keeps failing.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_secs(1));

/// How long a refused connection waits for its request's first bytes before
/// the 503 (a client whose request is not yet sent may take an early answer
/// for a broken connection), and how long it is read from afterwards (the
/// bytes dropped), so that closing it does not reset it and destroy the 503
/// before the client reads it.
const REFUSE_LINGER: Duration = Duration::from_millis(500);

/// The answer to a connection past the cap when every open one is serving a
/// request.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 38\r\n\
connection: close\r\n\r\ntoo many open connections; retry later\n";

impl Server {
    /// Serves until `stop` resolves, then stops gracefully: closes the
    /// listener, so new connections are refused; closes idle connections and
    /// lets each busy one finish its request (the handler's deadline bounds
    /// it); and returns once every connection is closed, or after the
    /// deadline and [`DRAIN_GRACE`], dropping what is left. Connections are
    /// accepted here and served on threads of the server's own
    /// ([`ServerLimits::threads`], `threads.rs`).
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> Result<()> {
        let Server { listener, handlers, limits, log } = self;
        limits.check()?;
        let slots = Slots::new(limits.max_connections);
        let shared = Arc::new(Shared {
            limits: Arc::new(limits),
            handlers,
            log,
            closing: watch::channel(false).0,
            numbers: Arc::new(AtomicU64::new(0)),
        });
        let mut threads = Threads::start(shared.clone())?;
        let Shared { limits, log, .. } = &*shared;
        let mut backoff = ACCEPT_BACKOFF.0;
        let mut stop = std::pin::pin!(stop);
        loop {
            let accepted = tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => {
                    backoff = ACCEPT_BACKOFF.0;
                    stream
                }
                Err(e) => {
                    // Out of file descriptors, say: wait for some to be
                    // closed instead of retrying at once, which would spin.
                    log.write(|| format!("accept failed: {e}; retrying in {} ms", backoff.as_millis()));
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                    continue;
                }
            };
            // At the cap, a waiting connection is evicted to make room.
            if let Some(slot) = slots.admit() {
                if let Err(e) = threads.hand(stream, slot) {
                    log.write(|| format!("dropped a connection: {e:#}"));
                }
            } else {
                log.write(|| {
                    format!("refused a connection: all {} open ones are serving requests", limits.max_connections)
                });
                tokio::spawn(refuse(stream));
            }
        }
        drop(listener);
        shared.closing.send_replace(true);
        let still_open = slots.open();
        let drain = shared.handlers.deadline() + DRAIN_GRACE;
        if still_open > 0 {
            log.write(|| format!("stopping: waiting up to {} ms for {still_open} open connections", drain.as_millis()));
        }
        if !slots.all_closed(drain).await {
            let left = slots.open();
            log.write(|| format!("stopped with {left} connections still open after {} ms", drain.as_millis()));
        }
        drop(threads);
        Ok(())
    }
}

/// What every connection of a server shares, on whichever thread it is.
pub(super) struct Shared {
    pub(super) limits: Arc<ServerLimits>,
    handlers: Handlers,
    pub(super) log: Log,
    /// Tells the connections the server is stopping.
    closing: watch::Sender<bool>,
    /// Numbers the requests from 1, across connections and threads: the
    /// access log line and the 0.2 guest's log lines of a request carry its
    /// number.
    numbers: Arc<AtomicU64>,
}

impl Shared {
    /// A connection accepted now, to be served.
    pub(super) fn connection(&self) -> Connection {
        Connection {
            handlers: self.handlers.clone(),
            limits: self.limits.clone(),
            log: self.log.clone(),
            closing: self.closing.subscribe(),
            numbers: self.numbers.clone(),
        }
    }
}

/// Answers a connection past the cap with [`BUSY`] and closes it, holding no
/// slot and parsing no request, in at most twice [`REFUSE_LINGER`]. The 503
/// goes out only if the socket takes it at once (a fresh socket does).
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(REFUSE_LINGER, stream.peek(&mut [0])).await;
    let _ = stream.try_write(BUSY);
    let _ = stream.shutdown().await;
    let mut sink = [0; 1024];
    let drain = async { while let Ok(1..) = stream.read(&mut sink).await {} };
    let _ = tokio::time::timeout(REFUSE_LINGER, drain).await;
}
