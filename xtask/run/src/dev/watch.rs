//! What `dev` watches, and which of the watcher's events are changes.
//!
//! It watches the crate of each component it serves (`components/<c>/`,
//! with its world file under `wit/`), the pins (`wit/`), and two files at
//! the root (the project file, `edgekit.toml`, and `rust-toolchain.toml`).
//! It leaves out build output (`target/` anywhere), the copies of the pins
//! that the pipeline itself refreshes (`components/<c>/wit/deps/`), the
//! temporary files of atomic writes (`.<name>.tmp`), a component's tests
//! (`edgekit-test.rs`, not a source), and editors' swap and backup files.
//!
//! A path is a change only when its contents differ from the last ones seen
//! (a hash per file): saving a file unchanged, touching it, or the pipeline
//! rewriting something identically rebuilds nothing. Together with the
//! excluded outputs, that is what keeps a rebuild from triggering the next
//! one (the loop Spin's `spin watch` fell into, its issue #2637).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};

/// How long the watcher waits after the last event on a path before
/// reporting it: an editor's save (a temporary file, a rename, a
/// permissions change) arrives as one batch.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Files at the workspace root that decide a rebuild's outcome.
const ROOT_FILES: &[&str] = &[xtask::project::FILE, "rust-toolchain.toml"];

/// The watched sources of one `dev` session, and the contents last seen.
pub struct Sources {
    root: PathBuf,
    /// `components/<c>` of each component served or composed.
    crates: Vec<PathBuf>,
    /// The pins, `wit/` (`.edgekit/wit/` in a team's project).
    pins: PathBuf,
    seen: HashMap<PathBuf, u64>,
    _debouncer: Debouncer<RecommendedWatcher>,
}

impl Sources {
    /// Starts watching the crates `parts` of the workspace at `root`, its
    /// pins and root files; each batch of events goes to `events`.
    pub fn watch(
        root: &Path,
        parts: &[String],
        events: impl Fn(DebounceEventResult) + Send + 'static,
    ) -> Result<Sources> {
        let project = xtask::project::Project::load(root)?;
        let root = root.to_path_buf();
        let crates: Vec<PathBuf> = parts.iter().map(|p| project.components_dir().join(p)).collect();
        let pins = project.pins_dir();
        let mut debouncer = new_debouncer(DEBOUNCE, events).context("cannot start the file watcher")?;
        let watcher = debouncer.watcher();
        for dir in crates.iter().chain([&pins]) {
            watcher.watch(dir, RecursiveMode::Recursive).with_context(|| format!("cannot watch {}", dir.display()))?;
        }
        watcher
            .watch(&root, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch {}", root.display()))?;
        let mut sources = Sources { root, crates, pins, seen: HashMap::new(), _debouncer: debouncer };
        let mut files = Vec::new();
        for dir in sources.crates.iter().chain([&sources.pins]) {
            walk(dir, &mut files)?;
        }
        files.extend(ROOT_FILES.iter().map(|f| sources.root.join(f)));
        for file in files {
            if sources.is_source(&file)
                && let Some(hash) = contents(&file)
            {
                sources.seen.insert(file, hash);
            }
        }
        Ok(sources)
    }

    /// Whether `path` is one of the sources `dev` rebuilds on.
    pub fn is_source(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.root) else { return false };
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
        if ignored_name(name) {
            return false;
        }
        if rel.components().count() == 1 {
            return ROOT_FILES.contains(&name);
        }
        if rel.components().any(|c| c.as_os_str() == "target") {
            return false;
        }
        if path.starts_with(&self.pins) {
            return true;
        }
        self.crates.iter().any(|dir| {
            path.strip_prefix(dir)
                .is_ok_and(|inside| !inside.starts_with("wit/deps") && inside != Path::new("edgekit-test.rs"))
        })
    }

