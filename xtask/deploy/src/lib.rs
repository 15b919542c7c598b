//! The deploy wing of `cargo xtask`: each dist artifact as a Wasm OCI
//! artifact (`oci`), pushed to a registry (`publish`) and fetched back and
//! checked (`pull`).
//!
//! It links the OCI client and its TLS stack, which `cargo xtask dist` must
//! not have to compile, so it is a crate of its own: `cargo xtask` parses the
//! command line and hands these commands over with
//! `cargo run --package xtask-deploy`, which builds this crate the first
//! time. A library too, so the registry tests in `tests/` reach its parts
//! and the installed `cargo edgekit` links it.

pub mod apt;
pub mod oci;
pub mod publish;
pub mod pull;
pub mod registry;
pub mod wasmcloud;

use anyhow::{Result, bail};
use xtask::flags::Command;

/// Runs one of this wing's commands: `cargo xtask` hands them to this
/// crate's binary (`main.rs`), the installed `cargo edgekit` calls this.
pub fn run(command: Command) -> Result<()> {
    xtask::preflight(&command)?;
    match command {
        Command::Oci(cmd) => oci::run(cmd),
        Command::Publish(cmd) => publish::run(cmd),
        Command::Pull(cmd) => pull::run(cmd),
        Command::Deploy(cmd) => wasmcloud::run(cmd),
        other => bail!("`{other:?}` is not a command of xtask-deploy: run it as `{}`", xtask::tool::cmd("...")),
    }
}
