//! `cargo edgekit init`: makes the current directory an edgekit project.
//!
//! It writes what a project needs and adds, never overwrites: the project
//! file (`edgekit.toml`), a copy of the guest library and the pinned WASI
//! lines the tool carries (`.edgekit/guest`, `.edgekit/wit`, the versions
//! recorded in the project file), the components directory, a CI workflow
//! that installs the tool and runs `dist` and `size`, and `/target/` in
//! `.gitignore`. In an existing Cargo workspace it excludes the components
//! and the library from the workspace (each component is a workspace of its
//! own). A file that is already there is left as it was and named.
//!
//! Why a copy of the library in the project, not a dependency fetched at
//! build time: the library is not in cargo's registry, a team's artifacts
//! must be reproducible from its repository alone, and a component's crate
//! must keep building with plain cargo. The copy is what the artifacts were
//! built from, reviewed like any change when `update` moves it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::Shell;

use crate::artifact::write_atomic;
use crate::project::{self, Project, VENDORED_DIR};
use crate::report::Table;
use crate::wit;
use crate::{bundle, tool};

impl crate::flags::Init {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let dir = std::env::current_dir().context("cannot read the current directory")?;
        let mut done = init(&dir)?;
        if self.example_app {
            done.extend(example_app(&dir)?);
        }
        let mut table = Table::new(["path", "what"]).left(&[1]);
        for (path, what) in &done {
            table.row([path.clone(), what.clone()]);
        }
        print!("{}", table.text());
        if self.example_app {
            eprintln!(
                "{} is an edgekit project with the example app: build it with `{}`, then serve every route on \
                 one address with `{}` (the README of edgekit shows the requests)",
                dir.display(),
                tool::cmd("dist"),
                tool::cmd("serve")
            );
        } else {
            eprintln!(
                "{} is an edgekit project: add a component with `{}`, then `{}`",
                dir.display(),
                tool::cmd("new <name> --template <template>"),
                tool::cmd("dist")
            );
        }
        Ok(())
    }
}

/// What the team's project file says above the example app's routes.
const APP_COMMENT: &str = "\n# The example app (`cargo edgekit init --example-app`): `cargo edgekit serve`\n\
# and `dev` with no component named serve these routes on one address, each\n\
# to its component. A path no route takes gets the host's 404; a prefix\n\
# route's component sees the path after the prefix (GET /api/items reaches\n\
# http-api as /items).\n";

/// Adds edgekit's example app to the project at `dir`: the `[[route]]`s of
/// edgekit's own project file, and the components they name, each made from
/// the template of its name. Handlers come before the middlewares in front
/// of them, so that `new` gives each middleware its compositions with them.
/// Returns what it wrote, as [`init`] does.
pub fn example_app(dir: &Path) -> Result<Vec<(String, String)>> {
    let bundle = bundle::get()?;
    let text = std::str::from_utf8(bundle.file(project::FILE)?).context("edgekit's project file is not UTF-8")?;
    let ours = project::parse(Path::new(project::FILE), text)?;
    let doc: toml_edit::DocumentMut = text.parse().context("edgekit's project file is not valid TOML")?;
    let mut routes = doc.get("route").and_then(|r| r.as_array_of_tables()).cloned().unwrap_or_default();
    // edgekit's own comment names `cargo xtask`: the team's file gets its own.
    for (i, route) in routes.iter_mut().enumerate() {
        route.decor_mut().set_prefix(if i == 0 { APP_COMMENT } else { "\n" });
    }
    if routes.is_empty() {
        bail!("this edgekit carries no example app (its project file has no [[route]])");
    }
    let mut names: Vec<&str> = ours.route.iter().map(|r| r.component.as_str()).collect();
    names.extend(ours.route.iter().filter_map(|r| r.middleware.as_deref()));
    let mut done = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            continue;
        }
        let made = super::new::create(dir, name, name, None).with_context(|| {
            format!("adding the example app's `{name}` failed; remove what it added with `{}`", tool::cmd("rm <name>"))
        })?;
        let shown = made.strip_prefix(dir).unwrap_or(&made).display().to_string();
        done.push((format!("{shown}/"), format!("from the template {name}, for the example app")));
    }
    let file = dir.join(project::FILE);
    let count = routes.len();
    let edited = project::edit(dir, |doc| {
        doc.insert("route", toml_edit::Item::ArrayOfTables(routes));
        Ok(())
    })?;
    write_atomic(&file, edited.as_bytes())?;
    project::routes::check(&Project::load(dir)?)?;
    done.push((
        project::FILE.into(),
        format!("{count} [[route]]s: the example app, which `serve` with no component serves"),
    ));
    Ok(done)
}

