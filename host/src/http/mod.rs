//! Serving wasi:http components of either WASI line, linked with the world
//! an edge host offers (`wasi:http/proxy` on 0.2, `wasi:http/service` on 0.3,
//! as `wasmtime serve` does without `-Scli`), plus `wasi:config/store`
//! holding the variables the caller grants and, when a store is granted,
//! `wasi:keyvalue` on it (`crate::kv`). [`Handler`] reads the line from
//! what the component exports; [`p2`] and [`p3`] hold what differs: 0.2 gets
//! a fresh instance per request, 0.3 reuses an instance for many requests,
//! some at once.
//!
//! Each instance gets [`Limits`]: a deadline per request (epoch
//! interruption, plus a timer for a guest blocked in the host), a memory
//! limit (a `ResourceLimiter` that traps the growth past it), and only the
//! outbound hosts its [`Grants`] name. A failure becomes a [`Failure`] that
//! says which limit was hit and maps to an HTTP status.

mod output;
mod p2;
mod p3;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{Component, Linker, ResourceTable, types::ComponentItem};
use wasmtime::{Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

pub use output::{GuestOutput, MAX_LINE, MAX_LINES};
pub use p3::IDLE_INSTANCE;

use crate::kv::{KV_HINT, KvGrant, KvStore};
use crate::profile::Profile;
use crate::serve::Log;
use output::{Sink, Stream, Which};

/// How often the engines' epochs advance when limits are enforced (see
/// `serve::engines`); the deadline is counted in these ticks.
pub const TICK: Duration = Duration::from_millis(5);

/// The most serving threads a server runs (see `serve`); a 0.3 handler
/// keeps a set of workers for each.
pub const MOST_SERVING_THREADS: usize = 64;

thread_local! {
    static SERVING_THREAD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the calling thread as serving thread `index` (counted from 0): the
/// 0.3 requests it hands over go to workers of its own, whose instances
/// stay on it. Other threads count as thread 0.
pub(crate) fn enter_serving_thread(index: usize) {
    SERVING_THREAD.with(|thread| thread.set(index));
}

fn serving_thread() -> usize {
    SERVING_THREAD.with(|thread| thread.get())
}

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
    /// Requests one 0.3 instance serves before it is retired (0.2: always 1).
    pub reuse: usize,
    /// Requests one 0.3 instance serves at once (0.2: always 1).
    pub concurrent: usize,
}

impl Default for Limits {
    /// What an edge host would use: 10 s, 128 MiB, 100 instances; a 0.3
    /// instance serves up to 128 requests, 16 at once (`wasmtime serve`'s
    /// and Spin's defaults).
    fn default() -> Limits {
        Limits { deadline: Duration::from_secs(10), memory: 128 << 20, instances: 100, reuse: 128, concurrent: 16 }
    }
}

/// Capabilities beyond the proxy world's types: the hosts a component may
/// send outbound requests to, and the `wasi:config` variables it may read
/// (none of either by default).
#[derive(Clone, Debug, Default)]
pub struct Grants {
    pub outbound_hosts: Vec<String>,
    pub config: Vec<(String, String)>,
    /// Link all of WASI (`wasi:cli`, filesystem, sockets) of the component's
    /// line beside `wasi:http`, with nothing granted through it but
    /// [`Grants::env`] (no arguments, directories or sockets; stdin empty;
    /// stdout and stderr to the guest log; `exit` fails the request with
    /// 500): what a component built the stock way for `wasm32-wasip2`
    /// imports, as `wasmtime serve -Scli` gives it. `serve --cli`.
    pub cli: bool,
    /// The environment variables a component granted [`Grants::cli`] reads
    /// (`serve --env K=V`); none by default.
    pub env: Vec<(String, String)>,
    /// The store behind `wasi:keyvalue` (`serve --kv <file>` or `--kv
    /// memory`); without one, a component importing it is refused.
    pub kv: Option<KvStore>,
    /// Buckets the component may open besides `default` (`--kv-bucket`);
    /// other names are `no-such-store`.
    pub kv_buckets: Vec<String>,
}

/// What the error of a component that imports more than its line's world
/// says to do.
pub(crate) const CLI_HINT: &str = "a stock `wasm32-wasip2` build imports wasi:cli and more from std: \
    serve it with `--cli` (Grants::cli) to link all of WASI, with nothing granted through it";

/// Per-instance state: what the world's imports need, and the limits.
pub struct RequestState {
    wasi: WasiCtx,
    config: WasiConfigVariables,
    http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) kv: KvGrant,
    hooks: Outbound,
    memory: MemoryLimit,
    /// Where the guest's stdout and stderr go (none when the guest log is
    /// off).
    output: Option<Arc<Sink>>,
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
/// failure can say why (a flag shared with whoever reads the failure: a 0.3
/// instance's requests fail outside its store).
struct MemoryLimit {
    limit: usize,
    exceeded: Arc<AtomicBool>,
}

impl MemoryLimit {
    fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    fn flag(&self) -> Arc<AtomicBool> {
        self.exceeded.clone()
    }
}

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded.store(true, Ordering::Relaxed);
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
    Guest(String),
    /// The guest called `wasi:cli/exit` (500): only with [`Grants::cli`].
    Exit(i32),
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
        if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Failure::Exit(exit.0)
        } else if memory_exceeded {
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
            Failure::Trap(e) => write!(f, "the component trapped: {}", crate::trap::describe(e)),
            Failure::NoResponse => write!(f, "the component returned without setting a response"),
            Failure::Guest(code) => write!(f, "the component answered with an error: {code}"),
            Failure::Exit(status) => write!(f, "the component exited with status {status}"),
            Failure::Host(e) => write!(f, "the host failed: {e:#}"),
        }
    }
}

