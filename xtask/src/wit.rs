//! The WIT side of the workspace. Two kinds of WIT directory, parsed the same
//! way ([`Wit::load`]):
//!
//! - the workspace's pins, one directory per pinned WASI line: `wit/` (WASI
//!   0.2, vendored under `wit/deps/`) and `wit/p3/` (WASI 0.3, under
//!   `wit/p3/deps/`), each with a `workspace.wit` holding the worlds artifacts
//!   of that line are checked against but no component is written against;
//! - a component's own `components/<name>/wit/`: its world file and copies of
//!   exactly the pinned WASI packages that world needs, so the component's
//!   directory builds alone when a team copies it out.
//!
//! [`line_of`] works out which line a component's world uses (from the
//! versions its world files name), [`needed_deps`] which of that line's
//! pinned files it needs, and [`sync`] / [`stale_copies`] keep its copies
//! equal to them.

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

    /// The WASI version vendored in `deps/` (`0.2.12`, `0.3.0`): the one
    /// version every `wasi:*` package there is at.
    pub fn wasi_version(&self) -> Result<String> {
        let versions: BTreeSet<String> = self
            .resolve
            .package_names
            .keys()
            .filter(|p| p.namespace == "wasi")
            .filter_map(|p| p.version.as_ref().map(|v| v.to_string()))
            .collect();
        match versions.len() {
            1 => Ok(versions.into_iter().next().unwrap()),
            0 => bail!("{}/deps has no versioned wasi:* package", self.dir.display()),
            _ => bail!(
                "{}/deps mixes WASI versions {versions:?}: a pinned line vendors one release; \
                 re-vendor it with `{}`",
                self.dir.display(),
                crate::tool::cmd("wit --bump <version>")
            ),
        }
    }
}

/// The workspace's pinned WASI lines, parsed: `wit/` (0.2) and `wit/p3/`
/// (0.3), in that order.
pub struct Pins {
    pub lines: Vec<Wit>,
}

impl Pins {
    /// Parses every line under `pins` (the workspace's `wit/`).
    pub fn load(pins: &Path) -> Result<Pins> {
        Ok(Pins { lines: lines(pins)?.iter().map(|dir| Wit::load(dir)).collect::<Result<_>>()? })
    }

    /// The 0.2 line, `wit/` itself (what the 0.2 compositions are checked against).
    pub fn first(&self) -> &Wit {
        &self.lines[0]
    }

    /// The line that pins `version`, if any.
    pub fn line(&self, version: &str) -> Option<&Wit> {
        self.lines.iter().find(|l| l.wasi_version().is_ok_and(|v| v == version))
    }

