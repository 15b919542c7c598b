//! `cargo xtask serve <component>`: serves a wasi:http component over HTTP
//! until interrupted; with no component, the project's app (`app.rs`). The
//! server is `edgekit_host::serve`; this module turns the flags into its
//! limits and grants (`dev` reuses them, see `dev/`).

use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod app;

use anyhow::{Context, Result};
use edgekit_host::http::{Grants, Handler, Limits, TICK};
use edgekit_host::kv::KvStore;
use edgekit_host::profile::Profile;
use edgekit_host::serve::{
    Handlers, Log, ServerLimits, connections_for_file_limit, engines, raise_file_limit, serve_blocking_with,
    threads_for_cores,
};
use xtask::flags;
use xtask::project::Project;

/// What the serve flags ask for: each request's limits, the component's
/// grants, and the server's own limits.
pub struct Options {
    pub limits: Limits,
    pub grants: Grants,
    pub server: ServerLimits,
    /// Where the component's stdout and stderr lines go.
    pub guest_log: Log,
    /// Where to write the profile on stop (`--profile`), if one is taken.
    pub profile: Option<PathBuf>,
}

impl Options {
    pub fn from_flags(flags: &flags::ServeOptions) -> Result<Options> {
        Ok(Options {
            limits: Limits {
                deadline: Duration::from_millis(flags.deadline_ms),
                memory: usize::try_from(flags.memory_mib << 20).context("--memory-mib is too large")?,
                instances: u32::try_from(flags.instances).context("--instances is too large")?,
                reuse: usize::try_from(flags.reuse).context("--reuse is too large")?,
                concurrent: usize::try_from(flags.concurrent).context("--concurrent is too large")?,
            },
            grants: Grants {
                outbound_hosts: flags.allow_hosts.clone(),
                config: flags.config.clone(),
                cli: flags.cli,
                env: flags.env.clone(),
                kv: flags.kv.as_deref().map(KvStore::from_arg).transpose()?,
                kv_buckets: flags.kv_buckets.clone(),
            },
            server: ServerLimits {
                header_read_timeout: Duration::from_millis(flags.header_timeout_ms),
                idle_timeout: Duration::from_millis(flags.idle_timeout_ms),
                max_connections: match flags.max_connections {
                    Some(cap) => cap,
                    None => {
                        // Sized from the file limit, raised first as far as
                        // the hard limit allows.
                        raise_file_limit()?;
                        connections_for_file_limit()
                    }
                },
                threads: flags.threads.map_or_else(threads_for_cores, usize::from),
            },
            guest_log: if flags.no_guest_log { Log::Off } else { Log::Stderr },
            profile: flags.profile.clone(),
        })
    }

    /// The line saying what is served where, on which WASI line (`line`:
    /// `Handler::line`), once the port is open.
    pub fn banner(&self, flags: &flags::ServeOptions, what: &str, line: &str, addr: std::net::SocketAddr) -> String {
        let reuse = match line {
            "0.3" => format!(" serving {} requests each, {} at once", self.limits.reuse, self.limits.concurrent),
            _ => String::new(),
        };
        let cli = if self.grants.cli { ", all of WASI linked (--cli)" } else { "" };
        let kv = match &self.grants.kv {
            Some(store) => format!(", wasi:keyvalue on {}", store.describe()),
            None => String::new(),
        };
        let profile = match &self.profile {
            Some(dir) => format!(", profiled into {} on stop", dir.display()),
            None => String::new(),
        };
        format!(
            "serving {what} (WASI {line}) on http://{addr} (deadline {} ms, memory {} MiB, {} instances{reuse}, \
             {} connections, {} threads{cli}{kv}{profile}); Ctrl-C stops gracefully, twice at once",
            flags.deadline_ms,
            flags.memory_mib,
            self.limits.instances,
            self.server.max_connections,
            self.server.threads
        )
    }
}

