//! `cargo xtask <command>`: edgekit's build tooling.
//!
//! This is the cargo-xtask pattern: a plain binary in the workspace, reached
//! through the alias in `.cargo/config.toml`. It owns the commands that build
//! and check artifacts (the `pipeline`, `guard` and `scaffold` wings), which
//! need binaryen and the wasm-tools crates and nothing heavier, so the first
//! `cargo xtask dist` compiles only those. Commands that run artifacts
//! (wasmtime) or talk to registries (the OCI client) live in the `xtask-run`
//! and `xtask-deploy` crates beside this one; this binary checks their
//! arguments and hands them over through `cargo run`, which builds that wing
//! the first time it is used.
//!
//! The installed tool, `cargo edgekit` (`cargo-edgekit/`), runs the same
//! commands with the same code: it links all three wings into one binary.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use xtask::flags::Xtask;
use xtask::workspace;

fn main() -> ExitCode {
    xtask::exit(run())
}

fn run() -> Result<()> {
    let flags = Xtask::parse();
    if let Some(wing) = flags.command.wing_crate() {
        xtask::preflight(&flags.command)?;
        return hand_over(wing);
    }
    xtask::run(flags.command)
}

/// Runs the same command line in the wing crate `wing`, replacing this
/// process, so signals (Ctrl-C on `serve`) and the exit code are the wing's.
///
/// The wing is built as part of the whole workspace, tests included
/// (`cargo build --workspace --all-targets`): the same selection `cargo test`
/// builds, so both resolve every dependency's features alike and share one
/// build of wasmtime and of the OCI client. After a `cargo test` it is a
/// no-op; before one, it is the cost `cargo test` would pay.
fn hand_over(wing: &str) -> Result<()> {
    let root = workspace::root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let binary = workspace::binary(&root, wing);
    if !binary.exists() {
        eprintln!(
            "==> first use of `{wing}`: cargo builds the workspace now (wasmtime and the OCI client, \
             several minutes once; `cargo test` builds the same)"
        );
    }
    let mut build = std::process::Command::new(&cargo);
    build.current_dir(&root).args(["build", "--workspace", "--all-targets"]);
    // As `cargo test` from a shell sees it, so the two share every build.
    for key in workspace::package_env() {
        build.env_remove(key);
    }
    if binary.exists() {
        build.arg("--quiet");
    }
    let status = build.status().context("cannot run cargo: is it on PATH?")?;
    if !status.success() {
        anyhow::bail!("cargo could not build `{wing}`: fix the errors above");
    }
    let mut command = std::process::Command::new(&binary);
    // The wing finds the workspace from its current directory.
    command.current_dir(&root).args(std::env::args_os().skip(1));
    exec(command).with_context(|| format!("cannot start {}", binary.display()))
}

#[cfg(unix)]
fn exec(mut command: std::process::Command) -> Result<()> {
    use std::os::unix::process::CommandExt;
    // Returns only on failure.
    Err(command.exec().into())
}

#[cfg(not(unix))]
fn exec(mut command: std::process::Command) -> Result<()> {
    let status = command.status()?;
    std::process::exit(status.code().unwrap_or(1));
}
