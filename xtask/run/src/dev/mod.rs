//! `cargo xtask dev <component>`: serves a component as `serve` does and
//! rebuilds it whenever its sources change, swapping the new version in
//! without closing the listening socket. With no component, it serves the
//! project's app as `serve` does (`serve/app.rs`), each route taking its
//! handlers from a channel of its own, and rebuilds only the artifacts
//! whose parts' sources changed: the other routes keep their handlers, and
//! so their instances.
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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result};
use edgekit_host::http::Handler;
use edgekit_host::serve::{Handlers, engines, serve_blocking_with};
use xtask::flags;
use xtask::project::Project;
use xtask::workspace;

use crate::serve::{Options, app};
use rebuild::{Host, Target};

/// What the rebuild loop hears.
enum Event {
    /// The watcher's batch of paths, or its error.
    Paths(notify_debouncer_mini::DebounceEventResult),
    /// The server has stopped.
    Stop,
}

/// One artifact `dev` serves and rebuilds: for a component named, the one;
/// for an app, each artifact its routes serve, with a host per route
/// (its limits and grants) and the channel its route's server takes
/// handlers from.
struct Served<'a> {
    target: Target,
    routes: Vec<(Host<'a>, tokio::sync::watch::Sender<Handler>)>,
}

impl Served<'_> {
    fn hosts(&self) -> Vec<&Host<'_>> {
        self.routes.iter().map(|(host, _)| host).collect()
    }
}

