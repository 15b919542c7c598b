//! A small HTTP/1.1 client over hyper, for the tests and the portability
//! check (`bench`'s load generator is `crate::load`). Each request it sends
//! has a timeout.

use std::net::SocketAddr;
use std::time::Duration;

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
