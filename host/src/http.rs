//! Serving wasi:http components: one fresh instance per request, linked with
//! the `wasi:http/proxy` world, as `wasmtime serve` does without `-Scli`,
//! plus `wasi:config/store` holding the variables the caller grants.
//!
//! Each request's instance gets [`Limits`]: a deadline (epoch interruption,
//! plus a timer for a guest blocked in the host), a memory limit (a
//! `ResourceLimiter` that traps the growth past it), and only the outbound
//! hosts its [`Grants`] name. A failure becomes a [`Failure`] that says which
//! limit was hit and maps to an HTTP status.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, SizeHint};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// How often the engine's epoch advances when limits are enforced (see
/// `serve::engine`); the deadline is counted in these ticks.
pub const TICK: Duration = Duration::from_millis(5);

/// What one request's instance may use.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall-clock time for instantiation and the handler; past it the guest
    /// is interrupted and the client gets 504, or, if the guest had set its
    /// response already, a response cut off before its end.
    pub deadline: Duration,
    /// Bytes of linear memory per instance; growing past it fails the
    /// request with 500.
    pub memory: usize,
    /// Instances alive at once (the pooling allocator's slots); requests
    /// beyond it get 503.
    pub instances: u32,
}

impl Default for Limits {
    /// What an edge host would use: 10 s, 128 MiB, 100 concurrent instances.
    fn default() -> Limits {
        Limits { deadline: Duration::from_secs(10), memory: 128 << 20, instances: 100 }
    }
}

/// Capabilities beyond the proxy world's types: the hosts a component may
/// send outbound requests to, and the `wasi:config` variables it may read
/// (none of either by default).
#[derive(Clone, Debug, Default)]
pub struct Grants {
    pub outbound_hosts: Vec<String>,
    pub config: Vec<(String, String)>,
    /// Link all of WASI 0.2 (`wasi:cli`, filesystem, sockets) beside
    /// `wasi:http`, with nothing granted through it (no arguments, variables
    /// or directories): what a component built the stock way for
    /// `wasm32-wasip2` imports, as `wasmtime serve -Scli` gives it.
    pub cli: bool,
}

/// Per-request state: what the proxy world's imports need, and the limits.
pub struct RequestState {
    wasi: WasiCtx,
    config: WasiConfigVariables,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Outbound,
    memory: MemoryLimit,
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// Traps a memory growth past the limit, and remembers that it did so the
/// failure can say why.
struct MemoryLimit {
    limit: usize,
    exceeded: bool,
}

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            wasmtime::bail!("memory limit of {} bytes exceeded", self.limit);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// Sends outbound requests only to granted hosts.
struct Outbound(Arc<Grants>);

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (hyper::Response<WasiBody>, Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let granted = request.uri().host().is_some_and(|h| self.0.outbound_hosts.iter().any(|g| g == h));
        if !granted {
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let default: &mut dyn WasiHttpHooks = Default::default();
        default.send_request(request, options, fut)
    }
}

/// Why a request got no response from the guest.
#[derive(Debug)]
pub enum Failure {
    /// The guest ran past the deadline (504).
    Deadline(Duration),
    /// The guest grew its memory past the limit (500).
    Memory(usize),
    /// Every instance slot is busy (503).
    Busy,
    /// The guest trapped or panicked (500).
    Trap(anyhow::Error),
    /// The guest returned without setting a response (500).
    NoResponse,
    /// The guest answered with a wasi:http error code (500).
    Guest(ErrorCode),
    /// Anything else (500).
    Host(anyhow::Error),
}

impl Failure {
    pub fn status(&self) -> u16 {
        match self {
            Failure::Deadline(_) => 504,
            Failure::Busy => 503,
            _ => 500,
        }
    }

