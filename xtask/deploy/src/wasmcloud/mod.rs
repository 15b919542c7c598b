//! `cargo xtask deploy wasmcloud`: dist artifacts onto a wasmCloud 1.x
//! lattice. It writes one wadm manifest per WASI 0.2 http artifact
//! (`manifest.rs`) for a team to apply to its own lattice; with `--local` it
//! starts a lattice here (`lattice.rs`, with the parts `tools.rs` installs),
//! publishes the artifacts to its registry, deploys them and serves until
//! Ctrl-C.
//!
//! With no component named, a project with `[[route]]`s deploys its app as
//! one application (`app.rs`): every route's component behind one HTTP
//! server in path mode.
//!
//! WASI 0.3 artifacts are refused: wasmCloud 1.x embeds wasmtime 38, whose
//! `wasi:http` is 0.2 (0.2.6; wasmtime's linker takes our 0.2.12 imports
//! as semver-compatible with it).

pub mod app;
pub mod lattice;
pub mod manifest;
pub mod tools;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xshell::Shell;
use xtask::artifact::{Entry, write_atomic};
use xtask::flags::{self, Engine};
use xtask::report::Table;
use xtask::workspace;

use crate::oci::{Image, dist_entries};
use crate::{publish, registry};
use app::RoutedApp;
use lattice::Lattice;
use manifest::{App, Listener, app_name};
use xtask::project::routes::Route;
use xtask::project::{self, Project};

pub fn run(args: flags::Deploy) -> Result<()> {
    match args.engine {
        Engine::Wasmcloud(args) => wasmcloud(args),
    }
}

fn wasmcloud(args: flags::Wasmcloud) -> Result<()> {
    let sh = Shell::new()?;
    let root = workspace::root();
    let routes = match args.components.is_empty() {
        true => Project::load(&root)?.file.route,
        false => Vec::new(),
    };
    if !routes.is_empty() {
        return deploy_app(&sh, &root, &routes, &args);
    }
    if !args.local {
        let registry = registry_of(&args, "them")?;
        let plan = Plan::new(&root, &args.components, args.hosts, args.replicas)?;
        let apps = plan.apps(&registry, args.listen, None)?;
        let written = write_manifests(&deploy_dir(&root), &apps)?;
        let mut table = Table::new(["component", "image", "listens on", "manifest"]).left(&[1, 2, 3]);
        for (app, path) in apps.iter().zip(&written) {
            table.row([app.name.clone(), app.image.clone(), app.listeners[0].address.to_string(), shown(&root, path)]);
        }
        println!("\n{}", table.text());
        println!("apply each to a lattice with `wash app deploy <manifest>` (docs/deploy.md)");
        return Ok(());
    }
    xtask::process::on_interrupt_kill_children();
    let started = Instant::now();
    let local = Local::up(&sh, &root, &args.components, args.hosts, args.replicas, args.listen)?;
    hold(local, started, "component", "every application")
}

/// `--registry`, or an error saying how to name it (and how to push
/// `what` there) or to deploy with `--local` instead.
fn registry_of(args: &flags::Wasmcloud, what: &str) -> Result<String> {
    args.registry.clone().with_context(|| {
        format!(
            "name the registry the images are in: --registry ghcr.io/<org>/edgekit (push {what} there with \
             `{}`), or deploy to a lattice on this machine with --local",
            xtask::tool::cmd("publish <component> ghcr.io/<org>/edgekit/<component>:<version>")
        )
    })
}

/// Prints where each of `local`'s applications answers (the first column
/// headed `heading`), says that `answering` answers, and keeps the lattice
/// up until Ctrl-C; then stops it all.
fn hold(local: Local, started: Instant, heading: &str, answering: &str) -> Result<()> {
    let mut table = Table::new([heading, "host", "url"]).left(&[1, 2]);
    for app in &local.apps {
        for (host, addr) in &app.addrs {
            table.row([app.name.clone(), host.to_string(), format!("http://{addr}")]);
        }
    }
    println!("\n{}", table.text());
    println!(
        "lattice up and {answering} answering {:.1} s after the start; logs in {}; Ctrl-C stops it all",
        started.elapsed().as_secs_f64(),
        local.lattice.logs().display()
    );
    xtask::process::until_interrupted();
    eprintln!("==> stopping the lattice");
    drop(local);
    Ok(())
}

