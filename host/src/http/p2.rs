//! WASI 0.2 (`wasi:http/incoming-handler@0.2.x`): one fresh instance per
//! request, as 0.2 hosts do (a 0.2 handler cannot be called twice at once).
//! The deadline is counted in epoch ticks from instantiation and also held
//! by a timer, so a guest that waits in the host is stopped too.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::output::{GuestOutput, Sink};
use super::{Failure, Grants, Limits, RequestState, TICK};

/// A 0.2 http component, pre-instantiated against the `wasi:http/proxy` world.
#[derive(Clone)]
pub(super) struct Handler {
    pre: ProxyPre<RequestState>,
    limits: Arc<Limits>,
    grants: Arc<Grants>,
    made: Arc<AtomicUsize>,
    output: GuestOutput,
}

type Guest = tokio::task::JoinHandle<Result<(), Failure>>;

impl Handler {
    pub(super) fn new(
        engine: &Engine,
        component: &Component,
        limits: Arc<Limits>,
        grants: Arc<Grants>,
    ) -> Result<Handler> {
        let mut linker = Linker::new(engine);
        if grants.cli {
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        } else {
            wasmtime_wasi_http::p2::add_to_linker_async(&mut linker)?;
        }
        super::link_config(&mut linker)?;
        let pre = linker.instantiate_pre(component).map_err(anyhow::Error::from).with_context(|| match grants.cli {
            true => "the component imports more than WASI 0.2 and wasi:http offer".to_string(),
            false => {
                format!("the component imports more than the wasi:http/proxy@0.2 world offers; {}", super::CLI_HINT)
            }
        })?;
        let pre = ProxyPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export wasi:http/incoming-handler@0.2")?;
        Ok(Handler { pre, limits, grants, made: Arc::new(AtomicUsize::new(0)), output: GuestOutput::default() })
    }

    /// The same handler, its guests' output going to `output`.
    pub(super) fn with_output(self, output: GuestOutput) -> Handler {
        Handler { output, ..self }
    }

    /// Instances made so far to serve requests: one per request.
    pub(super) fn instances_made(&self) -> usize {
        self.made.load(Ordering::Relaxed)
    }

    pub(super) async fn instantiate(&self) -> Result<()> {
        let mut store = self.store(None);
        self.pre.instantiate_async(&mut store).await?;
        Ok(())
    }

    fn store(&self, output: Option<Arc<Sink>>) -> Store<RequestState> {
        let mut store = super::new_store(self.pre.engine(), &self.limits, &self.grants, output);
        // At every tick the guest yields to the executor, so that a guest
        // computing in a loop does not hold its worker thread, and the tasks
        // queued behind it (its own response's connection among them), for
        // its whole deadline; once the deadline's ticks are used up, it is
        // interrupted.
        // A profile taken (`serve --profile`) gets a sample at each tick.
        let mut ticks_left = (self.limits.deadline.as_nanos() / TICK.as_nanos()) as u64 + 1;
        let profile = self.output.profile.clone();
        store.epoch_deadline_callback(move |cx| {
            if let Some(profile) = &profile {
                profile.sample(&cx);
            }
            ticks_left = ticks_left.saturating_sub(1);
            Ok(match ticks_left {
                0 => UpdateDeadline::Interrupt,
                _ => UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())),
            })
        });
        store.set_epoch_deadline(1);
        store
    }

    /// Handles one request in a fresh instance and returns the response as
    /// soon as the guest sets it; the body streams while the guest runs on,
    /// and fails with `Error::InternalError` saying why if the guest
    /// fails before returning. Its guest's output is tagged `#<number>`.
    pub(super) async fn respond<B>(
        &self,
        request: hyper::Request<B>,
        number: u64,
    ) -> Result<hyper::Response<HyperOutgoingBody>, Failure>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let limits = self.limits.clone();
        self.made.fetch_add(1, Ordering::Relaxed);
        let mut store = self.store(self.output.sink(&format!("#{number}")));
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let host = |e: wasmtime::Error| Failure::Host(e.into());
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, request).map_err(host)?;
        let out = store.data_mut().http().new_response_outparam(sender).map_err(host)?;
        let pre = self.pre.clone();
        let guest: Guest = tokio::task::spawn(async move {
            // The epoch stops a guest that computes; the timer also stops one
            // that waits in the host (a slow outbound request, a client that
            // does not read the body), before or after it set its response.
            // Either way the store is dropped, which frees the instance slot.
            let run = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
            };
            match tokio::time::timeout(limits.deadline + 4 * TICK, run).await {
                Ok(result) => result.map_err(|e| Failure::classify(e, &limits, store.data().memory.exceeded())),
                Err(_) => Err(Failure::Deadline(limits.deadline)),
            }
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response.map(|body| GuestBody { body, guest: Some(guest) }.boxed_unsync())),
            Ok(Err(code)) => Err(Failure::Guest(format!("{code:?}"))),
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
