//! The request path: one request handed to the current handler, a failure
//! turned into its plain-text answer, and the response body that keeps the
//! request in flight until it is dropped and then writes the access log line.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Instant;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::connection::InFlight;
use super::log::{Line, Log};
use crate::http::Handler;

/// Request `number`: the guest's response, or a plain-text error with the
/// status the failure maps to. Its body prints the log line when it ends.
pub(super) async fn answer(
    handler: &Handler,
    request: hyper::Request<hyper::body::Incoming>,
    number: u64,
    log: Log,
    in_flight: InFlight,
) -> hyper::Response<HyperOutgoingBody> {
    let mut line = log.on().then(|| Line {
        log,
        number,
        instance: None,
        method: request.method().clone(),
        path: request.uri().path().to_string(),
        head: request.method() == hyper::Method::HEAD,
        start: Instant::now(),
    });
    let (result, instance) = handler.respond_numbered(request, number).await;
    if let Some(line) = &mut line {
        line.instance = instance;
    }
    let (response, failure) = match result {
        Ok(response) => (response, None),
        Err(failure) => {
            let body = Full::new(format!("{failure}\n").into()).map_err(|never| match never {}).boxed_unsync();
            let response = hyper::Response::builder()
                .status(failure.status())
                .header("content-type", "text/plain")
                .body(body)
                .expect("a status and a fixed header make a valid response");
            (response, Some(failure.to_string()))
        }
    };
    let status = response.status();
    response.map(|body| {
        Logged { body, line, status, failure, ended: false, error: None, _in_flight: in_flight }.boxed_unsync()
    })
}

/// A response body on its way to the client. It keeps its request in flight
/// until it is dropped, and then prints the request's log line: status,
/// time, and why the request failed, if it did, before or after the
/// response started.
struct Logged {
    body: HyperOutgoingBody,
    line: Option<Line>,
    status: hyper::StatusCode,
    failure: Option<String>,
    ended: bool,
    /// The body's error, held back for one poll (see `poll_frame`).
    error: Option<wasmtime_wasi_http::Error>,
    _in_flight: InFlight,
}

impl Body for Logged {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(error) = self.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        match frame {
            None => self.ended = true,
            Some(Err(error)) => {
                let why = match &error {
                    wasmtime_wasi_http::Error::InternalError(Some(why)) => why.clone(),
                    other => format!("{other:?}"),
                };
                self.failure = Some(format!("the response was cut off: {why}"));
                self.ended = true;
                // Hyper drops what it has buffered when a body fails, which
                // would lose the head and the chunks the guest wrote just
                // before failing. Waiting one poll lets it flush them first.
                self.error = Some(error);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let Some(line) = &self.line else { return };
        let micros = line.start.elapsed().as_micros();
        let status = self.status.as_u16();
        let sends_body = !line.head && !matches!(status, 100..=199 | 204 | 304);
        let why = match &self.failure {
            Some(failure) => format!(": {failure}"),
            None if !self.ended && sends_body => ": the connection closed before the response ended".into(),
            None => String::new(),
        };
        let instance = line.instance.map(|i| format!(" i{i}")).unwrap_or_default();
        line.log
            .write(|| format!("#{}{instance} {} {} {status} {micros} µs{why}", line.number, line.method, line.path));
    }
}
