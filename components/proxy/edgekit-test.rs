//! The tests edgekit runs against the `proxy` crate's dist artifacts in
//! wasmtime, each written once and run against the artifact of every WASI
//! line the crate is built for (`lines`): `proxy` (WASI 0.2.12) and
//! `proxy-p3` (WASI 0.3.0).
//!
//! `host/tests/components.rs` includes this file as its `proxy` module
//! (generated from the directory listing), so a component without it does
//! not compile; it travels with the component when `cargo xtask new` copies
//! it (a copy made for one line runs them on that line) and goes with it
//! on `cargo xtask rm`.

use super::*;

use edgekit_host::http::{Response, full_body};
use http_body_util::BodyExt;

/// A whole body, or one that comes 1 s after the head.
type UpstreamBody = http_body_util::Either<http_body_util::Full<bytes::Bytes>, LateBody>;

/// A body whose one chunk comes when its timer fires.
struct LateBody(Option<std::pin::Pin<Box<tokio::time::Sleep>>>);

impl hyper::body::Body for LateBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        let Some(timer) = self.0.as_mut() else { return std::task::Poll::Ready(None) };
        std::task::ready!(timer.as_mut().poll(cx));
        self.0 = None;
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes::Bytes::from_static(b"late but whole")))))
    }
}

/// The upstream: answers with what it received (method, path, the headers
/// the proxy adds or drops, the body); `/slow` waits 30 s before answering,
/// `/slow-body` answers at once and sends its body 1 s later.
async fn upstream(
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<UpstreamBody>, hyper::Error> {
    if request.uri().path() == "/slow" {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    }
    if request.uri().path() == "/slow-body" {
        let late = LateBody(Some(Box::pin(tokio::time::sleep(std::time::Duration::from_secs(1)))));
        return Ok(hyper::Response::new(http_body_util::Either::Right(late)));
    }
    let header = |name: &str| {
        request.headers().get(name).map(|v| v.to_str().unwrap_or("?").to_string()).unwrap_or_else(|| "-".into())
    };
    let seen = [
        request.method().as_str(),
        " ",
        request.uri().path(),
        "\nx-forwarded-host: ",
        &header("x-forwarded-host"),
        "\nx-forwarded-proto: ",
        &header("x-forwarded-proto"),
        "\nx-custom: ",
        &header("x-custom"),
        "\nkeep-alive: ",
        &header("keep-alive"),
        "\n",
    ]
    .concat();
    let body = request.into_body().collect().await?.to_bytes();
    let reply = [seen.as_bytes(), &body].concat();
    Ok(hyper::Response::builder()
        .header("x-upstream", "yes")
        .header("keep-alive", "timeout=5")
        .body(http_body_util::Either::Left(reply.into()))
        .unwrap())
}

/// Serves `upstream` on 127.0.0.1 and returns its origin.
async fn serve_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let io = hyper_util_io(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, hyper::service::service_fn(upstream))
                    .await;
            });
        }
    });
    origin
}

fn hyper_util_io(stream: tokio::net::TcpStream) -> TokioIo {
    TokioIo(stream)
}

/// A minimal tokio-to-hyper I/O adapter (hyper-util is not a dependency).
struct TokioIo(tokio::net::TcpStream);

impl hyper::rt::Read for TokioIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = unsafe {
            let mut tbuf = tokio::io::ReadBuf::uninit(buf.as_mut());
            match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut self.get_mut().0), cx, &mut tbuf) {
                std::task::Poll::Ready(Ok(())) => tbuf.filled().len(),
                other => return other,
            }
        };
        unsafe { buf.advance(n) };
        std::task::Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for TokioIo {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.get_mut().0), cx, buf)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.get_mut().0), cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.get_mut().0), cx)
    }
}

