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
use tokio::sync::{Semaphore, watch};

use super::Server;
use super::connection::Connection;

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
    /// Connections open at once. A connection past the cap gets a canned 503
    /// and is closed at once, without its request being read; the open
    /// connections are served as before.
    pub max_connections: u32,
}

impl Default for ServerLimits {
    /// What an edge host would use: 10 s for a request head, 30 s idle,
    /// 1024 connections.
    fn default() -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

impl ServerLimits {
    pub(super) fn check(&self) -> Result<()> {
        if self.header_read_timeout.is_zero() || self.idle_timeout.is_zero() {
            bail!("the header read timeout and the idle timeout must be at least 1 ms");
        }
        if self.max_connections == 0 {
            bail!("the connection cap must be at least 1");
        }
        Ok(())
    }
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

/// The answer to a connection past the cap.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 38\r\n\
connection: close\r\n\r\ntoo many open connections; retry later\n";

impl Server {
    /// Serves until `stop` resolves, then stops gracefully: closes the
    /// listener, so new connections are refused; closes idle connections and
    /// lets each busy one finish its request (the handler's deadline bounds
    /// it); and returns once every connection is closed, or after the
    /// deadline and [`DRAIN_GRACE`], dropping what is left.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> Result<()> {
        let Server { listener, handlers, limits, log } = self;
        limits.check()?;
        let open = Arc::new(Semaphore::new(limits.max_connections as usize));
        let limits = Arc::new(limits);
        let (closing, _) = watch::channel(false);
        // Numbers the requests from 1, across connections: the access log
        // line and the 0.2 guest's log lines of a request carry its number.
        let numbers = Arc::new(AtomicU64::new(0));
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
            let Ok(permit) = open.clone().try_acquire_owned() else {
                log.write(|| format!("refused a connection: {} are open, the cap", limits.max_connections));
                refuse(stream);
                continue;
            };
            let connection = Connection {
                handlers: handlers.clone(),
                limits: limits.clone(),
                log: log.clone(),
                closing: closing.subscribe(),
                numbers: numbers.clone(),
            };
            tokio::spawn(async move {
                connection.serve(stream).await;
                drop(permit);
            });
        }
        drop(listener);
        closing.send_replace(true);
        let still_open = limits.max_connections as usize - open.available_permits();
        let drain = handlers.current().limits().deadline + DRAIN_GRACE;
        if still_open > 0 {
            log.write(|| format!("stopping: waiting up to {} ms for {still_open} open connections", drain.as_millis()));
        }
        if tokio::time::timeout(drain, open.acquire_many(limits.max_connections)).await.is_err() {
            let left = limits.max_connections as usize - open.available_permits();
            log.write(|| format!("stopped with {left} connections still open after {} ms", drain.as_millis()));
        }
        Ok(())
    }
}

/// Answers a connection past the cap with [`BUSY`] and closes it, holding no
/// slot and parsing no request, in at most twice [`REFUSE_LINGER`]. The 503
/// goes out only if the socket takes it at once (a fresh socket does).
fn refuse(stream: TcpStream) {
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = tokio::time::timeout(REFUSE_LINGER, stream.peek(&mut [0])).await;
        let _ = stream.try_write(BUSY);
        let _ = stream.shutdown().await;
        let mut sink = [0; 1024];
        let drain = async { while let Ok(1..) = stream.read(&mut sink).await {} };
        let _ = tokio::time::timeout(REFUSE_LINGER, drain).await;
    });
}
