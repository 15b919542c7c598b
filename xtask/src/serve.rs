//! `cargo xtask serve <component>`: serves a wasi:http component over HTTP
//! until interrupted. The server is `edgekit_host::serve`; this module turns
//! the flags into its limits and grants.

use std::time::Duration;

use anyhow::{Context, Result};
use edgekit_host::http::{Grants, Handler, Limits};
use edgekit_host::serve::{engine, serve_blocking};
use xshell::Shell;

impl crate::flags::Serve {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let limits = Limits {
            deadline: Duration::from_millis(self.deadline_ms),
            memory: usize::try_from(self.memory_mib << 20).context("--memory-mib is too large")?,
            instances: u32::try_from(self.instances).context("--instances is too large")?,
        };
        let engine = engine(&limits)?;
        let component = edgekit_host::load(&engine, &self.component)?;
        let handler = Handler::with(&engine, &component, limits.clone(), Grants { outbound_hosts: self.allow_hosts, config: self.config })
            .with_context(|| format!("cannot serve `{}`: serve takes wasi:http components; use `cargo xtask call` for others", self.component))?;
        serve_blocking(&self.addr, handler, |addr| {
            eprintln!(
                "serving {} on http://{addr} (deadline {} ms, memory {} MiB, {} instances); Ctrl-C stops",
                self.component, self.deadline_ms, self.memory_mib, limits.instances
            )
        })
    }
}
