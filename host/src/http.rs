//! Serving wasi:http components: one fresh instance per request, linked with
//! the `wasi:http/proxy` world, as `wasmtime serve` does without `-Scli`,
//! plus `wasi:config/store` holding the variables the caller configures.

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Per-request state: what the proxy world's imports need.
pub struct RequestState {
    wasi: WasiCtx,
    config: WasiConfigVariables,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: Default::default() }
    }
}

/// A wasi:http component, pre-instantiated against the proxy world.
#[derive(Clone)]
pub struct Handler {
    pre: ProxyPre<RequestState>,
    config: Vec<(String, String)>,
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

impl Handler {
    pub fn new(engine: &Engine, component: &Component) -> Result<Handler> {
        Handler::with_config(engine, component, &[])
    }

    /// A handler whose instances read `config` through `wasi:config/store`.
    pub fn with_config(engine: &Engine, component: &Component, config: &[(&str, &str)]) -> Result<Handler> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi_http::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut RequestState| WasiConfig::new(&s.config))?;
        let pre = ProxyPre::new(linker.instantiate_pre(component)?)
            .map_err(anyhow::Error::from)
            .context("the component does not export wasi:http/incoming-handler")?;
        let config = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Ok(Handler { pre, config })
    }

    /// Handles one request in a fresh instance and collects the response.
    pub async fn handle<B>(&self, request: hyper::Request<B>) -> Result<Response>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let mut config = WasiConfigVariables::new();
        for (key, value) in &self.config {
            config.insert(key, value);
        }
        let state = RequestState {
            wasi: WasiCtx::builder().build(),
            config,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        let task = tokio::task::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
        });
        let response = match receiver.await {
            Ok(response) => response?,
            Err(_) => {
                task.await??;
                anyhow::bail!("the guest returned without setting a response");
            }
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await.context("reading the response body")?.to_bytes();
        task.await??;
        Ok(Response { status: parts.status.as_u16(), headers: parts.headers, body })
    }
}
