//! The guest library's WASI 0.3 runtime (`guest/src/p3/`), called the ways a
//! template's own tests never call it, on the dist artifacts of templates
//! written on it, composed with a WAT test guest (`test_guests::p3`) that
//! does the calling:
//!
//! - cancelled: a caller in front of http-api-p3 cancels each request the
//!   API does not answer at once (a POST whose body never comes), on one
//!   reused instance serving other requests at the same time. The canonical
//!   ABI wants a cancelled task to end with `task.cancel`; a task that ends
//!   without it traps, and with it every request of its instance. wasmtime
//!   48 cancels a guest task only for a guest caller (`subtask.cancel`):
//!   dropping the host's own call leaves the task running, so a client that
//!   disconnects from `serve` cannot stand in for the caller here.
//!   The same in front of middleware-p3+http-api-p3: the middleware,
//!   cancelled while it waits for the API, drops the call it made (the API
//!   is cancelled in turn) and the request it passed on, whose body's report
//!   it was forwarding.
//! - an `error-code` returned: middleware-p3 passes on the errors a handler
//!   behind it answers with, and what wasmtime reads back is what the
//!   library's hand-written lowering (`guest/src/p3/lower.rs`) made of
//!   each, for every shape of payload.
//!
//! The compositions are made as `dist` makes `middleware-p3+http-api-p3`
//! (wasm-compose plugging one's `wasi:http/handler` export into the
//! other's import).

use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use edgekit_host::http::{Failure, Handler, Limits, full_body};
use edgekit_host::test_guests;
use http_body_util::BodyExt;

/// `front` composed in front of `behind`: `behind`'s `wasi:http/handler`
/// export plugged into `front`'s import.
fn compose(front: &[u8], behind: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (front_path, behind_path) = (dir.path().join("front.wasm"), dir.path().join("behind.wasm"));
    std::fs::write(&front_path, front).unwrap();
    std::fs::write(&behind_path, behind).unwrap();
    let config = wasm_compose::config::Config {
        dir: dir.path().to_path_buf(),
        definitions: vec![behind_path],
        ..Default::default()
    };
    wasm_compose::composer::ComponentComposer::new(&front_path, &config).compose().unwrap_or_else(|e| panic!("{e:#}"))
}

fn dist(name: &str) -> Vec<u8> {
    let path = edgekit_host::artifact(name).unwrap_or_else(|e| panic!("{e:#}"));
    std::fs::read(Path::new(&path)).unwrap()
}

fn handler(bytes: &[u8]) -> Handler {
    let component = edgekit_host::engines().compile(bytes).unwrap();
    Handler::with(&component, Limits::default(), Default::default()).unwrap()
}

/// One thread: a request's worker marks itself free for the next request
/// in the same turn that answers it, so requests sent one after the other
/// all go to the one instance (on more threads the next may come first and
/// start a second).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A request body that sends its first bytes and then nothing more, ever
/// (until the request is dropped).
struct Stalled(Option<Bytes>);

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match self.0.take() {
            Some(bytes) => Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes)))),
            None => Poll::Pending,
        }
    }
}

fn get(uri: &str) -> hyper::Request<http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>> {
    hyper::Request::get(format!("http://localhost{uri}")).body(full_body("")).unwrap()
}

/// Sends `request` as the server's request `n` and expects the caller's
/// cancel to be what answers it, on instance 1 (the one all share).
async fn expect_cancelled(handler: &Handler, request: hyper::Request<Stalled>, n: u64) {
    match handler.respond_numbered(request, n).await {
        (Err(Failure::Guest(code)), Some(1)) => assert_eq!(code, format!("{:?}", test_guests::p3::CANCELLED)),
        (Err(other), instance) => panic!("request {n}, cancelled on {instance:?}: {other}"),
        (Ok(response), _) => panic!("request {n}, cancelled, answered {}", response.status()),
    }
}