    /// The pinned versions, one per line, e.g. `["0.2.12", "0.3.0"]`.
    pub fn versions(&self) -> Result<Vec<String>> {
        self.lines.iter().map(Wit::wasi_version).collect()
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

    /// The WASI line this surface targets: its one WASI version (`0.2.12`,
    /// `0.3.0`; extensions with their own version line, such as
    /// `wasi:config/store@0.2.0-rc.1` and `wasi:keyvalue/*@0.2.0-draft`,
    /// left out), or `none` for a component
    /// that uses no WASI. The drift check makes sure there is one at most;
    /// were there more, they are joined with `+`.
    pub fn wasi_line(&self) -> String {
        let versions: Vec<String> = self
            .imports
            .iter()
            .chain(&self.exports)
            // The extensions of `pipeline/drift.rs`'s `EXTENSIONS`, by package.
            .filter(|n| n.starts_with("wasi:") && !n.starts_with("wasi:config/") && !n.starts_with("wasi:keyvalue/"))
            .filter_map(|n| n.rsplit_once('@').map(|(_, v)| v.to_string()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if versions.is_empty() { "none".to_string() } else { versions.join("+") }
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

/// The directories of the pinned WASI lines under `pins` (the workspace's
/// `wit/`): `pins` itself and each subdirectory with a `deps/` (`wit/p3/`).
pub fn lines(pins: &Path) -> Result<Vec<PathBuf>> {
    let mut lines = vec![pins.to_path_buf()];
    let mut more = Vec::new();
    for entry in std::fs::read_dir(pins).with_context(|| format!("cannot read {}", pins.display()))? {
        let path = entry?.path();
        if path.is_dir() && path.join("deps").is_dir() {
            more.push(path);
        }
    }
    more.sort();
    lines.extend(more);
    Ok(lines)
}

/// The WASI version a line directory vendors, read from the package names
/// of its `deps/` files (cheaper than resolving them).
pub fn line_version(line: &Path) -> Result<String> {
    let mut versions = BTreeSet::new();
    for file in wit_files(&line.join("deps"))? {
        let group = parse_file(&file)?;
        if group.main.name.namespace == "wasi"
            && let Some(version) = &group.main.name.version
        {
            versions.insert(version.to_string());
        }
    }
    match versions.len() {
        1 => Ok(versions.into_iter().next().unwrap()),
        _ => bail!(
            "{}/deps must vendor exactly one WASI release, found {versions:?}; \
             re-vendor it with `{}`",
            line.display(),
            crate::tool::cmd("wit --bump <version>")
        ),
    }
}

/// The WASI versions the world files in `wit_dir` name for packages they
/// do not declare themselves (so not `wasi:config`, which proxy.wit declares).
fn world_wasi_versions(wit_dir: &Path) -> Result<BTreeSet<String>> {
    let own = UnresolvedPackageGroup::parse_dir(wit_dir)
        .with_context(|| format!("invalid WIT in {}: fix the file named below", wit_dir.display()))?;
    let declared: BTreeSet<String> =
        std::iter::once(&own.main).chain(&own.nested).map(|p| unversioned(&p.name)).collect();
    Ok(std::iter::once(&own.main)
        .chain(&own.nested)
        .flat_map(|p| p.foreign_deps.keys())
        .filter(|n| n.namespace == "wasi" && !declared.contains(&unversioned(n)))
        .filter_map(|n| n.version.as_ref().map(|v| v.to_string()))
        .collect())
}

/// The line (a directory from [`lines`]) whose pinned WASI the world files
/// in `wit_dir` use. A world that uses no WASI gets the first line, whose
/// files it needs none of. Fails when the world names a version no line
/// pins, or both lines.
pub fn line_of(pins: &Path, wit_dir: &Path) -> Result<PathBuf> {
    let lines = lines(pins)?;
    let used = world_wasi_versions(wit_dir)?;
    let pinned: Vec<(PathBuf, String)> =
        lines.iter().map(|l| Ok((l.clone(), line_version(l)?))).collect::<Result<_>>()?;
    let describe = || pinned.iter().map(|(l, v)| format!("{v} in {}/deps", l.display())).collect::<Vec<_>>().join(", ");
    match used.len() {
        0 => Ok(lines[0].clone()),
        1 => {
            let version = used.iter().next().unwrap();
            match pinned.iter().find(|(_, v)| v == version) {
                Some((line, _)) => Ok(line.clone()),
                None => bail!(
                    "{} names WASI {version}, which the workspace does not pin (it pins {}); \
                     move the versions in the world file to a pinned one",
                    wit_dir.display(),
                    describe()
                ),
            }
        }
        _ => bail!(
            "{} names WASI {used:?}: a component targets one WASI line, never both (the workspace \
             pins {}); move every `wasi:*` reference in the world file to one of them",
            wit_dir.display(),
            describe()
        ),
    }
}

/// The files of the pinned line's `deps/` (the line [`line_of`] picks under
/// `pins`, the workspace's `wit/`) that the world files in `wit_dir` need:
/// every package they use, and every package those use in turn (a package
/// file must resolve whole, so a package one of its worlds uses comes too).
pub fn needed_deps(pins: &Path, wit_dir: &Path) -> Result<BTreeSet<String>> {
    let deps_dir = line_of(pins, wit_dir)?.join("deps");
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
    let line = line_of(pins, wit_dir)?;
    needed_deps(pins, wit_dir)?
        .into_iter()
        .map(|name| {
            let path = line.join("deps").join(&name);
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
