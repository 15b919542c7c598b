//! The tests edgekit runs against the `middleware` crate's dist artifacts in
//! wasmtime, a module per WASI line the crate is built for: `p2` against
//! `middleware` (WASI 0.2.12), `p3` against `middleware-p3` (WASI 0.3.0).
//!
//! `host/tests/components.rs` includes this file as its `middleware` module
//! (generated from the directory listing), so a component without it does
//! not compile; it travels with the component when `cargo xtask new` copies
//! it (with the modules of the lines the copy is made for) and goes with it
//! on `cargo xtask rm`.
//!
//! The middleware is not deployable alone: each line's tests run its
//! composition in front of that line's JSON API, `middleware+http-api` and
//! `middleware-p3+http-api-p3` (`[[composition]]` in edgekit.toml).

use super::*;

/// `middleware.wasm`, the WASI 0.2.12 build.
mod p2 {
    use super::*;
    use edgekit_host::http::{Response, full_body};

    const TOKEN: &str = "Bearer edgekit-example-token";

    /// One request to the composed `middleware+http-api`, with `headers`.
    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Response {
        let component = compiled("middleware+http-api");
        let mut builder = hyper::Request::builder().method(method).uri(["http://localhost", uri].concat());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(full_body("")).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(Handler::new(component).unwrap().handle(request)).unwrap()
    }

    #[test]
    fn no_token_is_401() {
        let response = request("GET", "/items/2", &[]);
        assert_eq!(
            (response.status, &response.body[..]),
            (401, &br#"{"error":"missing or invalid bearer token"}"#[..])
        );
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
}

/// `middleware-p3.wasm`, the WASI 0.3.0 build.
mod p3 {
    use super::*;
    use edgekit_host::http::{Response, full_body};

    const TOKEN: &str = "Bearer edgekit-example-token";

    /// The handler for the composed `middleware-p3+http-api-p3`. One handler for
    /// all of a test's requests: a 0.3 host reuses its instances for them.
    fn handler() -> Handler {
        let component = compiled("middleware-p3+http-api-p3");
        Handler::new(component).unwrap()
    }

    /// Sends one request with `headers` and an empty body through `handler`.
    async fn send(handler: &Handler, method: &str, uri: &str, headers: &[(&str, &str)]) -> Response {
        let mut builder = hyper::Request::builder().method(method).uri(["http://localhost", uri].concat());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        handler.handle(builder.body(full_body("")).unwrap()).await.unwrap()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    }

    /// One request to the composition, with `headers`.
    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Response {
        runtime().block_on(send(&handler(), method, uri, headers))
    }

    fn is_fresh_id(id: &str) -> bool {
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
    }

    #[test]
    fn no_token_is_401() {
        let response = request("GET", "/items/2", &[]);
        assert_eq!(
            (response.status, &response.body[..]),
            (401, &br#"{"error":"missing or invalid bearer token"}"#[..])
        );
        assert_eq!(response.headers["www-authenticate"], "Bearer");
        assert!(is_fresh_id(response.headers["x-request-id"].to_str().unwrap()));
    }

    #[test]
    fn wrong_token_is_401() {
        assert_eq!(request("GET", "/health", &[("authorization", "Bearer edgekit-example-tokem")]).status, 401);
        assert_eq!(request("GET", "/health", &[("authorization", "Basic edgekit-example-token")]).status, 401);
    }

    #[test]
    fn cors_preflight_is_answered_without_a_token() {
        let headers =
            [("origin", "https://app.example"), ("access-control-request-method", "POST"), ("x-request-id", "req-42")];
        let response = request("OPTIONS", "/items", &headers);
        assert_eq!((response.status, &response.body[..]), (204, &b""[..]));
        assert_eq!(response.headers["access-control-allow-origin"], "*");
        assert_eq!(response.headers["access-control-allow-headers"], "authorization, content-type");
        assert_eq!(response.headers["x-request-id"], "req-42");
    }

    /// What the 0.2 middleware cannot do: the handler's own responses, success
    /// and error alike, leave with the request id and the CORS headers.
    #[test]
    fn the_handlers_responses_get_the_id_and_cors_headers() {
        let response = request("GET", "/items/2", &[("authorization", TOKEN), ("x-request-id", "req-7")]);
        assert_eq!((response.status, &response.body[..]), (200, &br#"{"id":2,"name":"teapot","price":1800}"#[..]));
        assert_eq!(response.headers["content-type"], "application/json");
        assert_eq!(response.headers["x-request-id"], "req-7");
        assert_eq!(response.headers["access-control-allow-origin"], "*");
        assert_eq!(response.headers["access-control-expose-headers"], "x-request-id");

        for (method, uri, status) in [("GET", "/nowhere", 404), ("DELETE", "/items", 405)] {
            let response = request(method, uri, &[("authorization", "bearer edgekit-example-token")]);
            assert_eq!(response.status, status, "{method} {uri}");
            assert!(is_fresh_id(response.headers["x-request-id"].to_str().unwrap()), "{method} {uri}");
            assert_eq!(response.headers["access-control-allow-origin"], "*", "{method} {uri}");
        }
    }

    /// A request body reaches the handler through the middleware whole.
    #[test]
    fn request_bodies_pass_through() {
        let request = hyper::Request::builder()
            .method("POST")
            .uri("http://localhost/items")
            .header("authorization", TOKEN)
            .header("content-type", "application/json")
            .body(full_body(r#"{"name":"kettle","price":2500}"#))
            .unwrap();
        let response = runtime().block_on(handler().handle(request)).unwrap();
        assert_eq!(response.status, 201);
        assert!(std::str::from_utf8(&response.body).unwrap().contains(r#""name":"kettle""#));
        assert!(is_fresh_id(response.headers["x-request-id"].to_str().unwrap()));
    }

    /// 0.3 hosts reuse an instance for many requests, some at once: no request
    /// may see another's id. Requests that bring an id get exactly theirs back;
    /// requests that bring none get a fresh one each, never one seen before.
    #[test]
    fn request_ids_never_leak_between_requests_sharing_an_instance() {
        let handler = handler();
        let mut seen = std::collections::HashSet::new();
        runtime().block_on(async {
            for round in 0..4 {
                // 16 at once, half with an id of their own.
                let tasks: Vec<_> = (0..16)
                    .map(|i| {
                        let handler = handler.clone();
                        let given = (i % 2 == 0).then(|| format!("req-{round}-{i}"));
                        tokio::spawn(async move {
                            let mut headers = vec![("authorization", TOKEN)];
                            if let Some(id) = &given {
                                headers.push(("x-request-id", id.as_str()));
                            }
                            let response = send(&handler, "GET", "/items/1", &headers).await;
                            (given, response)
                        })
                    })
                    .collect();
                for task in tasks {
                    let (given, response) = task.await.unwrap();
                    assert_eq!(response.status, 200);
                    let id = response.headers["x-request-id"].to_str().unwrap().to_string();
                    match given {
                        Some(given) => assert_eq!(id, given),
                        None => assert!(is_fresh_id(&id), "{id} is not a fresh id"),
                    }
                    assert!(seen.insert(id.clone()), "request id {id} came back twice");
                }
            }
        });
    }
}
