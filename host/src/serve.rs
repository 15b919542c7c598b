//! Serving a wasi:http component over real HTTP/1.1, as an edge host does:
//! hyper on tokio, a fresh instance per request from an `InstancePre`, the
//! pooling allocator so instantiating is cheap, and the limits of
//! [`Limits`]. One log line per request, when its response has ended: method,
//! path, status, time, and what went wrong if anything did.
//!
//! Whatever a guest does (loop, trap, allocate without end), that request
//! fails with a status and the server goes on serving; a malformed request
//! gets hyper's 400. A guest that fails after its response headers went out
//! has its response cut off (the connection closes without the body's end),
//! never completed.
//!
//! Whatever a client does, it cannot starve the server ([`ServerLimits`]): a
//! connection that sends nothing, sends its request head too slowly, or does
//! not read what it is sent is closed after a timeout, and connections past a
//! cap get a canned 503 at once while the open ones go on. A server stops
//! gracefully: it stops accepting, lets the requests in flight finish within
//! their deadline, then returns.
//!
//! A server serves one [`Handler`], or the latest one a watch channel holds
//! ([`Handlers`]): each new request takes the current one, and a request in
//! flight keeps the one it started with. `cargo xtask dev` swaps a rebuilt
//! component in that way without closing the listening socket.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::http::{Handler, Limits, TICK};

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
    fn check(&self) -> Result<()> {
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

/// An engine for serving under `limits`: the pooling allocator sized to
/// `limits.instances` slots of `limits.memory` bytes, and epoch interruption
/// with a thread advancing the epoch every [`TICK`] for as long as the engine
/// lives.
pub fn engine(limits: &Limits) -> Result<Engine> {
    let n = limits.instances;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 4)
        .total_stacks(n)
        .max_memory_size(limits.memory)
        // Between instances, reset up to 64 KiB of dirtied pages with memset
        // instead of handing them back to the kernel and faulting them in
        // again. With PAGEMAP_SCAN (Linux 6.7+) only the pages the guest
        // dirtied are reset, wherever they are (a Rust guest's stack sits at
        // 1 MiB, its heap above): this halved the greeter's instantiate +
        // first call here, 18.8 to 9.6 µs. Older kernels reset the first
        // 64 KiB.
        .linear_memory_keep_resident(64 << 10)
        .table_keep_resident(16 << 10)
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .wasm_component_model_async(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("cannot reserve the pooling allocator's memory: lower the instance count or the memory limit")?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("edgekit-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .context("cannot start the epoch thread")?;
    Ok(engine)
}

/// What a server gives each new request: always the same [`Handler`], or
/// the latest one sent on a watch channel (what `cargo xtask dev` sends a
/// rebuilt component on). A request keeps the handler it started with, so
/// the requests in flight finish on the old version when a new one comes.
#[derive(Clone)]
pub enum Handlers {
    One(Handler),
    Latest(watch::Receiver<Handler>),
}

impl Handlers {
    /// The handler for a request starting now.
    pub fn current(&self) -> Handler {
        match self {
            Handlers::One(handler) => handler.clone(),
            Handlers::Latest(latest) => latest.borrow().clone(),
        }
    }
}

impl From<Handler> for Handlers {
    fn from(handler: Handler) -> Handlers {
        Handlers::One(handler)
    }
}

impl From<watch::Receiver<Handler>> for Handlers {
    fn from(latest: watch::Receiver<Handler>) -> Handlers {
        Handlers::Latest(latest)
    }
}

/// [`serve_blocking_with`] under the default [`ServerLimits`].
pub fn serve_blocking(addr: &str, handler: impl Into<Handlers>, bound: impl FnOnce(SocketAddr)) -> Result<()> {
    serve_blocking_with(addr, handler, ServerLimits::default(), bound)
}

/// Serves `handler` on `addr` on a runtime of its own until Ctrl-C or
/// SIGTERM, then stops gracefully (see [`Server::run_until`]); a second
/// signal exits the process at once with status 130. `bound` hears the
/// address once the port is open.
pub fn serve_blocking_with(
    addr: &str,
    handler: impl Into<Handlers>,
    limits: ServerLimits,
    bound: impl FnOnce(SocketAddr),
) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start a tokio runtime")?;
    runtime.block_on(async {
        let mut signals = StopSignals::listen()?;
        let server = Server::bind(addr, handler).await?.with_limits(limits);
        bound(server.local_addr());
        let stop = async move {
            signals.next().await;
            eprintln!("stopping: the requests in flight may finish; press Ctrl-C again to quit at once");
            tokio::spawn(async move {
                signals.next().await;
                eprintln!("quitting at once");
                std::process::exit(130);
            });
        };
        server.run_until(stop).await
    })
}

/// Ctrl-C and SIGTERM, listened for from the start for the whole run, so that
/// none is missed between the first and the second.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    #[cfg(unix)]
    fn listen() -> Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?,
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    #[cfg(unix)]
    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    #[cfg(not(unix))]
    fn listen() -> Result<StopSignals> {
        Ok(StopSignals {})
    }

    #[cfg(not(unix))]
    async fn next(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Where a server's log lines go: nowhere, to stderr, or into a channel (for
/// the tests that read them).
#[derive(Clone, Debug)]
pub enum Log {
    Off,
    Stderr,
    Lines(std::sync::mpsc::Sender<String>),
}

impl Log {
    fn on(&self) -> bool {
        !matches!(self, Log::Off)
    }

    /// Writes the line `line` makes, if the log is on.
    fn write(&self, line: impl FnOnce() -> String) {
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

/// An HTTP server for one component.
pub struct Server {
    listener: TcpListener,
    handlers: Handlers,
    limits: ServerLimits,
    log: Log,
}

impl Server {
    /// Binds `addr` (`127.0.0.1:0` picks a free port), with the default
    /// [`ServerLimits`].
    pub async fn bind(addr: &str, handler: impl Into<Handlers>) -> Result<Server> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}: pick a free port with --addr 127.0.0.1:<port>"))?;
        Ok(Server { listener, handlers: handler.into(), limits: ServerLimits::default(), log: Log::Stderr })
    }

    /// The same server under `limits`.
    pub fn with_limits(self, limits: ServerLimits) -> Server {
        Server { limits, ..self }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until the task is dropped.
    pub async fn run(self) -> Result<()> {
        self.run_until(std::future::pending()).await
    }

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

/// One accepted connection and what serving it needs.
struct Connection {
    handlers: Handlers,
    limits: Arc<ServerLimits>,
    log: Log,
    closing: watch::Receiver<bool>,
}

impl Connection {
    /// Serves the connection's requests until the client closes it, a
    /// timeout closes it, or the server stops (then after the request in
    /// flight, if any).
    async fn serve(mut self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let phase = Arc::new(Mutex::new(Phase::Idle(Instant::now())));
        let io = TokioIo::new(Watched::new(stream, phase.clone(), self.limits.clone()));
        let (handlers, log) = (self.handlers, self.log.clone());
        let service = service_fn(move |request| {
            let (handler, log) = (handlers.current(), log.clone());
            let in_flight = InFlight::start(phase.clone());
            async move { Ok::<_, Infallible>(answer(&handler, request, log, in_flight).await) }
        });
        let connection = http1::Builder::new().serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            _ = async { self.closing.wait_for(|closing| *closing).await.is_ok() } => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            self.log.write(|| format!("connection closed: {:#}", anyhow::Error::from(e)));
        }
    }
}

/// What a connection is doing, which decides how long it may wait for the
/// client.
#[derive(Clone, Copy, Debug)]
enum Phase {
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
struct InFlight(Arc<Mutex<Phase>>);

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

/// Serves `handler` on `addr` on a thread of its own with its own runtime
/// until the returned [`Running`] is shut down or dropped; for tests,
/// benchmarks and checks. `log` turns the per-request log line on.
pub fn start(addr: &str, handler: impl Into<Handlers>, log: bool) -> Result<Running> {
    start_with(addr, handler, ServerLimits::default(), log.into())
}

/// [`start`] under `limits`, logging to `log`.
pub fn start_with(addr: &str, handler: impl Into<Handlers>, limits: ServerLimits, log: Log) -> Result<Running> {
    let handlers = handler.into();
    limits.check()?;
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (stop, stopping) = watch::channel(Stop::Serving);
    let thread = std::thread::Builder::new().name("edgekit-serve".into()).spawn(move || -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("a tokio runtime")?;
        let result = runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).context("a non-blocking listener")?;
            let server = Server { listener, handlers, limits, log };
            let (mut graceful, mut now) = (stopping.clone(), stopping);
            let stop = async move {
                let _ = graceful.wait_for(|stop| *stop != Stop::Serving).await;
            };
            tokio::select! {
                result = server.run_until(stop) => result,
                _ = now.wait_for(|stop| *stop == Stop::Now) => Ok(()),
            }
        });
        runtime.shutdown_background();
        result
    })?;
    Ok(Running { addr, stop, thread: Some(thread) })
}

