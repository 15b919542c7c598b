//! `cargo edgekit <command>`: edgekit as a tool a team installs and runs in
//! its own repository (`cargo install --locked --path cargo-edgekit`).
//!
//! The same commands, flags and output as `cargo xtask` in edgekit's own
//! repository, from the same code: this binary links the three wings
//! (pipeline, guard and scaffold in `xtask`; running in `xtask-run`;
//! registries and engines in `xtask-deploy`) and calls them directly, where
//! `cargo xtask` hands the heavier two over to binaries cargo builds on
//! first use. What differs is what it carries: the templates, the guest
//! library, the pinned WASI and the wasmCloud lattice's sources are inside
//! the binary (`build.rs`), so it needs no edgekit checkout.

use std::ffi::OsString;
use std::process::ExitCode;

use xtask::flags::Xtask;
use xtask::tool::{Source, Tool};

/// What the binary carries, packed by `build.rs`.
static BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bundle.bin"));

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // cargo runs `cargo-edgekit edgekit <args>` for `cargo edgekit <args>`.
    if args.first().is_some_and(|a| a == "edgekit") {
        args.remove(0);
    }
    xtask::tool::set(Tool {
        command: "cargo edgekit",
        version: env!("CARGO_PKG_VERSION"),
        bundle: Source::Embedded(BUNDLE),
    });
    let command = Xtask::parse_as("cargo edgekit", args).command;
    xtask::exit(match command.wing_crate() {
        Some("xtask-run") => xtask_run::run(command),
        Some("xtask-deploy") => xtask_deploy::run(command),
        _ => xtask::run(command),
    })
}
