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

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use edgekit_host::client::get_blocking;
use xshell::{Shell, cmd};

use crate::project;

pub const WASMTIME_VERSION: &str = "48.0.8";
pub const JCO_VERSION: &str = "1.35.0";
/// How long a host may take from start to its first answer (jco transpiles
/// the component first).
const STARTUP: Duration = Duration::from_secs(60);

impl crate::flags::Portability {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let root = project::root();
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
}

/// Interfaces the `wasi:http/proxy` world offers, the whole of what the
/// outside hosts give a component started without extra flags.
const PROXY_IMPORTS: [&str; 9] = [
    "wasi:http/types@",
    "wasi:http/outgoing-handler@",
    "wasi:io/",
    "wasi:clocks/monotonic-clock@",
    "wasi:clocks/wall-clock@",
    "wasi:random/random@",
    "wasi:cli/stdout@",
    "wasi:cli/stderr@",
    "wasi:cli/stdin@",
];

/// The dist artifacts that export `wasi:http/incoming-handler` and import
/// nothing beyond the `wasi:http/proxy` world, from the manifest `dist`
/// wrote. Others are named on stderr with the reason: `middleware` imports
/// the next handler (its composition is checked instead), `proxy` needs
/// `wasi:config`.
pub fn http_components(root: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in crate::manifest::read_entries(root)? {
        let name = entry["name"].as_str().context("a manifest entry without a name")?;
        let exports = entry["exports"].as_array().into_iter().flatten();
        if !exports.filter_map(|e| e.as_str()).any(|e| e.starts_with("wasi:http/incoming-handler@")) {
            continue;
        }
        let imports = entry["imports"].as_array().into_iter().flatten().filter_map(|i| i.as_str());
        let beyond: Vec<&str> = imports.filter(|i| !PROXY_IMPORTS.iter().any(|p| i.starts_with(p))).collect();
        if beyond.is_empty() {
            names.push(name.to_string());
        } else {
            eprintln!("    {name:<12} skipped: imports {beyond:?}, beyond the wasi:http/proxy world these hosts give");
        }
    }
    Ok(names)
}

#[derive(Clone, Copy)]
pub enum OutsideHost {
    WasmtimeServe,
    JcoServe,
}

impl OutsideHost {
    pub fn name(self) -> &'static str {
        match self {
            OutsideHost::WasmtimeServe => "wasmtime serve",
            OutsideHost::JcoServe => "jco serve",
        }
    }

    /// Installs the host into the tools directory unless it is there.
    pub fn install(self, sh: &Shell) -> Result<()> {
        let tools = tools_dir()?;
        match self {
            OutsideHost::WasmtimeServe => {
                let wasmtime = tools.join("bin").join("wasmtime");
                let version = cmd!(sh, "{wasmtime} --version").quiet().ignore_stderr().read().unwrap_or_default();
                if version.contains(WASMTIME_VERSION) {
                    return Ok(());
                }
                eprintln!("==> installing wasmtime-cli {WASMTIME_VERSION} into {} (10 to 15 minutes, once)", tools.display());
                cmd!(sh, "cargo install --locked wasmtime-cli@{WASMTIME_VERSION} --root {tools}")
                    .run()
                    .context("installing wasmtime-cli failed: check that crates.io is reachable, then retry")
            }
            OutsideHost::JcoServe => {
                let dir = tools.join("jco");
                if jco_bin(&tools).exists() {
                    return Ok(());
                }
                eprintln!("==> installing @bytecodealliance/jco@{JCO_VERSION} into {}", dir.display());
                cmd!(sh, "npm install --no-audit --no-fund --prefix {dir} @bytecodealliance/jco@{JCO_VERSION}")
                    .run()
                    .context("installing jco failed: install Node 20 and npm, check that npm's registry is reachable, then retry")
            }
        }
    }

    /// Starts the host serving `wasm` on `addr`, its output going to `log`.
    pub fn start(self, sh: &Shell, wasm: &Path, addr: SocketAddr, log: &Path) -> Result<Child> {
        let tools = tools_dir()?;
        let (ip, port, addr) = (addr.ip().to_string(), addr.port().to_string(), addr.to_string());
        let mut command = match self {
            // No -Scli: the component gets the proxy world and nothing else.
            OutsideHost::WasmtimeServe => {
                let wasmtime = tools.join("bin").join("wasmtime");
                Command::from(cmd!(sh, "{wasmtime} serve --addr {addr} {wasm}"))
            }
            OutsideHost::JcoServe => {
                let jco = jco_bin(&tools);
                let out = log.with_extension("js");
                Command::from(cmd!(sh, "{jco} serve --host {ip} --port {port} --jco-dir {out} {wasm}"))
            }
        };
        let file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
        command.spawn().with_context(|| format!("cannot start {}: run `cargo xtask portability` to install it", self.name()))
    }

    /// Serves `wasm`, waits until the host answers, and compares its answer
    /// to `GET /` with `expected`.
    fn check(self, sh: &Shell, wasm: &Path, logs: &Path, expected: &(u16, Vec<u8>)) -> Result<()> {
        let addr = free_addr()?;
        let stem = wasm.file_stem().unwrap().to_string_lossy();
        let log = logs.join(format!("{}-{stem}.log", self.name().replace(' ', "-")));
        let mut child = Killed(self.start(sh, wasm, addr, &log)?);
        let answer = wait_for_answer(&mut child.0, addr, &log)?;
        if answer != *expected {
            bail!(
                "answered {} {:?}, edgekit's host answered {} {:?}",
                answer.0,
                String::from_utf8_lossy(&answer.1),
                expected.0,
                String::from_utf8_lossy(&expected.1)
            );
        }
        Ok(())
    }
}

/// Kills the child process when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `GET /` until the host answers, it exits, or [`STARTUP`] passes.
pub fn wait_for_answer(child: &mut Child, addr: SocketAddr, log: &Path) -> Result<(u16, Vec<u8>)> {
    let start = Instant::now();
    loop {
        if let Ok((status, body)) = get_blocking(addr, "/", Duration::from_secs(10)) {
            return Ok((status, body.to_vec()));
        }
        if let Some(status) = child.try_wait()? {
            bail!("exited with {status} before answering: {}", tail(log));
        }
        if start.elapsed() > STARTUP {
            bail!("did not answer within {} s: {}", STARTUP.as_secs(), tail(log));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last lines of a host's log, for an error message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    let lines: Vec<&str> = lines.into_iter().rev().collect();
    format!("{} (log: {})", lines.join(" | "), log.display())
}

/// A free port on 127.0.0.1.
pub fn free_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1")?.local_addr()?)
}

/// Where outside hosts are installed.
pub fn tools_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("EDGEKIT_TOOLS") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set: set EDGEKIT_TOOLS to a directory for the hosts")?;
    Ok(PathBuf::from(home).join(".cache").join("edgekit").join("tools"))
}

fn jco_bin(tools: &Path) -> PathBuf {
    tools.join("jco").join("node_modules").join(".bin").join("jco")
}

fn matrix(hosts: &[OutsideHost], rows: &[(String, Vec<String>)]) -> String {
    let mut out = String::new();
    let width = rows.iter().map(|(name, _)| name.len()).chain([12]).max().unwrap();
    let _ = write!(out, "\n{:<width$}", "component");
    for host in hosts {
        let _ = write!(out, " | {:<16}", host.name());
    }
    out.push('\n');
    for (name, cells) in rows {
        let _ = write!(out, "{name:<width$}");
        for cell in cells {
            let _ = write!(out, " | {cell:<16}");
        }
        out.push('\n');
    }
    out
}
