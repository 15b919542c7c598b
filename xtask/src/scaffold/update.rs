//! `cargo edgekit update`: brings a team's project's copy of the guest
//! library and the pinned WASI (`.edgekit/guest`, `.edgekit/wit`) to the
//! ones the installed tool carries, records the tool's versions in the
//! project file, and prints what changed, file by file, with the lines
//! added and removed.
//!
//! Each of the two directories is written beside the old one and swapped in
//! with renames, so a failure leaves the old copy whole, never a mix.
//! Components hold no copy of the pins: their worlds resolve against
//! `.edgekit/wit` as it now is (copies an older edgekit wrote into a
//! component's `wit/deps/` are no longer read, and `tidy` names them).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::Shell;

use crate::artifact::write_atomic;
use crate::bundle::{self, Kind};
use crate::project::{self, Project};
use crate::report::{Table, group};
use crate::tool;
use crate::{wit, workspace};

impl crate::flags::Update {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let root = workspace::root();
        let changes = plan(&root)?;
        print!("{}", render(&changes));
        if changes.files.is_empty() && changes.versions.is_empty() {
            eprintln!("up to date with cargo-edgekit {}", tool::get().version);
            return Ok(());
        }
        if self.check {
            bail!(
                "{} is not up to date with this cargo-edgekit ({}): run `{}`",
                root.display(),
                tool::get().version,
                tool::cmd("update")
            );
        }
        apply(&root, &changes)?;
        eprintln!(
            "updated to cargo-edgekit {}: rebuild with `{}`, and review the change before you commit it",
            tool::get().version,
            tool::cmd("dist")
        );
        Ok(())
    }
}

/// What an update changes.
#[derive(Debug, Default)]
pub struct Changes {
    /// Per file (relative to the project's edgekit directory), what happens.
    pub files: Vec<(String, Change)>,
    /// `[edgekit]` keys and their old and new values.
    pub versions: Vec<(&'static str, String, String)>,
}

#[derive(Debug, PartialEq)]
pub enum Change {
    Added { lines: usize },
    Changed { added: usize, removed: usize },
    Removed { lines: usize },
}

/// Compares the project at `root` with what the tool carries.
pub fn plan(root: &Path) -> Result<Changes> {
    let project = Project::load(root)?;
    if project.is_edgekit_source() {
        bail!(
            "{} is edgekit's own repository: its guest library and pins are sources, not a copy to update \
             (a project made by `{}` records `version` under [edgekit])",
            root.join(project::FILE).display(),
            tool::INIT
        );
    }
    let bundle = bundle::get()?;
    let mut changes = Changes::default();
    for part in ["guest", "wit"] {
        let ours: BTreeMap<String, Vec<u8>> =
            bundle.under(part).map(|(path, entry)| (format!("{part}/{path}"), contents(&entry.kind))).collect();
        let theirs = on_disk(&project.edgekit_dir(), part)?;
        for (path, new) in &ours {
            match theirs.get(path) {
                None => changes.files.push((path.clone(), Change::Added { lines: lines(new).len() })),
                Some(old) if old != new => {
                    let (added, removed) = line_diff(old, new);
                    changes.files.push((path.clone(), Change::Changed { added, removed }));
                }
                Some(_) => {}
            }
        }
        for (path, old) in &theirs {
            if !ours.contains_key(path) {
                changes.files.push((path.clone(), Change::Removed { lines: lines(old).len() }));
            }
        }
    }
    let made = &project.file.edgekit;
    let library = bundle::library_version()?;
    for (key, old, new) in [
        ("version", made.version.clone().unwrap_or_default(), tool::get().version.to_string()),
        ("library", made.library.clone().unwrap_or_default(), library),
    ] {
        if old != new {
            changes.versions.push((key, old, new));
        }
    }
    Ok(changes)
}

/// A file's bytes, or a link's target (compared as text).
fn contents(kind: &Kind) -> Vec<u8> {
    match kind {
        Kind::File(bytes) | Kind::Executable(bytes) => bytes.to_vec(),
        Kind::Link(target) => format!("-> {target}").into_bytes(),
    }
}

/// The files and links under `<dir>/<part>`, keyed as the bundle keys them.
fn on_disk(dir: &Path, part: &str) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.join(part)];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        let key = path.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            found.insert(key, format!("-> {}", target.to_string_lossy()).into_bytes());
        } else if meta.is_dir() {
            for entry in std::fs::read_dir(&path).with_context(|| format!("cannot read {}", path.display()))? {
                stack.push(entry?.path());
            }
        } else {
            found.insert(key, std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?);
        }
    }
    Ok(found)
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect()
}