/// `deploy wasmcloud` of the project's app: its manifest, or with
/// `--local` a lattice serving it.
fn deploy_app(sh: &Shell, root: &Path, routes: &[Route], args: &flags::Wasmcloud) -> Result<()> {
    if args.hosts == 0 || args.replicas == 0 {
        bail!("--hosts and --replicas must be at least 1");
    }
    if !args.local {
        let registry = registry_of(args, "each route's component")?;
        let app = routed_app(
            root,
            routes,
            &registry,
            args.hosts,
            args.replicas,
            vec![Listener { host: None, address: args.listen }],
        )?;
        let written = write_app_manifest(&deploy_dir(root), &app)?;
        let mut table = Table::new(["route", "component", "image"]).left(&[0, 1, 2]);
        for (path, target) in &app.routes {
            let image = app.parts.iter().find(|p| &p.name == target).map_or("", |p| p.image.as_str());
            table.row([path.clone(), target.clone(), image.to_string()]);
        }
        println!("\n{}", table.text());
        println!(
            "{} on {} (path mode): {}; apply it to a lattice with `wash app deploy {}` (docs/deploy.md)",
            app.name,
            args.listen,
            shown(root, &written),
            shown(root, &written)
        );
        return Ok(());
    }
    xtask::process::on_interrupt_kill_children();
    let started = Instant::now();
    let mut local = Local::start(sh, args.hosts)?;
    local.deploy_app(sh, root, routes, args.replicas, args.listen)?;
    hold(local, started, "application", "the app")
}

/// The manifest of the app of `routes` (a project's `[[route]]`s, or
/// others of its components) for a lattice of `hosts` hosts, its images in
/// `registry`, its servers on `listen` (what `deploy wasmcloud` with no
/// names writes).
pub fn app_manifest(
    root: &Path,
    routes: &[Route],
    registry: &str,
    hosts: usize,
    replicas: usize,
    listen: SocketAddr,
) -> Result<String> {
    let listeners = vec![Listener { host: None, address: listen }];
    Ok(routed_app(root, routes, registry, hosts, replicas, listeners)?.manifest())
}

/// The app of `routes` with its images in `registry`, served on `listeners`.
fn routed_app(
    root: &Path,
    routes: &[Route],
    registry: &str,
    hosts: usize,
    replicas: usize,
    listeners: Vec<Listener>,
) -> Result<RoutedApp> {
    let mut project = Project::load(root)?;
    project.file.route = routes.to_vec();
    project::routes::check(&project)?;
    let app::Deployable { entries, paths } = app::plan(&project, routes)?;
    let registry = registry.trim_end_matches('/');
    let mut parts = Vec::new();
    for entry in entries {
        let name = app_name(&entry.name);
        let version = crate::oci::crate_version(root, &entry.name)?;
        parts.push(app::Part { image: format!("{registry}/{name}:{version}"), name, entry });
    }
    let described: Vec<String> = parts.iter().map(|p| format!("{} ({} bytes)", p.entry.name, p.entry.bytes)).collect();
    Ok(RoutedApp {
        name: app::name(root),
        description: format!("edgekit app of {} routes, WASI 0.2: {}", paths.len(), described.join(", ")),
        parts,
        routes: paths,
        replicas,
        hosts,
        listeners,
    })
}

fn write_app_manifest(dir: &Path, app: &RoutedApp) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{}.wadm.yaml", app.name));
    write_atomic(&path, app.manifest().as_bytes())?;
    Ok(path)
}

/// target/dist/deploy/
pub fn deploy_dir(root: &Path) -> PathBuf {
    workspace::dist_dir(root).join("deploy")
}

fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// The artifacts to deploy and how.
struct Plan {
    entries: Vec<Entry>,
    hosts: usize,
    replicas: usize,
}

impl Plan {
    /// Every self-contained WASI 0.2 http artifact, or the ones named, which
    /// must be such.
    fn new(root: &Path, names: &[String], hosts: usize, replicas: usize) -> Result<Plan> {
        if hosts == 0 || replicas == 0 {
            bail!("--hosts and --replicas must be at least 1");
        }
        let dist = workspace::dist_dir(root);
        let mut entries = Vec::new();
        for entry in dist_entries(&dist, names)? {
            match why_not(&entry) {
                None => entries.push(entry),
                Some(why) if !names.is_empty() => bail!("{} cannot be deployed to wasmCloud 1.x: {why}", entry.name),
                Some(why) => eprintln!("    {:<20} skipped: {why}", entry.name),
            }
        }
        if entries.is_empty() {
            bail!(
                "no artifact in {} can be deployed to wasmCloud 1.x: run `{}`",
                dist.display(),
                xtask::tool::cmd("dist")
            );
        }
        Ok(Plan { entries, hosts, replicas })
    }