/// What a [`Running`] server was told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Serving,
    Graceful,
    Now,
}

/// A server running on its own thread; dropping it stops the server at once,
/// [`Running::shutdown`] gracefully.
pub struct Running {
    pub addr: SocketAddr,
    stop: watch::Sender<Stop>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Running {
    /// Stops gracefully (see [`Server::run_until`]) and returns when the
    /// server has stopped.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop.send_replace(Stop::Graceful);
        let thread = self.thread.take().expect("only shutdown and drop take the thread");
        thread.join().map_err(|_| anyhow::anyhow!("the server thread panicked"))?
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.send_replace(Stop::Now);
        let _ = self.thread.take().map(|thread| thread.join());
    }
}

/// One request: the guest's response, or a plain-text error with the
/// status the failure maps to. Its body prints the log line when it ends.
async fn answer(
    handler: &Handler,
    request: hyper::Request<hyper::body::Incoming>,
    log: Log,
    in_flight: InFlight,
) -> hyper::Response<HyperOutgoingBody> {
    let line = log.on().then(|| Line {
        log,
        method: request.method().clone(),
        path: request.uri().path().to_string(),
        head: request.method() == hyper::Method::HEAD,
        start: Instant::now(),
    });
    let (response, failure) = match handler.respond(request).await {
        Ok(response) => (response, None),
        Err(failure) => {
            let body = Full::new(format!("{failure}\n").into()).map_err(|never| match never {}).boxed_unsync();
            let response = hyper::Response::builder()
                .status(failure.status())
                .header("content-type", "text/plain")
                .body(body)
                .expect("a status and a fixed header make a valid response");
            (response, Some(failure.to_string()))
        }
    };
    let status = response.status();
    response.map(|body| {
        Logged { body, line, status, failure, ended: false, error: None, _in_flight: in_flight }.boxed_unsync()
    })
}

