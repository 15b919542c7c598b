//! Stage 1, build: compiles each guest crate to a core Wasm module with
//! cargo, after making sure the rustup target is installed.
//!
//! Every component is a standalone crate with its own `[workspace]` (so it
//! copies out whole), built with `--manifest-path` into the project's
//! target directory, where the crates they share compile once. cargo runs
//! in the component's directory, so the toolchain its `rust-toolchain.toml`
//! pins is the one that builds it, whatever the project's root pins. A
//! crate built for several WASI lines is built once per line, with
//! `--features <line>`; both builds write the same cdylib path, so the
//! caller reads each before starting the next.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::workspace::{Build, Component, WASM_PROFILE, WASM_TARGET};

/// Installs the Wasm target with rustup when the toolchain active in `dir`
/// (a component's, from its `rust-toolchain.toml`) lacks it. Asked once
/// per pin in a process: every build of a `dist` or a `dev` session calls
/// this, and components mostly pin the same toolchain.
pub fn ensure_target(sh: &Shell, dir: &Path) -> Result<()> {
    // The pin's text, or none (the toolchain found above `dir`).
    static CHECKED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let pin = std::fs::read_to_string(dir.join("rust-toolchain.toml")).unwrap_or_default();
    if CHECKED.lock().unwrap_or_else(PoisonError::into_inner).contains(&pin) {
        return Ok(());
    }
    let _dir = sh.push_dir(dir);
    let installed = cmd!(sh, "rustup target list --installed").quiet().read().context(
        "cannot run `rustup target list`: install rustup, or add the \
         wasm32-unknown-unknown target to your toolchain by hand",
    )?;
    if !installed.lines().any(|t| t.trim() == WASM_TARGET) {
        eprintln!("==> installing the {WASM_TARGET} target with rustup");
        cmd!(sh, "rustup target add {WASM_TARGET}")
            .run()
            .with_context(|| format!("`rustup target add {WASM_TARGET}` failed: run it by hand and retry"))?;
    }
    CHECKED.lock().unwrap_or_else(PoisonError::into_inner).insert(pin);
    Ok(())
}

/// Builds one line (`build`) of a component and returns the path of its
/// core module.
///
/// Paths are remapped (the workspace to `/edgekit`, cargo's home to
/// `/cargo`) so no absolute path of this machine reaches an artifact: two
/// checkouts in different places build byte-identical components.
pub fn build(sh: &Shell, root: &Path, component: &Component, build: &Build) -> Result<PathBuf> {
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    let remap = format!(
        "target.{WASM_TARGET}.rustflags=[\"--remap-path-prefix={}=/edgekit\", \"--remap-path-prefix={}=/cargo\"]",
        root.display(),
        cargo_home.display()
    );
    build_with(sh, root, component, build, WASM_PROFILE, &[remap])
}

/// Builds one line of a component with the cargo profile `profile` and the
/// extra `--config` values `config`, and returns the path of its core
/// module.
pub fn build_with(
    sh: &Shell,
    root: &Path,
    component: &Component,
    build: &Build,
    profile: &str,
    config: &[String],
) -> Result<PathBuf> {
    ensure_target(sh, &component.dir)?;
    let _dir = sh.push_dir(&component.dir);
    let target_dir = crate::workspace::target_dir(root);
    let manifest = &component.manifest;
    let config = config.iter().flat_map(|value| ["--config", value.as_str()]);
    let features = build.line.iter().flat_map(|line| ["--features", line.as_str()]);
    crate::workspace::from_shell(cmd!(
        sh,
        "cargo build --quiet --manifest-path {manifest} --target-dir {target_dir} {config...} {features...} --profile {profile} --target {WASM_TARGET}"
    ))
    .run()
    .with_context(|| match &build.line {
        Some(line) => format!(
            "cargo could not build {} with --features {line} (the {line} line, artifact {}): fix the compile errors above",
            manifest.display(),
            build.artifact
        ),
        None => format!("cargo could not build {}: fix the compile errors above", manifest.display()),
    })?;
    let path = target_dir.join(WASM_TARGET).join(profile).join(component.core_file_name());
    if !path.exists() {
        bail!(
            "cargo built no {}: {} must declare `crate-type = [\"cdylib\"]` under [lib]",
            path.display(),
            manifest.display()
        );
    }
    Ok(path)
}
