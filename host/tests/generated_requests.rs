//! Generated requests to the http-api artifact, in process through the
//! host's `Handler`: whatever the method, path, query, headers and body, the
//! guest answers with a 2xx or a 4xx, never a 5xx, and never traps.

use std::sync::OnceLock;

use edgekit_host::http::{Handler, full_body};
use proptest::prelude::*;
use proptest::test_runner::Config;
use wasmtime::component::Component;

/// The compiled artifact, shared by the generated cases.
fn handler() -> Handler {
    static COMPILED: OnceLock<Component> = OnceLock::new();
    let component = COMPILED.get_or_init(|| {
        let engines = edgekit_host::engines();
        edgekit_host::load(&engines, "http-api").unwrap_or_else(|e| panic!("{e:#}"))
    });
    Handler::new(component).unwrap()
}

/// The API's methods and routes, often, and anything else a request line may
/// carry.
fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]).prop_map(String::from),
        "[A-Z][A-Z-]{0,11}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    let route = prop_oneof![
        Just("/health".to_string()),
        Just("/items".to_string()),
        "/items/[0-9]{1,24}",
        "/items/[a-zA-Z0-9%._~-]{0,12}",
        "(/[a-zA-Z0-9%._~-]{0,8}){0,5}",
    ];
    let query = prop_oneof![
        Just(String::new()),
        "\\?(min_price|limit|x)=-?[0-9]{0,22}(&(min_price|limit)=[0-9a-z%]{0,6}){0,2}",
        "\\?[a-zA-Z0-9%=&._~-]{0,24}",
    ];
    (route, query).prop_map(|(route, query)| format!("{route}{query}"))
}

/// Headers with any token name and any visible value, the body's own ones
/// included (a `content-type`, a `content-length` that may lie).
fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        prop::sample::select(vec!["content-type", "content-length", "accept", "authorization"]).prop_map(String::from),
        "[a-z][a-z0-9-]{0,15}",
    ];
    prop::collection::vec((name, "[ -~]{0,40}"), 0..4)
}

/// Arbitrary bytes on both sides of the API's 4096-byte limit, and JSON
/// items that are nearly valid.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 4000..4200),
        r#"\{ ?"name": ?"[a-z \\"é]{0,70}", ?"price": ?-?[0-9]{1,12}(\.[0-9])?( ?, ?"[a-z]{1,5}": ?[0-9])?\}"#
            .prop_map(String::into_bytes),
        r#"[\[\]\{\}",:0-9a-z ]{0,80}"#.prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(Config { cases: 96, failure_persistence: None, ..Config::default() })]

    #[test]
    fn http_api_answers_any_request_with_2xx_or_4xx(
        method in method(),
        path in path(),
        headers in headers(),
        body in body(),
    ) {
        let mut request = hyper::Request::builder().method(method.as_str()).uri(format!("http://localhost{path}"));
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(full_body(body)).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let response = runtime.block_on(handler().handle(request));
        let response = response.map_err(|e| TestCaseError::fail(format!("{method} {path}: {e:#}")))?;
        prop_assert!(
            (200..500).contains(&response.status),
            "{method} {path} {headers:?}: {} {:?}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
    }
}