/// What a request's log line says about the request.
struct Line {
    log: Log,
    method: hyper::Method,
    path: String,
    head: bool,
    start: Instant,
}

/// A response body on its way to the client. It keeps its request in flight
/// until it is dropped, and then prints the request's log line: status,
/// time, and why the request failed, if it did, before or after the
/// response started.
struct Logged {
    body: HyperOutgoingBody,
    line: Option<Line>,
    status: hyper::StatusCode,
    failure: Option<String>,
    ended: bool,
    /// The body's error, held back for one poll (see `poll_frame`).
    error: Option<wasmtime_wasi_http::Error>,
    _in_flight: InFlight,
}

impl Body for Logged {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(error) = self.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        match frame {
            None => self.ended = true,
            Some(Err(error)) => {
                let why = match &error {
                    wasmtime_wasi_http::Error::InternalError(Some(why)) => why.clone(),
                    other => format!("{other:?}"),
                };
                self.failure = Some(format!("the response was cut off: {why}"));
                self.ended = true;
                // Hyper drops what it has buffered when a body fails, which
                // would lose the head and the chunks the guest wrote just
                // before failing. Waiting one poll lets it flush them first.
                self.error = Some(error);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let Some(line) = &self.line else { return };
        let micros = line.start.elapsed().as_micros();
        let status = self.status.as_u16();
        let sends_body = !line.head && !matches!(status, 100..=199 | 204 | 304);
        let why = match &self.failure {
            Some(failure) => format!(": {failure}"),
            None if !self.ended && sends_body => ": the connection closed before the response ended".into(),
            None => String::new(),
        };
        line.log.write(|| format!("{} {} {status} {micros} µs{why}", line.method, line.path));
    }
}
