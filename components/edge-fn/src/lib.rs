//! The edge-fn template: the smallest useful `wasi:http` handler, one
//! source for both WASI lines (edge-fn on 0.2, edge-fn-p3 on 0.3).
//!
//! Every request gets `200 OK`, `content-type: text/plain` and the body
//! `hello from the edge\n`, and one log line on stderr. The `edgekit`
//! library exports the handler, runs it, and writes the response (on 0.3
//! after `handle` returns); the component imports only the interfaces it
//! touches (`wasi:http/types` and `wasi:cli/stderr`, and `wasi:io` on 0.2),
//! so it runs on hosts that offer nothing but the line's http world,
//! `wasi:http/proxy` or `wasi:http/service`.
#![no_std]

use edgekit::http::{Request, Response};

#[edgekit::handler]
async fn handle(request: Request) -> Response {
    edgekit::info!(request.method(), " ", request.path());
    Response::text(200, "hello from the edge\n")
}
