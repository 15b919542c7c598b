//! `xtask-deploy`: runs the deploy wing's commands (`oci`, `publish`,
//! `pull`, `deploy`) that `cargo xtask` hands over; see `lib.rs`.

use std::process::ExitCode;

use clap::Parser;
use xtask::flags::Xtask;

fn main() -> ExitCode {
    xtask::exit(xtask_deploy::run(Xtask::parse().command))
}
