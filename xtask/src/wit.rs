//! The WIT side of the workspace. Two kinds of WIT directory, parsed the same
//! way ([`Wit::load`]):
//!
//! - the workspace's pins, `wit/`: the vendored WASI under `wit/deps/` (one
//!   pinned version) and `wit/workspace.wit`, the worlds artifacts are checked
//!   against but no component is written against;
//! - a component's own `components/<name>/wit/`: its world file and copies of
//!   exactly the pinned WASI packages that world needs, so the component's
//!   directory builds alone when a team copies it out.
//!
//! [`needed_deps`] works out which pinned files a component needs, and
//! [`sync`] / [`stale_copies`] keep its copies equal to the pins.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wit_parser::{PackageId, PackageName, Resolve, UnresolvedPackageGroup, WorldId, WorldItem, WorldKey};

/// A parsed WIT directory: its own package and everything under `deps/`.
pub struct Wit {
    pub dir: PathBuf,
    pub resolve: Resolve,
    /// The directory's own package, which holds its worlds.
    pub package: PackageId,
}

impl Wit {
    /// Parses `dir` and its `deps/`. A syntax or resolution error names the
    /// file, line and column (wit-parser's message) and says what to do.
    pub fn load(dir: &Path) -> Result<Wit> {
        let mut resolve = Resolve::default();
        let (package, _sources) = match resolve.push_dir(dir) {
            Ok(parsed) => parsed,
            // wit-parser keeps file, line and column aside; render them in.
            Err(e) => bail!(
                "invalid WIT in {}: fix the file and line named below\n{}",
                dir.display(),
                resolve.render_error(&e)
            ),
        };
        Ok(Wit { dir: dir.to_path_buf(), resolve, package })
    }

    /// The names of the worlds in the root package, sorted.
    pub fn world_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.resolve.packages[self.package].worlds.keys().cloned().collect();
        names.sort();
        names
    }

    /// Looks up the world a component names in its Cargo.toml (`manifest`).
    pub fn world(&self, name: &str, manifest: &Path) -> Result<WorldId> {
        match self.resolve.packages[self.package].worlds.get(name) {
            Some(id) => Ok(*id),
            None => bail!(
                "{} names world `{name}`, which does not exist in {} (worlds: {}); \
                 fix `world` under `[package.metadata.component.target]` or declare `world {name}` in {}",
                manifest.display(),
                self.dir.display(),
                self.world_names().join(", "),
                self.dir.join(format!("{name}.wit")).display(),
            ),
        }
    }

    /// The fully qualified name of a world, e.g. `edgekit:components/greeter@0.1.0`.
    pub fn world_id(&self, world: WorldId) -> String {
        let w = &self.resolve.worlds[world];
        let pkg = &self.resolve.packages[w.package.unwrap()].name;
        let version = pkg.version.as_ref().map(|v| format!("@{v}")).unwrap_or_default();
        format!("{}:{}/{}{version}", pkg.namespace, pkg.name, w.name)
    }

    /// The WASI 0.2.x version vendored in `deps/` (the version of
    /// `wasi:io`, which every other WASI package depends on).
    pub fn wasi_version(&self) -> Result<String> {
        self.resolve
            .package_names
            .keys()
            .find(|p| p.namespace == "wasi" && p.name == "io")
            .and_then(|p| p.version.as_ref())
            .map(|v| v.to_string())
            .with_context(|| format!("{}/deps has no versioned wasi:io package", self.dir.display()))
    }
}

/// The names a world imports and exports: `ns:pkg/iface@ver` for interfaces,
/// the plain name for functions and inline items.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Surface {
    pub imports: BTreeSet<String>,
    pub exports: BTreeSet<String>,
}

impl Surface {
    pub fn of(resolve: &Resolve, world: WorldId) -> Surface {
        let w = &resolve.worlds[world];
        let names = |items: &wit_parser::IndexMap<WorldKey, WorldItem>| {
            items
                .iter()
                // Type imports (`use` in a world) are not instance imports.
                .filter(|(_, item)| !matches!(item, WorldItem::Type { .. }))
                .map(|(key, _)| resolve.name_world_key(key))
                .collect()
        };
        Surface { imports: names(&w.imports), exports: names(&w.exports) }
    }

    /// The WASI versions this surface uses, e.g. `{"0.2.12"}`.
    pub fn wasi_versions(&self) -> BTreeSet<String> {
        self.imports
            .iter()
            .chain(&self.exports)
            .filter(|n| n.starts_with("wasi:"))
            .filter_map(|n| n.rsplit_once('@').map(|(_, v)| v.to_string()))
            .collect()
    }
}

