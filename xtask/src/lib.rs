//! edgekit's build tooling as a library: the `cargo xtask` binary (`main.rs`)
//! and the heavier wings, `xtask-run` (wasmtime) and `xtask-deploy` (OCI),
//! share the command line and the nouns declared here.
//!
//! The modules depend only downward: the shared nouns (`tool` on none of
//! them; `project` on `tool`; `workspace`, `wit`, `artifact`, `bundle`,
//! `report`, `flags`, `process`) on nothing of xtask's but each other;
//! `pipeline` on the nouns; `guard` on the nouns and `pipeline`; `scaffold`
//! on all of them. This file is the top: [`run`] dispatches the commands
//! of the three wings here, after [`preflight`], which every entry point
//! (`cargo xtask`, `xtask-run`, `xtask-deploy`, `cargo edgekit`) runs.

pub mod artifact;
pub mod bundle;
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
/// after [`preflight`]; a command of the run or deploy wing is an
/// error here, since its entry point hands those to their crates.
pub fn run(command: flags::Command) -> anyhow::Result<()> {
    use flags::Command;
    preflight(&command)?;
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

/// What every entry point does before running `command`: refuses a command
/// that needs a project outside one (naming `init`), and says when the
/// project's guest library and pins are older or newer than the ones this
/// tool carries.
pub fn preflight(command: &flags::Command) -> anyhow::Result<()> {
    if !command.needs_project() {
        return Ok(());
    }
    let root = project::root()?;
    let project = project::Project::load(&root)?;
    if let Some(note) = scaffold::update::staleness(&project)? {
        eprintln!("note: {note}");
    }
    Ok(())
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