    /// An application per artifact, each listening on the next port from
    /// `listen`'s; on a local lattice (`local_hosts`), one server per host,
    /// each on its own port.
    fn apps(&self, registry: &str, listen: SocketAddr, local_hosts: Option<usize>) -> Result<Vec<App>> {
        let registry = registry.trim_end_matches('/');
        let mut port = listen.port();
        let mut next = || -> Result<SocketAddr> {
            let addr = SocketAddr::new(listen.ip(), port);
            port = port.checked_add(1).context("ran out of ports above --listen: give a lower one")?;
            Ok(addr)
        };
        let mut apps = Vec::new();
        for entry in &self.entries {
            let name = app_name(&entry.name);
            let version = crate::oci::crate_version(&workspace::root(), &entry.name)?;
            let listeners = match local_hosts {
                None => vec![Listener { host: None, address: next()? }],
                Some(hosts) => {
                    (1..=hosts).map(|h| Ok(Listener { host: Some(h), address: next()? })).collect::<Result<_>>()?
                }
            };
            apps.push(App {
                description: format!(
                    "{}: edgekit component, WASI {}, {} bytes, sha256 {}",
                    entry.name, entry.wasi, entry.bytes, entry.sha256
                ),
                image: format!("{registry}/{name}:{version}"),
                name,
                replicas: self.replicas,
                hosts: self.hosts,
                listeners,
            });
        }
        Ok(apps)
    }
}

/// Why an artifact cannot run on wasmCloud 1.x's built-in HTTP server, if
/// it cannot.
pub fn why_not(entry: &Entry) -> Option<String> {
    if !entry.is_http() {
        return Some("it exports no wasi:http handler".into());
    }
    if !entry.wasi.starts_with("0.2") {
        let line = entry.wasi.rsplit_once('.').map_or(entry.wasi.as_str(), |(line, _)| line);
        return Some(format!("WASI {line} not supported by wasmCloud 1.x (its wasmtime 38 serves WASI 0.2)"));
    }
    let beyond = entry.beyond_world();
    if !beyond.is_empty() {
        return Some(format!("imports {beyond:?}, which the manifest links to nothing"));
    }
    None
}

