//! edgekit's build tooling, run as `cargo xtask <command>`.
//!
//! This is the cargo-xtask pattern: a plain binary in the workspace that turns
//! the guest crates under `components/` into optimized, verified components.
//! Everything Wasm-specific runs in process through the Bytecode Alliance
//! libraries (wit-parser, wit-component, wasmparser, wasm-encoder) and binaryen
//! (the `wasm-opt` crate); the only programs it starts are `cargo` and `rustup`.
//!
//! Each command is a module with a `run` entry point; each stage of the `dist`
//! pipeline is a module of its own.

mod build;
mod compose;
mod componentize;
mod dist;
mod drift;
mod explain;
mod flags;
mod manifest;
mod new;
mod optimize;
mod project;
mod roundtrip;
mod size;
mod strip;
mod tidy;
mod wit;
mod witbump;

#[cfg(test)]
mod tests;

use std::process::ExitCode;

use anyhow::Result;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes, without a backtrace: each one says
            // which file is wrong and what to do.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let flags = flags::Xtask::from_env()?;
    let sh = xshell::Shell::new()?;
    sh.change_dir(project::root());
    match flags {
        flags::Xtask::Help => {
            print!("{}", flags::HELP);
            Ok(())
        }
        flags::Xtask::Dist(cmd) => cmd.run(&sh),
        flags::Xtask::Size(cmd) => cmd.run(&sh),
        flags::Xtask::Wit(cmd) => cmd.run(&sh),
        flags::Xtask::Tidy(cmd) => cmd.run(&sh),
        flags::Xtask::New(cmd) => cmd.run(&sh),
        flags::Xtask::Compose(cmd) => cmd.run(&sh),
    }
}
