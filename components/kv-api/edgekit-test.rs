//! The tests edgekit runs against the `kv-api` crate's dist artifacts in
//! wasmtime, a module per WASI line the crate is built for: `p2` against
//! `kv-api` (WASI 0.2.12), `p3` against `kv-api-p3` (WASI 0.3.0).
//!
//! `host/tests/components.rs` includes this file as its `kv_api` module
//! (generated from the directory listing), so a component without it does
//! not compile; it travels with the component when `cargo xtask new` copies
//! it (with the modules of the lines the copy is made for) and goes with it
//! on `cargo xtask rm`.
//!
//! Each runs with a `wasi:keyvalue` store in memory behind it (`serve --kv
//! memory`). The store across restarts, concurrent clients and a killed
//! server are `host/tests/kv.rs`'s.

use super::*;

/// `kv-api.wasm`, the WASI 0.2.12 build.
mod p2 {
    use super::*;
    use edgekit_host::http::{Response, full_body};
    use edgekit_host::kv::KvStore;

    /// A handler on `store`; each request gets a fresh instance, the data stays
    /// in the store.
    fn handler(store: &KvStore) -> Handler {
        static CACHE: OnceLock<(Engine, Component)> = OnceLock::new();
        let (engine, component) = compiled("kv-api", &CACHE);
        let grants = Grants { kv: Some(store.clone()), ..Grants::default() };
        Handler::with(engine, component, Limits::default(), grants).unwrap()
    }

    /// Serves one request; a trap fails the test here.
    fn request(store: &KvStore, method: &str, uri: &str, body: impl Into<bytes::Bytes>) -> Response {
        let request = hyper::Request::builder()
            .method(method)
            .uri(["http://localhost", uri].concat())
            .body(full_body(body))
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(handler(store).handle(request)).unwrap_or_else(|e| panic!("{method} {uri}: {e:#}"))
    }

    /// Asserts the status and the exact body.
    fn check(store: &KvStore, method: &str, uri: &str, body: &'static str, status: u16, expected: &str) -> Response {
        let response = request(store, method, uri, body);
        assert_eq!(
            (response.status, std::str::from_utf8(&response.body).unwrap()),
            (status, expected),
            "{method} {uri}"
        );
        response
    }

    fn memory() -> KvStore {
        KvStore::memory().unwrap()
    }