fn write_manifests(dir: &Path, apps: &[App]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for app in apps {
        let path = dir.join(format!("{}.wadm.yaml", app.name));
        write_atomic(&path, app.manifest().as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// A lattice on this machine with the artifacts deployed and answering.
pub struct Local {
    pub lattice: Lattice,
    pub apps: Vec<Deployed>,
}

/// One deployed application and where it answers on each host.
pub struct Deployed {
    pub name: String,
    /// (host number, the address its HTTP server listens on there)
    pub addrs: Vec<(usize, SocketAddr)>,
}

impl Local {
    /// Starts a lattice of `hosts` hosts, publishes the artifacts to its
    /// registry, deploys them (manifests in target/dist/deploy/local/) and
    /// waits until every URL answers.
    pub fn up(
        sh: &Shell,
        root: &Path,
        names: &[String],
        hosts: usize,
        replicas: usize,
        listen: SocketAddr,
    ) -> Result<Local> {
        let plan = Plan::new(root, names, hosts, replicas)?;
        let lattice = Lattice::start(sh, hosts)?;
        let local = Local { lattice, apps: Vec::new() };
        local.deploy(sh, root, plan, hosts, listen)
    }

    /// A lattice of `hosts` hosts with nothing deployed yet.
    pub fn start(sh: &Shell, hosts: usize) -> Result<Local> {
        Ok(Local { lattice: Lattice::start(sh, hosts)?, apps: Vec::new() })
    }

    /// Deploys the app of `routes` (the project's `[[route]]`s, or others
    /// of its components) as one application, `replicas` of each component
    /// spread over the hosts, each host's server in path mode on its own
    /// port from `listen`'s; waits until every server answers.
    pub fn deploy_app(
        &mut self,
        sh: &Shell,
        root: &Path,
        routes: &[Route],
        replicas: usize,
        listen: SocketAddr,
    ) -> Result<()> {
        let hosts = self.lattice.hosts();
        let listeners = (1..=hosts)
            .map(|h| {
                let port = listen.port().checked_add(h as u16 - 1).context("ran out of ports above --listen")?;
                Ok(Listener { host: Some(h), address: SocketAddr::new(listen.ip(), port) })
            })
            .collect::<Result<Vec<_>>>()?;
        let registry_path = format!("{}/edgekit", self.lattice.registry.addr);
        let app = routed_app(root, routes, &registry_path, hosts, replicas, listeners)?;
        for part in &app.parts {
            let image: Image = publish::image(&part.entry.name)?;
            eprintln!("==> publish    {} to {}", part.entry.name, part.image);
            publish::publish(&image, &registry::reference(&part.image)?)?;
        }
        // Two steps: the components and servers (with every route's link
        // config), then, once each server listens, the links. wadm puts a
        // link only when a reconcile finds its config in, and reconciles a
        // link on its first deploy and when its component or server starts;
        // in one step, a component already pulled started before the
        // configs were in, and its route was never linked (seen here on
        // the first route, in three runs of four). Deployed second, every
        // link's config is in at that first reconcile.
        let dir = deploy_dir(root).join("local");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let servers = dir.join(format!("{}.servers.wadm.yaml", app.name));
        write_atomic(&servers, app.servers_only().as_bytes())?;
        eprintln!("==> deploy     the app {}: its components and a server per host, onto {hosts} host(s)", app.name);
        self.lattice.apply(sh, &[servers])?;
        for (host, addr) in app.addrs() {
            self.wait_answering(addr).with_context(|| format!("{} on host {host}", app.name))?;
        }
        let manifest = write_app_manifest(&dir, &app)?;
        eprintln!("==> deploy     the app {}: its {} routes", app.name, app.routes.len());
        self.lattice.apply(sh, &[manifest])?;
        for (host, addr) in app.addrs() {
            // Until its links are in, every path is the server's 404.
            for (path, target) in &app.routes {
                self.wait_routed(host, addr, path)
                    .with_context(|| format!("{} on host {host}: {path} to {target}", app.name))?;
            }
        }
        self.apps.push(Deployed { name: app.name.clone(), addrs: app.addrs() });
        Ok(())
    }

    fn deploy(self, sh: &Shell, root: &Path, plan: Plan, hosts: usize, listen: SocketAddr) -> Result<Local> {
        let lattice = self.lattice;
        let registry_path = format!("{}/edgekit", lattice.registry.addr);
        let apps = plan.apps(&registry_path, listen, Some(hosts))?;
        for (entry, app) in plan.entries.iter().zip(&apps) {
            let image: Image = publish::image(&entry.name)?;
            let reference = registry::reference(&app.image)?;
            eprintln!("==> publish    {} to {}", entry.name, app.image);
            publish::publish(&image, &reference)?;
        }
        let manifests = write_manifests(&deploy_dir(root).join("local"), &apps)?;
        eprintln!("==> deploy     {} application(s) through wadm onto {hosts} host(s)", apps.len());
        lattice.apply(sh, &manifests)?;
        let deployed: Vec<Deployed> = apps
            .iter()
            .map(|app| Deployed {
                name: app.name.clone(),
                addrs: app.listeners.iter().map(|l| (l.host.unwrap_or(0), l.address)).collect(),
            })
            .collect();
        let local = Local { lattice, apps: deployed };
        for app in &local.apps {
            for (host, addr) in &app.addrs {
                local.wait_answering(*addr).with_context(|| format!("{} on host {host}", app.name))?;
            }
        }
        Ok(local)
    }

    /// Waits until the server on `addr` (of host `host`) routes `path`: a
    /// `GET` answered with anything but the 404 of a path it has no link
    /// for (empty, where a component's own 404 has a body).
    fn wait_routed(&self, host: usize, addr: SocketAddr, path: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match unrouted(addr, path) {
                Ok(false) => return Ok(()),
                Ok(true) | Err(_) if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.lattice.host_log(host.max(1))).unwrap_or_default();
                    let said: Vec<&str> = log.lines().filter(|l| l.contains("ERROR") || l.contains("link")).collect();
                    bail!(
                        "{path} is not routed within 60 s of wadm's deploy; the host's errors and links: {}",
                        said[said.len().saturating_sub(8)..].join(" | ")
                    )
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Waits until `addr` accepts connections (wadm reports an application
    /// deployed when its parts are placed; the server binds just after).
    fn wait_answering(&self, addr: SocketAddr) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            if Instant::now() > deadline {
                bail!("{addr} did not answer within 60 s of wadm's deploy (logs: {})", self.lattice.logs().display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

/// Whether the server on `addr` has no route for `path` (its 404 with an
/// empty body).
fn unrouted(addr: SocketAddr, path: &str) -> std::io::Result<bool> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    Ok(head.starts_with("HTTP/1.1 404") && body.is_empty())
}