/// Lines added and removed from `old` to `new`, counted as multisets (a
/// moved line counts as neither).
fn line_diff(old: &[u8], new: &[u8]) -> (usize, usize) {
    let mut count: HashMap<&[u8], i64> = HashMap::new();
    for line in lines(old) {
        *count.entry(line).or_default() -= 1;
    }
    for line in lines(new) {
        *count.entry(line).or_default() += 1;
    }
    let added = count.values().filter(|n| **n > 0).sum::<i64>() as usize;
    let removed = -count.values().filter(|n| **n < 0).sum::<i64>() as usize;
    (added, removed)
}

/// The summary: one row per changed file, then a total, then the versions.
pub fn render(changes: &Changes) -> String {
    let mut table = Table::new(["file", "change", "lines"]).left(&[1]);
    let (mut plus, mut minus) = (0, 0);
    for (path, change) in &changes.files {
        let (what, p, m) = match change {
            Change::Added { lines } => ("added", *lines, 0),
            Change::Changed { added, removed } => ("changed", *added, *removed),
            Change::Removed { lines } => ("removed", 0, *lines),
        };
        plus += p;
        minus += m;
        table.row([
            format!("{}/{path}", project::VENDORED_DIR),
            what.to_string(),
            format!("+{} -{}", group(p), group(m)),
        ]);
    }
    let mut out = String::new();
    if !changes.files.is_empty() {
        table.row([
            format!("{} files", changes.files.len()),
            String::new(),
            format!("+{} -{}", group(plus), group(minus)),
        ]);
        out.push_str(&table.text());
    }
    for (key, old, new) in &changes.versions {
        let old = if old.is_empty() { "(none)" } else { old };
        out.push_str(&format!("{} [edgekit] {key}: {old} -> {new}\n", project::FILE));
    }
    out
}

/// Writes the tool's library and pins into the project at `root`, each
/// directory swapped in whole, then records the versions.
pub fn apply(root: &Path, changes: &Changes) -> Result<()> {
    let project = Project::load(root)?;
    let dir = project.edgekit_dir();
    let bundle = bundle::get()?;
    for part in ["guest", "wit"] {
        if !changes.files.iter().any(|(path, _)| path.starts_with(&format!("{part}/"))) {
            continue;
        }
        let fresh = dir.join(format!(".{part}.new"));
        let old = dir.join(format!(".{part}.old"));
        for stale in [&fresh, &old] {
            if stale.exists() {
                std::fs::remove_dir_all(stale).with_context(|| format!("cannot remove {}", stale.display()))?;
            }
        }
        bundle.extract(part, &fresh)?;
        let live = dir.join(part);
        if live.exists() {
            std::fs::rename(&live, &old).with_context(|| format!("cannot move {} aside", live.display()))?;
        }
        if let Err(e) = std::fs::rename(&fresh, &live) {
            let _ = std::fs::rename(&old, &live);
            return Err(e).with_context(|| format!("cannot move the new {} into place", live.display()));
        }
        let _ = std::fs::remove_dir_all(&old);
    }
    let wasi = wit::lines(&project.pins_dir())?.iter().map(|l| wit::line_version(l)).collect::<Result<Vec<_>>>()?;
    let library = bundle::library_version()?;
    let text = project::edit(root, |doc| {
        let edgekit = doc["edgekit"].as_table_mut().context("[edgekit] must be a table")?;
        edgekit["version"] = toml_edit::value(tool::get().version);
        edgekit["library"] = toml_edit::value(library.as_str());
        edgekit["wasi"] = toml_edit::value(wasi.iter().map(String::as_str).collect::<toml_edit::Array>());
        Ok(())
    })?;
    write_atomic(&root.join(project::FILE), text.as_bytes())?;
    Ok(())
}

/// A sentence when the project's edgekit files were written by another
/// edgekit than this one (older: run `update`; newer: install that one);
/// `None` when they match, or the project is edgekit's own repository.
pub fn staleness(project: &Project) -> Result<Option<String>> {
    let made = &project.file.edgekit;
    let Some(version) = &made.version else { return Ok(None) };
    let ours = tool::get().version;
    let library = bundle::library_version()?;
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
        Some(format!("{what}: run `{}` to bring them up to date", tool::cmd("update")))
    } else {
        None
    })
}

/// Whether version `a` is newer than `b`, comparing their dot-separated
/// numbers (`0.10.0` is newer than `0.9.1`); a part that is not a number
/// counts as 0.
pub fn newer(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split(['.', '-', '+']).take(3).map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a) > parts(b)
}
