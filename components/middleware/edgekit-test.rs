//! The tests edgekit runs against the `middleware` dist artifact in wasmtime.
//!
//! `host/tests/components.rs` includes this file as its `middleware` module
//! (generated from the directory listing), so a component without it does
//! not compile; it travels with the component when `cargo xtask new` copies
//! it and goes with it on `cargo xtask rm`.

use super::*;
use edgekit_host::http::{Response, full_body};

const TOKEN: &str = "Bearer edgekit-example-token";

/// One request to the composed `middleware+http-api`, with `headers`.
fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Response {
    static CACHE: OnceLock<(Engine, Component)> = OnceLock::new();
    let (engine, component) = compiled("middleware+http-api", &CACHE);
    let mut builder = hyper::Request::builder().method(method).uri(["http://localhost", uri].concat());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(full_body("")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(Handler::new(engine, component).unwrap().handle(request)).unwrap()
}

#[test]
fn no_token_is_401() {
    let response = request("GET", "/items/2", &[]);
    assert_eq!((response.status, &response.body[..]), (401, &br#"{"error":"missing or invalid bearer token"}"#[..]));
    assert_eq!(response.headers["www-authenticate"], "Bearer");
    assert_eq!(response.headers["x-request-id"].len(), 16);
}

#[test]
fn wrong_token_is_401() {
    assert_eq!(request("GET", "/health", &[("authorization", "Bearer edgekit-example-tokem")]).status, 401);
    assert_eq!(request("GET", "/health", &[("authorization", "Basic edgekit-example-token")]).status, 401);
}

#[test]
fn token_passes_through_to_the_handler() {
    let response = request("GET", "/items/2", &[("authorization", TOKEN)]);
    assert_eq!((response.status, &response.body[..]), (200, &br#"{"id":2,"name":"teapot","price":1800}"#[..]));
    assert_eq!(request("DELETE", "/items", &[("authorization", "bearer edgekit-example-token")]).status, 405);
}

#[test]
fn cors_preflight_is_answered_without_a_token() {
    let headers =
        [("origin", "https://app.example"), ("access-control-request-method", "POST"), ("x-request-id", "req-42")];
    let response = request("OPTIONS", "/items", &headers);
    assert_eq!(response.status, 204);
    assert_eq!(response.headers["access-control-allow-origin"], "*");
    assert_eq!(response.headers["access-control-allow-headers"], "authorization, content-type");
    assert_eq!(response.headers["x-request-id"], "req-42");
}