impl Options {
    /// The lines saying which app is served where, each route's (`lines`)
    /// after the first.
    pub fn app_banner(&self, project: &Project, addr: std::net::SocketAddr, lines: &[String]) -> String {
        format!(
            "serving the app of {} on http://{addr} ({} routes, {} connections, {} threads); a path no route \
             takes gets 404; Ctrl-C stops gracefully, twice at once\n{}",
            project.root.join(xtask::project::FILE).display(),
            lines.len(),
            self.server.max_connections,
            self.server.threads,
            lines.join("\n")
        )
    }
}

/// The address a banner of [`Options::banner`] or [`Options::app_banner`]
/// names (`serving ... on http://127.0.0.1:8080 (...`): what a caller that
/// started `serve` or `dev` on port 0 reads back.
pub fn banner_address(banner: &str) -> Option<std::net::SocketAddr> {
    banner.split_once(" on http://")?.1.split_once(' ')?.0.parse().ok()
}

/// The name a component's log lines are tagged with: a dist artifact's
/// name as given, a `.wasm` file's name without its directory and suffix.
pub fn component_name(component: &str) -> String {
    let path = std::path::Path::new(component);
    match component.ends_with(".wasm") {
        true => path.file_stem().map_or(component.to_string(), |s| s.to_string_lossy().into_owned()),
        false => component.to_string(),
    }
}

pub fn run(flags: flags::Serve) -> Result<()> {
    let options = Options::from_flags(&flags.options)?;
    let Some(component) = &flags.component else { return run_app(&flags.options, &options) };
    let engines = engines(&options.limits);
    // The names file beside the artifact names the guest's functions in
    // the traps the log reports, if it was written for these bytes.
    let (component_compiled, names) = edgekit_host::load_named(&engines, component)?;
    let handler =
        Handler::with(&component_compiled, options.limits.clone(), options.grants.clone()).with_context(|| {
            format!(
                "cannot serve `{component}`: serve takes wasi:http components; use `{}` for others",
                xtask::tool::cmd("call")
            )
        })?;
    let name = component_name(component);
    let mut handler = handler.named(&name).guest_log(options.guest_log.clone()).with_names(names.clone());
    if options.profile.is_some() {
        handler = handler.profiled(Profile::new(&name, &names, TICK));
    }
    let line = handler.line();
    let profile = handler.profile().cloned();
    serve_blocking_with(&flags.options.addr, handler, options.server.clone(), |addr| {
        eprintln!("{}", options.banner(&flags.options, component, line, addr))
    })?;
    write_profile(profile.as_ref(), options.profile.as_deref())
}

/// `serve` with no component: the project's app.
fn run_app(flags: &flags::ServeOptions, options: &Options) -> Result<()> {
    let project = Project::load(&xtask::workspace::root())?;
    let planned = app::plan(&project, options, "serve")?;
    let engines = app::engines(&planned)?;
    let handlers = app::handlers(&engines, &planned, options)?;
    let lines: Vec<String> = planned.iter().zip(&handlers).map(|(p, h)| app::describe(p, h.line())).collect();
    let app = app::app(&planned, handlers.into_iter().map(Handlers::One).collect())?;
    serve_blocking_with(&flags.addr, app, options.server.clone(), |addr| {
        eprintln!("{}", options.app_banner(&project, addr, &lines))
    })
}

/// Writes `profile` into `dir` once the server has stopped (`--profile`),
/// and says where and what it shows.
pub fn write_profile(profile: Option<&Profile>, dir: Option<&Path>) -> Result<()> {
    let (Some(profile), Some(dir)) = (profile, dir) else { return Ok(()) };
    let written = profile.write(dir).context("--profile")?;
    let hottest = match &written.hottest {
        Some((name, count)) => format!("; most samples in {name} ({count} of {})", written.samples),
        None => String::new(),
    };
    eprintln!(
        "profile: {} samples written to {} (open it at https://profiler.firefox.com) and {} (open it in a \
         browser){hottest}",
        written.samples,
        written.json.display(),
        written.svg.display()
    );
    Ok(())
}
