//! Which program is running the commands: `cargo xtask` in edgekit's own
//! repository, or the installed `cargo edgekit` in any project. One
//! implementation has two entry points; they differ only in the name the
//! messages tell you to type, and in where the templates, the guest
//! library, the pins and the wasmCloud lattice's sources come from
//! ([`Bundle`]): read from the checkout `cargo xtask` runs in, or carried
//! inside the installed binary, so that it needs no checkout at all.
//!
//! The entry point sets it once ([`set`]) before running a command.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

pub use edgekit_bundle::{Entry, Kind};

/// The running tool.
#[derive(Debug)]
pub struct Tool {
    /// What a person types to run it: `cargo xtask` or `cargo edgekit`.
    pub command: &'static str,
    /// Its version (cargo-edgekit's, which the projects it makes record).
    pub version: &'static str,
    /// What it carries.
    pub bundle: Source,
}

/// Where the tool's files come from.
#[derive(Debug)]
pub enum Source {
    /// Read from an edgekit checkout when first needed.
    Checkout(PathBuf),
    /// Inside the binary (`edgekit_bundle::encode`'s format).
    Embedded(&'static [u8]),
}

static TOOL: OnceLock<Tool> = OnceLock::new();
static BUNDLE: OnceLock<Bundle> = OnceLock::new();

/// Declares the running tool; the first call wins.
pub fn set(tool: Tool) {
    let _ = TOOL.set(tool);
}

/// The running tool: as [`set`], else `cargo xtask` over the checkout the
/// project is in (the tests, and the wings' own binaries).
pub fn get() -> &'static Tool {
    TOOL.get_or_init(|| Tool {
        command: "cargo xtask",
        version: env!("CARGO_PKG_VERSION"),
        bundle: Source::Checkout(crate::workspace::root()),
    })
}

/// What to type for `command` (`dist`, `size --bless`): `cargo xtask dist`
/// or `cargo edgekit dist`.
pub fn cmd(command: &str) -> String {
    format!("{} {command}", get().command)
}

/// What to type to make a project: always the installed tool's `init`, the
/// one way a directory becomes a project.
pub fn init() -> String {
    "cargo edgekit init".into()
}

/// The files the tool carries, relative to an edgekit checkout's root.
pub struct Bundle {
    pub entries: Vec<Entry>,
}

/// The tool's bundle, read or decoded once.
pub fn bundle() -> Result<&'static Bundle> {
    if let Some(bundle) = BUNDLE.get() {
        return Ok(bundle);
    }
    let entries = match &get().bundle {
        Source::Checkout(root) => edgekit_bundle::collect(root)
            .with_context(|| format!("cannot read edgekit's templates and library from {}", root.display()))?,
        Source::Embedded(bytes) => {
            edgekit_bundle::decode(bytes).context("the files inside this binary are damaged: reinstall it")?
        }
    };
    Ok(BUNDLE.get_or_init(|| Bundle { entries }))
}

impl Bundle {
    /// The entries under `dir` (a `/`-separated path relative to the
    /// checkout's root), with paths relative to `dir`.
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a Entry)> + 'a {
        let prefix = format!("{dir}/");
        self.entries.iter().filter_map(move |e| e.path.strip_prefix(&prefix).map(|rest| (rest, e)))
    }

    /// One file's contents.
    pub fn file(&self, path: &str) -> Result<&[u8]> {
        match self.entries.iter().find(|e| e.path == path).map(|e| &e.kind) {
            Some(Kind::File(bytes) | Kind::Executable(bytes)) => Ok(bytes),
            Some(Kind::Link(_)) => bail!("{path} is a link in edgekit's files, not a file"),
            None => bail!("{path} is not among edgekit's files (a tool built from an incomplete checkout?)"),
        }
    }

    /// The names of the templates: the directories under `components/`.
    pub fn templates(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .under("components")
            .filter_map(|(rest, _)| rest.split_once('/').map(|(name, _)| name.to_string()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Writes the entries under `dir` into `to`, links as links; returns
    /// the paths there, relative to `to`. A file already there with the
    /// same contents is left untouched (its time too, so cargo rebuilds
    /// nothing for it).
    pub fn extract(&self, dir: &str, to: &Path) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        for (rest, entry) in self.under(dir) {
            let path = to.join(rest);
            written.push(PathBuf::from(rest));
            if entry.kind.bytes().is_some_and(|bytes| std::fs::read(&path).is_ok_and(|old| old == bytes)) {
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            match &entry.kind {
                Kind::File(bytes) => crate::artifact::write_atomic(&path, bytes)?,
                Kind::Executable(bytes) => {
                    crate::artifact::write_atomic(&path, bytes)?;
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                            .with_context(|| format!("cannot make {} executable", path.display()))?;
                    }
                }
                Kind::Link(target) => {
                    let _ = std::fs::remove_file(&path);
                    symlink(Path::new(target), &path)?;
                }
            }
        }
        Ok(written)
    }
}

/// A symbolic link at `link` pointing to `target`.
pub fn symlink(target: &Path, link: &Path) -> Result<()> {
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("cannot create the link {} -> {}", link.display(), target.display()));
    #[cfg(not(unix))]
    bail!("{}: edgekit needs a symbolic link to {} here; create it by hand", link.display(), target.display());
}

/// What every entry point does before running `command`: refuses a command
/// that needs a project outside one (naming `init`), and says when the
/// project's guest library and pins are older or newer than the ones this
/// tool carries.
pub fn preflight(command: &crate::flags::Command) -> Result<()> {
    if !command.needs_project() {
        return Ok(());
    }
    let root = crate::project::root()?;
    let project = crate::project::Project::load(&root)?;
    if let Some(note) = staleness(&project)? {
        eprintln!("note: {note}");
    }
    Ok(())
}

/// A sentence when the project's edgekit files were written by another
/// edgekit than this one (older: run `update`; newer: install that one);
/// `None` when they match, or the project is edgekit's own repository.
pub fn staleness(project: &crate::project::Project) -> Result<Option<String>> {
    let made = &project.file.edgekit;
    let Some(version) = &made.version else { return Ok(None) };
    let ours = get().version;
    let library = library_version()?;
    let theirs_library = made.library.as_deref().unwrap_or("unknown");
    let older = newer(ours, version) || newer(&library, theirs_library);
    let newer_than_us = newer(version, ours) || newer(theirs_library, &library);
    let what = format!(
        "{}'s guest library {theirs_library} and pinned WASI were written by cargo-edgekit {version}; \
         this one is {ours} (library {library})",
        project.relative(&project.edgekit_dir())
    );
    Ok(if newer_than_us {
        Some(format!("{what}: install the newer cargo-edgekit the project was made with"))
    } else if older {
        Some(format!("{what}: run `{}` to bring them up to date", cmd("update")))
    } else {
        None
    })
}

/// The guest library's version this tool carries (`guest/Cargo.toml`).
pub fn library_version() -> Result<String> {
    let text = std::str::from_utf8(bundle()?.file("guest/Cargo.toml")?).context("guest/Cargo.toml is not UTF-8")?;
    let manifest: toml::Table = text.parse().context("guest/Cargo.toml is not valid TOML")?;
    manifest
        .get("package")
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .context("guest/Cargo.toml has no package version")
}

/// Whether version `a` is newer than `b`, comparing their dot-separated
/// numbers (`0.10.0` is newer than `0.9.1`); a part that is not a number
/// counts as 0.
pub fn newer(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split(['.', '-', '+']).take(3).map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a) > parts(b)
}
