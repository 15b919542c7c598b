//! `cargo xtask tidy`: the project's own rules, checked as a command and as
//! a `#[test]` (so plain `cargo test` enforces them in edgekit's repository).
//!
//! Every component directory must be a standalone crate (its own
//! `[workspace]` and `Cargo.lock`), with its world files in its own `wit/`
//! and nothing else there: no copy of a pinned WASI package (the worlds
//! resolve against the pins; a crate that generates its own bindings links
//! `wit/deps` to its line's). Each world it is built for is on the line its
//! build names (a world naming both lines is refused). Its source is
//! generated from the world its Cargo.toml names, or written on the guest
//! library with a feature per WASI line (`p2 = ["edgekit/p2"]`) and none in
//! the dependency, a link to the project's library, and none of the
//! plumbing the library owns. No two crates build one artifact. The
//! library's WIT links each line's `deps/` to the pins. Every Rust file
//! starts with a `//!` header saying what it is for.
//!
//! In edgekit's own repository, whose tests run each template, a component
//! also needs its tests in `edgekit-test.rs` (a module per line it is built
//! for) and a row per artifact in the README's component table.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use xshell::Shell;

use crate::project::Project;
use crate::wit::{self, Pins};
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
    let pins = Pins::load(&project.pins_dir())?;
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    let toolchain = std::fs::read_to_string(root.join("rust-toolchain.toml")).ok();
    // Which crate builds each artifact: two that build one name collide.
    let mut artifacts: BTreeMap<String, String> = BTreeMap::new();
    for name in workspace::component_names(root)? {
        let dir = project.components_dir().join(name);
        let component = match workspace::load(&dir) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        let name = &component.name;
        for build in &component.builds {
            match artifacts.insert(build.artifact.clone(), name.clone()) {
                Some(other) if other == *name => problems.push(format!(
                    "{}: two of its lines name the world `{}`: each line's world is an artifact of its own",
                    component.manifest.display(),
                    build.artifact
                )),
                Some(other) => problems.push(format!(
                    "{name} and {other} both build the artifact `{}`: rename the world of one",
                    build.artifact
                )),
                None => {}
            }
        }
        own_wit(project, &pins, &component, problems);
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
        let lines = component.builds.iter().any(|b| b.line.is_some());
        if component.uses_guest() {
            guest_user(project, &pins, &component, &manifest, &source, problems);
        } else if lines {
            problems.push(format!(
                "{}: a crate built for WASI lines ({}) is written on the guest library, whose line features \
                 pick each build's bindings: depend on it (`edgekit = {{ {} ... }}`), or name one world under \
                 [package.metadata.component.target]",
                component.manifest.display(),
                workspace::LINES_TABLE,
                workspace::GUEST_DEPENDENCY,
            ));
        } else if !source.contains(&format!("path: \"wit\", world: \"{}\"", component.builds[0].world)) {
            problems.push(format!(
                "{}: `wit_bindgen::generate!` must read `path: \"wit\", world: \"{}\"`, as {} names it \
                 (or depend on the guest library, `edgekit = {{ {} ... }}`)",
                lib.display(),
                component.builds[0].world,
                component.manifest.display(),
                workspace::GUEST_DEPENDENCY,
            ));
        }
        if !project.is_edgekit_source() {
            continue;
        }
        let tests = component.dir.join("edgekit-test.rs");
        match std::fs::read_to_string(&tests) {
            Err(_) => problems.push(format!(
                "{name} has no tests: add {}, the tests host/tests/components.rs runs against its dist artifacts",
                tests.display()
            )),
            // Tests written once run on every line (`for line in
            // lines("<name>")`); any other test names its line's module.
            Ok(text) if text.contains(&format!("lines(\"{name}\")")) => {}
            Ok(text) => {
                for line in component.builds.iter().filter_map(|b| b.line.as_ref()) {
                    if !text.lines().any(|l| l == format!("mod {line} {{")) {
                        problems.push(format!(
                            "{}: it is built for {line}, so its tests must run on that line's artifact: write \
                             them once, `for line in lines(\"{name}\") {{ ... }}`, or in a top-level \
                             `mod {line} {{ ... }}`",
                            tests.display()
                        ));
                    }
                }
            }
        }
        for artifact in component.artifacts() {
            if !readme.lines().any(|l| l.starts_with(&format!("| `{artifact}`"))) {
                let built_by = if artifact == *name { String::new() } else { format!(" (built by {name})") };
                problems.push(format!(
                    "{artifact}{built_by} is not in README.md: add a row starting with | `{artifact}` | to the \
                     component table"
                ));
            }
        }
    }
    Ok(())
}

