//! `cargo xtask wit --bump <version>`: moves one pinned WASI line, and every
//! component on it, to another release of that line in one step. The
//! workspace pins two lines (`wit/deps/`, 0.2; `wit/p3/deps/`, 0.3); the
//! version's major and minor pick the line, and the other line stays as it is.
//!
//! The WIT comes from a crate that ships the release's WIT files (the
//! `wasip2` crate for 0.2, the `wasmtime-wasi-http` release that implements
//! it for 0.3): cargo fetches it into a scratch project, the files replace
//! the line's `deps/` (all but the extensions, `wit::EXTENSIONS`, which
//! have their own version line), and every `wasi:*@<old>` reference in the
//! line's world files and in every component's world files moves to the
//! new version (and in the guest library's world for the line, whose
//! `deps/` is a link to the pins, and the export names its Rust spells
//! out). Everything must resolve, keeping every world on its line, before
//! anything is replaced. Components are then rebuilt by `cargo xtask dist`, whose
//! drift check fails any artifact still at the old version.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::artifact::write_atomic;
use crate::flags;
use crate::project::Project;
use crate::wit::{self, Pins, Wit};
use crate::workspace;

/// A WASI release and where its WIT files come from: the crate, its
/// version, and the directory inside it. Add a row when a release appears.
pub struct WitSource {
    pub wasi: &'static str,
    pub krate: &'static str,
    pub version: &'static str,
    pub dir: &'static str,
}

pub const WIT_SOURCES: &[WitSource] = &[
    WitSource { wasi: "0.2.4", krate: "wasip2", version: "1.0.1", dir: "wit/deps" },
    WitSource { wasi: "0.2.9", krate: "wasip2", version: "1.0.3", dir: "wit/deps" },
    WitSource { wasi: "0.2.12", krate: "wasip2", version: "2.0.1", dir: "wit/deps" },
    // What wasmtime 48 implements (its `p3` support): the WIT it ships.
    WitSource { wasi: "0.3.0", krate: "wasmtime-wasi-http", version: "48.0.8", dir: "src/p3/wit/deps" },
];

impl flags::Wit {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let root = workspace::root();
        let line = bump(sh, &root, &self.bump)?;
        eprintln!(
            "{} is now at WASI {}: run `{}` to rebuild every component against it",
            line.strip_prefix(&root).unwrap_or(&line).join("deps").display(),
            self.bump,
            crate::tool::cmd("dist")
        );
        Ok(())
    }
}

