//! A wasmCloud 1.x lattice on this machine, every part a process of its own
//! on 127.0.0.1: NATS with JetStream, wadm, N hosts (`edgekit-wasmcloud
//! host`, labelled `edgekit-host=<n>`) and a registry they pull from. Every
//! process is killed, and its files removed, when the [`Lattice`] drops (or
//! the command is interrupted: `xtask::process`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xshell::Shell;
use xtask::process::{Killed, free_addr, last_lines, spawn_logged, start_server};

use super::manifest::HOST_LABEL;
use super::tools;
use crate::registry::LocalRegistry;

/// The lattice's name (NATS subjects and wadm's API carry it).
pub const LATTICE: &str = "edgekit";
/// How long a host may take to join.
const JOIN: Duration = Duration::from_secs(60);

pub struct Lattice {
    bin: PathBuf,
    nats: SocketAddr,
    pub registry: LocalRegistry,
    hosts: Vec<Option<Killed>>,
    // Dropped after the processes above: fields drop in order.
    wadm: Killed,
    nats_server: Killed,
    dir: tempfile::TempDir,
}

impl Lattice {
    /// Installs what is missing, starts every part and waits until each host
    /// has joined.
    pub fn start(sh: &Shell, hosts: usize) -> Result<Lattice> {
        let bin = tools::lattice_bin(sh)?;
        let nats_bin = tools::nats_server(sh)?;
        let dir = tempfile::Builder::new().prefix("edgekit-lattice-").tempdir().context("cannot make a temp dir")?;
        let logs = dir.path();

        let nats = free_addr()?;
        let mut command = Command::new(&nats_bin);
        command.args(["-js", "-a", "127.0.0.1", "-p", &nats.port().to_string(), "-sd"]).arg(logs.join("jetstream"));
        let nats_server = start_server(command, "nats-server", &logs.join("nats.log"), nats, Duration::from_secs(20))?;
        let registry = LocalRegistry::start(logs, false)?;

        let mut wadm = Command::new(&bin);
        wadm.args(["wadm", "--nats", &nats.to_string()]);
        let wadm = spawn_logged(wadm, "wadm", &logs.join("wadm.log"))?;

        let mut started = Vec::new();
        for n in 1..=hosts {
            // A temporary directory of its own: a host caches what it pulls
            // in `$TMPDIR/wasmcloud_ocicache/<reference>` (wasmcloud-core
            // 0.21.1), truncating the file before it writes it, and two
            // hosts pulling one image into a shared cache read each other's
            // half-written file ("failed to extract module claims: ...
            // unexpected end-of-file"), seen here in two runs of six.
            let tmp = logs.join(format!("host-{n}-tmp"));
            std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            let mut host = Command::new(&bin);
            host.env("TMPDIR", &tmp);
            host.args(["host", "--nats", &format!("nats://{nats}"), "--lattice", LATTICE]).args([
                "--label",
                &format!("{HOST_LABEL}={n}"),
                "--insecure-registry",
                &registry.addr,
            ]);
            started.push(Some(spawn_logged(host, &format!("wasmCloud host {n}"), &host_log(logs, n))?));
        }
        let mut lattice = Lattice { bin, nats, registry, hosts: started, wadm, nats_server, dir };
        for n in 1..=hosts {
            lattice.wait_joined(n)?;
        }
        Ok(lattice)
    }

    /// How many hosts it started (from 1, killed ones included).
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// Where the parts' logs are: `nats.log`, `wadm.log`, `host-<n>.log`, `registry.log`.
    pub fn logs(&self) -> &Path {
        self.dir.path()
    }

    /// Every process still running, named: `nats-server`, `wadm`,
    /// `host <n>`, `registry`.
    pub fn processes(&self) -> Vec<(String, u32)> {
        let mut all =
            vec![("nats-server".to_string(), self.nats_server.0.id()), ("wadm".to_string(), self.wadm.0.id())];
        for (i, host) in self.hosts.iter().enumerate() {
            if let Some(host) = host {
                all.push((format!("host {}", i + 1), host.0.id()));
            }
        }
        all.push(("registry".to_string(), self.registry.pid()));
        all
    }

    /// The addresses the lattice's own servers listen on: NATS, the registry.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        let registry = self.registry.addr.parse().expect("the registry's address is 127.0.0.1:<port>");
        vec![self.nats, registry]
    }

    fn wait_joined(&mut self, n: usize) -> Result<()> {
        let log = host_log(self.dir.path(), n);
        let deadline = Instant::now() + JOIN;
        loop {
            if std::fs::read_to_string(&log).unwrap_or_default().contains("wasmCloud host started") {
                return Ok(());
            }
            let host = self.hosts[n - 1].as_mut().expect("a host being started");
            if let Some(status) = host.0.try_wait()? {
                bail!("wasmCloud host {n} exited ({status}) before joining: {}", last_lines(&log, 5));
            }
            if Instant::now() > deadline {
                bail!("wasmCloud host {n} did not join within {} s: {}", JOIN.as_secs(), last_lines(&log, 5));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Host `n`'s log (from 1): what it and its guests wrote.
    pub fn host_log(&self, n: usize) -> PathBuf {
        host_log(self.dir.path(), n)
    }

    /// Kills host `n` (from 1) outright, as a machine that fails would.
    pub fn kill_host(&mut self, n: usize) {
        self.hosts[n - 1] = None;
    }

    /// Puts and deploys each manifest through wadm and waits until wadm
    /// reports it deployed.
    pub fn apply(&self, sh: &Shell, manifests: &[PathBuf]) -> Result<()> {
        let (bin, nats) = (&self.bin, format!("nats://{}", self.nats));
        let output = xshell::cmd!(sh, "{bin} apply --nats {nats} --lattice {LATTICE} {manifests...}")
            .ignore_status()
            .quiet()
            .output()?;
        let said = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let error = said.lines().rev().find(|l| l.starts_with("error:")).unwrap_or("(no error line)");
            bail!("deploying to the local lattice failed: {error} (hosts' logs: {})", self.logs().display());
        }
        Ok(())
    }
}

fn host_log(logs: &Path, n: usize) -> PathBuf {
    logs.join(format!("host-{n}.log"))
}
