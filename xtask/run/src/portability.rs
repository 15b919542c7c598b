//! `cargo xtask portability`: runs every wasi:http dist artifact on hosts
//! edgekit did not write, `wasmtime serve` (wasmtime-cli 48.0.8, without
//! `-Scli`, so only the proxy world) and `jco serve` (Node), and checks that
//! each answers `GET /` exactly as edgekit's own host does. Prints a
//! component x host matrix and fails if any cell is not a pass.
//!
//! The hosts are installed on first use into `~/.cache/edgekit/tools`
//! (`EDGEKIT_TOOLS` overrides it) with their own package managers: cargo for
//! wasmtime-cli, npm for jco. Each host runs as a child process on a free
//! 127.0.0.1 port, is polled until it answers (bounded), asked once, and
//! killed.

use anyhow::{Context, Result, bail};
use xshell::Shell;
use xtask::flags;
use xtask::report::Table;

use crate::outside::{OutsideHost, http_components, on_interrupt_kill_hosts};

pub fn run(_flags: flags::Portability, sh: &Shell) -> Result<()> {
    on_interrupt_kill_hosts();
    let root = xtask::workspace::root();
    let components = http_components(&root)?;
    let hosts = [OutsideHost::WasmtimeServe, OutsideHost::JcoServe];
    for host in hosts {
        host.install(sh)?;
    }
    let logs = root.join("target").join("xtask").join("portability");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let mut rows = Vec::new();
    for name in &components {
        let path = edgekit_host::artifact(name)?;
        let expected = edgekit_host::http::answer(name, "/")?;
        let mut cells = Vec::new();
        for host in hosts {
            eprintln!("==> {name} on {}", host.name());
            let cell = match host.check(sh, &path, &logs, &expected) {
                Ok(()) => "pass".to_string(),
                Err(e) => format!("FAIL: {e:#}"),
            };
            cells.push(cell);
        }
        rows.push((name.clone(), cells));
    }
    print!("{}", matrix(&hosts, &rows));
    let failures = rows.iter().flat_map(|(_, cells)| cells).filter(|c| *c != "pass").count();
    if failures > 0 {
        bail!("{failures} component/host pair(s) failed: the hosts' logs are in {}", logs.display());
    }
    Ok(())
}

fn matrix(hosts: &[OutsideHost], rows: &[(String, Vec<String>)]) -> String {
    let mut table = Table::new(std::iter::once("component").chain(hosts.iter().map(|h| h.name())))
        .left(&(1..=hosts.len()).collect::<Vec<_>>());
    for (name, cells) in rows {
        table.row(std::iter::once(name.clone()).chain(cells.iter().cloned()));
    }
    format!("\n{}", table.text())
}
