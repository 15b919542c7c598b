//! The load generator of `bench`: keep-alive connections, each sending one
//! request at a time, back to back, and checking every answer. It writes
//! the request as bytes encoded once and reads the response with httparse
//! in the connection's own task, without hyper's client (a task per
//! connection beside the caller's, a request built and a body collected per
//! request): on 2 cores that client took a core at 40,000 requests a second
//! and capped what any server could show. Its own CPU time per request is
//! measured and printed beside the throughput ([`Load::client_cpu`]), so a
//! reader sees whether the generator or the server is the limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

    /// The request as sent to `addr`, head and body.
    fn encode(&self, addr: SocketAddr) -> Bytes {
        let head = format!(
            "{} {} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n\r\n",
            self.method,
            self.path,
            self.body.len()
        );
        [head.as_bytes(), &self.body].concat().into()
    }
}

/// What a load run measured.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Requests answered with the status and body expected.
    pub ok: u64,
    /// Requests that failed or got another answer.
    pub failed: u64,
    pub elapsed: Duration,
    /// CPU time the generator's thread spent in the run.
    pub client_cpu: Duration,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The generator's CPU time per answered request, in microseconds.
    pub fn client_micros_per_request(&self) -> f64 {
        self.client_cpu.as_secs_f64() * 1e6 / self.ok.max(1) as f64
    }
}

/// `connections` keep-alive connections each sending `ask` back to back
/// until `requests` were sent in all or `cap` elapsed, on a
/// single-threaded runtime of its own on the calling thread; counts the
/// answers `ask` expects.
pub fn run(addr: SocketAddr, connections: usize, requests: u64, cap: Duration, ask: &Ask) -> Result<Load> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut opened = Vec::new();
        for _ in 0..connections {
            let stream = tokio::time::timeout(cap, TcpStream::connect(addr))
                .await
                .context("connecting timed out")?
                .with_context(|| format!("cannot connect to {addr}"))?;
            let _ = stream.set_nodelay(true);
            opened.push(stream);
        }
        let request = ask.encode(addr);
        let sent = Arc::new(AtomicU64::new(0));
        let (start, cpu) = (Instant::now(), thread_cpu());
        let mut tasks = Vec::new();
        for stream in opened {
            let (sent, ask, request) = (sent.clone(), ask.clone(), request.clone());
            tasks.push(tokio::spawn(async move {
                let mut connection = Connection { stream, buf: BytesMut::with_capacity(16 << 10) };
                let (mut ok, mut failed) = (0u64, 0u64);
                while start.elapsed() < cap && sent.fetch_add(1, Ordering::Relaxed) < requests {
                    match tokio::time::timeout(cap, connection.ask(&request)).await {
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
        Ok(Load { ok, failed, elapsed: start.elapsed(), client_cpu: thread_cpu().saturating_sub(cpu) })
    })
}

/// One keep-alive connection sending `ask` one request at a time until
/// `requests` were answered or `cap` elapsed; returns each answer's
/// latency in microseconds, from writing the request to reading the whole
/// response (an answer other than the one `ask` expects fails the run).
pub fn latencies(addr: SocketAddr, requests: usize, cap: Duration, ask: &Ask) -> Result<Vec<f64>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let stream = tokio::time::timeout(cap, TcpStream::connect(addr))
            .await
            .context("connecting timed out")?
            .with_context(|| format!("cannot connect to {addr}"))?;
        let _ = stream.set_nodelay(true);
        let mut connection = Connection { stream, buf: BytesMut::with_capacity(16 << 10) };
        let request = ask.encode(addr);
        let (start, mut samples) = (Instant::now(), Vec::with_capacity(requests));
        while samples.len() < requests && start.elapsed() < cap {
            let sent = Instant::now();
            let (status, body) = tokio::time::timeout(cap, connection.ask(&request)).await.context("no answer")??;
            ensure!(status == ask.status && body == ask.answer, "{addr} answered {status} {body:?}");
            samples.push(sent.elapsed().as_secs_f64() * 1e6);
        }
        Ok(samples)
    })
}

/// One keep-alive connection and what it has read past the last response.
struct Connection {
    stream: TcpStream,
    buf: BytesMut,
}

/// How a response's body ends.
enum Framing {
    Length(usize),
    Chunked,
}

impl Connection {
    /// Sends `request` and reads its response: the status and the body.
    async fn ask(&mut self, request: &[u8]) -> Result<(u16, Bytes)> {
        self.stream.write_all(request).await.context("sending the request")?;
        let (status, framing) = self.head().await?;
        let body = match framing {
            Framing::Length(length) => {
                while self.buf.len() < length {
                    self.fill().await?;
                }
                self.buf.split_to(length).freeze()
            }
            Framing::Chunked => self.chunks().await?,
        };
        Ok((status, body))
    }

    /// Reads the response head: its status and how its body is framed.
    async fn head(&mut self) -> Result<(u16, Framing)> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(length) =
                response.parse(&self.buf).context("a malformed response head")?
            {
                let status = response.code.context("a response head without a status")?;
                let framing = framing(status, response.headers)?;
                self.buf.advance(length);
                return Ok((status, framing));
            }
            self.fill().await?;
        }
    }

    /// Reads a chunked body to its last chunk (trailers are refused).
    async fn chunks(&mut self) -> Result<Bytes> {
        let mut body = BytesMut::new();
        loop {
            let (line, size) = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete(found)) => break found,
                    Ok(httparse::Status::Partial) => self.fill().await?,
                    Err(_) => bail!("a malformed chunk size"),
                }
            };
            self.buf.advance(line);
            let size = usize::try_from(size).context("a chunk too large")?;
            while self.buf.len() < size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[..size]);
            ensure!(&self.buf[size..size + 2] == b"\r\n", "a chunk not ended by CRLF (trailers are not read)");
            self.buf.advance(size + 2);
            if size == 0 {
                return Ok(body.freeze());
            }
        }
    }

    async fn fill(&mut self) -> Result<()> {
        if self.stream.read_buf(&mut self.buf).await.context("reading the response")? == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }
}

/// How the body of a response with `status` and `headers` is framed:
/// chunked, or by its content-length.
fn framing(status: u16, headers: &[httparse::Header<'_>]) -> Result<Framing> {
    let mut framing = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            ensure!(header.value.eq_ignore_ascii_case(b"chunked"), "a transfer-encoding other than chunked");
            return Ok(Framing::Chunked);
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(header.value).ok().and_then(|v| v.trim().parse().ok());
            framing = Some(Framing::Length(length.context("a malformed content-length")?));
        }
    }
    match (framing, status) {
        (Some(framing), _) => Ok(framing),
        (None, 204 | 304) => Ok(Framing::Length(0)),
        (None, _) => bail!("a {status} response without a content-length or chunks (one ended by closing is not read)"),
    }
}

/// The CPU time the calling thread has used.
#[cfg(unix)]
fn thread_cpu() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only the struct it is given.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(not(unix))]
fn thread_cpu() -> Duration {
    Duration::ZERO
}
