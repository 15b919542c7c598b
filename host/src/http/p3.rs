//! WASI 0.3 (`wasi:http/handler@0.3.x`): an instance serves many requests,
//! several at once, as 0.3 hosts do (`wasmtime serve` and Spin: up to 128
//! requests per instance, 16 at once; [`Limits::reuse`] and
//! [`Limits::concurrent`] here). Dispatch is wasmtime-wasi-http's
//! `ProxyHandler`, which starts a worker per instance and retires it when it
//! has served its share, stayed idle for [`IDLE_INSTANCE`], or failed.
//!
//! Each serving thread has workers of its own ([`Handler::workers`]): a
//! request goes to an instance kept on the thread that read it, so the
//! instance's store, its memory and the request never cross threads (see
//! `serve`'s threads).
//!
//! A guest's failure stays in its instance: a trap or the memory limit fails
//! the requests that instance has in flight and discards it; the next request
//! gets a fresh one. The deadline counts per request from the moment its
//! instance takes it: a request past it gets 504 and its instance takes no
//! more; one whose guest computes without yielding is stopped from outside
//! (the epoch makes the guest yield every tick, and the worker's expiration
//! then drops the instance).
//!
//! A trap reaches the requests of its instance only as `TrapOrPanicError`
//! (the worker's channels closing); the trap itself, with its guest
//! backtrace, is handed to the worker's [`WorkerState::drop`]. The worker
//! describes it there (`trap::describe`: the backtrace named with the
//! component's names file) and publishes the text on a watch channel each
//! of its requests holds, so their failure says what trapped and where.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime::component::{Component, GuestTaskId, Linker};
use wasmtime::{Engine, Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, InstantiationError, Proxy, ProxyHandler, ShouldAccept, TrapOrPanicError,
    WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

use super::output::{GuestOutput, Sink};
use super::{Failure, Grants, Limits, RequestState, TICK};

/// How long an instance with nothing to do is kept for the next request
/// (`wasmtime serve`'s default too).
pub const IDLE_INSTANCE: Duration = Duration::from_secs(1);

/// A 0.3 http component, pre-instantiated against the `wasi:http/service`
/// world, with the workers that serve it: a set per serving thread.
#[derive(Clone)]
pub(super) struct Handler {
    instances: Arc<Instances>,
    /// Workers per serving thread, indexed by [`super::serving_thread`],
    /// each set started on the first request its thread hands over.
    workers: Arc<[OnceLock<ProxyHandler<Shard>>]>,
    limits: Arc<Limits>,
}

/// How the workers of one serving thread get their instances: from the
/// handler's one [`Instances`].
struct Shard(Arc<Instances>);

/// How a worker gets its instance.
struct Instances {
    pre: ServicePre<RequestState>,
    limits: Arc<Limits>,
    grants: Arc<Grants>,
    /// Counted across every thread's workers.
    made: AtomicUsize,
    output: GuestOutput,
}

/// One request on its way through a worker: the worker it landed on leaves
/// its memory flag here, so a failure can say the memory limit caused it,
/// its instance's number, which tags that instance's log lines, and where
/// the worker will say why it failed, if it does.
#[derive(Default)]
struct Attempt {
    memory: OnceLock<Arc<AtomicBool>>,
    instance: OnceLock<usize>,
    failure: OnceLock<WorkerFailure>,
}

/// What ended a worker, described (`trap::describe`), once it has ended;
/// `None` until then. The sender is dropped with the worker.
type WorkerFailure = tokio::sync::watch::Receiver<Option<Arc<str>>>;

/// How long a request whose instance failed waits for the worker to
/// describe the failure (it does so as soon as its store is handed back,
/// on the worker's own task, a moment after the request learns of it).
const FAILURE_WAIT: Duration = Duration::from_secs(1);

impl Handler {
    pub(super) fn new(
        engine: &Engine,
        component: &Component,
        limits: Arc<Limits>,
        grants: Arc<Grants>,
    ) -> Result<Handler> {
        let mut linker = Linker::new(engine);
        if grants.cli {
            wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        } else {
            // The service world's imports beside wasi:http: clocks, random,
            // and the cli types and standard streams (no environment, no
            // files, no sockets).
            wasmtime_wasi::p3::clocks::add_to_linker(&mut linker)?;
            wasmtime_wasi::p3::random::add_to_linker(&mut linker)?;
            wasmtime_wasi::p3::cli::add_to_linker(&mut linker)?;
        }
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
        super::link_config(&mut linker)?;
        let pre = linker.instantiate_pre(component).map_err(anyhow::Error::from).with_context(|| match grants.cli {
            true => "the component imports more than WASI 0.3 and wasi:http offer".to_string(),
            false => {
                format!("the component imports more than the wasi:http/service@0.3 world offers; {}", super::CLI_HINT)
            }
        })?;
        let pre = ServicePre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export wasi:http/handler@0.3")?;
        let instances = Instances {
            pre,
            limits: limits.clone(),
            grants,
            made: AtomicUsize::new(0),
            output: GuestOutput::default(),
        };
        Ok(Handler::of(instances))
    }

    fn of(instances: Instances) -> Handler {
        let workers = (0..super::MOST_SERVING_THREADS).map(|_| OnceLock::new()).collect();
        Handler { limits: instances.limits.clone(), instances: Arc::new(instances), workers }
    }

    /// The workers of the thread calling: each serving thread's own, and
    /// the first set for any other thread.
    fn workers(&self) -> &ProxyHandler<Shard> {
        let shard = &self.workers[super::serving_thread() % self.workers.len()];
        shard.get_or_init(|| ProxyHandler::new(Shard(self.instances.clone())))
    }

    /// The same handler, its guests' output going to `output`: new workers
    /// (none has started before the handler serves).
    pub(super) fn with_output(self, output: GuestOutput) -> Handler {
        let old = &self.instances;
        Handler::of(Instances {
            pre: old.pre.clone(),
            limits: old.limits.clone(),
            grants: old.grants.clone(),
            made: AtomicUsize::new(old.made.load(Ordering::Relaxed)),
            output,
        })
    }

    /// Instances made so far to serve requests.
    pub(super) fn instances_made(&self) -> usize {
        self.instances.made.load(Ordering::Relaxed)
    }

    pub(super) async fn instantiate(&self) -> Result<()> {
        let instances = &self.instances;
        let mut store = instances.store(None);
        instances.pre.instantiate_async(&mut store).await?;
        Ok(())
    }

    /// Hands the request to a worker; returns the response or why there is
    /// none, and the number of the instance that took it, if one did.
    pub(super) async fn respond<B>(
        &self,
        request: hyper::Request<B>,
    ) -> (Result<hyper::Response<HyperOutgoingBody>, Failure>, Option<usize>)
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let request = request.map(|body| body.map_err(Into::into).boxed_unsync());
        let attempt = Arc::new(Attempt::default());
        let start = Instant::now();
        let deadline = self.limits.deadline;
        let result =
            match tokio::time::timeout(deadline + 4 * TICK, self.workers().handle(attempt.clone(), request)).await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(error)) => {
                    let why = match error.downcast_ref::<TrapOrPanicError>() {
                        Some(_) => worker_failure(&attempt).await,
                        None => None,
                    };
                    Err(self.classify(error, &attempt, start, why))
                }
                Err(_) => Err(Failure::Deadline(deadline)),
            };
        (result, attempt.instance.get().copied())
    }

    /// Why the request failed. `why` is what its worker said ended it, when
    /// the instance failed under it (`TrapOrPanicError`).
    fn classify(&self, error: wasmtime::Error, attempt: &Attempt, start: Instant, why: Option<Arc<str>>) -> Failure {
        let memory = attempt.memory.get().is_some_and(|flag| flag.load(Ordering::Relaxed));
        if let Some(code) = error.downcast_ref::<ErrorCode>() {
            return Failure::Guest(format!("{code:?}"));
        }
        if error.downcast_ref::<ExpirationError>().is_some() {
            return Failure::Deadline(self.limits.deadline);
        }
        if let Some(failed) = error.downcast_ref::<InstantiationError<Arc<Attempt>>>() {
            if failed.error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
                return Failure::Busy;
            }
            return Failure::Host(anyhow::anyhow!("cannot instantiate the component: {:#}", failed.error));
        }
        // Another request's fault, or the deadline enforced from outside,
        // ended the instance this request was on.
        if error.downcast_ref::<TrapOrPanicError>().is_some() && !memory {
            return match start.elapsed() >= self.limits.deadline {
                true => Failure::Deadline(self.limits.deadline),
                false => match why {
                    Some(why) => Failure::Trap(anyhow::anyhow!("{why}")),
                    None => Failure::Trap(anyhow::anyhow!(
                        "the instance serving this request failed (its worker did not say why within {} ms)",
                        FAILURE_WAIT.as_millis()
                    )),
                },
            };
        }
        Failure::classify(error, &self.limits, memory)
    }
}

