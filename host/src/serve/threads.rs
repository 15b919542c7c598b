//! The serving threads: one per core by default ([`ServerLimits::threads`]),
//! each a single-threaded tokio runtime serving the connections handed to
//! it. The accept loop (`listener.rs`, on the caller's runtime) hands each
//! new connection to the thread with the fewest open, so keep-alive
//! connections spread evenly. A connection lives on its thread from then on,
//! and so do the 0.3 instances serving its requests
//! (`http::enter_serving_thread`): a request, its instance's store and its
//! response never move between threads, and no thread wakes another to
//! hand work over. Against one work-stealing runtime this took a third off
//! the CPU time `serve` spends per 0.3 request (docs/running.md,
//! "Benchmarks").
//!
//! The cost is balance within a connection's life: it stays on its thread
//! however busy that thread gets.
//!
//! [`ServerLimits::threads`]: super::ServerLimits::threads

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::listener::Shared;
use super::slots::Slot;

/// How long a thread's runtime waits, when it ends, for the blocking tasks
/// its requests started (a `--kv` call) to finish.
const BLOCKING_GRACE: Duration = Duration::from_secs(2);

/// The running threads. Dropping this ends them (the connections still
/// open are dropped) and waits for them.
pub(super) struct Threads {
    threads: Vec<Thread>,
    /// Where the search for the least busy thread starts next, so that
    /// ties go round.
    next: usize,
}

struct Thread {
    handoff: mpsc::UnboundedSender<(std::net::TcpStream, Slot)>,
    /// Connections open on the thread.
    open: Arc<AtomicUsize>,
    finish: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Threads {
    /// Starts the server's threads ([`ServerLimits::threads`]), serving
    /// what they are handed, each on a runtime built here, so that failing
    /// to build one fails the start.
    ///
    /// [`ServerLimits::threads`]: super::ServerLimits::threads
    pub(super) fn start(shared: Arc<Shared>) -> Result<Threads> {
        let count = shared.limits.threads;
        let mut threads = Threads { threads: Vec::with_capacity(count), next: 0 };
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start a tokio runtime for a serving thread")?;
            let (handoff, mut handed) = mpsc::unbounded_channel::<(std::net::TcpStream, Slot)>();
            let (finish, mut finished) = oneshot::channel();
            let open = Arc::new(AtomicUsize::new(0));
            let (shared, open_here) = (shared.clone(), open.clone());
            let handle = std::thread::Builder::new()
                .name(format!("edgekit-serve-{index}"))
                .spawn(move || {
                    crate::http::enter_serving_thread(index);
                    runtime.block_on(async move {
                        loop {
                            let (stream, slot) = tokio::select! {
                                Some(handed) = handed.recv() => handed,
                                _ = &mut finished => break,
                            };
                            let (shared, open_here) = (shared.clone(), open_here.clone());
                            tokio::spawn(async move {
                                match TcpStream::from_std(stream) {
                                    Ok(stream) => shared.connection().serve(stream, slot).await,
                                    Err(e) => shared.log.write(|| format!("cannot serve a connection: {e}")),
                                }
                                open_here.fetch_sub(1, Ordering::Relaxed);
                            });
                        }
                    });
                    // The connections left are dropped with the runtime.
                    runtime.shutdown_timeout(BLOCKING_GRACE);
                })
                .context("cannot start a serving thread")?;
            threads.threads.push(Thread { handoff, open, finish: Some(finish), handle: Some(handle) });
        }
        Ok(threads)
    }

    /// Hands a connection just accepted, and its slot, to the thread with
    /// the fewest connections open.
    pub(super) fn hand(&mut self, stream: TcpStream, slot: Slot) -> Result<()> {
        let n = self.threads.len();
        let start = self.next;
        self.next = (self.next + 1) % n;
        let least = (start..start + n)
            .map(|i| i % n)
            .min_by_key(|&i| self.threads[i].open.load(Ordering::Relaxed))
            .expect("a server has at least one thread");
        let thread = &self.threads[least];
        // Moved to the thread's runtime, which registers it there.
        let stream = stream.into_std().context("cannot hand a connection to a serving thread")?;
        thread.open.fetch_add(1, Ordering::Relaxed);
        if thread.handoff.send((stream, slot)).is_err() {
            thread.open.fetch_sub(1, Ordering::Relaxed);
            anyhow::bail!("serving thread {least} has ended");
        }
        Ok(())
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        for thread in &mut self.threads {
            if let Some(finish) = thread.finish.take() {
                let _ = finish.send(());
            }
        }
        for thread in &mut self.threads {
            if let Some(handle) = thread.handle.take() {
                let _ = handle.join();
            }
        }
    }
}
