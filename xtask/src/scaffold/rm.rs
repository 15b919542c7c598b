//! `cargo xtask rm <component>`: takes a component out of the project, with
//! everything that names it or one of its artifacts (one per WASI line it
//! is built for): its crate directory (code, WIT, tests), its budgets, the
//! compositions one of them is part of (with their budgets) and the routes
//! to them in the project file, their README rows when the README has them,
//! and their dist artifacts, debug builds and manifest entries. What is
//! left passes `dist`, `size`, `tidy` and `cargo test`. Everything is
//! computed before anything changes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::Shell;

use crate::artifact::{Manifest, write_atomic};
use crate::pipeline::compose;
use crate::project::{self, Project};
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
        bail!("no component `{name}` in this project (there are: {}); nothing removed", names.join(", "));
    }
    let project = Project::load(root)?;
    // Every artifact it builds (one per WASI line), and every composition
    // one of them is part of.
    let own = workspace::load(&project.components_dir().join(name))?.artifacts();
    let part = |c: &project::Composition| own.contains(&c.middleware) || own.contains(&c.handler);
    let mut done = Vec::new();
    let gone: Vec<String> = compose::compositions(root)?.into_iter().filter(part).map(|c| c.name()).collect();
    let artifacts: Vec<String> = own.iter().chain(&gone).cloned().collect();

    let mut writes: Vec<(PathBuf, String)> = Vec::new();
    let kept: Vec<project::Composition> = project.file.composition.iter().filter(|c| !part(c)).cloned().collect();
    // A route to one of its artifacts, to a composition with one, or with
    // one as the middleware.
    let routed = |route: &project::routes::Route| {
        route.middleware.as_ref().is_some_and(|m| own.contains(m))
            || route.component.split('+').any(|part| own.iter().any(|a| a == part))
    };
    let routes: Vec<String> = project.file.route.iter().filter(|r| routed(r)).map(|r| r.path.to_string()).collect();
    let file = project::edit(root, |doc| {
        project::set_compositions(doc, &kept)?;
        project::remove_routes(doc, routed)?;
        artifacts.iter().try_for_each(|artifact| project::remove_budget(doc, artifact))
    })?;
    writes.push((root.join(project::FILE), file));
    done.extend(gone.iter().map(|c| format!("composition {c} from {}", project::FILE)));
    done.extend(routes.iter().map(|path| format!("the route {path} from {}", project::FILE)));
    done.push(format!("the budgets of {} from {}", artifacts.join(", "), project::FILE));
    let readme_path = root.join("README.md");
    // A team's README may have no component table, or no README at all.
    let readme = std::fs::read_to_string(&readme_path).unwrap_or_default();
    let rows = |line: &str| artifacts.iter().any(|a| line.starts_with(&format!("| `{a}` ")));
    let kept: String = readme.split_inclusive('\n').filter(|line| !rows(line)).collect();
    if kept != readme {
        writes.push((readme_path, kept));
        done.push("its rows from README.md's component table".into());
    }

    for (path, text) in &writes {
        write_atomic(path, text.as_bytes())?;
    }
    let dir = project.components_dir().join(name);
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    done.push(format!("{} (its code, WIT and tests)", dir.display()));
    // The dist artifacts of what no longer exists, and their manifest entries.
    let dist = workspace::dist_dir(root);
    if Manifest::path(&dist).exists() {
        let pins = crate::wit::Pins::load(&project.pins_dir())?;
        let remaining = workspace::artifact_names(root)?;
        let compositions = compose::compositions(root)?;
        let exists = |n: &str| remaining.iter().any(|r| r == n) || compositions.iter().any(|c| c.name() == n);
        Manifest::update(&dist, &pins.versions()?, &[], exists)?;
        done.push(format!("its artifacts from {}", dist.display()));
    }
    // Its debug builds (`dist --debug`), which no manifest lists.
    for artifact in &own {
        let debug = crate::pipeline::debug::debug_dir(root).join(format!("{artifact}.wasm"));
        if debug.exists() {
            std::fs::remove_file(&debug).with_context(|| format!("cannot remove {}", debug.display()))?;
            done.push(format!("its debug build {}", debug.display()));
        }
    }
    Ok(done)
}