impl Instances {
    fn store(&self, output: Option<Arc<Sink>>) -> Store<RequestState> {
        let mut store = super::new_store(self.pre.engine(), &self.limits, &self.grants, output);
        // Yield at every tick, so that a guest computing in a loop lets the
        // worker's expiration run (and its other requests, and the tasks
        // behind it on this thread); the deadline itself is the worker's. A
        // profile taken (`serve --profile`) gets a sample at each tick.
        let profile = self.output.profile.clone();
        store.epoch_deadline_callback(move |cx| {
            if let Some(profile) = &profile {
                profile.sample(&cx);
            }
            Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
        });
        store.set_epoch_deadline(1);
        store
    }

    /// A new instance for a worker, numbered.
    async fn instance(&self) -> wasmtime::Result<Instance<RequestState, Expiry, Worker>> {
        let number = self.made.fetch_add(1, Ordering::Relaxed) + 1;
        let mut store = self.store(self.output.sink(&format!("i{number}")));
        let memory = store.data().memory.flag();
        let service = self.pre.instantiate_async(&mut store).await?;
        Ok(Instance {
            store,
            proxy: Proxy::P3(service),
            view: <RequestState as WasiHttpView>::http,
            expiration: Expiry {
                deadline: self.limits.deadline + 4 * TICK,
                sleep: Box::pin(tokio::time::sleep(Duration::MAX)),
            },
            state: Worker {
                limits: self.limits.clone(),
                memory,
                number,
                failure: tokio::sync::watch::Sender::new(None),
            },
        })
    }
}

