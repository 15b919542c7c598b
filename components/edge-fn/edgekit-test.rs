//! The tests edgekit runs against the `edge-fn` crate's dist artifacts in
//! wasmtime, a module per WASI line the crate is built for: `p2` against
//! `edge-fn` (WASI 0.2.12), `p3` against `edge-fn-p3` (WASI 0.3.0).
//!
//! `host/tests/components.rs` includes this file as its `edge_fn` module
//! (generated from the directory listing), so a component without it does
//! not compile; it travels with the component when `cargo xtask new` copies
//! it (with the modules of the lines the copy is made for) and goes with it
//! on `cargo xtask rm`.

use super::*;

/// `edge-fn.wasm`, the WASI 0.2.12 build.
mod p2 {
    use super::*;
    use edgekit_host::http::full_body;

    fn handler() -> Handler {
        static CACHE: OnceLock<(Engine, Component)> = OnceLock::new();
        let (engine, component) = compiled("edge-fn", &CACHE);
        Handler::new(engine, component).unwrap()
    }

    fn request(method: &str, uri: &str, body: &'static [u8]) -> edgekit_host::http::Response {
        let request = hyper::Request::builder().method(method).uri(uri).body(full_body(body)).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(handler().handle(request)).unwrap()
    }

    #[test]
    fn get_root() {
        let response = request("GET", "http://localhost/", b"");
        assert_eq!(response.status, 200);
        assert_eq!(response.headers["content-type"], "text/plain");
        assert_eq!(response.body, "hello from the edge\n");
    }

    #[test]
    fn any_path_and_method() {
        let response = request("POST", "http://example.com/some/path?q=1", b"ignored body");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, "hello from the edge\n");
    }
}

/// `edge-fn-p3.wasm`, the WASI 0.3.0 build.
mod p3 {
    use super::*;
    use edgekit_host::http::full_body;

    fn handler() -> Handler {
        static CACHE: OnceLock<(Engine, Component)> = OnceLock::new();
        let (engine, component) = compiled("edge-fn-p3", &CACHE);
        Handler::new(engine, component).unwrap()
    }

    fn request(method: &str, uri: &str, body: &'static [u8]) -> edgekit_host::http::Response {
        let request = hyper::Request::builder().method(method).uri(uri).body(full_body(body)).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(handler().handle(request)).unwrap()
    }

    #[test]
    fn get_root() {
        let response = request("GET", "http://localhost/", b"");
        assert_eq!(response.status, 200);
        assert_eq!(response.headers["content-type"], "text/plain");
        assert_eq!(response.body, "hello from the edge\n");
    }

    #[test]
    fn any_path_and_method() {
        let response = request("POST", "http://example.com/some/path?q=1", b"ignored body");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, "hello from the edge\n");
    }
}
