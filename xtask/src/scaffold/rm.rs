//! `cargo xtask rm <component>`: takes a component out of the workspace, with
//! everything that names it: its crate directory (code, WIT, tests), its
//! budget in `size-budgets.toml`, its README row, the compositions it is part
//! of (in `compose.toml`, with their budgets and rows), and its dist
//! artifacts and manifest entries. What is left passes `dist`, `size`,
//! `tidy` and `cargo test`. Everything is computed before anything changes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::Shell;

use crate::artifact::{Manifest, write_atomic};
use crate::guard::size::{BUDGETS_FILE, Budgets};
use crate::pipeline::compose::{self, COMPOSE_FILE};
use crate::workspace;

impl crate::flags::Rm {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let root = workspace::root();
        for line in remove(&root, &self.name)? {
            eprintln!("removed {line}");
        }
        Ok(())
    }
}

/// Removes the component `name` from the workspace at `root`; returns what
/// it removed, one line each.
pub fn remove(root: &Path, name: &str) -> Result<Vec<String>> {
    let names = workspace::component_names(root)?;
    if !names.iter().any(|n| n == name) {
        bail!("no component `{name}` under components/ (there are: {}); nothing removed", names.join(", "));
    }
    let mut done = Vec::new();
    let gone: Vec<String> = compose::compositions(root)?
        .into_iter()
        .filter(|c| c.middleware == name || c.handler == name)
        .map(|c| c.name())
        .collect();
    let artifacts: Vec<String> = std::iter::once(name.to_string()).chain(gone.iter().cloned()).collect();

    let mut writes: Vec<(PathBuf, String)> = Vec::new();
    if !gone.is_empty() {
        writes.push((
            root.join(COMPOSE_FILE),
            compose::edit(root, |list| list.retain(|c| c.middleware != name && c.handler != name))?,
        ));
        done.extend(gone.iter().map(|c| format!("composition {c} from {COMPOSE_FILE}")));
    }
    let budgets = Budgets::edit(root, |components| {
        for artifact in &artifacts {
            components.remove(artifact);
        }
    })?;
    writes.push((root.join(BUDGETS_FILE), budgets));
    done.push(format!("the budgets of {} from {BUDGETS_FILE}", artifacts.join(", ")));
    let readme_path = root.join("README.md");
    let readme =
        std::fs::read_to_string(&readme_path).with_context(|| format!("cannot read {}", readme_path.display()))?;
    let rows = |line: &str| artifacts.iter().any(|a| line.starts_with(&format!("| `{a}` ")));
    let kept: String = readme.split_inclusive('\n').filter(|line| !rows(line)).collect();
    if kept != readme {
        writes.push((readme_path, kept));
        done.push("its rows from README.md's component table".into());
    }

    for (path, text) in &writes {
        write_atomic(path, text.as_bytes())?;
    }
    let dir = root.join("components").join(name);
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    done.push(format!("{} (its code, WIT and tests)", dir.display()));
    // The dist artifacts of what no longer exists, and their manifest entries.
    let dist = workspace::dist_dir(root);
    if Manifest::path(&dist).exists() {
        let pins = crate::wit::Pins::load(&root.join("wit"))?;
        let remaining = workspace::component_names(root)?;
        let compositions = compose::compositions(root)?;
        let exists = |n: &str| remaining.iter().any(|r| r == n) || compositions.iter().any(|c| c.name() == n);
        Manifest::update(&dist, &pins.versions()?, &[], exists)?;
        done.push(format!("its artifacts from {}", dist.display()));
    }
    // Its debug build (`dist --debug`), which no manifest lists.
    let debug = crate::pipeline::debug::debug_dir(root).join(format!("{name}.wasm"));
    if debug.exists() {
        std::fs::remove_file(&debug).with_context(|| format!("cannot remove {}", debug.display()))?;
        done.push(format!("its debug build {}", debug.display()));
    }
    Ok(done)
}
