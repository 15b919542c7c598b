//! A small HTTP/1.1 client over hyper, for the tests, the portability check
//! and the load generator of `bench`. Everything it does is bounded: each
//! request has a timeout, and a load run stops at a request count or a time
//! cap, whichever comes first.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;

/// A keep-alive connection to one server.
pub struct Connection {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Connection> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("cannot connect to {addr}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("HTTP handshake with {addr} failed"))?;
        tokio::spawn(connection);
        Ok(Connection { addr, sender })
    }

    /// `GET path`: the status and the whole body.
    pub async fn get(&mut self, path: &str) -> Result<(u16, Bytes)> {
        self.send("GET", path, Bytes::new()).await
    }

    /// `method path` with `body`: the status and the whole response body.
    pub async fn send(&mut self, method: &str, path: &str, body: Bytes) -> Result<(u16, Bytes)> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .body(Full::new(body))
            .context("building the request")?;
        self.sender.ready().await.context("the server closed the connection")?;
        let response = self.sender.send_request(request).await.context("the request failed")?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.context("reading the response body")?.to_bytes();
        Ok((status, body))
    }
}

/// One `GET` on a fresh connection, within `timeout`.
pub async fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, Bytes)> {
    match tokio::time::timeout(timeout, async { Connection::open(addr).await?.get(path).await }).await {
        Ok(answer) => answer,
        Err(_) => bail!("no answer from {addr}{path} within {} ms", timeout.as_millis()),
    }
}

/// [`get`] for callers without a runtime.
pub fn get_blocking(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, Bytes)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(get(addr, path, timeout))
}

/// `method path` with `body` on a fresh connection within `timeout`, for
/// callers without a runtime: the status and the whole body.
pub fn send_blocking(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<(u16, Bytes)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let ask = async { Connection::open(addr).await?.send(method, path, body).await };
        tokio::time::timeout(timeout, ask).await.with_context(|| format!("{method} {path} timed out"))?
    })
}

/// What a load run measured.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Requests answered 200 with the expected body.
    pub ok: u64,
    /// Requests that failed or got another answer.
    pub failed: u64,
    pub elapsed: Duration,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// The request a load run sends over and over, and the answer it counts.
#[derive(Debug, Clone)]
pub struct Ask {
    pub method: &'static str,
    pub path: String,
    pub body: Bytes,
    /// The status and body an answer must have to count.
    pub status: u16,
    pub answer: Bytes,
}

impl Ask {
    /// `GET path`, answered 200 with `answer`.
    pub fn get(path: &str, answer: impl Into<Bytes>) -> Ask {
        Ask { method: "GET", path: path.into(), body: Bytes::new(), status: 200, answer: answer.into() }
    }

    /// `method path` with `body`, answered 200 with the same body (a PUT
    /// that replaces a record and answers it).
    pub fn echo(method: &'static str, path: &str, body: impl Into<Bytes>) -> Ask {
        let body = body.into();
        Ask { method, path: path.into(), body: body.clone(), status: 200, answer: body }
    }
}

/// `connections` keep-alive connections each sending `ask` back to back
/// until `requests` were sent in all or `cap` elapsed; counts the answers
/// `ask` expects.
pub async fn load(addr: SocketAddr, connections: usize, requests: u64, cap: Duration, ask: &Ask) -> Result<Load> {
    let mut opened = Vec::new();
    for _ in 0..connections {
        opened.push(tokio::time::timeout(cap, Connection::open(addr)).await.context("connecting timed out")??);
    }
    let start = Instant::now();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for mut connection in opened {
        let sent = sent.clone();
        let ask = ask.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while start.elapsed() < cap && sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                match tokio::time::timeout(cap, connection.send(ask.method, &ask.path, ask.body.clone())).await {
                    Ok(Ok((status, body))) if status == ask.status && body == ask.answer => ok += 1,
                    Ok(Ok(_)) => failed += 1,
                    _ => {
                        failed += 1;
                        break;
                    }
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for task in tasks {
        let (o, f) = task.await?;
        ok += o;
        failed += f;
    }
    Ok(Load { ok, failed, elapsed: start.elapsed() })
}
