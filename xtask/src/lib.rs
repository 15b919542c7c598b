//! edgekit's build tooling as a library: the `cargo xtask` binary (`main.rs`)
//! and the heavier wings, `xtask-run` (wasmtime) and `xtask-deploy` (OCI),
//! share the command line and the nouns declared here.
//!
//! The modules depend only downward: the shared nouns (`workspace`, `wit`,
//! `artifact`, `report`, `flags`) on nothing of xtask's; `pipeline` on the
//! nouns; `guard` on the nouns and `pipeline`; `scaffold` on all of them.

pub mod artifact;
pub mod flags;
pub mod guard;
pub mod pipeline;
pub mod process;
pub mod report;
pub mod scaffold;
pub mod wit;
pub mod workspace;

#[cfg(test)]
mod testing;

/// The message and its causes, without a backtrace: each one says which file
/// is wrong and what to do. Every xtask binary ends through this.
pub fn exit(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