/// Makes `dir` a project; returns each path it wrote or left, with what it
/// did there.
pub fn init(dir: &Path) -> Result<Vec<(String, String)>> {
    if dir.join(project::FILE).exists() {
        bail!(
            "{} already exists: {} is a project; edit that file, or run `{}` to bring its edgekit files up to date",
            dir.join(project::FILE).display(),
            dir.display(),
            tool::cmd("update")
        );
    }
    let bundle = bundle::get()?;
    let vendored = dir.join(VENDORED_DIR);
    if vendored.exists() {
        bail!(
            "{} already exists and is not edgekit's: move it away, then run `{}` again",
            vendored.display(),
            tool::INIT
        );
    }
    // Everything that can be refused is checked before the first write.
    let cargo_toml = dir.join("Cargo.toml");
    let workspace_edit = match std::fs::read_to_string(&cargo_toml) {
        Ok(text) => exclude_from_workspace(&cargo_toml, &text)?,
        Err(_) => None,
    };

    let mut done = Vec::new();
    let mut written: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for part in ["guest", "wit"] {
            let to = vendored.join(part);
            let files = bundle.extract(part, &to)?;
            written.push(to);
            done.push((format!("{VENDORED_DIR}/{part}/"), format!("{} files: {}", files.len(), what_part(part))));
        }
        let wasi =
            wit::lines(&vendored.join("wit"))?.iter().map(|l| wit::line_version(l)).collect::<Result<Vec<_>>>()?;
        let file = project_file(tool::get().version, &bundle::library_version()?, &wasi);
        let path = dir.join(project::FILE);
        project::parse(&path, &file)?;
        write_atomic(&path, file.as_bytes())?;
        written.push(path);
        done.push((project::FILE.into(), "the project file: components, budgets, compositions".into()));
        let components = dir.join(project::Layout::default().components);
        if components.exists() {
            done.push(("components/".into(), "already there, kept".into()));
        } else {
            std::fs::create_dir_all(&components).with_context(|| format!("cannot create {}", components.display()))?;
            written.push(components);
            done.push(("components/".into(), "where `new` puts components".into()));
        }
        add_file(
            dir,
            ".github/workflows/edgekit.yml",
            WORKFLOW,
            "CI: installs cargo-edgekit, runs dist and size",
            &mut done,
            &mut written,
        )?;
        gitignore(dir, &mut done)?;
        if let Some(text) = &workspace_edit {
            write_atomic(&cargo_toml, text.as_bytes())?;
            done.push(("Cargo.toml".into(), "[workspace] excludes components/ and .edgekit/".into()));
        }
        Ok(())
    })();
    if let Err(e) = result {
        for path in written.iter().rev() {
            let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
        }
        return Err(e.context(format!("making {} a project failed; what it wrote was removed", dir.display())));
    }
    Project::load(dir)?;
    Ok(done)
}

fn what_part(part: &str) -> &'static str {
    match part {
        "guest" => "the guest library the components link to",
        _ => "the pinned WASI lines",
    }
}

