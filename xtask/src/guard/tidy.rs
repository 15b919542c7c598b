//! `cargo xtask tidy`: the project's own rules, checked as a command and as
//! a `#[test]` (so plain `cargo test` enforces them in edgekit's repository).
//!
//! Every component directory must be a standalone crate (its own
//! `[workspace]` and `Cargo.lock`), with its world in its own `wit/` and
//! copies of the pinned WASI there that match its line's (`wit/deps/` for
//! 0.2, `wit/p3/deps/` for 0.3; a world naming both is refused), and source
//! generated from the world its Cargo.toml names, or written on the guest
//! library with the feature of its world's line, a link to the project's
//! library, and none of the plumbing the library owns. The library's WIT
//! copies match the pins too. Every Rust file starts with a `//!` header
//! saying what it is for.
//!
//! In edgekit's own repository, whose tests run each template, a component
//! also needs its tests in `edgekit-test.rs` and a row in the README's
//! component table.

use std::path::Path;

use anyhow::{Result, bail};
use xshell::Shell;

use crate::project::Project;
use crate::wit::{self, Wit};
use crate::{tool, workspace};

impl crate::flags::Tidy {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        check(&workspace::root())?;
        eprintln!("tidy: ok");
        Ok(())
    }
}

/// Runs every rule over the workspace at `root`; the error lists each
/// problem on its own line, naming the file and what to add.
pub fn check(root: &Path) -> Result<()> {
    let project = Project::load(root)?;
    let mut problems = Vec::new();
    components(&project, &mut problems)?;
    guest(&project, &mut problems)?;
    headers(&project, &mut problems)?;
    if !problems.is_empty() {
        bail!("tidy found {} problem(s):\n  {}", problems.len(), problems.join("\n  "));
    }
    Ok(())
}