/// `0.2.12` to `0.2`: what names a line.
fn series(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// Re-vendors the line of `<root>/wit` whose series `version` is in (0.2.x
/// or 0.3.x) at `version`; returns the line's directory.
pub fn bump(sh: &Shell, root: &Path, version: &str) -> Result<PathBuf> {
    let Some(source) = WIT_SOURCES.iter().find(|s| s.wasi == version) else {
        let known: Vec<&str> = WIT_SOURCES.iter().map(|s| s.wasi).collect();
        bail!(
            "no known source for WASI {version} (known: {}); add the crate release that ships it \
             to WIT_SOURCES in xtask/src/guard/witbump.rs",
            known.join(", ")
        );
    };
    let project = Project::load(root)?;
    let pins = project.pins_dir();
    let mut line = None;
    for dir in wit::lines(&pins)? {
        let pinned = wit::line_version(&dir)?;
        if series(&pinned) == series(version) {
            line = Some((dir, pinned));
        }
    }
    let Some((line_dir, old_version)) = line else {
        bail!(
            "the workspace pins no WASI {} line to move to {version}; a new line is a new directory \
             under wit/ (as wit/p3/ is), not a bump",
            series(version)
        );
    };
    let relative = line_dir.strip_prefix(&pins).unwrap_or(Path::new("")).to_path_buf();
    let old = Wit::load(&line_dir)?;

    let deps = fetch(sh, root, source)?;
    // A copy of every line, the one moving replaced: components resolve
    // their worlds against it as they will against wit/.
    let scratch = root.join("target/xtask/wit-bump");
    let staging = scratch.join("wit");
    let _ = std::fs::remove_dir_all(&staging);
    copy_wit(&pins, &staging)?;
    let staged_line = staging.join(&relative);
    for file in wasi_files(&staged_line.join("deps"))? {
        std::fs::remove_file(file)?;
    }
    for entry in std::fs::read_dir(&deps).with_context(|| format!("cannot read {}", deps.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wit") {
            std::fs::copy(&path, staged_line.join("deps").join(path.file_name().unwrap()))?;
        }
    }
    // Every world file, moved, with where it goes.
    let mut worlds: Vec<(PathBuf, String)> = Vec::new();
    for path in wit::wit_files(&line_dir)? {
        let text = std::fs::read_to_string(&path)?;
        let moved = move_wasi_refs(&text, &old_version, version);
        std::fs::write(staged_line.join(path.file_name().unwrap()), &moved)?;
        worlds.push((path, moved));
    }
    let new = Wit::load(&staged_line).context("the bumped WIT does not resolve; wit/ is unchanged")?;
    for name in old.world_names() {
        if !new.world_names().contains(&name) {
            bail!("world `{name}` does not survive the bump; wit/ is unchanged");
        }
    }
    let staged_pins = Pins::load(&staging).context("the bumped pins do not resolve; wit/ is unchanged")?;
    // Every component's world files on the moving line (a world file names
    // one line's version, so the other line's stay as they are); each world
    // it is built for must still resolve, on the line its build names.
    for component in workspace::components(root, &[])? {
        let own = scratch.join("components").join(&component.name);
        let _ = std::fs::remove_dir_all(&own);
        std::fs::create_dir_all(&own)?;
        for path in wit::wit_files(&component.wit_dir())? {
            let text = std::fs::read_to_string(&path)?;
            let moved = move_wasi_refs(&text, &old_version, version);
            std::fs::write(own.join(path.file_name().unwrap()), &moved)?;
            if moved != text {
                worlds.push((path, moved));
            }
        }
        let resolved = staged_pins.component(&own).and_then(|wit| {
            component.builds.iter().try_for_each(|build| {
                build.check_line(&wit, wit.world(&build.world, &component.manifest)?, &component.manifest)
            })
        });
        resolved.with_context(|| {
            format!("{} does not resolve at WASI {version}; nothing changed", component.wit_dir().display())
        })?;
    }
    // The guest library's world on the moving line moves with it, and the
    // export names its Rust spells out (`wasi:http/handler@0.3.0#handle`).
    let key = wit::line_key(&old_version);
    let guest_wit = project.library_dir().join("wit").join(&key);
    if guest_wit.is_dir() {
        let own = scratch.join("guest").join(&key);
        let _ = std::fs::remove_dir_all(&own);
        std::fs::create_dir_all(&own)?;
        for path in wit::wit_files(&guest_wit)? {
            let moved = move_wasi_refs(&std::fs::read_to_string(&path)?, &old_version, version);
            std::fs::write(own.join(path.file_name().unwrap()), &moved)?;
            worlds.push((path, moved));
        }
        staged_pins
            .component(&own)
            .with_context(|| format!("{} does not resolve at WASI {version}; nothing changed", guest_wit.display()))?;
        let sources = project.library_dir().join("src").join(&key);
        for entry in std::fs::read_dir(&sources).with_context(|| format!("cannot read {}", sources.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)?;
                let moved = move_wasi_refs(&text, &old_version, version);
                if moved != text {
                    worlds.push((path, moved));
                }
            }
        }
    }
    // Everything resolved: replace the vendored packages (not the
    // extensions, which have their own version line), then the worlds.
    for file in wasi_files(&line_dir.join("deps"))? {
        std::fs::remove_file(file)?;
    }
    for file in wasi_files(&staged_line.join("deps"))? {
        std::fs::copy(&file, line_dir.join("deps").join(file.file_name().unwrap()))?;
    }
    for (path, text) in worlds {
        write_atomic(&path, text.as_bytes())?;
    }
    Ok(line_dir)
}

/// The `.wit` files of a line's `deps/` that hold its WASI release: all
/// but the extensions (`wit::EXTENSIONS`), which have their own version
/// line and stay through a bump.
fn wasi_files(deps: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for file in wit::wit_files(deps)? {
        if !wit::is_extension_package(&wit::package_of(&file)?) {
            files.push(file);
        }
    }
    Ok(files)
}

/// Copies the `.wit` files of `from` and its subdirectories (the pins).
fn copy_wit(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_wit(&path, &target)?;
        } else if path.extension().is_some_and(|e| e == "wit") {
            std::fs::copy(&path, &target).with_context(|| format!("cannot copy {}", path.display()))?;
        }
    }
    Ok(())
}

/// `wasi:<pkg>/...@<old>` becomes `@<new>` wherever a world file names WASI.
fn move_wasi_refs(text: &str, old: &str, new: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("wasi:") {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, ';' | ',' | '{' | '}' | '>' | ')'))
            .unwrap_or(after.len());
        let reference = &after[..end];
        out.push_str(&reference.replace(&format!("@{old}"), &format!("@{new}")));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Fetches `source`'s crate with cargo and returns its WIT directory.
fn fetch(sh: &Shell, root: &Path, source: &WitSource) -> Result<PathBuf> {
    let WitSource { krate, version, dir, .. } = source;
    let scratch = root.join("target/xtask/wit-bump/fetch");
    std::fs::create_dir_all(scratch.join("src"))?;
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"wit-bump\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\n{krate} = {{ version = \"={version}\", default-features = false }}\n\n[workspace]\n"
        ),
    )?;
    std::fs::write(scratch.join("src/lib.rs"), "")?;
    let manifest = scratch.join("Cargo.toml");
    let json = cmd!(sh, "cargo metadata --format-version 1 --manifest-path {manifest}")
        .quiet()
        .read()
        .with_context(|| format!("cargo could not fetch {krate} {version}: check the network or the version"))?;
    let meta: serde_json::Value = serde_json::from_str(&json)?;
    let path = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == *krate)
        .and_then(|p| p["manifest_path"].as_str())
        .with_context(|| format!("cargo metadata lists no {krate} package"))?;
    let wit = Path::new(path).parent().unwrap().join(dir);
    if !wit.is_dir() {
        bail!("{krate} {version} has no {dir}: fix its row in WIT_SOURCES (xtask/src/guard/witbump.rs)");
    }
    Ok(wit)
}