/// The directory holding a component's own WIT.
pub fn component_dir(component_dir: &Path) -> PathBuf {
    component_dir.join("wit")
}

/// `namespace:name`, without the version: what a pinned file provides.
fn unversioned(name: &PackageName) -> String {
    format!("{}:{}", name.namespace, name.name)
}

/// Parses one `.wit` file, naming it on error.
fn parse_file(path: &Path) -> Result<UnresolvedPackageGroup> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    UnresolvedPackageGroup::parse(path, &text)
        .map_err(|(map, e)| anyhow::anyhow!("invalid WIT in {}: fix the file\n{}", path.display(), e.render(&map)))
}

/// The packages a group uses from outside itself (nested packages count as
/// inside).
fn foreign(group: &UnresolvedPackageGroup) -> BTreeSet<String> {
    let own: BTreeSet<String> =
        std::iter::once(&group.main).chain(&group.nested).map(|p| unversioned(&p.name)).collect();
    std::iter::once(&group.main)
        .chain(&group.nested)
        .flat_map(|p| p.foreign_deps.keys().map(unversioned))
        .filter(|n| !own.contains(n))
        .collect()
}

/// The `.wit` files directly in `dir`, sorted.
pub fn wit_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "wit") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The files of `<pins>/deps/` that the world files in `wit_dir` need:
/// every package they use, and every package those use in turn (a package
/// file must resolve whole, so a package one of its worlds uses comes too).
pub fn needed_deps(pins: &Path, wit_dir: &Path) -> Result<BTreeSet<String>> {
    let deps_dir = pins.join("deps");
    let mut provides: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for file in wit_files(&deps_dir)? {
        let group = parse_file(&file)?;
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        provides.insert(unversioned(&group.main.name), (name, foreign(&group)));
    }
    // The world files are one package: parse them together.
    let own = UnresolvedPackageGroup::parse_dir(wit_dir)
        .with_context(|| format!("invalid WIT in {}: fix the file named below", wit_dir.display()))?;
    let mut wanted: Vec<String> = foreign(&own).into_iter().collect();
    let mut needed = BTreeSet::new();
    let mut seen = BTreeSet::new();
    while let Some(package) = wanted.pop() {
        if !seen.insert(package.clone()) {
            continue;
        }
        // A package the pins do not vendor is declared in the world file
        // itself (wasi:config in proxy.wit) or is an error the parser names.
        if let Some((file, uses)) = provides.get(&package) {
            needed.insert(file.clone());
            wanted.extend(uses.iter().cloned());
        }
    }
    Ok(needed)
}

/// What `wit_dir/deps/` should hold: file name to the pinned bytes.
fn expected_deps(pins: &Path, wit_dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    needed_deps(pins, wit_dir)?
        .into_iter()
        .map(|name| {
            let path = pins.join("deps").join(&name);
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok((name, bytes))
        })
        .collect()
}

/// The files of `wit_dir/deps/` that are not what the pins say they should
/// be: missing, different, or not needed. Empty when the copies are right.
pub fn stale_copies(pins: &Path, wit_dir: &Path) -> Result<Vec<PathBuf>> {
    let expected = expected_deps(pins, wit_dir)?;
    let deps = wit_dir.join("deps");
    let mut stale = Vec::new();
    for (name, bytes) in &expected {
        let path = deps.join(name);
        if std::fs::read(&path).ok().as_ref() != Some(bytes) {
            stale.push(path);
        }
    }
    for file in wit_files(&deps)? {
        if !expected.contains_key(&*file.file_name().unwrap().to_string_lossy()) {
            stale.push(file);
        }
    }
    Ok(stale)
}

/// Makes `wit_dir/deps/` hold exactly the pinned files its worlds need;
/// returns the files it wrote or removed.
pub fn sync(pins: &Path, wit_dir: &Path) -> Result<Vec<PathBuf>> {
    let expected = expected_deps(pins, wit_dir)?;
    let stale = stale_copies(pins, wit_dir)?;
    let deps = wit_dir.join("deps");
    for path in &stale {
        match expected.get(&*path.file_name().unwrap().to_string_lossy()) {
            Some(bytes) => {
                std::fs::create_dir_all(&deps).with_context(|| format!("cannot create {}", deps.display()))?;
                crate::artifact::write_atomic(path, bytes)?;
            }
            None => std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?,
        }
    }
    if expected.is_empty() && deps.is_dir() && wit_files(&deps)?.is_empty() {
        let _ = std::fs::remove_dir(&deps);
    }
    Ok(stale)
}
