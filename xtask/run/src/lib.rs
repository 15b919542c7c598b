//! `xtask-run`: the run wing of `cargo xtask`, the commands that run
//! artifacts: `serve`, `dev`, `call`, `bench` and `portability`.
//!
//! It links wasmtime (through `edgekit-host`), which `cargo xtask dist` must
//! not have to compile, so it is a crate of its own: `cargo xtask` parses the
//! command line (so `--help` and a wrong flag answer at once) and hands
//! these commands over to this crate's binary (`main.rs`), which cargo
//! builds the first time; the installed `cargo edgekit` links this library
//! and calls [`run`] itself.

mod bench;
mod call;
mod dev;
mod outside;
mod portability;
pub mod serve;

use anyhow::{Result, bail};
use xtask::flags::Command;

/// Runs one of this wing's commands.
pub fn run(command: Command) -> Result<()> {
    xtask::preflight(&command)?;
    edgekit_host::set_tool(xtask::tool::get().command, xtask::project::find_root());
    let sh = xshell::Shell::new()?;
    sh.change_dir(xtask::workspace::root());
    match command {
        Command::Serve(cmd) => serve::run(cmd),
        Command::Dev(cmd) => dev::run(cmd),
        Command::Call(cmd) => call::run(cmd),
        Command::Portability(cmd) => portability::run(cmd, &sh),
        Command::Bench(cmd) => bench::run(cmd, &sh),
        other => bail!("`{other:?}` is not a command of xtask-run: run it as `{}`", xtask::tool::cmd("...")),
    }
}