    /// The sources among `paths` whose contents changed since last seen
    /// (written, created or removed), relative to the root; remembers the
    /// new contents.
    pub fn changed(&mut self, paths: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        for path in paths {
            if !self.is_source(&path) || path.is_dir() {
                continue;
            }
            let now = contents(&path);
            let before = match now {
                Some(hash) => self.seen.insert(path.clone(), hash),
                None => self.seen.remove(&path),
            };
            if now != before {
                changed.push(path.strip_prefix(&self.root).unwrap_or(&path).to_path_buf());
            }
        }
        changed.sort();
        changed.dedup();
        changed
    }
}

/// Editors' swap, backup and probe files, and atomic writes' temporary files.
fn ignored_name(name: &str) -> bool {
    name.ends_with(".swp")
        || name.ends_with(".swo")
        || name.ends_with(".swx")
        || name.ends_with('~')
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
        || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// A hash of the file's contents; `None` when it cannot be read (removed,
/// or a directory).
fn contents(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some(hasher.finish())
}

/// Every file under `dir`, but not under a `target/`.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                walk(&path, files)?;
            }
        } else {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_swap_files_and_tests_are_not_sources() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for dir in ["components/edge-fn/src", "components/edge-fn/wit/deps", "wit/deps"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join(xtask::project::FILE), "").unwrap();
        let sources = Sources::watch(root, &["edge-fn".into()], |_| {}).unwrap();
        let yes = [
            "components/edge-fn/src/lib.rs",
            "components/edge-fn/Cargo.toml",
            "components/edge-fn/Cargo.lock",
            "components/edge-fn/wit/edge-fn.wit",
            "wit/deps/http.wit",
            "wit/workspace.wit",
            "edgekit.toml",
        ];
        let no = [
            "target/dist/edge-fn.wasm",
            "target/dist/.manifest.json.tmp",
            "components/edge-fn/target/release/x",
            "components/edge-fn/wit/deps/http.wit",
            "components/edge-fn/wit/deps/.http.wit.tmp",
            "components/edge-fn/edgekit-test.rs",
            "components/edge-fn/src/.lib.rs.swp",
            "components/edge-fn/src/lib.rs~",
            "components/edge-fn/src/.#lib.rs",
            "components/edge-fn/src/#lib.rs#",
            "components/edge-fn/src/4913",
            "components/greeter/src/lib.rs",
            "README.md",
            "Cargo.toml",
        ];
        for rel in yes {
            assert!(sources.is_source(&root.join(rel)), "{rel} should be a source");
        }
        for rel in no {
            assert!(!sources.is_source(&root.join(rel)), "{rel} should not be a source");
        }
    }

    #[test]
    fn only_new_contents_are_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let lib = root.join("components/edge-fn/src/lib.rs");
        std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
        std::fs::create_dir_all(root.join("wit")).unwrap();
        std::fs::write(root.join(xtask::project::FILE), "").unwrap();
        std::fs::write(&lib, "v1").unwrap();
        let mut sources = Sources::watch(root, &["edge-fn".into()], |_| {}).unwrap();
        assert!(sources.changed([lib.clone()]).is_empty(), "unchanged contents are no change");
        std::fs::write(&lib, "v2").unwrap();
        assert_eq!(sources.changed([lib.clone(), lib.clone()]), [PathBuf::from("components/edge-fn/src/lib.rs")]);
        assert!(sources.changed([lib.clone()]).is_empty());
        let new = root.join("components/edge-fn/src/new.rs");
        std::fs::write(&new, "").unwrap();
        assert_eq!(sources.changed([new.clone()]).len(), 1, "a new file is a change");
        std::fs::remove_file(&new).unwrap();
        assert_eq!(sources.changed([new.clone()]).len(), 1, "a removed file is a change");
        let swap = root.join("components/edge-fn/src/.lib.rs.swp");
        std::fs::write(&swap, "x").unwrap();
        assert!(sources.changed([swap]).is_empty());
    }
}
