//! edgekit's build tooling, run as `cargo xtask <command>`.
//!
//! This is the cargo-xtask pattern: a plain binary in the workspace that turns
//! the guest crates under `components/` into optimized, verified components.
//! Everything Wasm-specific runs in process through the Bytecode Alliance
//! libraries (wit-parser, wit-component, wasmparser, wasm-encoder) and binaryen
//! (the `wasm-opt` crate); the only programs it starts are `cargo` and `rustup`,
//! and the outside hosts `portability` and `bench` exist to test (wasmtime-cli,
//! jco in Node).
//!
//! Each command is a module with a `run` entry point; each stage of the `dist`
//! pipeline is a module of its own.

mod bench;
mod build;
mod call;
mod compose;
mod componentize;
mod dist;
mod drift;
mod explain;
mod flags;
mod manifest;
mod oci;
mod new;
mod optimize;
mod portability;
mod project;
mod publish;
mod pull;
mod registry;
mod roundtrip;
mod size;
mod serve;
mod strip;
mod tidy;
mod wit;
mod witbump;

#[cfg(test)]
mod oci_tests;
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
        flags::Xtask::Oci(cmd) => cmd.run(&sh),
        flags::Xtask::Publish(cmd) => cmd.run(&sh),
        flags::Xtask::Pull(cmd) => cmd.run(&sh),
        flags::Xtask::Serve(cmd) => cmd.run(&sh),
        flags::Xtask::Call(cmd) => cmd.run(&sh),
        flags::Xtask::Portability(cmd) => cmd.run(&sh),
        flags::Xtask::Bench(cmd) => cmd.run(&sh),
        flags::Xtask::New(cmd) => cmd.run(&sh),
        flags::Xtask::Compose(cmd) => cmd.run(&sh),
    }
}
