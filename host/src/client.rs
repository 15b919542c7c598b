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

/// `connections` keep-alive connections each sending `GET /` back to back
/// until `requests` were sent in all or `cap` elapsed; counts answers equal
/// to `200` and `expected`.
pub async fn load(addr: SocketAddr, connections: usize, requests: u64, cap: Duration, expected: Bytes) -> Result<Load> {
    let mut opened = Vec::new();
    for _ in 0..connections {
        opened.push(tokio::time::timeout(cap, Connection::open(addr)).await.context("connecting timed out")??);
    }
    let start = Instant::now();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for mut connection in opened {
        let sent = sent.clone();
        let expected = expected.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while start.elapsed() < cap && sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                match tokio::time::timeout(cap, connection.get("/")).await {
                    Ok(Ok((200, body))) if body == expected => ok += 1,
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