    #[test]
    fn put_creates_then_replaces() {
        let kv = memory();
        let created = check(&kv, "PUT", "/items/a-1", r#"{"name": "kettle"}"#, 201, r#"{"name": "kettle"}"#);
        assert_eq!(created.headers["location"], "/items/a-1");
        assert_eq!(created.headers["content-type"], "application/json");
        check(&kv, "PUT", "/items/a-1", r#"{"name":"teapot"}"#, 200, r#"{"name":"teapot"}"#);
        check(&kv, "GET", "/items/a-1", "", 200, r#"{"name":"teapot"}"#);
        assert_eq!(kv.get("default", "item:a-1").unwrap(), Some(br#"{"name":"teapot"}"#.to_vec()), "kept in `default`");
    }

    #[test]
    fn get_and_delete_answer_404_for_a_missing_key() {
        let kv = memory();
        check(&kv, "GET", "/items/nope", "", 404, r#"{"error":"no such item"}"#);
        check(&kv, "DELETE", "/items/nope", "", 404, r#"{"error":"no such item"}"#);
        check(&kv, "PUT", "/items/k", "{}", 201, "{}");
        check(&kv, "DELETE", "/items/k", "", 204, "");
        check(&kv, "GET", "/items/k", "", 404, r#"{"error":"no such item"}"#);
    }

    #[test]
    fn put_validates_the_record_and_the_key() {
        let kv = memory();
        check(&kv, "PUT", "/items/k", "[1]", 400, r#"{"error":"a record must be a JSON object"}"#);
        check(&kv, "PUT", "/items/k", r#"{"a": 1"#, 400, r#"{"error":"expected `,` or `}` in an object"}"#);
        check(&kv, "PUT", "/items/k%20x", "{}", 400, r#"{"error":"a key is 1 to 128 of A-Z a-z 0-9 . _ ~ -"}"#);
        let long = ["/items/", &"k".repeat(129)].concat();
        assert_eq!(request(&kv, "PUT", &long, "{}").status, 400);
        let too_large = request(&kv, "PUT", "/items/k", vec![b' '; 4097]);
        assert_eq!(too_large.status, 413);
        let mut exactly = vec![b' '; 4094];
        exactly.splice(0..0, *b"{}");
        assert_eq!(request(&kv, "PUT", "/items/k", exactly).status, 201, "4,096 bytes fit");
        assert_eq!(kv.list_keys("default", None).unwrap().keys, ["item:k"], "nothing refused was stored");
    }

    #[test]
    fn list_pages_by_prefix_with_the_cursor() {
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
            let response = request(&kv, "GET", &uri, "");
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
        check(&kv, "GET", "/items?prefix=none", "", 200, r#"{"keys":[],"cursor":null}"#);
        check(&kv, "GET", "/items?cursor=x", "", 400, r#"{"error":"cursor must be a non-negative integer"}"#);
        check(&kv, "GET", "/items?limit=1", "", 400, r#"{"error":"unknown query parameter; use prefix or cursor"}"#);
    }

    #[test]
    fn counters_increment_atomically_and_read() {
        let kv = memory();
        check(&kv, "GET", "/counters/views", "", 200, r#"{"key":"views","value":0}"#);
        check(&kv, "POST", "/counters/views", "", 200, r#"{"key":"views","value":1}"#);
        check(&kv, "POST", "/counters/views", "", 200, r#"{"key":"views","value":2}"#);
        check(&kv, "GET", "/counters/views", "", 200, r#"{"key":"views","value":2}"#);
        check(&kv, "GET", "/items/views", "", 404, r#"{"error":"no such item"}"#);
        kv.set("default", "counter:broken", b"x").unwrap();
        let failed = request(&kv, "POST", "/counters/broken", "");
        assert_eq!(failed.status, 500);
        assert!(std::str::from_utf8(&failed.body).unwrap().starts_with(r#"{"error":"the key-value store failed: "#));
    }

    #[test]
    fn unknown_routes_and_methods() {
        let kv = memory();
        check(&kv, "GET", "/", "", 404, r#"{"error":"no such route"}"#);
        let response = check(&kv, "POST", "/items/k", "", 405, r#"{"error":"method not allowed"}"#);
        assert_eq!(response.headers["allow"], "GET, PUT, DELETE");
        assert_eq!(
            check(&kv, "DELETE", "/counters/k", "", 405, r#"{"error":"method not allowed"}"#).headers["allow"],
            "GET, POST"
        );
    }

    /// Without a store granted, the host refuses the component up front and
    /// says which flag to add.
    #[test]
    fn refused_without_a_store() {
        static CACHE: OnceLock<(Engine, Component)> = OnceLock::new();
        let (engine, component) = compiled("kv-api", &CACHE);
        let error = Handler::with(engine, component, Limits::default(), Grants::default()).err().unwrap();
        assert!(format!("{error:#}").contains("--kv memory"), "{error:#}");
    }
}

/// `kv-api-p3.wasm`, the WASI 0.3.0 build.
mod p3 {
    use super::*;
    use edgekit_host::http::{Response, full_body};
    use edgekit_host::kv::KvStore;

    /// A handler on `store`; each request gets a fresh instance, the data stays
    /// in the store.
    fn handler(store: &KvStore) -> Handler {
        static CACHE: OnceLock<(Engine, Component)> = OnceLock::new();
        let (engine, component) = compiled("kv-api-p3", &CACHE);
        let grants = Grants { kv: Some(store.clone()), ..Grants::default() };
        Handler::with(engine, component, Limits::default(), grants).unwrap()
    }

    /// Serves one request; a trap fails the test here.
    fn request(store: &KvStore, method: &str, uri: &str, body: impl Into<bytes::Bytes>) -> Response {
        let request = hyper::Request::builder()
            .method(method)
            .uri(["http://localhost", uri].concat())
            .body(full_body(body))
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(handler(store).handle(request)).unwrap_or_else(|e| panic!("{method} {uri}: {e:#}"))
    }

    /// Asserts the status and the exact body.
    fn check(store: &KvStore, method: &str, uri: &str, body: &'static str, status: u16, expected: &str) -> Response {
        let response = request(store, method, uri, body);
        assert_eq!(
            (response.status, std::str::from_utf8(&response.body).unwrap()),
            (status, expected),
            "{method} {uri}"
        );
        response
    }

    fn memory() -> KvStore {
        KvStore::memory().unwrap()
    }

    #[test]
    fn put_creates_then_replaces() {
        let kv = memory();
        let created = check(&kv, "PUT", "/items/a-1", r#"{"name": "kettle"}"#, 201, r#"{"name": "kettle"}"#);
        assert_eq!(created.headers["location"], "/items/a-1");
        assert_eq!(created.headers["content-type"], "application/json");
        check(&kv, "PUT", "/items/a-1", r#"{"name":"teapot"}"#, 200, r#"{"name":"teapot"}"#);
        check(&kv, "GET", "/items/a-1", "", 200, r#"{"name":"teapot"}"#);
        assert_eq!(kv.get("default", "item:a-1").unwrap(), Some(br#"{"name":"teapot"}"#.to_vec()), "kept in `default`");
    }

    #[test]
    fn get_and_delete_answer_404_for_a_missing_key() {
        let kv = memory();
        check(&kv, "GET", "/items/nope", "", 404, r#"{"error":"no such item"}"#);
        check(&kv, "DELETE", "/items/nope", "", 404, r#"{"error":"no such item"}"#);
        check(&kv, "PUT", "/items/k", "{}", 201, "{}");
        check(&kv, "DELETE", "/items/k", "", 204, "");
        check(&kv, "GET", "/items/k", "", 404, r#"{"error":"no such item"}"#);
    }

    #[test]
    fn put_validates_the_record_and_the_key() {
        let kv = memory();
        check(&kv, "PUT", "/items/k", "[1]", 400, r#"{"error":"a record must be a JSON object"}"#);
        check(&kv, "PUT", "/items/k", r#"{"a": 1"#, 400, r#"{"error":"expected `,` or `}` in an object"}"#);
        check(&kv, "PUT", "/items/k%20x", "{}", 400, r#"{"error":"a key is 1 to 128 of A-Z a-z 0-9 . _ ~ -"}"#);
        let long = ["/items/", &"k".repeat(129)].concat();
        assert_eq!(request(&kv, "PUT", &long, "{}").status, 400);
        let too_large = request(&kv, "PUT", "/items/k", vec![b' '; 4097]);
        assert_eq!(too_large.status, 413);
        let mut exactly = vec![b' '; 4094];
        exactly.splice(0..0, *b"{}");
        assert_eq!(request(&kv, "PUT", "/items/k", exactly).status, 201, "4,096 bytes fit");
        assert_eq!(kv.list_keys("default", None).unwrap().keys, ["item:k"], "nothing refused was stored");
    }

    #[test]
    fn list_pages_by_prefix_with_the_cursor() {
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
            let response = request(&kv, "GET", &uri, "");
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
        check(&kv, "GET", "/items?prefix=none", "", 200, r#"{"keys":[],"cursor":null}"#);
        check(&kv, "GET", "/items?cursor=x", "", 400, r#"{"error":"cursor must be a non-negative integer"}"#);
        check(&kv, "GET", "/items?limit=1", "", 400, r#"{"error":"unknown query parameter; use prefix or cursor"}"#);
    }

    #[test]
    fn counters_increment_atomically_and_read() {
        let kv = memory();
        check(&kv, "GET", "/counters/views", "", 200, r#"{"key":"views","value":0}"#);
        check(&kv, "POST", "/counters/views", "", 200, r#"{"key":"views","value":1}"#);
        check(&kv, "POST", "/counters/views", "", 200, r#"{"key":"views","value":2}"#);
        check(&kv, "GET", "/counters/views", "", 200, r#"{"key":"views","value":2}"#);
        check(&kv, "GET", "/items/views", "", 404, r#"{"error":"no such item"}"#);
        kv.set("default", "counter:broken", b"x").unwrap();
        let failed = request(&kv, "POST", "/counters/broken", "");
        assert_eq!(failed.status, 500);
        assert!(std::str::from_utf8(&failed.body).unwrap().starts_with(r#"{"error":"the key-value store failed: "#));
    }

    #[test]
    fn unknown_routes_and_methods() {
        let kv = memory();
        check(&kv, "GET", "/", "", 404, r#"{"error":"no such route"}"#);
        let response = check(&kv, "POST", "/items/k", "", 405, r#"{"error":"method not allowed"}"#);
        assert_eq!(response.headers["allow"], "GET, PUT, DELETE");
        assert_eq!(
            check(&kv, "DELETE", "/counters/k", "", 405, r#"{"error":"method not allowed"}"#).headers["allow"],
            "GET, POST"
        );
    }

    /// Without a store granted, the host refuses the component up front and
    /// says which flag to add.
    #[test]
    fn refused_without_a_store() {
        static CACHE: OnceLock<(Engine, Component)> = OnceLock::new();
        let (engine, component) = compiled("kv-api-p3", &CACHE);
        let error = Handler::with(engine, component, Limits::default(), Grants::default()).err().unwrap();
        assert!(format!("{error:#}").contains("--kv memory"), "{error:#}");
    }
}
