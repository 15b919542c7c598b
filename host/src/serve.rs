//! Serving a wasi:http component over real HTTP/1.1, as an edge host does:
//! hyper on tokio, a fresh instance per request from an `InstancePre`, the
//! pooling allocator so instantiating is cheap, and the limits of
//! [`Limits`]. One log line per request: method, path, status, time.
//!
//! Whatever a guest does (loop, trap, allocate without end), that request
//! fails with a status and the server goes on serving; a malformed request
//! gets hyper's 400.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use tokio::net::TcpListener;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::http::{Handler, Limits, TICK};

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

/// Serves `handler` on `addr` on a runtime of its own until the process is
/// stopped; `bound` hears the address once the port is open.
pub fn serve_blocking(addr: &str, handler: Handler, bound: impl FnOnce(SocketAddr)) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start a tokio runtime")?;
    runtime.block_on(async {
        let server = Server::bind(addr, handler).await?;
        bound(server.local_addr());
        server.run().await
    })
}

/// An HTTP server for one component.
pub struct Server {
    listener: TcpListener,
    handler: Handler,
    log: bool,
}

impl Server {
    /// Binds `addr` (`127.0.0.1:0` picks a free port).
    pub async fn bind(addr: &str, handler: Handler) -> Result<Server> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}: pick a free port with --addr 127.0.0.1:<port>"))?;
        Ok(Server { listener, handler, log: true })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until the task is dropped.
    pub async fn run(self) -> Result<()> {
        loop {
            let (stream, _) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait and go on.
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let handler = self.handler.clone();
            let log = self.log;
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(answer(&handler, request, log).await) }
                });
                if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
                    && log
                {
                    eprintln!("connection closed: {e}");
                }
            });
        }
    }
}

/// Serves `handler` on `addr` on a thread of its own with its own runtime
/// until the returned [`Running`] is dropped; for tests, benchmarks and
/// checks. `log` turns the per-request log line on.
pub fn start(addr: &str, handler: Handler, log: bool) -> Result<Running> {
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name("edgekit-serve".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("a non-blocking listener");
            let server = Server { listener, handler, log };
            tokio::select! {
                _ = server.run() => {}
                _ = stopped => {}
            }
        });
        runtime.shutdown_background();
    })?;
    Ok(Running { addr, stop: Some(stop), thread: Some(thread) })
}

/// A server running on its own thread; dropping it stops the server.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|stop| stop.send(()));
        let _ = self.thread.take().map(|thread| thread.join());
    }
}

/// One request: the guest's response, or a plain-text error with the
/// status the failure maps to; then the log line.
async fn answer(
    handler: &Handler,
    request: hyper::Request<hyper::body::Incoming>,
    log: bool,
) -> hyper::Response<HyperOutgoingBody> {
    let start = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let (response, failure) = match handler.respond(request).await {
        Ok(response) => (response, None),
        Err(failure) => {
            let body = Full::new(format!("{failure}\n").into()).map_err(|never| match never {}).boxed_unsync();
            let response = hyper::Response::builder()
                .status(failure.status())
                .header("content-type", "text/plain")
                .body(body)
                .expect("a status and a fixed header make a valid response");
            (response, Some(failure))
        }
    };
    if log {
        let micros = start.elapsed().as_micros();
        match failure {
            None => eprintln!("{method} {path} {} {micros} µs", response.status().as_u16()),
            Some(failure) => eprintln!("{method} {path} {} {micros} µs: {failure}", response.status().as_u16()),
        }
    }
    response
}
