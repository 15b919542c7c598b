//! Child processes that must not outlive the command that started them:
//! the outside hosts `portability` and `bench` run, and the parts of the
//! local wasmCloud lattice `deploy wasmcloud --local` starts. Each child
//! leads a process group of its own, killed whole when its [`Killed`] guard
//! drops or when the command is interrupted (SIGINT, SIGTERM, SIGHUP; see
//! [`on_interrupt_kill_children`]). Also where such tools are installed
//! ([`tools_dir`]) and a free loopback port ([`free_addr`]).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Starts `command` as the leader of a process group of its own (so
/// [`Killed`] and the signal handler can kill the children it starts too:
/// `jco serve` runs the server in a `node` child) and remembers the group
/// for the signal handler.
pub fn spawn_in_group(mut command: Command) -> std::io::Result<Child> {
    command.process_group(0);
    let child = command.spawn()?;
    remember(child.id() as i32);
    Ok(child)
}

/// Kills the child's whole process group when dropped, and reaps the child.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        kill_group(pid);
        forget(pid);
        let _ = self.0.wait();
    }
}

/// The process groups of the children running now, for the signal handler: a
/// fixed array of atomics, since a handler may not lock or allocate.
static GROUPS: [AtomicI32; 32] = [const { AtomicI32::new(0) }; 32];

fn remember(pid: i32) {
    for slot in &GROUPS {
        if slot.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            return;
        }
    }
}

fn forget(pid: i32) {
    for slot in &GROUPS {
        let _ = slot.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

fn kill_group(pid: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; the
    // group was made for this child by `process_group(0)`.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

extern "C" fn interrupted(signal: libc::c_int) {
    for slot in &GROUPS {
        let pid = slot.load(Ordering::SeqCst);
        if pid != 0 {
            kill_group(pid);
        }
    }
    // SAFETY: _exit is async-signal-safe; 128 + signal is the shell's convention.
    unsafe { libc::_exit(128 + signal) }
}

/// On SIGINT, SIGTERM or SIGHUP, kills every child started so far (their
/// groups do not get the terminal's Ctrl-C) and exits.
pub fn on_interrupt_kill_children() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only reads atomics and calls kill and _exit.
        unsafe {
            libc::signal(signal, interrupted as *const () as libc::sighandler_t);
        }
    }
}

/// Set by the handler [`on_interrupt_stop`] installs.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn stop_asked(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// For a command that serves until stopped and cleans up after itself:
/// from now on SIGINT, SIGTERM or SIGHUP only sets a flag, and this
/// returns once one arrives, for the caller to drop its guards.
pub fn until_interrupted() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            libc::signal(signal, stop_asked as *const () as libc::sighandler_t);
        }
    }
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A free port on 127.0.0.1.
pub fn free_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1")?.local_addr()?)
}

/// Where tools installed on first use live: `$EDGEKIT_TOOLS`, else
/// `~/.cache/edgekit/tools`.
pub fn tools_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("EDGEKIT_TOOLS") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set: set EDGEKIT_TOOLS to a directory for the tools")?;
    Ok(PathBuf::from(home).join(".cache").join("edgekit").join("tools"))
}

/// Starts `command` (`what` names it in errors) in a group of its own, with
/// no input and its output in `log`.
pub fn spawn_logged(mut command: Command, what: &str, log: &Path) -> Result<Killed> {
    let file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
    Ok(Killed(spawn_in_group(command).with_context(|| format!("cannot start {what}"))?))
}

/// Starts `command` (a server) as [`spawn_logged`] does, and waits until it
/// accepts connections on `addr`. Fails with the log's last lines if it
/// exits first or `within` passes.
pub fn start_server(command: Command, what: &str, log: &Path, addr: SocketAddr, within: Duration) -> Result<Killed> {
    let mut child = spawn_logged(command, what, log)?;
    let deadline = Instant::now() + within;
    while TcpStream::connect(addr).is_err() {
        if let Some(status) = child.0.try_wait()? {
            bail!("{what} exited ({status}) before listening on {addr}: {}", last_lines(log, 5));
        }
        if Instant::now() > deadline {
            bail!("{what} did not listen on {addr} within {} s: {}", within.as_secs(), last_lines(log, 5));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(child)
}

/// The last `n` lines of a log, joined with ` | `, and where the log is.
pub fn last_lines(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!("{} (log: {})", lines[lines.len().saturating_sub(n)..].join(" | "), log.display())
}

/// Whether `pid` is a live process (not gone, not a zombie), from /proc.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    /// A host's own children go with it: the grandchild a shell starts in
    /// the background (as `jco serve` starts node) is killed with the group.
    #[test]
    fn killed_takes_the_hosts_children_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild.pid");
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!("sleep 300 & echo $! > {}; wait", pid_file.display()));
        let host = Killed(spawn_in_group(command).unwrap());
        let child = host.0.id();
        let started = std::time::Instant::now();
        let grandchild = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|t| t.trim().parse::<u32>().ok()) {
                break pid;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the shell never started its child");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(alive(child) && alive(grandchild));
        drop(host);
        let stopped = std::time::Instant::now();
        while alive(grandchild) && stopped.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(child), "the host outlived its guard");
        assert!(!alive(grandchild), "the host's child {grandchild} outlived the guard");
        assert!(GROUPS.iter().all(|slot| slot.load(Ordering::SeqCst) != child as i32), "the group is still remembered");
    }
}
