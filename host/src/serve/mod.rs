//! Serving a wasi:http component over real HTTP/1.1, as an edge host does:
//! hyper on tokio, a single-threaded runtime per core, each serving the
//! connections the accept loop hands it (`threads.rs`), a fresh instance
//! per 0.2 request from an `InstancePre` (0.3 instances serve many, see
//! `http::p3`), the pooling allocator so instantiating is cheap, and the
//! limits of [`Limits`]. One log line per request, when its response has
//! ended: method, path, status, time, and what went wrong if anything did.
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
//! component in that way without closing the listening socket. Or it serves
//! an app ([`app::App`]): several components on one address, each request
//! going to the route of its path.

pub mod app;
mod connection;
mod listener;
mod log;
mod request;
mod slots;
mod threads;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::Engines;
use crate::http::{Handler, Limits, TICK};

pub use listener::{FD_HEADROOM, ServerLimits, connections_for_file_limit, raise_file_limit, threads_for_cores};
pub use log::{Log, flush};

/// The engines for serving under `limits` (see [`Engines`]): each with the
/// pooling allocator sized to `limits.instances` slots of `limits.memory`
/// bytes, and epoch interruption, with a thread advancing each engine's
/// epoch every [`TICK`] once it is made.
pub fn engines(limits: &Limits) -> Engines {
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
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engines::with(&config, start_epoch)
}

/// Advances `engine`'s epoch every [`TICK`], on a thread of its own, for as
/// long as the engine lives.
fn start_epoch(engine: &Engine) -> Result<()> {
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
    Ok(())
}

/// What a server gives each new request: always the same [`Handler`], or
/// the latest one sent on a watch channel (what `cargo xtask dev` sends a
/// rebuilt component on), or the handler of its path's route in an app. A
/// request keeps the handler it started with, so the requests in flight
/// finish on the old version when a new one comes.
#[derive(Clone)]
pub enum Handlers {
    One(Handler),
    Latest(watch::Receiver<Handler>),
    App(Arc<app::App>),
}

impl Handlers {
    /// The handler for a request starting now; in an app, its first
    /// route's (a request's own goes through `route`, in `app.rs`).
    pub fn current(&self) -> Handler {
        match self {
            Handlers::One(handler) => handler.clone(),
            Handlers::Latest(latest) => latest.borrow().clone(),
            Handlers::App(app) => app.routes()[0].current(),
        }
    }

    /// The longest deadline a request starting now may get.
    pub fn deadline(&self) -> Duration {
        match self {
            Handlers::App(app) => app.routes().iter().map(|r| r.current().limits().deadline).max().unwrap_or_default(),
            _ => self.current().limits().deadline,
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

impl From<app::App> for Handlers {
    fn from(app: app::App) -> Handlers {
        Handlers::App(Arc::new(app))
    }
}

/// [`serve_blocking_with`] under the default [`ServerLimits`].
pub fn serve_blocking(addr: &str, handler: impl Into<Handlers>, bound: impl FnOnce(SocketAddr)) -> Result<()> {
    serve_blocking_with(addr, handler, ServerLimits::default(), bound)
}

/// Serves `handler` on `addr` until Ctrl-C or SIGTERM, then stops
/// gracefully (see [`Server::run_until`]); a second signal exits the
/// process at once with status 130. `bound` hears the address once the
/// port is open.
pub fn serve_blocking_with(
    addr: &str,
    handler: impl Into<Handlers>,
    limits: ServerLimits,
    bound: impl FnOnce(SocketAddr),
) -> Result<()> {
    // The serving threads have runtimes of their own; this one waits for
    // the signals.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start a tokio runtime")?;
    runtime.block_on(async {
        let mut signals = StopSignals::listen()?;
        let server = Server::bind(addr, handler).await?.with_limits(limits);
        bound(server.local_addr());
        let stop = async move {
            signals.next().await;
            log::flush();
            eprintln!("stopping: the requests in flight may finish; press Ctrl-C again to quit at once");
            tokio::spawn(async move {
                signals.next().await;
                log::flush();
                eprintln!("quitting at once");
                std::process::exit(130);
            });
        };
        let result = server.run_until(stop).await;
        log::flush();
        result
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
        listener::widen_backlog(&listener);
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
}

/// Serves `handler` on `addr` on threads of its own until the returned
/// [`Running`] is shut down or dropped; for tests, benchmarks and checks.
/// `log` turns the per-request log line on.
pub fn start(addr: &str, handler: impl Into<Handlers>, log: bool) -> Result<Running> {
    start_with(addr, handler, ServerLimits::default(), log.into())
}

/// [`start`] under `limits`, logging to `log`.
pub fn start_with(addr: &str, handler: impl Into<Handlers>, limits: ServerLimits, log: Log) -> Result<Running> {
    let handlers = handler.into();
    limits.check()?;
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener::widen_backlog(&listener);
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (stop, stopping) = watch::channel(Stop::Serving);
    let thread = std::thread::Builder::new().name("edgekit-serve".into()).spawn(move || -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("a tokio runtime")?;
        runtime.block_on(async move {
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
        })
        // The serving threads have ended when `run_until` returns or is
        // dropped, and with them the tasks holding instances: what their
        // stores hold (a `--kv` database) is released when `shutdown`
        // returns.
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
        let result = thread.join().map_err(|_| anyhow::anyhow!("the server thread panicked"))?;
        log::flush();
        result
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.send_replace(Stop::Now);
        let _ = self.thread.take().map(|thread| thread.join());
    }
}