impl std::error::Error for Failure {}

/// A wasi:http component of either WASI line, pre-instantiated against the
/// world of its line, with the limits and grants its instances get. Cheap to
/// clone: clones share the component and, on 0.3, its instances.
#[derive(Clone)]
pub struct Handler {
    line: Line,
    limits: Arc<Limits>,
    output: GuestOutput,
    /// Numbers requests that come without one (`respond`, `handle`).
    numbers: Arc<AtomicU64>,
    /// Names its traps while it lives (see `trap.rs`); only kept, not read.
    _names: Option<crate::trap::Names>,
}

#[derive(Clone)]
enum Line {
    P2(p2::Handler),
    P3(p3::Handler),
}

/// The WASI line a component's http handler targets, read from its exports.
pub fn wasi_line(component: &Component) -> Option<&'static str> {
    let ty = component.component_type();
    ty.exports(component.engine()).find_map(|(name, item)| match item.ty {
        ComponentItem::ComponentInstance(_) if name.starts_with("wasi:http/incoming-handler@0.2") => Some("0.2"),
        ComponentItem::ComponentInstance(_) if name.starts_with("wasi:http/handler@0.3") => Some("0.3"),
        _ => None,
    })
}

impl Handler {
    /// A handler with default limits and no grants.
    pub fn new(component: &Component) -> Result<Handler> {
        Handler::with(component, Limits::default(), Grants::default())
    }

    /// A handler whose instances get `limits` and `grants`, made on the
    /// engine `component` was compiled on. The deadline is enforced by
    /// epochs only when that engine has epoch interruption on (see
    /// `serve::engines`); a timer enforces it in any case.
    pub fn with(component: &Component, limits: Limits, grants: Grants) -> Result<Handler> {
        let engine = component.engine();
        let imports_kv = component.component_type().imports(engine).any(|(name, _)| name.starts_with("wasi:keyvalue/"));
        if imports_kv && grants.kv.is_none() {
            bail!("the component imports wasi:keyvalue; {KV_HINT}");
        }
        let (limits, grants) = (Arc::new(limits), Arc::new(grants));
        let line = match wasi_line(component) {
            Some("0.2") => Line::P2(p2::Handler::new(engine, component, limits.clone(), grants)?),
            Some(_) => Line::P3(p3::Handler::new(engine, component, limits.clone(), grants)?),
            None => bail!(
                "the component exports neither wasi:http/incoming-handler@0.2 nor wasi:http/handler@0.3: \
                 it is not a wasi:http component"
            ),
        };
        Ok(Handler { line, limits, output: GuestOutput::default(), numbers: Arc::new(AtomicU64::new(0)), _names: None })
    }

    /// The same handler, its guests' log lines tagged with `name` (the
    /// component's name; `component` until named).
    pub fn named(self, name: &str) -> Handler {
        let output = GuestOutput { name: name.into(), ..self.output.clone() };
        self.with_output(output)
    }

    /// The same handler, its guests' log lines written to `log`
    /// ([`Log::Stderr`] until told otherwise; [`Log::Off`] drops them).
    pub fn guest_log(self, log: Log) -> Handler {
        let output = GuestOutput { log, ..self.output.clone() };
        self.with_output(output)
    }

    fn with_output(self, output: GuestOutput) -> Handler {
        let line = match self.line {
            Line::P2(handler) => Line::P2(handler.with_output(output.clone())),
            Line::P3(handler) => Line::P3(handler.with_output(output.clone())),
        };
        Handler { line, output, ..self }
    }

    /// The name the guests' log lines are tagged with.
    pub fn name(&self) -> &str {
        &self.output.name
    }

    /// The same handler, its guests sampled into `profile` at every epoch
    /// tick while they run (`serve --profile`; the engine must be one of
    /// `serve::engines`', whose epochs advance).
    pub fn profiled(self, profile: Profile) -> Handler {
        let output = GuestOutput { profile: Some(profile), ..self.output.clone() };
        self.with_output(output)
    }

    /// The profile its guests sample into, if one is taken.
    pub fn profile(&self) -> Option<&Profile> {
        self.output.profile.as_ref()
    }

