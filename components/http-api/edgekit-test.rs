//! The tests edgekit runs against the `http-api` crate's dist artifacts in
//! wasmtime, each written once and run against the artifact of every WASI
//! line the crate is built for (`lines`): `http-api` (WASI 0.2.12) and
//! `http-api-p3` (WASI 0.3.0).
//!
//! `host/tests/components.rs` includes this file as its `http_api` module
//! (generated from the directory listing), so a component without it does
//! not compile; it travels with the component when `cargo xtask new` copies
//! it (a copy made for one line runs them on that line) and goes with it
//! on `cargo xtask rm`.

use super::*;

use edgekit_host::http::{Response, full_body};

/// Serves one request (on 0.2 in a fresh instance); a trap fails the test here.
fn request(line: &Line, method: &str, uri: &str, body: impl Into<bytes::Bytes>) -> Response {
    let request =
        hyper::Request::builder().method(method).uri(["http://localhost", uri].concat()).body(full_body(body)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(line.handler().handle(request)).unwrap_or_else(|e| panic!("{method} {uri}: {e:#}"))
}

/// Asserts the status and the exact JSON body.
fn check(line: &Line, method: &str, uri: &str, body: &'static str, status: u16, expected: &str) -> Response {
    let response = request(line, method, uri, body);
    assert_eq!((response.status, std::str::from_utf8(&response.body).unwrap()), (status, expected));
    assert_eq!(response.headers["content-type"], "application/json");
    response
}

#[test]
fn health() {
    for line in lines("http-api") {
        check(&line, "GET", "/health", "", 200, r#"{"status":"ok"}"#);
    }
}

#[test]
fn get_item_by_path_parameter() {
    for line in lines("http-api") {
        check(&line, "GET", "/items/2", "", 200, r#"{"id":2,"name":"teapot","price":1800}"#);
    }
}

#[test]
fn list_with_query_string() {
    for line in lines("http-api") {
        check(
            &line,
            "GET",
            "/items?min_price=1000&limit=1",
            "",
            200,
            r#"{"items":[{"id":1,"name":"kettle","price":2500}]}"#,
        );
    }
}

#[test]
fn list_all() {
    for line in lines("http-api") {
        let body = r#"{"items":[{"id":1,"name":"kettle","price":2500},{"id":2,"name":"teapot","price":1800},{"id":3,"name":"mug","price":650}]}"#;
        check(&line, "GET", "/items", "", 200, body);
    }
}

#[test]
fn post_creates() {
    for line in lines("http-api") {
        let response = check(
            &line,
            "POST",
            "/items",
            r#" {"name": "caf\u00e9 cup \"x\"", "price": 990} "#,
            201,
            r#"{"id":4,"name":"café cup \"x\"","price":990}"#,
        );
        assert_eq!(response.headers["location"], "/items/4");
    }
}

#[test]
fn unknown_item_is_404() {
    for line in lines("http-api") {
        check(&line, "GET", "/items/99", "", 404, r#"{"error":"no such item"}"#);
    }
}

#[test]
fn unknown_path_is_404() {
    for line in lines("http-api") {
        check(&line, "GET", "/nope", "", 404, r#"{"error":"no such route"}"#);
    }
}

#[test]
fn wrong_method_is_405_with_allow() {
    for line in lines("http-api") {
        let response = check(&line, "DELETE", "/items", "", 405, r#"{"error":"method not allowed"}"#);
        assert_eq!(response.headers["allow"], "GET, POST");
        assert_eq!(
            check(&line, "PUT", "/items/1", "", 405, r#"{"error":"method not allowed"}"#).headers["allow"],
            "GET"
        );
    }
}

#[test]
fn body_over_limit_is_413() {
    for line in lines("http-api") {
        let response = request(&line, "POST", "/items", vec![b' '; 4097]);
        assert_eq!(
            (response.status, &response.body[..]),
            (413, &br#"{"error":"the body is larger than 4096 bytes"}"#[..])
        );
        assert_eq!(request(&line, "POST", "/items", vec![b' '; 4096]).status, 400);
    }
}

#[test]
fn malformed_json_is_400() {
    for line in lines("http-api") {
        check(
            &line,
            "POST",
            "/items",
            r#"{"name": "x", "price": 1"#,
            400,
            r#"{"error":"expected `,` or `}` in an object"}"#,
        );
    }
}

#[test]
fn failed_validation_is_400() {
    for line in lines("http-api") {
        check(
            &line,
            "POST",
            "/items",
            r#"{"name": "x", "price": -5}"#,
            400,
            r#"{"error":"`price` must be between 0 and 1000000"}"#,
        );
        check(
            &line,
            "POST",
            "/items",
            r#"{"name": "  ", "price": 5}"#,
            400,
            r#"{"error":"`name` must be 1 to 64 characters"}"#,
        );
        check(
            &line,
            "POST",
            "/items",
            r#"{"name": "x", "price": 1.5}"#,
            400,
            r#"{"error":"`price` must be an integer (cents)"}"#,
        );
        check(&line, "POST", "/items", r#"{"name": "x"}"#, 400, r#"{"error":"`name` and `price` are required"}"#);
        check(
            &line,
            "POST",
            "/items",
            r#"{"name": "x", "price": 1, "extra": 1}"#,
            400,
            r#"{"error":"unknown field; an item has `name` and `price`"}"#,
        );
    }
}

#[test]
fn bad_path_parameter_and_query_are_400() {
    for line in lines("http-api") {
        check(&line, "GET", "/items/abc", "", 400, r#"{"error":"id must be a positive integer"}"#);
        check(
            &line,
            "GET",
            "/items?limit=-1",
            "",
            400,
            r#"{"error":"min_price and limit must be non-negative integers"}"#,
        );
        check(&line, "GET", "/items?limit=%zz", "", 400, r#"{"error":"malformed percent-encoding in the query"}"#);
    }
}

/// Hostile bodies and paths get a 4xx, never a trap (`request` fails on one).
#[test]
fn never_traps() {
    for line in lines("http-api") {
        let deep = "[".repeat(4000);
        let bodies: Vec<Vec<u8>> = vec![
            deep.into_bytes(),
            b"\xff\xfe".to_vec(),
            br#"{"name": "\ud800", "price": 1}"#.to_vec(),
            br#"{"name": "\u12"#.to_vec(),
            br#"{"name": "x", "price": 99999999999999999999999}"#.to_vec(),
            br#"{"name": "x", "price": 01}"#.to_vec(),
            b"\"unterminated".to_vec(),
            b"{\"a\x01\": 1}".to_vec(),
            b"".to_vec(),
            b"nul".to_vec(),
            br#"[1, 2, {"k": [true, false, null, -0.5e+3]}]"#.to_vec(),
        ];
        for body in bodies {
            let response = request(&line, "POST", "/items", body.clone());
            assert_eq!(response.status, 400, "{:?}: {:?}", String::from_utf8_lossy(&body), response.body);
        }
        for uri in
            ["/", "//", "/items/", "/items/1/2", "/items/99999999999999999999", "/items?%", "/health?x=1", "/%ff"]
        {
            let status = request(&line, "GET", uri, "").status;
            assert!((200..500).contains(&status), "{uri}: {status}");
        }
    }
}

/// A valid body of exactly the limit is read whole (on 0.3 by the
/// asynchronous reads), and one a byte over it is refused.
#[test]
fn bodies_near_the_limit() {
    for line in lines("http-api") {
        let body = r#"{"name": "mug", "price": 650}"#;
        assert_eq!(request(&line, "POST", "/items", format!("{}{body}", " ".repeat(4096 - body.len()))).status, 201);
        assert_eq!(request(&line, "POST", "/items", format!("{}{body}", " ".repeat(4097 - body.len()))).status, 413);
    }
}
