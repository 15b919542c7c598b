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
//! A third column deploys every artifact to a wasmCloud 1.x lattice on this
//! machine (one host; `cargo xtask deploy wasmcloud --local`'s parts, pulled
//! from its registry) and asks each the same; a WASI 0.3 artifact, or one
//! importing more than the http world, is said not to run there, with why.
//!
//! The hosts are installed on first use into `~/.cache/edgekit/tools`
//! (`EDGEKIT_TOOLS` overrides it) with their own package managers: cargo for
//! wasmtime-cli, npm for jco. Each host runs as a child process on a free
//! 127.0.0.1 port, is polled until it answers (bounded), asked once, and
//! killed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use edgekit_host::client::get_blocking;
use xshell::Shell;
use xtask::artifact::Manifest;
use xtask::flags;
use xtask::report::Table;
use xtask_deploy::wasmcloud::{self, Local};

use crate::outside::{Build, OutsideHost, http_components, on_interrupt_kill_children};

pub fn run(_flags: flags::Portability, sh: &Shell) -> Result<()> {
    on_interrupt_kill_children();
    let root = xtask::workspace::root();
    let components = http_components(&root)?;
    let hosts = [OutsideHost::WasmtimeServe(Build::Debug), OutsideHost::Jco];
    for host in hosts {
        host.install(sh)?;
    }
    let logs = root.join("target").join("xtask").join("portability");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let wasmcloud = WasmCloud::start(sh, &root)?;
    let mut rows = Vec::new();
    for artifact in &components {
        let name = &artifact.name;
        let path = edgekit_host::artifact(name)?;
        let expected = edgekit_host::http::answer(name, "/")?;
        let mut cells = Vec::new();
        for host in hosts {
            eprintln!("==> {name} (WASI {}) on {}", artifact.wasi, host.name());
            let checked = host.check(sh, artifact, &path, &logs, &expected);
            let cell = match (checked, host.lacks(artifact)) {
                (Ok(()), _) => "pass".to_string(),
                (Err(e), None) => format!("FAIL: {e:#}"),
                // Tried, and known not to work yet: said in the matrix, not
                // counted as a failure; a pass shows up as soon as it works.
                (Err(e), Some(lacks)) => format!("{lacks} ({})", first_line(&e)),
            };
            cells.push(cell);
        }
        eprintln!("==> {name} (WASI {}) on {WASMCLOUD}", artifact.wasi);
        cells.push(wasmcloud.check(name, &expected));
        rows.push((format!("{name} ({})", artifact.wasi), cells));
    }
    drop(wasmcloud);
    let names: Vec<&str> = hosts.iter().map(|h| h.name()).chain([WASMCLOUD]).collect();
    print!("{}", matrix(&names, &rows));
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

fn matrix(hosts: &[&str], rows: &[(String, Vec<String>)]) -> String {
    let mut table = Table::new(std::iter::once("component").chain(hosts.iter().copied()))
        .left(&(1..=hosts.len()).collect::<Vec<_>>());
    for (name, cells) in rows {
        table.row(std::iter::once(name.clone()).chain(cells.iter().cloned()));
    }
    format!("\n{}", table.text())
}

const WASMCLOUD: &str = "wasmCloud 1.x";

/// The wasmCloud column: one local lattice with every artifact that can run
/// there deployed, or why it could not start.
struct WasmCloud {
    /// Why each artifact that is not deployed cannot run on wasmCloud 1.x.
    refused: HashMap<String, String>,
    /// The deployed artifacts' addresses, or the error that kept the lattice
    /// from serving them.
    lattice: Result<(Local, HashMap<String, SocketAddr>), String>,
}

impl WasmCloud {
    fn start(sh: &Shell, root: &std::path::Path) -> Result<WasmCloud> {
        let mut refused = HashMap::new();
        let mut deployable = Vec::new();
        for entry in Manifest::read(&xtask::workspace::dist_dir(root))?.components {
            match wasmcloud::why_not(&entry) {
                Some(why) => drop(refused.insert(entry.name, why)),
                None => deployable.push(entry.name),
            }
        }
        eprintln!("==> a wasmCloud lattice with {} deployed", deployable.join(", "));
        let listen = xtask::process::free_addr()?;
        let lattice = Local::up(sh, root, &deployable, 1, 1, listen)
            .map(|local| {
                let addrs = deployable.iter().zip(&local.apps).map(|(name, app)| (name.clone(), app.addrs[0].1));
                let addrs = addrs.collect();
                (local, addrs)
            })
            .map_err(|e| format!("{e:#}"));
        Ok(WasmCloud { refused, lattice })
    }

    fn check(&self, name: &str, expected: &(u16, Vec<u8>)) -> String {
        if let Some(why) = self.refused.get(name) {
            return why.clone();
        }
        let (local, addrs) = match &self.lattice {
            Ok(lattice) => lattice,
            Err(e) => return format!("FAIL: {}", e.lines().next().unwrap_or_default()),
        };
        let addr = addrs[name];
        let log = local.lattice.host_log(1);
        let logged_before = std::fs::metadata(&log).map_or(0, |m| m.len());
        let fail = match get_blocking(addr, "/", Duration::from_secs(10)) {
            Ok((status, body)) if (status, body.to_vec()) == *expected => return "pass".to_string(),
            Ok((status, body)) => format!(
                "FAIL: answered {status} {:?}, edgekit's host answered {} {:?}",
                String::from_utf8_lossy(&body),
                expected.0,
                String::from_utf8_lossy(&expected.1)
            ),
            Err(e) => format!("FAIL: {}", first_line(&e)),
        };
        // The host's own first error line while it was asked, if it wrote one.
        let logged = std::fs::read(&log).unwrap_or_default();
        let since = String::from_utf8_lossy(logged.get(logged_before as usize..).unwrap_or_default());
        match since.lines().find(|l| l.contains(" ERROR ")) {
            Some(error) => format!("{fail}; the host logged: {}", error.trim().chars().take(160).collect::<String>()),
            None => fail,
        }
    }
}
