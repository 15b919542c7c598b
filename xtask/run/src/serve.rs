//! `cargo xtask serve <component>`: serves a wasi:http component over HTTP
//! until interrupted. The server is `edgekit_host::serve`; this module turns
//! the flags into its limits and grants.

use std::time::Duration;

use anyhow::{Context, Result};
use edgekit_host::http::{Grants, Handler, Limits};
use edgekit_host::serve::{ServerLimits, engine, serve_blocking_with};
use xtask::flags;

pub fn run(flags: flags::Serve) -> Result<()> {
    let limits = Limits {
        deadline: Duration::from_millis(flags.deadline_ms),
        memory: usize::try_from(flags.memory_mib << 20).context("--memory-mib is too large")?,
        instances: u32::try_from(flags.instances).context("--instances is too large")?,
        reuse: usize::try_from(flags.reuse).context("--reuse is too large")?,
        concurrent: usize::try_from(flags.concurrent).context("--concurrent is too large")?,
    };
    let engine = engine(&limits)?;
    let component = edgekit_host::load(&engine, &flags.component)?;
    let grants = Grants { outbound_hosts: flags.allow_hosts, config: flags.config, cli: false };
    let handler = Handler::with(&engine, &component, limits.clone(), grants).with_context(|| {
        format!(
            "cannot serve `{}`: serve takes wasi:http components; use `cargo xtask call` for others",
            flags.component
        )
    })?;
    let server = ServerLimits {
        header_read_timeout: Duration::from_millis(flags.header_timeout_ms),
        idle_timeout: Duration::from_millis(flags.idle_timeout_ms),
        max_connections: flags.max_connections,
    };
    let line = handler.line();
    let reuse = match line {
        "0.3" => format!(" serving {} requests each, {} at once", limits.reuse, limits.concurrent),
        _ => String::new(),
    };
    serve_blocking_with(&flags.addr, handler, server, |addr| {
        eprintln!(
            "serving {} (WASI {line}) on http://{addr} (deadline {} ms, memory {} MiB, {} instances{reuse}, \
             {} connections); Ctrl-C stops gracefully, twice at once",
            flags.component, flags.deadline_ms, flags.memory_mib, limits.instances, flags.max_connections
        )
    })
}