/// A request cancelled while it waits for its body ends with `task.cancel`;
/// the instance serving it goes on serving the request it has in flight
/// meanwhile (a response whose body it is still writing) and the ones after.
#[test]
fn a_cancelled_request_leaves_its_instance_serving() {
    let composed = compose(&test_guests::p3::cancels_the_next().unwrap(), &dist("http-api-p3"));
    let handler = handler(&composed);
    runtime().block_on(async {
        // In flight on the instance while the others are cancelled: its
        // response is set, and the task writing its body waits for us to read.
        let (listing, instance) = handler.respond_numbered(get("/items"), 1).await;
        let listing = listing.unwrap();
        assert_eq!((listing.status().as_u16(), instance), (200, Some(1)));

        // One after the other, so that the one instance takes each.
        for n in 2..14 {
            if n % 3 == 0 {
                // The API waits for the rest of the body: the caller cancels it.
                let body = Stalled(Some(Bytes::from_static(br#"{"name": "kett"#)));
                let request = hyper::Request::post("http://localhost/items").body(body).unwrap();
                expect_cancelled(&handler, request, n).await;
            } else {
                let (response, instance) = handler.respond_numbered(get("/items/2"), n).await;
                let response = response.unwrap_or_else(|e| panic!("request {n}: {e}"));
                assert_eq!((response.status().as_u16(), instance), (200, Some(1)), "request {n}");
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&body[..], br#"{"id":2,"name":"teapot","price":1800}"#);
            }
        }

        // The response in flight through all of it comes whole.
        let body = listing.into_body().collect().await.unwrap().to_bytes();
        assert!(body.starts_with(br#"{"items":[{"id":1,"name":"kettle","price":2500}"#), "{body:?}");
        // And the instance serves the next request.
        let (response, instance) = handler.respond_numbered(get("/health"), 14).await;
        assert_eq!((response.unwrap().status().as_u16(), instance), (200, Some(1)));
    });
    assert_eq!(handler.instances_made(), 1, "the cancelled tasks' instance served every request");
}

/// A middleware cancelled while it waits for the handler behind it (its
/// request passed on by handle, the body's report being forwarded) ends
/// with `task.cancel` too, and the handler's task with it; the instance
/// serves on.
#[test]
fn a_cancelled_middleware_leaves_its_instance_serving() {
    let composed = compose(&test_guests::p3::cancels_the_next().unwrap(), &dist("middleware-p3+http-api-p3"));
    let handler = handler(&composed);
    let token = ("authorization", "Bearer edgekit-example-token");
    runtime().block_on(async {
        for n in 1..10 {
            if n % 3 == 0 {
                let body = Stalled(Some(Bytes::from_static(br#"{"name": "kett"#)));
                let request =
                    hyper::Request::post("http://localhost/items").header(token.0, token.1).body(body).unwrap();
                expect_cancelled(&handler, request, n).await;
            } else {
                let request = hyper::Request::get("http://localhost/items/2")
                    .header(token.0, token.1)
                    .body(full_body(""))
                    .unwrap();
                let (response, instance) = handler.respond_numbered(request, n).await;
                let response = response.unwrap_or_else(|e| panic!("request {n}: {e}"));
                assert_eq!((response.status().as_u16(), instance), (200, Some(1)), "request {n}");
                assert!(response.headers().contains_key("x-request-id"), "request {n}");
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&body[..], br#"{"id":2,"name":"teapot","price":1800}"#);
            }
        }
    });
    assert_eq!(handler.instances_made(), 1, "the cancelled tasks' instance served every request");
}

/// Every shape of `error-code` payload a handler returns comes back to the
/// host as it was sent, lowered by the library (middleware-p3's `?` on the
/// next handler's answer).
#[test]
fn error_codes_are_returned_as_sent() {
    let (inner, codes) = test_guests::p3::error_codes().unwrap();
    let composed = compose(&dist("middleware-p3"), &inner);
    let handler = handler(&composed);
    runtime().block_on(async {
        for (n, expected) in codes.iter().enumerate() {
            let request = hyper::Request::get(format!("http://localhost/{n}"))
                .header("authorization", "Bearer edgekit-example-token")
                .body(full_body(""))
                .unwrap();
            match handler.respond(request).await {
                Err(Failure::Guest(code)) => assert_eq!(code, format!("{expected:?}")),
                Err(other) => panic!("expected {expected:?}: {other}"),
                Ok(response) => panic!("expected {expected:?}, answered {}", response.status()),
            }
        }
    });
}