impl HandlerState for Shard {
    type StoreData = RequestState;
    type WorkerExpiration = Expiry;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<RequestState, Expiry, Worker>> {
        self.0.instance().await
    }
}

/// When a worker's instance is done: idle for [`IDLE_INSTANCE`], or busy
/// with a request for longer than the deadline (the guest computes without
/// end, and the request's own timer cannot fire inside it).
struct Expiry {
    deadline: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for Expiry {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>, status: WorkerStatus, start: Instant) -> Poll<()> {
        let this = self.get_mut();
        let after = match status {
            WorkerStatus::Idle => IDLE_INSTANCE,
            WorkerStatus::Requests | WorkerStatus::PostReturn => this.deadline,
        };
        let Some(when) = start.checked_add(after) else { return Poll::Pending };
        let when = tokio::time::Instant::from_std(when);
        if this.sleep.deadline() != when {
            this.sleep.as_mut().reset(when);
        }
        this.sleep.as_mut().poll(cx)
    }
}

/// What a worker takes on: at most [`Limits::concurrent`] requests at once,
/// [`Limits::reuse`] in all, each for at most the deadline.
struct Worker {
    limits: Arc<Limits>,
    memory: Arc<AtomicBool>,
    /// The instance's number, counted from 1 per handler.
    number: usize,
    /// Says what ended the worker, to the requests it took.
    failure: tokio::sync::watch::Sender<Option<Arc<str>>>,
}

/// What the worker of `attempt` said ended it (see [`Attempt::failure`]),
/// waiting up to [`FAILURE_WAIT`] for it to say.
async fn worker_failure(attempt: &Attempt) -> Option<Arc<str>> {
    let mut failure = attempt.failure.get()?.clone();
    let said = tokio::time::timeout(FAILURE_WAIT, failure.wait_for(Option::is_some)).await;
    said.ok()?.ok()?.clone()
}

impl WorkerState for Worker {
    type StoreData = RequestState;
    type RequestData = Arc<Attempt>;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.limits.reuse {
            ShouldAccept::Never
        } else if concurrent >= self.limits.concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        store: StoreContextMut<'_, RequestState>,
        attempt: Arc<Attempt>,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        let _ = attempt.memory.set(self.memory.clone());
        let _ = attempt.instance.set(self.number);
        let _ = attempt.failure.set(self.failure.subscribe());
        if let Some(output) = &store.data().output {
            output.new_budget();
        }
        Box::pin(tokio::time::sleep(self.limits.deadline))
    }

    fn drop(&self, store: Store<RequestState>, result: wasmtime::Result<()>) {
        // The requests it failed learn why here: a trap with its guest
        // backtrace, named while the component is alive (its store still is).
        if let Err(error) = result {
            let why = crate::trap::describe(&anyhow::Error::from(error));
            self.failure.send_replace(Some(why.into()));
        }
        // Dropping the store frees the instance's pool slot.
        drop(store);
    }
}
