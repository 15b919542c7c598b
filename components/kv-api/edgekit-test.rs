//! The tests edgekit runs against the `kv-api` crate's dist artifacts in
//! wasmtime, each written once and run against the artifact of every WASI
//! line the crate is built for (`lines`): `kv-api` (WASI 0.2.12) and
//! `kv-api-p3` (WASI 0.3.0).
//!
//! `host/tests/components.rs` includes this file as its `kv_api` module
//! (generated from the directory listing), so a component without it does
//! not compile; it travels with the component when `cargo xtask new` copies
//! it (a copy made for one line runs them on that line) and goes with it
//! on `cargo xtask rm`.
//!
//! Each runs with a `wasi:keyvalue` store in memory behind it (`serve --kv
//! memory`). The store across restarts, concurrent clients and a killed
//! server are `host/tests/kv.rs`'s.

use super::*;

use edgekit_host::http::{Response, full_body};
use edgekit_host::kv::KvStore;

/// A handler on `store`; each request gets a fresh instance, the data stays
/// in the store.
fn handler(line: &Line, store: &KvStore) -> Handler {
    let component = compiled(line.artifact);
    let grants = Grants { kv: Some(store.clone()), ..Grants::default() };
    Handler::with(component, Limits::default(), grants).unwrap()
}

