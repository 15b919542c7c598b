//! `cargo xtask portability`: runs every wasi:http dist artifact on hosts
//! edgekit did not write, `wasmtime serve` (a debug build of wasmtime-cli
//! 48.0.8, without `-Scli`, so only the proxy world) and `jco serve` (Node),
//! and checks that each answers `GET /` exactly as edgekit's own host does,
//! and on `wasmtime serve` that the component's log line (`INFO GET /`,
//! written by the guest library to `wasi:cli/stderr`) shows on its stderr.
//! A component importing `wasi:keyvalue` (kv-api) gets `-Skeyvalue` on
//! `wasmtime serve` and an empty in-memory store on edgekit's host.
//! Prints a component x host matrix and fails if any cell is not a pass.
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

use crate::outside::{Build, OutsideHost, http_components, on_interrupt_kill_hosts};

pub fn run(_flags: flags::Portability, sh: &Shell) -> Result<()> {
    on_interrupt_kill_hosts();
    let root = xtask::workspace::root();
    let components = http_components(&root)?;
    let hosts = [OutsideHost::WasmtimeServe(Build::Debug), OutsideHost::JcoServe];
    for host in hosts {
        host.install(sh)?;
    }
    let logs = root.join("target").join("xtask").join("portability");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let mut rows = Vec::new();
    for artifact in &components {
        let name = &artifact.name;
        let path = edgekit_host::artifact(name)?;
        let expected = edgekit_host::http::answer(name, "/")?;
        let mut cells = Vec::new();
        for host in hosts {
            eprintln!("==> {name} (WASI {}) on {}", artifact.wasi, host.name());
            let checked = host.check(sh, &path, host.options(artifact), &logs, &expected);
            let cell = match (checked, host.serves(artifact)) {
                (Ok(()), _) => "pass".to_string(),
                (Err(e), true) => format!("FAIL: {e:#}"),
                // Tried, and known not to work yet: said in the matrix, not
                // counted as a failure; a pass shows up as soon as it works.
                (Err(e), false) => format!("{} ({})", host.unsupported(artifact), first_line(&e)),
            };
            cells.push(cell);
        }
        rows.push((format!("{name} ({})", artifact.wasi), cells));
    }
    print!("{}", matrix(&hosts, &rows));
    let failures = rows.iter().flat_map(|(_, cells)| cells).filter(|c| c.starts_with("FAIL")).count();
    if failures > 0 {
        bail!("{failures} component/host pair(s) failed: the hosts' logs are in {}", logs.display());
    }
    Ok(())
}

/// What an error chain says most briefly: from the first JavaScript or Rust
/// error name in its root cause (`TypeError: ...`), else its first line.
fn first_line(error: &anyhow::Error) -> String {
    let cause = error.root_cause().to_string();
    let at = ["TypeError", "ReferenceError", "SyntaxError", "Error:"].iter().find_map(|k| cause.find(k)).unwrap_or(0);
    cause[at..].lines().next().unwrap_or("").trim().chars().take(90).collect()
}

fn matrix(hosts: &[OutsideHost], rows: &[(String, Vec<String>)]) -> String {
    let mut table = Table::new(std::iter::once("component").chain(hosts.iter().map(|h| h.name())))
        .left(&(1..=hosts.len()).collect::<Vec<_>>());
    for (name, cells) in rows {
        table.row(std::iter::once(name.clone()).chain(cells.iter().cloned()));
    }
    format!("\n{}", table.text())
}
