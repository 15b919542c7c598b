//! The files the running tool carries (`tool.rs` says which tool): every
//! template, the guest library, the pinned WASI, edgekit's project file and
//! the wasmCloud lattice's sources, as `edgekit_bundle` lists and packs
//! them. `cargo xtask` reads them from its checkout when first asked; the
//! installed `cargo edgekit` decodes the archive inside it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

pub use edgekit_bundle::{Entry, Kind};

use crate::tool::{self, Source};

static BUNDLE: OnceLock<Bundle> = OnceLock::new();

/// The files the tool carries, relative to an edgekit checkout's root.
pub struct Bundle {
    pub entries: Vec<Entry>,
}

/// The tool's bundle, read or decoded once.
pub fn get() -> Result<&'static Bundle> {
    if let Some(bundle) = BUNDLE.get() {
        return Ok(bundle);
    }
    let entries = match &tool::get().bundle {
        Source::Checkout => {
            let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let root = crate::project::find_root().unwrap_or(here);
            edgekit_bundle::collect(&root)
                .with_context(|| format!("cannot read edgekit's templates and library from {}", root.display()))?
        }
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

/// The guest library's version this tool carries (`guest/Cargo.toml`).
pub fn library_version() -> Result<String> {
    let text = std::str::from_utf8(get()?.file("guest/Cargo.toml")?).context("guest/Cargo.toml is not UTF-8")?;
    let manifest: toml::Table = text.parse().context("guest/Cargo.toml is not valid TOML")?;
    manifest
        .get("package")
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .context("guest/Cargo.toml has no package version")
}
