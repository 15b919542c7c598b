//! Debian packages the deploy wing runs (the CNCF distribution registry,
//! skopeo): installed with apt-get the first time they are missing, where
//! that is possible (root on Debian or Ubuntu: CI's case and a fresh
//! machine's); elsewhere a one-line error says what to install.

use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{Result, bail};

/// Whether `program` is an executable on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Makes sure `program` is on `PATH`, installing `packages` (which provide
/// it) with apt-get when it is not. One install at a time: apt-get holds a
/// lock, and tests ask from several threads.
pub fn require(program: &str, packages: &[&str]) -> Result<()> {
    static INSTALLING: Mutex<()> = Mutex::new(());
    if on_path(program) {
        return Ok(());
    }
    let _one = INSTALLING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if on_path(program) {
        return Ok(());
    }
    let wanted = packages.join(" ");
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        bail!(
            "`{program}` is not installed: run `sudo apt-get install {wanted}` (Debian/Ubuntu), or install it another way"
        );
    }
    if !on_path("apt-get") {
        bail!("`{program}` is not installed and there is no apt-get here: install {wanted} by hand");
    }
    eprintln!("==> installing {wanted} with apt-get (`{program}` is missing; once per machine)");
    let install = [&["install", "-y", "-qq", "--no-install-recommends"][..], packages].concat();
    for args in [&["update", "-qq"][..], &install] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .map_err(|e| anyhow::anyhow!("cannot run apt-get: {e}"))?;
        if !status.success() {
            bail!("`apt-get {}` failed ({status}): run it by hand to see why", args.join(" "));
        }
    }
    if !on_path(program) {
        bail!("apt-get installed {wanted}, but `{program}` is still not on PATH");
    }
    Ok(())
}