/// One request through the proxy; `upstream` is `Some(origin)` to use,
/// or `None` for the test upstream server.
fn request(line: &Line, method: &str, uri: &str, body: &'static str, upstream: Option<&str>) -> Response {
    let component = compiled(line.artifact);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let origin = match upstream {
            Some(origin) => origin.to_string(),
            None => serve_upstream().await,
        };
        let config = [("upstream", origin.as_str()), ("timeout_ms", "300")];
        let grants = Grants {
            outbound_hosts: vec!["127.0.0.1".into()],
            config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Grants::default()
        };
        let handler = Handler::with(component, Limits::default(), grants).unwrap();
        let request = hyper::Request::builder()
            .method(method)
            .uri(["http://edge.example", uri].concat())
            .header("x-custom", "kept")
            .header("keep-alive", "timeout=5")
            .body(full_body(body))
            .unwrap();
        handler.handle(request).await.unwrap()
    })
}

#[test]
fn forwards_with_rewritten_headers_and_both_bodies() {
    for line in lines("proxy") {
        let response = request(&line, "POST", "/echo?q=1", "payload", None);
        assert_eq!(response.status, 200);
        let expected = "POST /echo\nx-forwarded-host: edge.example\nx-forwarded-proto: http\nx-custom: kept\nkeep-alive: -\npayload";
        assert_eq!(std::str::from_utf8(&response.body).unwrap(), expected);
        assert_eq!(response.headers["x-upstream"], "yes");
        assert!(response.headers.get("keep-alive").is_none());
    }
}

/// Bodies of many chunks, both ways (on 0.2, past the 4 KiB that one
/// `blocking-write-and-flush` takes): a 200 KiB request body streamed to the
/// upstream and echoed back arrives whole and in order.
#[test]
fn large_bodies_stream_whole_both_ways() {
    for line in lines("proxy") {
        static BIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let big: &'static str =
            BIG.get_or_init(|| (0..200 * 1024).map(|i| char::from(b'a' + (i % 26) as u8)).collect());
        let response = request(&line, "POST", "/big", big, None);
        assert_eq!(response.status, 200);
        let body = std::str::from_utf8(&response.body).unwrap();
        let echoed = body.split_once("keep-alive: -\n").map(|(_, rest)| rest).unwrap_or("");
        assert_eq!(echoed.len(), big.len(), "the echoed body was cut");
        assert!(echoed == big, "the echoed body differs");
    }
}

#[test]
fn unreachable_upstream_is_502() {
    for line in lines("proxy") {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let origin = format!("http://127.0.0.1:{port}");
        assert_eq!(request(&line, "GET", "/", "", Some(&origin)).status, 502);
    }
}

/// The upstream waits 30 s, the proxy 300 ms: the clock wins the race, and
/// the 504 is the proxy's own (the host's deadline would answer another body).
#[test]
fn slow_upstream_loses_the_race_with_504() {
    for line in lines("proxy") {
        let response = request(&line, "GET", "/slow", "", None);
        assert_eq!((response.status, &response.body[..]), (504, &b"proxy: the upstream did not answer in time\n"[..]));
    }
}

/// The race is over once the response head arrives: a body that comes after
/// the timeout still streams through whole.
#[test]
fn a_slow_body_after_a_prompt_head_streams_whole() {
    for line in lines("proxy") {
        let response = request(&line, "GET", "/slow-body", "", None);
        assert_eq!((response.status, &response.body[..]), (200, &b"late but whole"[..]));
    }
}

#[test]
fn missing_configuration_is_500() {
    for line in lines("proxy") {
        assert_eq!(request(&line, "GET", "/", "", Some("ftp://nowhere")).status, 500);
    }
}

#[test]
fn logs_one_line_per_request() {
    for line in lines("proxy") {
        let component = compiled(line.artifact);
        let (sender, received) = std::sync::mpsc::channel();
        let log = edgekit_host::serve::Log::Lines(sender);
        let handler = Handler::new(component).unwrap().named("proxy").guest_log(log);
        let request =
            hyper::Request::builder().method("POST").uri("http://edge.example/a/b?q=1").body(full_body("")).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // No configuration: answered 500, logged all the same.
        assert_eq!(runtime.block_on(handler.handle(request)).unwrap().status, 500);
        let logged: Vec<String> = received.try_iter().collect();
        assert_eq!(logged.len(), 1, "{logged:?}");
        // `<name> #<request> | <line>`, tagged with the name the handler has.
        assert_eq!(logged[0].split(' ').next(), Some("proxy"), "{logged:?}");
        assert!(logged[0].ends_with("| INFO POST /a/b"), "{logged:?}");
    }
}