fn components(project: &Project, problems: &mut Vec<String>) -> Result<()> {
    let root = &project.root;
    let pins = project.pins_dir();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    let toolchain = std::fs::read_to_string(root.join("rust-toolchain.toml")).ok();
    for name in workspace::component_names(root)? {
        let dir = project.components_dir().join(name);
        if !dir.is_dir() {
            continue;
        }
        let component = match workspace::load(&dir) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        let name = &component.name;
        let fix = format!("run `{}`, which refreshes them, and commit the result", tool::cmd(&format!("dist {name}")));
        // Stale copies first: a copy edited by hand may not even parse, and
        // refreshing it is the fix either way.
        // The line its world names: a version no line pins, or both lines,
        // is the problem to report.
        let (line, stale) = match wit::line_of(&pins, &component.wit_dir())
            .and_then(|line| Ok((line.clone(), wit::stale_copies(&pins, &component.wit_dir())?)))
        {
            Ok(found) => found,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        let line = line.strip_prefix(root).unwrap_or(&line).join("deps");
        for path in &stale {
            problems.push(format!("{} is not the WASI pinned in {}/: {fix}", path.display(), line.display()));
        }
        if stale.is_empty()
            && let Err(e) =
                Wit::load(&component.wit_dir()).and_then(|own| own.world(&component.world, &component.manifest))
        {
            problems.push(format!("{e:#}"));
        }
        let manifest = std::fs::read_to_string(&component.manifest).unwrap_or_default();
        if !manifest.lines().any(|l| l.trim() == "[workspace]") {
            problems.push(format!(
                "{}: add an empty `[workspace]` table, so the crate builds on its own when copied out",
                component.manifest.display()
            ));
        }
        if manifest.contains(".workspace = true") || manifest.contains("workspace = true }") {
            problems.push(format!(
                "{}: inherit nothing from the edgekit workspace (write versions out), so it builds when copied out",
                component.manifest.display()
            ));
        }
        if !component.dir.join("Cargo.lock").is_file() {
            problems.push(format!(
                "{}/Cargo.lock is missing: run `{}` to create it, and commit it",
                component.dir.display(),
                tool::cmd("dist")
            ));
        }
        let own_toolchain = std::fs::read_to_string(component.dir.join("rust-toolchain.toml")).unwrap_or_default();
        let channel = |text: &str| text.lines().find(|l| l.starts_with("channel")).map(str::to_string);
        match &toolchain {
            Some(toolchain) if channel(&own_toolchain) != channel(toolchain) => problems.push(format!(
                "{}/rust-toolchain.toml must pin the channel rust-toolchain.toml pins ({})",
                component.dir.display(),
                channel(toolchain).unwrap_or_default()
            )),
            None if channel(&own_toolchain).is_none() => problems.push(format!(
                "{}/rust-toolchain.toml must pin the toolchain the component is built with (a `channel` line)",
                component.dir.display(),
            )),
            _ => {}
        }
        let lib = component.dir.join("src/lib.rs");
        let source = std::fs::read_to_string(&lib).unwrap_or_default();
        if component.uses_guest() {
            guest_user(project, &component, &manifest, &source, &line, problems);
        } else if !source.contains(&format!("path: \"wit\", world: \"{}\"", component.world)) {
            problems.push(format!(
                "{}: `wit_bindgen::generate!` must read `path: \"wit\", world: \"{}\"`, as {} names it \
                 (or depend on the guest library, `edgekit = {{ {} ... }}`)",
                lib.display(),
                component.world,
                component.manifest.display(),
                workspace::GUEST_DEPENDENCY,
            ));
        }
        if !project.is_edgekit_source() {
            continue;
        }
        let tests = component.dir.join("edgekit-test.rs");
        if !tests.is_file() {
            problems.push(format!(
                "{name} has no tests: add {}, the tests host/tests/components.rs runs against its dist artifact",
                tests.display()
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

/// A template written on the guest library holds business logic only: the
/// library's feature for its world's WASI line, and none of the plumbing the
/// library owns in its `src/lib.rs`.
fn guest_user(
    project: &Project,
    component: &workspace::Component,
    manifest: &str,
    source: &str,
    line: &Path,
    problems: &mut Vec<String>,
) {
    let p3 = line.starts_with(project.relative(&project.pins_dir().join("p3")));
    let feature = if p3 { "\"p3\"" } else { "\"p2\"" };
    let dependency = manifest.lines().find(|l| l.contains(workspace::GUEST_DEPENDENCY)).unwrap_or_default();
    if !dependency.contains(feature) {
        problems.push(format!(
            "{}: its world is on the WASI line of {}/, so the `edgekit` dependency needs features = [{feature}, ...]",
            component.manifest.display(),
            line.display()
        ));
    }
    let link = component.dir.join(workspace::GUEST_DIR);
    let target = project.guest_link();
    if std::fs::read_link(&link).ok() != Some(target.clone()) {
        problems.push(format!(
            "{}: it depends on the guest library by `{}`, so {} must be a symbolic link to {} \
             (`ln -s {} {}`): not a copy, and not a path out of the component (builds would not be reproducible)",
            component.manifest.display(),
            workspace::GUEST_DEPENDENCY,
            link.display(),
            target.display(),
            target.display(),
            link.display(),
        ));
    }
    let lib = component.dir.join("src/lib.rs");
    for (plumbing, owner) in [
        ("unsafe", "the library's safe API"),
        ("#[panic_handler]", "the library's `panic-trap` feature"),
        ("cabi_realloc", "the library"),
        ("#[global_allocator]", "the library's `alloc` feature"),
        ("Vtable", "the library (`edgekit::p3::no_trailers`, `Response`)"),
    ] {
        if source.contains(plumbing) {
            problems.push(format!(
                "{}: a template holds business logic only; leave `{plumbing}` to {owner}",
                lib.display()
            ));
        }
    }
}

/// The guest library's WIT copies match the pins, as a component's do.
fn guest(project: &Project, problems: &mut Vec<String>) -> Result<()> {
    for wit_dir in workspace::guest_wit_dirs(project) {
        for path in wit::stale_copies(&project.pins_dir(), &wit_dir)? {
            problems.push(format!(
                "{} is not the WASI pinned in {}/: run `{}`, which refreshes it, and commit the result",
                path.display(),
                project.relative(&project.pins_dir()),
                tool::cmd("dist")
            ));
        }
    }
    Ok(())
}

/// Every Rust source file opens with a `//!` comment saying what it is for.
fn headers(project: &Project, problems: &mut Vec<String>) -> Result<()> {
    let root = &project.root;
    let mut stack = vec![project.components_dir(), project.library_dir()];
    if project.is_edgekit_source() {
        stack.extend(["xtask", "host", "cargo-edgekit"].map(|dir| root.join(dir)));
    }
    while let Some(dir) = stack.pop() {
        if !dir.exists() {
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            // A component's link to the guest library: checked as guest/.
            if path.is_symlink() {
                continue;
            }
            if path.is_dir() {
                if !path.ends_with("target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                // `cargo component build` writes this file; edgekit's crates do not use it.
                && !path.ends_with("src/bindings.rs")
            {
                let text = std::fs::read_to_string(&path)?;
                if !text.starts_with("//!") {
                    problems
                        .push(format!("{}: start the file with a `//!` comment saying what it is for", path.display()));
                }
            }
        }
    }
    Ok(())
}
