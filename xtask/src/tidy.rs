//! `cargo xtask tidy`: the workspace's own rules, checked as a command and as
//! a `#[test]` (so plain `cargo test` enforces them).
//!
//! Every directory under `components/` must have a world in `wit/`, a test
//! module in `host/tests/components.rs`, a row in the README's component
//! table, and source generated from the world its Cargo.toml names. Every Rust
//! file starts with a `//!` header saying what it is for.

use std::path::Path;

use anyhow::{Result, bail};
use xshell::Shell;

use crate::project;
use crate::wit::Wit;

impl crate::flags::Tidy {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        check(&project::root())?;
        eprintln!("tidy: ok");
        Ok(())
    }
}

/// Runs every rule over the workspace at `root`; the error lists each
/// problem on its own line, naming the file and what to add.
pub fn check(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    components(root, &mut problems)?;
    headers(root, &mut problems)?;
    if !problems.is_empty() {
        bail!("tidy found {} problem(s):\n  {}", problems.len(), problems.join("\n  "));
    }
    Ok(())
}

fn components(root: &Path, problems: &mut Vec<String>) -> Result<()> {
    let wit = Wit::load(&root.join("wit"))?;
    let tests_path = root.join("host/tests/components.rs");
    let tests = std::fs::read_to_string(&tests_path).unwrap_or_default();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    for dir in std::fs::read_dir(root.join("components"))? {
        let dir = dir?.path();
        if !dir.is_dir() {
            continue;
        }
        let component = match project::load(&dir) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        let name = &component.name;
        if let Err(e) = wit.world(&component.world, &component.manifest) {
            problems.push(format!("{e:#}"));
        } else {
            let world_file = root.join("wit").join(format!("{}.wit", component.world));
            if !world_file.exists() {
                problems.push(format!(
                    "{name}: world `{}` must live in its own file, {}",
                    component.world,
                    world_file.display()
                ));
            }
        }
        let lib = component.dir.join("src/lib.rs");
        let source = std::fs::read_to_string(&lib).unwrap_or_default();
        if !source.contains(&format!("world: \"{}\"", component.world)) {
            problems.push(format!(
                "{}: `wit_bindgen::generate!` must name world \"{}\", as {} does",
                lib.display(),
                component.world,
                component.manifest.display()
            ));
        }
        let module = name.replace('-', "_");
        if !tests.contains(&format!("mod {module} {{")) {
            problems.push(format!(
                "{name} has no tests: add `mod {module} {{ ... }}` to {}, running its dist artifact",
                tests_path.display()
            ));
        }
        if !readme.lines().any(|l| l.starts_with(&format!("| `{name}`"))) {
            problems.push(format!(
                "{name} is not in README.md: add a row starting with | `{name}` | to the component table"
            ));
        }
    }
    Ok(())
}

/// Every Rust source file opens with a `//!` comment saying what it is for.
fn headers(root: &Path, problems: &mut Vec<String>) -> Result<()> {
    let mut stack = vec![root.join("xtask"), root.join("host"), root.join("components")];
    while let Some(dir) = stack.pop() {
        if !dir.exists() {
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                // `cargo component build` writes this file; edgekit's crates do not use it.
                && !path.ends_with("src/bindings.rs")
            {
                let text = std::fs::read_to_string(&path)?;
                if !text.starts_with("//!") {
                    problems.push(format!(
                        "{}: start the file with a `//!` comment saying what it is for",
                        path.display()
                    ));
                }
            }
        }
    }
    Ok(())
}
