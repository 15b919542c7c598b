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

use super::app::Routed;
use super::connection::InFlight;
use super::log::{Line, Log};

/// The log line of request `number`, if the log is on: what it says of the
/// request as the client sent it.
pub(super) fn log_line<B>(log: &Log, request: &hyper::Request<B>, number: u64) -> Option<Line> {
    log.on().then(|| Line {
        log: log.clone(),
        number,
        instance: None,
        route: None,
        method: request.method().clone(),
        path: request.uri().path().to_string(),
        head: request.method() == hyper::Method::HEAD,
        start: Instant::now(),
    })
}

/// Request `number` on its way (`Handlers::route`): the guest's response, or a
/// plain-text error with the status the failure maps to, or the host's 404
/// for a path no route of an app takes. Its body prints the log line when
/// it ends.
pub(super) async fn answer(
    routed: Routed<hyper::body::Incoming>,
    number: u64,
    mut line: Option<Line>,
    in_flight: InFlight,
) -> hyper::Response<HyperOutgoingBody> {
    let (handler, request) = match routed {
        Routed::To { handler, request, route } => {
            if let Some(line) = &mut line {
                line.route = route;
            }
            (handler, request)
        }
        Routed::Nowhere(text) => {
            if let Some(line) = &mut line {
                line.route = Some("no route".into());
            }
            let (status, failure) = (hyper::StatusCode::NOT_FOUND, Some("no route takes this path".to_string()));
            return plain(404, text).map(|body| {
                Logged { body, line, status, failure, ended: false, error: None, _in_flight: in_flight }.boxed_unsync()
            });
        }
    };
    let (result, instance) = handler.respond_numbered(request, number).await;
    if let Some(line) = &mut line {
        line.instance = instance;
    }
    let (response, failure) = match result {
        Ok(response) => (response, None),
        Err(failure) => (plain(failure.status(), format!("{failure}\n")), Some(failure.to_string())),
    };
    let status = response.status();
    response.map(|body| {
        Logged { body, line, status, failure, ended: false, error: None, _in_flight: in_flight }.boxed_unsync()
    })
}

/// A plain-text response of the host's own.
fn plain(status: u16, text: String) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(text.into()).map_err(|never| match never {}).boxed_unsync();
    hyper::Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .expect("a status and a fixed header make a valid response")
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
        let route = line.route.as_ref().map(|route| format!(" [{route}]")).unwrap_or_default();
        line.log.write(|| {
            format!("#{}{route}{instance} {} {} {status} {micros} µs{why}", line.number, line.method, line.path)
        });
    }
}
