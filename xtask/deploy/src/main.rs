//! `xtask-deploy`: runs the deploy wing's commands (`oci`, `publish`,
//! `pull`, `deploy`) that `cargo xtask` hands over; see `lib.rs`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Parser;
use xtask::flags::{Command, Xtask};
use xtask_deploy::{oci, publish, pull, wasmcloud};

fn main() -> ExitCode {
    xtask::exit(run())
}

fn run() -> Result<()> {
    match Xtask::parse().command {
        Command::Oci(cmd) => oci::run(cmd),
        Command::Publish(cmd) => publish::run(cmd),
        Command::Pull(cmd) => pull::run(cmd),
        Command::Deploy(cmd) => wasmcloud::run(cmd),
        other => bail!("`{other:?}` is not a command of xtask-deploy: run it as `cargo xtask ...`"),
    }
}
