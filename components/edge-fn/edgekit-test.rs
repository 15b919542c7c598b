//! The tests edgekit runs against the `edge-fn` crate's dist artifacts in
//! wasmtime, each written once and run against the artifact of every WASI
//! line the crate is built for (`lines`): `edge-fn` (WASI 0.2.12) and
//! `edge-fn-p3` (WASI 0.3.0).
//!
//! `host/tests/components.rs` includes this file as its `edge_fn` module
//! (generated from the directory listing), so a component without it does
//! not compile; it travels with the component when `cargo xtask new` copies
//! it (a copy made for one line runs them on that line) and goes with it
//! on `cargo xtask rm`.

use super::*;

use edgekit_host::http::full_body;

fn request(line: &Line, method: &str, uri: &str, body: &'static [u8]) -> edgekit_host::http::Response {
    let request = hyper::Request::builder().method(method).uri(uri).body(full_body(body)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(line.handler().handle(request)).unwrap()
}

#[test]
fn get_root() {
    for line in lines("edge-fn") {
        let response = request(&line, "GET", "http://localhost/", b"");
        assert_eq!(response.status, 200);
        assert_eq!(response.headers["content-type"], "text/plain");
        assert_eq!(response.body, "hello from the edge\n");
    }
}

#[test]
fn any_path_and_method() {
    for line in lines("edge-fn") {
        let response = request(&line, "POST", "http://example.com/some/path?q=1", b"ignored body");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, "hello from the edge\n");
    }
}