    fn classify(error: wasmtime::Error, limits: &Limits, memory_exceeded: bool) -> Failure {
        let error = anyhow::Error::from(error);
        if memory_exceeded {
            Failure::Memory(limits.memory)
        } else if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            Failure::Deadline(limits.deadline)
        } else if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
            Failure::Busy
        } else if error.downcast_ref::<Trap>().is_some() {
            Failure::Trap(error)
        } else {
            Failure::Host(error)
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Deadline(d) => write!(f, "the component ran past its deadline of {} ms", d.as_millis()),
            Failure::Memory(bytes) => write!(f, "the component exceeded its memory limit of {bytes} bytes"),
            Failure::Busy => write!(f, "every instance slot is busy; retry later"),
            Failure::Trap(e) => write!(f, "the component trapped: {}", e.root_cause()),
            Failure::NoResponse => write!(f, "the component returned without setting a response"),
            Failure::Guest(code) => write!(f, "the component answered with an error: {code:?}"),
            Failure::Host(e) => write!(f, "the host failed: {e:#}"),
        }
    }
}

impl std::error::Error for Failure {}

/// A wasi:http component, pre-instantiated against the proxy world.
#[derive(Clone)]
pub struct Handler {
    pre: ProxyPre<RequestState>,
    limits: Arc<Limits>,
    grants: Arc<Grants>,
}

/// A response with its body collected.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// A request body holding `bytes`, for callers that have the whole body.
pub fn full_body(bytes: impl Into<Bytes>) -> UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error> {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

type Guest = tokio::task::JoinHandle<Result<(), Failure>>;

impl Handler {
    /// A handler with default limits and no grants.
    pub fn new(engine: &Engine, component: &Component) -> Result<Handler> {
        Handler::with(engine, component, Limits::default(), Grants::default())
    }

    /// A handler whose instances get `limits` and `grants`. The deadline is
    /// enforced by epochs only when `engine` has epoch interruption on (see
    /// `serve::engine`); a timer enforces it in any case.
    pub fn with(engine: &Engine, component: &Component, limits: Limits, grants: Grants) -> Result<Handler> {
        let mut linker = Linker::new(engine);
        if grants.cli {
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        } else {
            wasmtime_wasi_http::p2::add_to_linker_async(&mut linker)?;
        }
        wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut RequestState| WasiConfig::new(&s.config))?;
        let pre = linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .context("the component imports more than the wasi:http/proxy world offers")?;
        let pre = ProxyPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export wasi:http/incoming-handler")?;
        Ok(Handler { pre, limits: Arc::new(limits), grants: Arc::new(grants) })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Makes a fresh store and instance and drops them: what every request
    /// pays before the guest runs (for `bench`).
    pub async fn instantiate(&self) -> Result<()> {
        let mut store = self.store();
        self.pre.instantiate_async(&mut store).await?;
        Ok(())
    }

    fn store(&self) -> Store<RequestState> {
        let mut config = WasiConfigVariables::new();
        for (key, value) in &self.grants.config {
            config.insert(key, value);
        }
        let state = RequestState {
            wasi: WasiCtx::builder().build(),
            config,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: Outbound(self.grants.clone()),
            memory: MemoryLimit { limit: self.limits.memory, exceeded: false },
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.memory);
        // At every tick the guest yields to the executor, so that a guest
        // computing in a loop does not hold its worker thread, and the tasks
        // queued behind it (its own response's connection among them), for
        // its whole deadline; once the deadline's ticks are used up, it is
        // interrupted.
        let mut ticks_left = (self.limits.deadline.as_nanos() / TICK.as_nanos()) as u64 + 1;
        store.epoch_deadline_callback(move |_| {
            ticks_left = ticks_left.saturating_sub(1);
            Ok(match ticks_left {
                0 => UpdateDeadline::Interrupt,
                _ => UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())),
            })
        });
        store.set_epoch_deadline(1);
        store
    }

    /// Handles one request in a fresh instance and collects the response.
    pub async fn handle<B>(&self, request: hyper::Request<B>) -> Result<Response>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let (response, guest) = self.start(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.context("reading the response body")?.to_bytes();
        guest.await.context("the guest task panicked")??;
        Ok(Response { status: parts.status.as_u16(), headers: parts.headers, body })
    }

    /// Handles one request in a fresh instance and returns the response as
    /// soon as the guest sets it; the body streams while the guest runs on,
    /// and fails with `Error::InternalError` saying why if the guest
    /// fails before returning.
    pub async fn respond<B>(&self, request: hyper::Request<B>) -> Result<hyper::Response<HyperOutgoingBody>, Failure>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let (response, guest) = self.start(request).await?;
        Ok(response.map(|body| GuestBody { body, guest: Some(guest) }.boxed_unsync()))
    }

    async fn start<B>(&self, request: hyper::Request<B>) -> Result<(hyper::Response<HyperOutgoingBody>, Guest), Failure>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let limits = self.limits.clone();
        let mut store = self.store();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let host = |e: wasmtime::Error| Failure::Host(e.into());
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, request).map_err(host)?;
        let out = store.data_mut().http().new_response_outparam(sender).map_err(host)?;
        let pre = self.pre.clone();
        let guest = tokio::task::spawn(async move {
            // The epoch stops a guest that computes; the timer also stops one
            // that waits in the host (a slow outbound request, a client that
            // does not read the body), before or after it set its response.
            // Either way the store is dropped, which frees the instance slot.
            let run = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
            };
            match tokio::time::timeout(limits.deadline + 4 * TICK, run).await {
                Ok(result) => result.map_err(|e| Failure::classify(e, &limits, store.data().memory.exceeded)),
                Err(_) => Err(Failure::Deadline(limits.deadline)),
            }
        });
        match receiver.await {
            Ok(Ok(response)) => Ok((response, guest)),
            Ok(Err(code)) => Err(Failure::Guest(code)),
            // The guest dropped the outparam without setting it: it returned,
            // failed, or will return.
            Err(_) => match guest.await {
                Ok(Ok(())) => Err(Failure::NoResponse),
                Ok(Err(failure)) => Err(failure),
                Err(join) => Err(Failure::Host(join.into())),
            },
        }
    }
}

