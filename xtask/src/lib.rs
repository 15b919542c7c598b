//! edgekit's build tooling as a library: the `cargo xtask` binary (`main.rs`)
//! and the heavier wings, `xtask-run` (wasmtime) and `xtask-deploy` (OCI),
//! share the command line and the nouns declared here.
//!
//! The modules depend only downward: the shared nouns (`project`,
//! `workspace`, `wit`, `artifact`, `report`, `flags`, `tool`) on nothing of
//! xtask's but each other; `pipeline` on the nouns; `guard` on the nouns
//! and `pipeline`; `scaffold` on all of them.

pub mod artifact;
pub mod flags;
pub mod guard;
pub mod pipeline;
pub mod process;
pub mod project;
pub mod report;
pub mod scaffold;
pub mod tool;
pub mod wit;
pub mod workspace;

#[cfg(test)]
mod testing;

/// Runs a command of this crate's own wings (pipeline, guard, scaffold),
/// after [`tool::preflight`]; a command of the run or deploy wing is an
/// error here, since its entry point hands those to their crates.
pub fn run(command: flags::Command) -> anyhow::Result<()> {
    use flags::Command;
    tool::preflight(&command)?;
    let sh = xshell::Shell::new()?;
    sh.change_dir(workspace::root());
    match command {
        Command::Init(cmd) => cmd.run(&sh),
        Command::Update(cmd) => cmd.run(&sh),
        Command::Dist(cmd) => cmd.run(&sh),
        Command::Size(cmd) => cmd.run(&sh),
        Command::Wit(cmd) => cmd.run(&sh),
        Command::Tidy(cmd) => cmd.run(&sh),
        Command::New(cmd) => cmd.run(&sh),
        Command::Rm(cmd) => cmd.run(&sh),
        Command::Compose(cmd) => cmd.run(&sh),
        other => anyhow::bail!(
            "`{other:?}` is a command of {}, which its entry point runs",
            other.wing_crate().unwrap_or("another crate")
        ),
    }
}

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