/// A component's `wit/` holds its world files and nothing else: no copy of
/// a pinned WASI package (a crate that runs `wit_bindgen::generate!` itself
/// links `wit/deps` to its line's pins); the worlds resolve against the
/// pins, and each world it is built for is on the line its build names.
fn own_wit(project: &Project, pins: &Pins, component: &workspace::Component, problems: &mut Vec<String>) {
    let wit_dir = component.wit_dir();
    match wit::not_world_files(&wit_dir) {
        Ok(stray) => {
            for path in stray {
                problems.push(format!(
                    "{} is not a world file: a component's wit/ holds its world files and nothing else, and no \
                     copy of the pinned WASI, which `dist` resolves from {}/ (a crate that runs \
                     `wit_bindgen::generate!` itself links wit/deps there instead); remove it",
                    path.display(),
                    project.relative(&project.pins_dir())
                ));
            }
        }
        Err(e) => problems.push(format!("{e:#}")),
    }
    let own = match pins.component(&wit_dir) {
        Ok(own) => own,
        Err(e) => {
            problems.push(format!("{e:#}"));
            return;
        }
    };
    let mut versions = Vec::new();
    for build in &component.builds {
        let checked = own.world(&build.world, &component.manifest).and_then(|world| {
            build.check_line(&own, world, &component.manifest)?;
            own.world_line(world)
        });
        match checked {
            Ok(version) => versions.extend(version),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    // The link a crate generating its own bindings keeps to its line's pins.
    let deps = wit_dir.join("deps");
    if deps.is_symlink() {
        let expected = versions.first().and_then(|v| pins.line(v)).map(|line| {
            let line = line.dir.strip_prefix(project.edgekit_dir()).unwrap_or(&line.dir).join("deps");
            project.link(Path::new("wit/deps"), &line)
        });
        let found = std::fs::read_link(&deps).ok();
        match expected {
            Some(expected) if found.as_ref() != Some(&expected) => problems.push(format!(
                "{} must be a symbolic link to its line's pins, {} (`ln -sfn {} {}`), not {}",
                deps.display(),
                expected.display(),
                expected.display(),
                deps.display(),
                found.map(|f| f.display().to_string()).unwrap_or_default(),
            )),
            None => problems.push(format!(
                "{}: its worlds use no WASI, so it needs no link to the pins; remove it",
                deps.display()
            )),
            _ => {}
        }
    }
}

/// A template written on the guest library holds business logic only: the
/// library's feature for each build's WASI line, and none of the plumbing
/// the library owns in its `src/lib.rs`.
fn guest_user(
    project: &Project,
    pins: &Pins,
    component: &workspace::Component,
    manifest: &str,
    source: &str,
    problems: &mut Vec<String>,
) {
    let dependency = manifest.lines().find(|l| l.contains(workspace::GUEST_DEPENDENCY)).unwrap_or_default();
    let features: toml::Table = manifest
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("features").and_then(|f| f.as_table()).cloned())
        .unwrap_or_default();
    let line_features: Vec<String> =
        pins.versions().unwrap_or_default().iter().map(|v| format!("\"{}\"", wit::line_key(v))).collect();
    for build in &component.builds {
        match &build.line {
            // A line of the lines table: the crate's feature of that name
            // turns on the library's, and the dependency names no line, or
            // the other line's build would turn on both.
            Some(line) => {
                let wanted = toml::Value::Array(vec![format!("edgekit/{line}").into()]);
                if features.get(line) != Some(&wanted) {
                    problems.push(format!(
                        "{}: it is built for {line}, so it needs the feature `{line} = [\"edgekit/{line}\"]` \
                         under [features], which `dist` turns on for that line's build",
                        component.manifest.display()
                    ));
                }
                if let Some(named) = line_features.iter().find(|f| dependency.contains(f.as_str())) {
                    problems.push(format!(
                        "{}: the `edgekit` dependency's features name the line {named}: leave lines to the \
                         crate's own features ({}), so each build turns on its line alone",
                        component.manifest.display(),
                        workspace::LINES_TABLE
                    ));
                }
            }
            // A single-world crate on the library: its world's line, always on.
            None => {
                let own = pins.component(&component.wit_dir());
                let version = own.and_then(|own| own.world_line(own.world(&build.world, &component.manifest)?));
                if let Ok(Some(version)) = version {
                    let feature = format!("\"{}\"", wit::line_key(&version));
                    if !dependency.contains(&feature) {
                        problems.push(format!(
                            "{}: its world is on WASI {version}, so the `edgekit` dependency needs features = \
                             [{feature}, ...]",
                            component.manifest.display(),
                        ));
                    }
                }
            }
        }
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

/// The guest library's WIT holds its world per line and links each line's
/// `deps/` to the pins (`wit/<line>/deps` to `../../../wit/<line's dir>/deps`:
/// the library and the pins sit side by side, here and in `.edgekit/`), so
/// the pinned WASI is written out once.
fn guest(project: &Project, problems: &mut Vec<String>) -> Result<()> {
    let pins = project.pins_dir();
    for line in wit::lines(&pins)? {
        let key = wit::line_key(&wit::line_version(&line)?);
        let deps = project.library_dir().join("wit").join(&key).join("deps");
        let expected =
            Path::new("../../..").join(line.strip_prefix(project.edgekit_dir()).unwrap_or(&line)).join("deps");
        let found = std::fs::read_link(&deps).ok();
        if found.as_ref() != Some(&expected) {
            problems.push(format!(
                "{} must be a symbolic link to the pins, {} (`ln -sfn {} {}`), not a copy{}",
                deps.display(),
                expected.display(),
                expected.display(),
                deps.display(),
                found.map(|f| format!(" or a link to {}", f.display())).unwrap_or_default(),
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
