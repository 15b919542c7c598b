//! Stage 1, build: compiles every guest crate to a core Wasm module with
//! cargo, after making sure the rustup target is installed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::project::{Component, WASM_PROFILE, WASM_TARGET};

/// Installs the Wasm target with rustup when the active toolchain lacks it.
pub fn ensure_target(sh: &Shell) -> Result<()> {
    let installed = cmd!(sh, "rustup target list --installed").quiet().read().context(
        "cannot run `rustup target list`: install rustup, or add the \
         wasm32-unknown-unknown target to your toolchain by hand",
    )?;
    if !installed.lines().any(|t| t.trim() == WASM_TARGET) {
        eprintln!("==> installing the {WASM_TARGET} target with rustup");
        cmd!(sh, "rustup target add {WASM_TARGET}").run().with_context(|| {
            format!("`rustup target add {WASM_TARGET}` failed: run it by hand and retry")
        })?;
    }
    Ok(())
}

/// Builds the components of the workspace at `root` in one cargo invocation
/// and returns the path of each core module, in the same order.
///
/// Paths are remapped (the workspace to `/edgekit`, cargo's home to
/// `/cargo`) so no absolute path of this machine reaches an artifact: two
/// checkouts in different places build byte-identical components.
pub fn build(sh: &Shell, root: &Path, components: &[Component]) -> Result<Vec<PathBuf>> {
    let _dir = sh.push_dir(root);
    let target_dir = target_dir(sh)?;
    let packages: Vec<String> =
        components.iter().flat_map(|c| ["--package".to_string(), c.name.clone()]).collect();
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    let remap = format!(
        "target.{WASM_TARGET}.rustflags=[\"--remap-path-prefix={}=/edgekit\", \"--remap-path-prefix={}=/cargo\"]",
        root.display(),
        cargo_home.display()
    );
    cmd!(sh, "cargo build --quiet --config {remap} --profile {WASM_PROFILE} --target {WASM_TARGET} {packages...}")
        .run()
        .context("cargo could not build the components: fix the compile errors above")?;
    let out = target_dir.join(WASM_TARGET).join(WASM_PROFILE);
    components
        .iter()
        .map(|c| {
            let path = out.join(c.core_file_name());
            if !path.exists() {
                bail!(
                    "cargo built no {}: {} must declare `crate-type = [\"cdylib\"]` under [lib]",
                    path.display(),
                    c.manifest.display()
                );
            }
            Ok(path)
        })
        .collect()
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR` and cargo config.
fn target_dir(sh: &Shell) -> Result<PathBuf> {
    let json = cmd!(sh, "cargo metadata --format-version 1 --no-deps").quiet().read()?;
    let meta: serde_json::Value = serde_json::from_str(&json)?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` printed no target_directory")
}