/// Writes `relative` under `dir` unless a file is there already.
fn add_file(
    dir: &Path,
    relative: &str,
    text: &str,
    what: &str,
    done: &mut Vec<(String, String)>,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    let path = dir.join(relative);
    if path.exists() {
        done.push((relative.into(), "already there, kept as it is".into()));
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_atomic(&path, text.as_bytes())?;
    written.push(path);
    done.push((relative.into(), what.into()));
    Ok(())
}

/// `/target/` in `.gitignore`: the file is made, or the line added to it.
fn gitignore(dir: &Path, done: &mut Vec<(String, String)>) -> Result<()> {
    let path = dir.join(".gitignore");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    if text.lines().any(|l| matches!(l.trim(), "target" | "/target" | "target/" | "/target/")) {
        done.push((".gitignore".into(), "already ignores target/".into()));
        return Ok(());
    }
    let mut new = text.clone();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str("# Build output, dist artifacts included (cargo edgekit dist).\n/target/\n");
    write_atomic(&path, new.as_bytes())?;
    done.push((
        ".gitignore".into(),
        if text.is_empty() { "ignores target/" } else { "now ignores target/ too" }.into(),
    ));
    Ok(())
}

/// A Cargo workspace manifest with `components` and `.edgekit` in its
/// `exclude` list, or `None` when `text` is no workspace or excludes them
/// already: each component is a workspace of its own, and the library joins
/// each component's, so neither may be a member of the team's.
fn exclude_from_workspace(path: &Path, text: &str) -> Result<Option<String>> {
    let mut doc: toml_edit::DocumentMut =
        text.parse().with_context(|| format!("{} is not valid TOML: fix it before `init`", path.display()))?;
    let Some(workspace) = doc.get_mut("workspace").and_then(|w| w.as_table_like_mut()) else { return Ok(None) };
    let exclude = workspace
        .entry("exclude")
        .or_insert(toml_edit::value(toml_edit::Array::new()))
        .as_array_mut()
        .with_context(|| format!("{}: [workspace] exclude must be an array", path.display()))?;
    let mut changed = false;
    for dir in ["components", VENDORED_DIR] {
        if !exclude.iter().any(|v| v.as_str().map(|s| s.trim_end_matches('/')) == Some(dir)) {
            exclude.push(dir);
            changed = true;
        }
    }
    Ok(changed.then(|| doc.to_string()))
}

/// The project file `init` writes.
fn project_file(version: &str, library: &str, wasi: &[String]) -> String {
    let wasi = wasi.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ");
    format!(
        r#"# The edgekit project file: this directory is an edgekit project, and
# `cargo edgekit` finds it at or above the current directory. Its keys are
# described in edgekit's docs/project.md.

[project]
# The components, one guest crate per directory (`cargo edgekit new` adds them).
components = "components"

# The guest library (.edgekit/guest) and the pinned WASI lines (.edgekit/wit)
# the components build on, as cargo-edgekit {version} wrote them. Keep them in
# version control: they are part of what your artifacts are built from.
# `cargo edgekit update` brings them to a newer cargo-edgekit's.
[edgekit]
dir = "{VENDORED_DIR}"
version = "{version}"
library = "{library}"
wasi = [{wasi}]

# Size budgets for target/dist/*.wasm, in bytes, checked by `cargo edgekit size`.
# budget:   the hard ceiling; raise it only on purpose, in review.
# baseline: the last accepted size; `cargo edgekit size --bless` rewrites it.
# `cargo edgekit new` adds an entry per component (its template's budget).
[budgets]
tolerance-percent = 1.0
"#
    )
}

/// The CI workflow `init` writes (GitHub Actions).
const WORKFLOW: &str = r#"# Builds this project's components with edgekit, checks each against its
# world, and fails on a component over its size budget. Written by
# `cargo edgekit init`; yours to change.
name: edgekit

on:
  push:
  pull_request:

env:
  # Where your CI installs cargo-edgekit from: set the repository variables
  # EDGEKIT_GIT (a clone of edgekit your CI can reach) and, to pin it,
  # EDGEKIT_REV (a tag or commit).
  EDGEKIT_GIT: ${{ vars.EDGEKIT_GIT }}
  EDGEKIT_REV: ${{ vars.EDGEKIT_REV }}

jobs:
  components:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/cache@v4
        with:
          path: |
            ~/.cargo/bin/cargo-edgekit
            ~/.cargo/registry
            ~/.cache/edgekit
            target
          key: edgekit-${{ vars.EDGEKIT_REV }}-${{ hashFiles('edgekit.toml', 'components/*/Cargo.lock') }}
          restore-keys: edgekit-${{ vars.EDGEKIT_REV }}-
      - name: Install cargo-edgekit
        run: |
          if command -v cargo-edgekit >/dev/null; then exit 0; fi
          if [ -z "$EDGEKIT_GIT" ]; then
            echo "::error::set the repository variable EDGEKIT_GIT to where your team gets edgekit"; exit 1
          fi
          cargo install --locked --git "$EDGEKIT_GIT" ${EDGEKIT_REV:+--rev "$EDGEKIT_REV"} cargo-edgekit
      # The toolchain and Wasm targets the components pin install on first use.
      - run: cargo edgekit dist
      - run: cargo edgekit size
"#;