/// Serves one request; a trap fails the test here.
fn request(line: &Line, store: &KvStore, method: &str, uri: &str, body: impl Into<bytes::Bytes>) -> Response {
    let request =
        hyper::Request::builder().method(method).uri(["http://localhost", uri].concat()).body(full_body(body)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(handler(line, store).handle(request)).unwrap_or_else(|e| panic!("{method} {uri}: {e:#}"))
}

/// Asserts the status and the exact body.
fn check(
    line: &Line,
    store: &KvStore,
    method: &str,
    uri: &str,
    body: &'static str,
    status: u16,
    expected: &str,
) -> Response {
    let response = request(line, store, method, uri, body);
    assert_eq!((response.status, std::str::from_utf8(&response.body).unwrap()), (status, expected), "{method} {uri}");
    response
}

fn memory() -> KvStore {
    KvStore::memory().unwrap()
}

#[test]
fn put_creates_then_replaces() {
    for line in lines("kv-api") {
        let kv = memory();
        let created = check(&line, &kv, "PUT", "/items/a-1", r#"{"name": "kettle"}"#, 201, r#"{"name": "kettle"}"#);
        assert_eq!(created.headers["location"], "/items/a-1");
        assert_eq!(created.headers["content-type"], "application/json");
        check(&line, &kv, "PUT", "/items/a-1", r#"{"name":"teapot"}"#, 200, r#"{"name":"teapot"}"#);
        check(&line, &kv, "GET", "/items/a-1", "", 200, r#"{"name":"teapot"}"#);
        assert_eq!(kv.get("default", "item:a-1").unwrap(), Some(br#"{"name":"teapot"}"#.to_vec()), "kept in `default`");
    }
}

#[test]
fn get_and_delete_answer_404_for_a_missing_key() {
    for line in lines("kv-api") {
        let kv = memory();
        check(&line, &kv, "GET", "/items/nope", "", 404, r#"{"error":"no such item"}"#);
        check(&line, &kv, "DELETE", "/items/nope", "", 404, r#"{"error":"no such item"}"#);
        check(&line, &kv, "PUT", "/items/k", "{}", 201, "{}");
        check(&line, &kv, "DELETE", "/items/k", "", 204, "");
        check(&line, &kv, "GET", "/items/k", "", 404, r#"{"error":"no such item"}"#);
    }
}

#[test]
fn put_validates_the_record_and_the_key() {
    for line in lines("kv-api") {
        let kv = memory();
        check(&line, &kv, "PUT", "/items/k", "[1]", 400, r#"{"error":"a record must be a JSON object"}"#);
        check(&line, &kv, "PUT", "/items/k", r#"{"a": 1"#, 400, r#"{"error":"expected `,` or `}` in an object"}"#);
        check(&line, &kv, "PUT", "/items/k%20x", "{}", 400, r#"{"error":"a key is 1 to 128 of A-Z a-z 0-9 . _ ~ -"}"#);
        let long = ["/items/", &"k".repeat(129)].concat();
        assert_eq!(request(&line, &kv, "PUT", &long, "{}").status, 400);
        let too_large = request(&line, &kv, "PUT", "/items/k", vec![b' '; 4097]);
        assert_eq!(too_large.status, 413);
        let mut exactly = vec![b' '; 4094];
        exactly.splice(0..0, *b"{}");
        assert_eq!(request(&line, &kv, "PUT", "/items/k", exactly).status, 201, "4,096 bytes fit");
        assert_eq!(kv.list_keys("default", None).unwrap().keys, ["item:k"], "nothing refused was stored");
    }
}

#[test]
fn list_pages_by_prefix_with_the_cursor() {
    for line in lines("kv-api") {
        let kv = memory();
        // More keys than one store page (edgekit_host::kv::PAGE) and one answer.
        let pairs: Vec<(String, Vec<u8>)> = (0..230)
            .map(|i| (format!("item:{}{i:03}", if i % 2 == 0 { "even-" } else { "odd-" }), b"{}".to_vec()))
            .chain((0..40).map(|i| (format!("counter:even-{i}"), b"1".to_vec())))
            .collect();
        kv.set_many("default", &pairs).unwrap();
        let mut seen = Vec::new();
        let mut uri = "/items?prefix=even-".to_string();
        for _ in 0..20 {
            let response = request(&line, &kv, "GET", &uri, "");
            assert_eq!(response.status, 200);
            let page: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            seen.extend(page["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()));
            match page["cursor"].as_u64() {
                Some(cursor) => uri = format!("/items?prefix=even-&cursor={cursor}"),
                None => break,
            }
        }
        let expected: Vec<String> = (0..230).step_by(2).map(|i| format!("even-{i:03}")).collect();
        assert_eq!(seen, expected);
        check(&line, &kv, "GET", "/items?prefix=none", "", 200, r#"{"keys":[],"cursor":null}"#);
        check(&line, &kv, "GET", "/items?cursor=x", "", 400, r#"{"error":"cursor must be a non-negative integer"}"#);
        check(
            &line,
            &kv,
            "GET",
            "/items?limit=1",
            "",
            400,
            r#"{"error":"unknown query parameter; use prefix or cursor"}"#,
        );
    }
}

#[test]
fn counters_increment_atomically_and_read() {
    for line in lines("kv-api") {
        let kv = memory();
        check(&line, &kv, "GET", "/counters/views", "", 200, r#"{"key":"views","value":0}"#);
        check(&line, &kv, "POST", "/counters/views", "", 200, r#"{"key":"views","value":1}"#);
        check(&line, &kv, "POST", "/counters/views", "", 200, r#"{"key":"views","value":2}"#);
        check(&line, &kv, "GET", "/counters/views", "", 200, r#"{"key":"views","value":2}"#);
        check(&line, &kv, "GET", "/items/views", "", 404, r#"{"error":"no such item"}"#);
        kv.set("default", "counter:broken", b"x").unwrap();
        let failed = request(&line, &kv, "POST", "/counters/broken", "");
        assert_eq!(failed.status, 500);
        assert!(std::str::from_utf8(&failed.body).unwrap().starts_with(r#"{"error":"the key-value store failed: "#));
    }
}

#[test]
fn unknown_routes_and_methods() {
    for line in lines("kv-api") {
        let kv = memory();
        check(&line, &kv, "GET", "/", "", 404, r#"{"error":"no such route"}"#);
        let response = check(&line, &kv, "POST", "/items/k", "", 405, r#"{"error":"method not allowed"}"#);
        assert_eq!(response.headers["allow"], "GET, PUT, DELETE");
        assert_eq!(
            check(&line, &kv, "DELETE", "/counters/k", "", 405, r#"{"error":"method not allowed"}"#).headers["allow"],
            "GET, POST"
        );
    }
}

/// Without a store granted, the host refuses the component up front and
/// says which flag to add.
#[test]
fn refused_without_a_store() {
    for line in lines("kv-api") {
        let component = compiled(line.artifact);
        let error = Handler::with(component, Limits::default(), Grants::default()).err().unwrap();
        assert!(format!("{error:#}").contains("--kv memory"), "{error:#}");
    }
}
