//! The edge-fn template: the smallest useful `wasi:http` handler.
//!
//! Every request gets `200 OK`, `content-type: text/plain` and the body
//! `hello from the edge\n`, and one log line on stderr. The `edgekit`
//! library exports the handler and writes the response; the component
//! imports only the `wasi:http`, `wasi:io` and `wasi:cli/stderr` interfaces
//! it touches, so it runs on hosts that offer nothing but the
//! `wasi:http/proxy` world.
#![no_std]

use edgekit::http::{Request, Response};

fn handle(request: Request) -> Response {
    edgekit::info!(request.method(), " ", request.path());
    Response::text(200, "hello from the edge\n")
}

edgekit::handler!(handle);