    /// The same handler, naming the guest's functions in the traps it
    /// reports (see `trap.rs`) for as long as it or a clone lives.
    pub fn with_names(self, names: crate::trap::Names) -> Handler {
        Handler { _names: Some(names), ..self }
    }

    /// The WASI line of the component: `"0.2"` or `"0.3"`.
    pub fn line(&self) -> &'static str {
        match self.line {
            Line::P2(_) => "0.2",
            Line::P3(_) => "0.3",
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many instances this handler (and its clones) made to serve
    /// requests: one per request on 0.2, far fewer on 0.3.
    pub fn instances_made(&self) -> usize {
        match &self.line {
            Line::P2(handler) => handler.instances_made(),
            Line::P3(handler) => handler.instances_made(),
        }
    }

    /// Makes a fresh store and instance and drops them: what a request pays
    /// before the guest runs when it gets an instance of its own (for
    /// `bench`).
    pub async fn instantiate(&self) -> Result<()> {
        match &self.line {
            Line::P2(handler) => handler.instantiate().await,
            Line::P3(handler) => handler.instantiate().await,
        }
    }

    /// Handles one request and collects the response. A guest that fails
    /// after setting its response fails this too.
    pub async fn handle<B>(&self, request: hyper::Request<B>) -> Result<Response>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let response = self.respond(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.context("reading the response body")?.to_bytes();
        Ok(Response { status: parts.status.as_u16(), headers: parts.headers, body })
    }

    /// Handles one request and returns the response as soon as the guest
    /// sets it; the body streams while the guest runs on, and fails (so a
    /// server cuts the response off) if the guest fails before it ends.
    pub async fn respond<B>(&self, request: hyper::Request<B>) -> Result<hyper::Response<HyperOutgoingBody>, Failure>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let number = self.numbers.fetch_add(1, Ordering::Relaxed) + 1;
        self.respond_numbered(request, number).await.0
    }

    /// [`Handler::respond`] for the request a server numbered `number`: a
    /// 0.2 guest's log lines are tagged `#<number>`. Also returns the 0.3
    /// instance that took the request, if one did, whose number tags that
    /// instance's log lines.
    pub async fn respond_numbered<B>(
        &self,
        request: hyper::Request<B>,
        number: u64,
    ) -> (Result<hyper::Response<HyperOutgoingBody>, Failure>, Option<usize>)
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        match &self.line {
            Line::P2(handler) => (handler.respond(request, number).await, None),
            Line::P3(handler) => handler.respond(request).await,
        }
    }
}

/// A store for one instance under `limits` and `grants`, its guest's stdout
/// and stderr going to `output`; each line adds its own epoch handling.
fn new_store(engine: &Engine, limits: &Limits, grants: &Arc<Grants>, output: Option<Arc<Sink>>) -> Store<RequestState> {
    let mut config = WasiConfigVariables::new();
    for (key, value) in &grants.config {
        config.insert(key, value);
    }
    let mut wasi = WasiCtx::builder();
    if grants.cli {
        wasi.envs(&grants.env);
    }
    if let Some(sink) = &output {
        wasi.stdout(Stream::new(sink.clone(), Which::Stdout)).stderr(Stream::new(sink.clone(), Which::Stderr));
    }
    let state = RequestState {
        wasi: wasi.build(),
        config,
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        kv: KvGrant { store: grants.kv.clone(), buckets: grants.kv_buckets.clone() },
        hooks: Outbound(grants.clone()),
        memory: MemoryLimit { limit: limits.memory, exceeded: Arc::new(AtomicBool::new(false)) },
        output,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.memory);
    store
}

/// `wasi:config/store` and `wasi:keyvalue`, which either line may import
/// beside its world (a component importing `wasi:keyvalue` without a store
/// granted is refused before this, in `Handler::with`).
fn link_config(linker: &mut Linker<RequestState>) -> Result<()> {
    wasmtime_wasi_config::add_to_linker(linker, |s: &mut RequestState| WasiConfig::new(&s.config))?;
    crate::kv::add_to_linker(linker)?;
    Ok(())
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
/// Edgekit's own answer to `GET path` from the dist artifact (or `.wasm`)
/// `name`, in a fresh instance: the reference other hosts must agree with.
/// A component importing `wasi:keyvalue` gets an empty store in memory.
pub fn answer(name: &str, path: &str) -> Result<(u16, Vec<u8>)> {
    let (component, names) = crate::load_named(&crate::engines(), name)?;
    let grants = Grants { kv: Some(KvStore::memory()?), ..Grants::default() };
    let handler =
        Handler::with(&component, Limits::default(), grants)?.guest_log(crate::serve::Log::Off).with_names(names);
    let request = hyper::Request::get(format!("http://localhost{path}")).body(full_body(""))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let response = runtime.block_on(handler.handle(request))?;
    Ok((response.status, response.body.to_vec()))
}
