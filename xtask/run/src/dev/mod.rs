//! `cargo xtask dev <component>`: serves a component as `serve` does and
//! rebuilds it whenever its sources change, swapping the new version in
//! without closing the listening socket.
//!
//! Three parts, on three threads:
//!
//! - the server (`edgekit_host::serve`, on the main thread), which gives
//!   each new request the latest handler of a watch channel
//!   (`serve::Handlers::Latest`); a request in flight keeps its own;
//! - the watcher (`watch.rs`, notify's debouncer thread), which reports
//!   batches of changed paths;
//! - the rebuild loop (this file), which takes a batch, keeps the paths
//!   whose contents changed, and runs one rebuild (`rebuild.rs`): `dist`'s
//!   pipeline, the size budgets, a new handler; only when all pass is the
//!   artifact written and the handler sent to the server.
//!
//! A change that fails keeps the old version serving and prints the error
//! once: the next rebuild waits for the next change. Ctrl-C or SIGTERM stops
//! the server gracefully, then the rebuild loop: a build in progress has its
//! processes (cargo and its compilers) terminated, and nothing more is
//! written; files are only ever written whole (`artifact::write_atomic`).

mod rebuild;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result};
use edgekit_host::serve::{engine, serve_blocking_with};
use xtask::flags;
use xtask::workspace;

use crate::serve::Options;
use rebuild::{Host, Target};

/// What the rebuild loop hears.
enum Event {
    /// The watcher's batch of paths, or its error.
    Paths(notify_debouncer_mini::DebounceEventResult),
    /// The server has stopped.
    Stop,
}

pub fn run(flags: flags::Dev) -> Result<()> {
    let root = workspace::root();
    let target = Target::find(&root, &flags.component)?;
    let options = Options::from_flags(&flags.options)?;
    let engine = engine(&options.limits)?;

    // Watching starts before the first build, so no change is missed.
    let (events, heard) = mpsc::channel();
    let from_watcher = events.clone();
    let mut sources = watch::Sources::watch(&root, &target.crates, move |batch| {
        let _ = from_watcher.send(Event::Paths(batch));
    })?;

    let host = Host {
        engine: &engine,
        limits: &options.limits,
        grants: &options.grants,
        guest_log: &options.guest_log,
        profile: options.profile.is_some(),
    };
    let sh = xshell::Shell::new()?;
    sh.change_dir(&root);
    // A fresh dist artifact is served as it is; otherwise the first build
    // must pass, or there is nothing to serve.
    let first = match edgekit_host::artifact(&target.name) {
        Ok(path) => {
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            host.handler(&target.name, &bytes, rebuild::NamesFrom::File(&path))?
        }
        Err(_) => {
            eprintln!("dev: building {} before serving it", target.name);
            let start = Instant::now();
            let rebuilt = rebuild::rebuild(&sh, &root, &target, &host, || false).with_context(|| {
                format!("dev cannot start: {} does not build; fix it and run dev again", target.name)
            })?;
            eprintln!("{}", rebuild::line(&target.name, &rebuilt, start.elapsed()));
            rebuilt.handler
        }
    };
    let line = first.line();
    let (latest, handlers) = tokio::sync::watch::channel(first);
    // What is serving when the server stops: its profile is written then.
    let serving = handlers.clone();

    let stopping = Arc::new(AtomicBool::new(false));
    std::thread::scope(|scope| {
        let stopped = stopping.clone();
        let (root, target, host) = (&root, &target, &host);
        let rebuilding = scope.spawn(move || {
            let sh = xshell::Shell::new()?;
            sh.change_dir(root);
            let stopping = || stopped.load(Ordering::SeqCst);
            while let Ok(event) = heard.recv() {
                let batch = match event {
                    Event::Stop => break,
                    Event::Paths(Ok(batch)) => batch,
                    Event::Paths(Err(e)) => {
                        eprintln!("dev: the file watcher failed: {e}; changes may be missed until you save again");
                        continue;
                    }
                };
                // Every batch that came in meanwhile joins this one: one
                // rebuild for all the changes made while the last one ran.
                let mut paths: Vec<PathBuf> = batch.into_iter().map(|e| e.path).collect();
                let mut stop = false;
                while let Ok(more) = heard.try_recv() {
                    match more {
                        Event::Stop => stop = true,
                        Event::Paths(Ok(batch)) => paths.extend(batch.into_iter().map(|e| e.path)),
                        Event::Paths(Err(_)) => {}
                    }
                }
                if stop {
                    break;
                }
                let changed = sources.changed(paths);
                if changed.is_empty() {
                    continue;
                }
                let names: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
                eprintln!("dev: {} changed: rebuilding {}", names.join(", "), target.name);
                let start = Instant::now();
                let result = rebuild::rebuild(&sh, root, target, host, stopping);
                if stopping() {
                    eprintln!("dev: stopped during a rebuild; target/dist keeps the last version that passed");
                    break;
                }
                match result {
                    Ok(rebuilt) => {
                        let line = rebuild::line(&target.name, &rebuilt, start.elapsed());
                        latest.send_replace(rebuilt.handler);
                        eprintln!("{line}");
                    }
                    Err(e) => eprintln!(
                        "error: {e:#}\ndev: {} still serves the previous version; fix the error and save",
                        target.name
                    ),
                }
            }
            anyhow::Ok(())
        });
        let served = serve_blocking_with(&flags.options.addr, handlers, options.server.clone(), |addr| {
            eprintln!("{}", options.banner(&flags.options, &target.name, line, addr));
            eprintln!("dev: watching the sources of {}; save a change to rebuild it", target.name);
        });
        stopping.store(true, Ordering::SeqCst);
        let _ = events.send(Event::Stop);
        terminate_children();
        match rebuilding.join() {
            Ok(result) => result.context("the rebuild loop failed")?,
            Err(_) => anyhow::bail!("the rebuild loop panicked"),
        }
        served?;
        let last = serving.borrow().clone();
        crate::serve::write_profile(last.profile(), options.profile.as_deref())
    })
}

/// Terminates every process this one started that is still running, and
/// theirs (a build in progress: cargo, rustc, rustup), deepest first, so
/// none outlives `dev`. They see SIGTERM, as from a terminal's Ctrl-C.
#[cfg(target_os = "linux")]
fn terminate_children() {
    let me = std::process::id();
    // Parent of every process, from /proc/<pid>/stat: "pid (comm) state ppid ...".
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|s| s.parse::<u32>().ok()) {
            parents.push((pid, ppid));
        }
    }
    let mut tree = vec![me];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    for pid in tree.into_iter().skip(1).rev() {
        // SAFETY: kill has no memory effects; the pid is a descendant of
        // this process, read just now.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn terminate_children() {
    // Elsewhere a build in progress runs to its end: `dev` waits for it
    // (the rebuild loop is joined) and writes nothing after the stop.
}
