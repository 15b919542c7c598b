//! The edge-fn-p3 template: the smallest useful WASI 0.3 `wasi:http` handler.
//!
//! Every request gets `200 OK`, `content-type: text/plain` and the body
//! `hello from the edge\n`, and one log line on stderr. The `edgekit`
//! library exports the handler, runs it, and writes the body after it
//! returns; the component imports only `wasi:http/types` and
//! `wasi:cli/stderr`, so it runs on hosts that offer nothing but the
//! `wasi:http/service` world.
#![no_std]

use edgekit::http::{Request, Response};

async fn handle(request: Request) -> Response {
    edgekit::info!(request.method(), " ", request.path());
    Response::text(200, "hello from the edge\n")
}

edgekit::handler!(handle);
