//! The `xtask-run` binary that `cargo xtask` hands the run wing's commands
//! to (see `lib.rs`).

use std::process::ExitCode;

use clap::Parser;
use xtask::flags::Xtask;

fn main() -> ExitCode {
    xtask::exit(xtask_run::run(Xtask::parse().command))
}