pub fn run(flags: flags::Dev) -> Result<()> {
    let root = workspace::root();
    let options = Options::from_flags(&flags.options)?;
    let planned = match &flags.component {
        Some(_) => Vec::new(),
        None => app::plan(&Project::load(&root)?, &options, "dev")?,
    };
    let engines = match &flags.component {
        Some(_) => engines(&options.limits),
        None => app::engines(&planned)?,
    };
    let host = |limits, grants| Host {
        engines: &engines,
        limits,
        grants,
        guest_log: &options.guest_log,
        profile: options.profile.is_some(),
    };
    // The targets, each with its routes' hosts and, for the server, the
    // receiving end of each route's channel (in the routes' order).
    let mut targets: Vec<(Target, Vec<(usize, Host)>)> = Vec::new();
    match &flags.component {
        Some(name) => targets.push((Target::find(&root, name)?, vec![(0, host(&options.limits, &options.grants))])),
        None => {
            for (i, planned) in planned.iter().enumerate() {
                let route = (i, host(&planned.limits, &planned.grants));
                match targets.iter_mut().find(|(t, _)| t.name == planned.artifact) {
                    Some((_, routes)) => routes.push(route),
                    None => targets.push((Target::find(&root, &planned.artifact)?, vec![route])),
                }
            }
        }
    }
    // The crates the targets are built from (one crate builds both lines).
    let crates: Vec<String> = {
        let mut crates: Vec<String> = targets.iter().flat_map(|(t, _)| t.crates.clone()).collect();
        crates.sort();
        crates.dedup();
        crates
    };

    // Watching starts before the first build, so no change is missed.
    let (events, heard) = mpsc::channel();
    let from_watcher = events.clone();
    let mut sources = watch::Sources::watch(&root, &crates, move |batch| {
        let _ = from_watcher.send(Event::Paths(batch));
    })?;

    let sh = xshell::Shell::new()?;
    sh.change_dir(&root);
    let mut served = Vec::new();
    let mut receivers: Vec<Option<tokio::sync::watch::Receiver<Handler>>> = vec![None; planned.len().max(1)];
    for (target, routes) in targets {
        let hosts: Vec<&Host> = routes.iter().map(|(_, host)| host).collect();
        let first = first_handlers(&sh, &root, &target, &hosts)?;
        let mut with_channels = Vec::new();
        for ((index, host), handler) in routes.into_iter().zip(first) {
            let (latest, handlers) = tokio::sync::watch::channel(handler);
            receivers[index] = Some(handlers);
            with_channels.push((host, latest));
        }
        served.push(Served { target, routes: with_channels });
    }
    let receivers: Vec<tokio::sync::watch::Receiver<Handler>> =
        receivers.into_iter().map(|r| r.expect("every route has a target")).collect();
    // What is serving when the server stops: its profile is written then.
    let serving = receivers[0].clone();
    let line = serving.borrow().line();
    let lines: Vec<String> = planned.iter().zip(&receivers).map(|(p, r)| app::describe(p, r.borrow().line())).collect();
    let project = Project::load(&root)?;
    let banner = |addr| match &flags.component {
        Some(name) => options.banner(&flags.options, name, line, addr),
        None => options.app_banner(&project, addr, &lines),
    };
    let handlers: Handlers = match &flags.component {
        Some(_) => receivers[0].clone().into(),
        None => app::app(&planned, receivers.into_iter().map(Handlers::Latest).collect())?.into(),
    };
    let watched: Vec<&str> = served.iter().map(|s| s.target.name.as_str()).collect();
    let watched = watched.join(", ");

    let stopping = Arc::new(AtomicBool::new(false));
    std::thread::scope(|scope| {
        let stopped = stopping.clone();
        let (root, served) = (&root, &served);
        let rebuilding = scope.spawn(move || {
            let sh = xshell::Shell::new()?;
            sh.change_dir(root);
            let stopping = || stopped.load(Ordering::SeqCst);
            let components_dir = Project::load(root)?.components_dir();
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
                for served in served.iter().filter(|s| affects(root, &components_dir, &changed, &s.target)) {
                    let target = &served.target;
                    let names: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
                    eprintln!("dev: {} changed: rebuilding {}", names.join(", "), target.name);
                    let start = Instant::now();
                    let result = rebuild::rebuild(&sh, root, target, &served.hosts(), stopping);
                    if stopping() {
                        eprintln!("dev: stopped during a rebuild; target/dist keeps the last version that passed");
                        return anyhow::Ok(());
                    }
                    match result {
                        Ok(rebuilt) => {
                            let line = rebuild::line(&target.name, &rebuilt, start.elapsed());
                            for ((_, latest), handler) in served.routes.iter().zip(rebuilt.handlers) {
                                latest.send_replace(handler);
                            }
                            eprintln!("{line}");
                        }
                        Err(e) => eprintln!(
                            "error: {e:#}\ndev: {} still serves the previous version; fix the error and save",
                            target.name
                        ),
                    }
                }
            }
            anyhow::Ok(())
        });
        let served = serve_blocking_with(&flags.options.addr, handlers, options.server.clone(), |addr| {
            eprintln!("{}", banner(addr));
            eprintln!("dev: watching the sources of {watched}; save a change to rebuild it");
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

/// The handlers `target` starts with, one per host: from its dist artifact
/// if that is fresh, else from a first build, which must pass, or there is
/// nothing to serve.
fn first_handlers(sh: &xshell::Shell, root: &Path, target: &Target, hosts: &[&Host]) -> Result<Vec<Handler>> {
    if let Ok(path) = edgekit_host::artifact(&target.name) {
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        return rebuild::handlers(hosts, &target.name, &bytes, rebuild::NamesFrom::File(&path));
    }
    eprintln!("dev: building {} before serving it", target.name);
    let start = Instant::now();
    let rebuilt = rebuild::rebuild(sh, root, target, hosts, || false)
        .with_context(|| format!("dev cannot start: {} does not build; fix it and run dev again", target.name))?;
    eprintln!("{}", rebuild::line(&target.name, &rebuilt, start.elapsed()));
    Ok(rebuilt.handlers)
}

/// Whether a change to `changed` (relative to `root`) rebuilds `target`: a
/// file in the crate one of its parts is built from does, a file in another
/// component's crate does not, and anything else watched (the pins, the project file,
/// the toolchain file) rebuilds every target.
fn affects(root: &Path, components_dir: &Path, changed: &[PathBuf], target: &Target) -> bool {
    let components = components_dir.strip_prefix(root).unwrap_or(components_dir);
    changed.iter().any(|path| match path.strip_prefix(components) {
        Ok(inside) => inside
            .components()
            .next()
            .is_some_and(|crate_dir| target.crates.iter().any(|name| crate_dir.as_os_str() == name.as_str())),
        Err(_) => true,
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
