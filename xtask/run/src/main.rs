//! `xtask-run`: the run wing of `cargo xtask`, the commands that run
//! artifacts: `serve`, `dev`, `call`, `bench` and `portability`.
//!
//! It links wasmtime (through `edgekit-host`), which `cargo xtask dist` must
//! not have to compile, so it is a crate of its own: `cargo xtask` parses the
//! command line (so `--help` and a wrong flag answer at once) and hands
//! these commands over with `cargo run --package xtask-run`, which builds
//! this crate the first time.

mod bench;
mod call;
mod dev;
mod outside;
mod portability;
mod serve;

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Parser;
use xtask::flags::{Command, Xtask};

fn main() -> ExitCode {
    xtask::exit(run())
}

fn run() -> Result<()> {
    let flags = Xtask::parse();
    let sh = xshell::Shell::new()?;
    sh.change_dir(xtask::workspace::root());
    match flags.command {
        Command::Serve(cmd) => serve::run(cmd),
        Command::Dev(cmd) => dev::run(cmd),
        Command::Call(cmd) => call::run(cmd),
        Command::Portability(cmd) => portability::run(cmd, &sh),
        Command::Bench(cmd) => bench::run(cmd, &sh),
        other => bail!("`{other:?}` is not a command of xtask-run: run it as `cargo xtask ...`"),
    }
}
