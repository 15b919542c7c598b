//! `serve` and `dev` with no component named: the project's app, its
//! `[[route]]`s (`xtask::project::routes`) on one address through the
//! host's router (`edgekit_host::serve::app`). Each route gets the limits
//! and grants of the command's flags, with what the route sets in place of
//! them, and a handler of its own.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use edgekit_host::Engines;
use edgekit_host::http::{Grants, Handler, Limits};
use edgekit_host::kv::KvStore;
use edgekit_host::serve::Handlers;
use edgekit_host::serve::app::{App, Pattern, Route as Served};
use xtask::project::routes::{self, Route, RoutePath};
use xtask::project::{self, Project};

use super::Options;

/// One route as it will be served: what the project file says, the
/// artifact it serves, and its limits and grants.
pub struct Planned {
    pub route: Route,
    /// `[[route]] 2`, for messages.
    pub place: String,
    pub artifact: String,
    pub limits: Limits,
    pub grants: Grants,
}

/// The routes of the project at its root, checked against its components,
/// each with its limits and grants: the flags' (`options`), replaced by
/// what the route sets. Routes naming the same `kv` file share one store.
/// `command` (`serve`, `dev`) is the one serving the app, for messages.
pub fn plan(project: &Project, options: &Options, command: &str) -> Result<Vec<Planned>> {
    let file = project.root.join(project::FILE);
    if options.profile.is_some() {
        bail!(
            "--profile samples one component: name it (`{}`)",
            xtask::tool::cmd(&format!("{command} <component> --profile <dir>"))
        );
    }
    if project.file.route.is_empty() {
        bail!(
            "name a component to serve (`{}`), or give {} an app: [[route]]s, each a path to a component \
             (docs/project.md, \"Routes\")",
            xtask::tool::cmd(&format!("{command} <component>")),
            file.display()
        );
    }
    routes::check(project)?;
    let mut stores: BTreeMap<String, KvStore> = BTreeMap::new();
    if let Some(store) = &options.grants.kv {
        stores.insert(store.describe(), store.clone());
    }
    let mut planned = Vec::new();
    for (i, route) in project.file.route.iter().enumerate() {
        let place = format!("[[route]] {} (path = \"{}\")", i + 1, route.path);
        let number = |value: Option<NonZeroU64>, flag: u64| value.map_or(flag, NonZeroU64::get);
        let base = &options.limits;
        let limits = Limits {
            deadline: route.deadline_ms.map_or(base.deadline, |ms| Duration::from_millis(ms.get())),
            memory: match route.memory_mib {
                Some(mib) => usize::try_from(mib.get() << 20).context("memory-mib is too large")?,
                None => base.memory,
            },
            instances: u32::try_from(number(route.instances, base.instances.into()))
                .with_context(|| format!("{}: {place}: instances is too large", file.display()))?,
            reuse: usize::try_from(number(route.reuse, base.reuse as u64))?,
            concurrent: usize::try_from(number(route.concurrent, base.concurrent as u64))?,
        };
        let base = &options.grants;
        let pairs = |map: &Option<BTreeMap<String, String>>, flag: &Vec<(String, String)>| match map {
            Some(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => flag.clone(),
        };
        let kv = match &route.kv {
            None => base.kv.clone(),
            Some(kv) => {
                let at = routes::kv_store(&project.root, kv);
                match stores.get(&at) {
                    Some(store) if at != "memory" => Some(store.clone()),
                    _ => {
                        // `target/app-kv.redb` in a project not built yet.
                        if let Some(dir) = std::path::Path::new(&at).parent().filter(|_| at != "memory") {
                            std::fs::create_dir_all(dir).with_context(|| {
                                format!("{}: {place}: cannot create {}", file.display(), dir.display())
                            })?;
                        }
                        let store = KvStore::from_arg(&at)
                            .with_context(|| format!("{}: {place}: kv = {kv:?}", file.display()))?;
                        stores.insert(at, store.clone());
                        Some(store)
                    }
                }
            }
        };
        let grants = Grants {
            outbound_hosts: route.allow_hosts.clone().unwrap_or_else(|| base.outbound_hosts.clone()),
            config: pairs(&route.config, &base.config),
            cli: route.cli.unwrap_or(base.cli),
            env: pairs(&route.env, &base.env),
            kv,
            kv_buckets: route.kv_buckets.clone().unwrap_or_else(|| base.kv_buckets.clone()),
        };
        planned.push(Planned { artifact: route.artifact(), route: route.clone(), place, limits, grants });
    }
    Ok(planned)
}

/// The engines for the planned routes: each pool holds all their instances.
pub fn engines(planned: &[Planned]) -> Result<Engines> {
    edgekit_host::serve::app::engines(planned.iter().map(|p| &p.limits))
}

/// A handler for the dist artifact of each planned route, named with its
/// names file; an artifact that several routes serve is compiled once.
pub fn handlers(engines: &Engines, planned: &[Planned], options: &Options) -> Result<Vec<Handler>> {
    let mut compiled = BTreeMap::new();
    let mut handlers = Vec::new();
    for planned in planned {
        let (component, names) = match compiled.get(&planned.artifact) {
            Some(loaded) => loaded,
            None => {
                let loaded = edgekit_host::load_named(engines, &planned.artifact)
                    .with_context(|| format!("{} of {}", planned.place, project::FILE))?;
                compiled.entry(planned.artifact.clone()).or_insert(loaded)
            }
        };
        let handler = Handler::with(component, planned.limits.clone(), planned.grants.clone()).with_context(|| {
            format!("cannot serve `{}` for {} of {}", planned.artifact, planned.place, project::FILE)
        })?;
        handlers.push(handler.named(&planned.artifact).guest_log(options.guest_log.clone()).with_names(names.clone()));
    }
    Ok(handlers)
}

/// The app of the planned routes, each served by its `handlers`.
pub fn app(planned: &[Planned], handlers: Vec<Handlers>) -> Result<App> {
    let mut served = Vec::new();
    for (planned, handlers) in planned.iter().zip(handlers) {
        // Checked when the project file was read: the host's pattern as is.
        let pattern = match &planned.route.path {
            RoutePath::Exact(path) => Pattern::Exact(path.clone()),
            RoutePath::Prefix(path) => Pattern::Prefix(path.clone()),
        };
        let route = Served::new(pattern, handlers, &planned.artifact);
        served.push(if planned.route.strips() { route } else { route.keep_prefix() });
    }
    App::new(served)
}

/// What the banner says of each route: `  /api/... -> middleware+http-api
/// (WASI 0.2, deadline ..., ...)`.
pub fn describe(planned: &Planned, line: &str) -> String {
    let Planned { route, limits, grants, .. } = planned;
    let mut what = vec![
        format!("WASI {line}"),
        format!("deadline {} ms", limits.deadline.as_millis()),
        format!("memory {} MiB", limits.memory >> 20),
        format!("{} instances", limits.instances),
    ];
    if line == "0.3" {
        let each =
            if limits.reuse == 1 { "1 request each".to_string() } else { format!("{} requests each", limits.reuse) };
        what.push(format!("{each}, {} at once", limits.concurrent));
    }
    if !route.strips() && matches!(route.path, routes::RoutePath::Prefix(_)) {
        what.push("sees the whole path".into());
    }
    if let Some(store) = &grants.kv {
        what.push(format!("wasi:keyvalue on {}", store.describe()));
    }
    if !grants.outbound_hosts.is_empty() {
        what.push(format!("outbound to {}", grants.outbound_hosts.join(", ")));
    }
    if !grants.config.is_empty() {
        what.push(format!("{} config variables", grants.config.len()));
    }
    format!("  {:<16} -> {} ({})", route.path.to_string(), planned.artifact, what.join(", "))
}