/// A guest's response body that ends only once the guest has returned. If the
/// guest fails after setting its response (a trap, the memory limit, the
/// deadline), the body fails instead of ending, so that a server cuts the
/// response off rather than completing it: wasmtime-wasi-http ends the body
/// as if finished when the guest's store is dropped in the middle of it.
struct GuestBody {
    body: HyperOutgoingBody,
    guest: Option<Guest>,
}

impl hyper::body::Body for GuestBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Some(frame) = ready!(Pin::new(&mut this.body).poll_frame(cx)) {
            return Poll::Ready(Some(frame));
        }
        let Some(guest) = this.guest.as_mut() else { return Poll::Ready(None) };
        let outcome = ready!(Pin::new(guest).poll(cx));
        this.guest = None;
        let failure = match outcome {
            Ok(Ok(())) => return Poll::Ready(None),
            Ok(Err(failure)) => failure.to_string(),
            Err(join) => format!("the guest task failed: {join}"),
        };
        Poll::Ready(Some(Err(wasmtime_wasi_http::Error::InternalError(Some(failure)))))
    }

    fn is_end_stream(&self) -> bool {
        self.guest.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Edgekit's own answer to `GET path` from the dist artifact (or `.wasm`)
/// `name`, in a fresh instance: the reference other hosts must agree with.
pub fn answer(name: &str, path: &str) -> Result<(u16, Vec<u8>)> {
    let engine = crate::engine()?;
    let component = crate::load(&engine, name)?;
    let handler = Handler::new(&engine, &component)?;
    let request = hyper::Request::get(format!("http://localhost{path}")).body(full_body(""))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let response = runtime.block_on(handler.handle(request))?;
    Ok((response.status, response.body.to_vec()))
}
