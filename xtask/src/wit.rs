//! The WIT side of the project. Two kinds of WIT directory:
//!
//! - the project's pins, one directory per pinned WASI line: `wit/` (WASI
//!   0.2, vendored under `wit/deps/`) and `wit/p3/` (WASI 0.3, under
//!   `wit/p3/deps/`), each with a `workspace.wit` holding the worlds
//!   artifacts of that line are checked against ([`Wit::load`]). The
//!   proposals with their own version line ([`EXTENSIONS`]) are written out
//!   once, in `wit/deps/`, and linked from `wit/p3/deps/`;
//! - a component's own `components/<name>/wit/`: its world files and
//!   nothing else, one world per artifact (one per WASI line it is built
//!   for), resolved against the pins ([`Pins::component`]): every pinned
//!   package of every line is loaded first, then the component's package,
//!   whose `wasi:*` references find the packages already there. No
//!   component holds a copy of a WASI package.
//!
//! [`Wit::world_line`] works out which line one world uses, from the
//! versions of the `wasi:*` packages it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wit_parser::{PackageId, PackageName, Resolve, SourceMap, UnresolvedPackageGroup, WorldId, WorldItem, WorldKey};

/// WASI proposals with their own version line that edge hosts offer beside
/// either line's http world: runtime configuration (wasmtime's
/// wasmtime-wasi-config, Spin, wasmCloud) and key-value storage
/// (wasmtime-wasi-keyvalue's `store`, `atomics` and `batch`, `wasmtime serve
/// -Skeyvalue`, Spin's and wasmCloud's key-value stores). Each is written
/// out once, in the 0.2 line's `deps/` (`config.wit`, `keyvalue.wit`), and
/// linked from the 0.3 line's. Their versions are no line's: the pins'
/// versions ([`line_version`], [`Wit::wasi_version`]), a world's line
/// ([`Wit::world_line`]) and the drift check (`pipeline/drift.rs`) leave
/// them out, and `wit --bump` leaves their files alone. A world that uses
/// one declares the import; the round-trip refuses an artifact importing
/// one its world does not declare.
pub const EXTENSIONS: &[&str] = &["wasi:config@0.2.0-rc.1", "wasi:keyvalue@0.2.0-draft"];

/// Whether `name`, an interface (`wasi:keyvalue/store@0.2.0-draft`) or a
/// package (`wasi:keyvalue@0.2.0-draft`), belongs to one of [`EXTENSIONS`].
pub fn is_extension(name: &str) -> bool {
    let Some((path, version)) = name.rsplit_once('@') else { return false };
    let package = path.split('/').next().unwrap_or(path);
    EXTENSIONS.contains(&format!("{package}@{version}").as_str())
}

/// [`is_extension`] for a parsed package name.
pub fn is_extension_package(name: &PackageName) -> bool {
    name.version.as_ref().is_some_and(|v| is_extension(&format!("{}:{}@{v}", name.namespace, name.name)))
}

/// A parsed WIT directory: its own package and everything it resolves
/// against.
pub struct Wit {
    pub dir: PathBuf,
    pub resolve: Resolve,
    /// The directory's own package, which holds its worlds.
    pub package: PackageId,
}

impl Wit {
    /// Parses a pinned line's directory and its `deps/`. A syntax or
    /// resolution error names the file, line and column (wit-parser's
    /// message) and says what to do.
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
                 fix the world's name in the manifest or declare `world {name}` in {}",
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
    /// version every `wasi:*` package there is at, [`EXTENSIONS`] left out.
    pub fn wasi_version(&self) -> Result<String> {
        let versions: BTreeSet<String> = self
            .resolve
            .package_names
            .keys()
            .filter(|p| p.namespace == "wasi" && !is_extension_package(p))
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

    /// The WASI version `world` uses (`0.2.12`, `0.3.0`), or `None` for a
    /// world that uses no WASI (the greeter). [`EXTENSIONS`] have their own
    /// version line and are left out. Fails when the world uses two: an
    /// artifact targets one line, never both.
    pub fn world_line(&self, world: WorldId) -> Result<Option<String>> {
        let w = &self.resolve.worlds[world];
        let mut versions = BTreeSet::new();
        for item in w.imports.values().chain(w.exports.values()) {
            let WorldItem::Interface { id, .. } = item else { continue };
            let Some(package) = self.resolve.interfaces[*id].package else { continue };
            let name = &self.resolve.packages[package].name;
            if name.namespace == "wasi"
                && !is_extension_package(name)
                && let Some(version) = &name.version
            {
                versions.insert(version.to_string());
            }
        }
        match versions.len() {
            0 => Ok(None),
            1 => Ok(versions.into_iter().next()),
            _ => bail!(
                "world `{}` in {} names WASI {versions:?}: an artifact targets one WASI line, never both; \
                 move every `wasi:*` reference in {} to one of them",
                w.name,
                self.dir.display(),
                self.dir.join(format!("{}.wit", w.name)).display(),
            ),
        }
    }
}

/// The project's pinned WASI lines, parsed: `wit/` (0.2) and `wit/p3/`
/// (0.3), in that order, and every package they vendor in one [`Resolve`]
/// that components' worlds resolve against.
pub struct Pins {
    pub lines: Vec<Wit>,
    /// Every pinned package of every line, each once.
    packages: Resolve,
}

impl Pins {
    /// Parses every line under `pins` (the project's `wit/`).
    pub fn load(pins: &Path) -> Result<Pins> {
        let dirs = lines(pins)?;
        let lines = dirs.iter().map(|dir| Wit::load(dir)).collect::<Result<_>>()?;
        Ok(Pins { lines, packages: packages(&dirs)? })
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

    /// A component's own WIT (`wit_dir`: its world files, nothing else),
    /// resolved against the pins. A world file naming a WASI version no
    /// line pins is refused naming the file and the pinned versions; a
    /// syntax or resolution error names the file, line and column.
    pub fn component(&self, wit_dir: &Path) -> Result<Wit> {
        let mut map = SourceMap::default();
        map.push_dir(wit_dir).with_context(|| format!("cannot read the world files in {}", wit_dir.display()))?;
        let group = match map.parse() {
            Ok(group) => group,
            Err((map, e)) => {
                bail!("invalid WIT in {}: fix the file and line named below\n{}", wit_dir.display(), e.render(&map))
            }
        };
        self.refuse_unpinned(wit_dir, &group)?;
        let mut resolve = self.packages.clone();
        let package = match resolve.push_group(group) {
            Ok(package) => package,
            Err(e) => bail!(
                "invalid WIT in {}: fix the file and line named below\n{}",
                wit_dir.display(),
                resolve.render_error(&e.into())
            ),
        };
        Ok(Wit { dir: wit_dir.to_path_buf(), resolve, package })
    }

    /// Fails when `group` (a component's world files) names a `wasi:*`
    /// version no line pins and no extension has.
    fn refuse_unpinned(&self, wit_dir: &Path, group: &UnresolvedPackageGroup) -> Result<()> {
        let pinned = self.versions()?;
        let declared: BTreeSet<String> =
            std::iter::once(&group.main).chain(&group.nested).map(|p| unversioned(&p.name)).collect();
        let unpinned: BTreeSet<String> = std::iter::once(&group.main)
            .chain(&group.nested)
            .flat_map(|p| p.foreign_deps.keys())
            .filter(|n| n.namespace == "wasi" && !declared.contains(&unversioned(n)) && !is_extension_package(n))
            .filter_map(|n| n.version.as_ref().map(|v| v.to_string()))
            .filter(|v| !pinned.contains(v))
            .collect();
        if let Some(version) = unpinned.first() {
            let lines: Vec<String> =
                pinned.iter().zip(&self.lines).map(|(v, l)| format!("{v} in {}/deps", l.dir.display())).collect();
            bail!(
                "{} names WASI {version}, which the project does not pin (it pins {}); \
                 move the versions in the world file to a pinned one",
                wit_dir.display(),
                lines.join(", ")
            );
        }
        Ok(())
    }
}

/// Every package under the `deps/` of the lines in `dirs`, in one
/// [`Resolve`]. A package that two lines hold (an extension, linked from
/// the 0.3 line's `deps/` to the 0.2 line's) is loaded once; two different
/// texts for one package are refused.
fn packages(dirs: &[PathBuf]) -> Result<Resolve> {
    let mut groups: BTreeMap<String, (PathBuf, String, UnresolvedPackageGroup)> = BTreeMap::new();
    for dir in dirs {
        for file in wit_files(&dir.join("deps"))? {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let group = UnresolvedPackageGroup::parse(&file, &text).map_err(|(map, e)| {
                anyhow::anyhow!("invalid WIT in {}: fix the file\n{}", file.display(), e.render(&map))
            })?;
            let name = group.main.name.to_string();
            match groups.get(&name) {
                Some((_, seen, _)) if *seen == text => {}
                Some((other, _, _)) => bail!(
                    "{name} is vendored twice, differently, in {} and {}: keep one, and link the other line's \
                     deps/ to it",
                    other.display(),
                    file.display()
                ),
                None => {
                    groups.insert(name, (file, text, group));
                }
            }
        }
    }
    let mut groups = groups.into_values().map(|(_, _, group)| group);
    let mut resolve = Resolve::default();
    if let Some(first) = groups.next()
        && let Err(e) = resolve.push_groups(first, groups.collect())
    {
        let dirs: Vec<String> = dirs.iter().map(|d| d.join("deps").display().to_string()).collect();
        bail!("the pinned WASI in {} does not resolve\n{}", dirs.join(" and "), resolve.render_error(&e.into()));
    }
    Ok(resolve)
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
    /// `0.3.0`; [`EXTENSIONS`] left out), or `none` for a component that uses
    /// no WASI. The drift check makes sure there is one at most; were there
    /// more, they are joined with `+`.
    pub fn wasi_line(&self) -> String {
        let versions: Vec<String> = self
            .imports
            .iter()
            .chain(&self.exports)
            .filter(|n| n.starts_with("wasi:") && !is_extension(n))
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

/// The cargo feature, and key of a component's lines table, of a WASI
/// version's line: `p2` for 0.2.x, `p3` for 0.3.x.
pub fn line_key(version: &str) -> String {
    format!("p{}", version.split('.').nth(1).unwrap_or(version))
}

/// `namespace:name`, without the version: what a pinned file provides.
fn unversioned(name: &PackageName) -> String {
    format!("{}:{}", name.namespace, name.name)
}

/// The `.wit` files directly in `dir` (links to files included), sorted.
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

/// What a component's `wit/` holds besides its world files: anything that
/// is not a `.wit` file directly in it (a `deps/` directory of copies, a
/// stray file), except `deps` as a symbolic link, which a crate that
/// generates its own bindings keeps to the pins (tidy checks its target).
pub fn not_world_files(wit_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut stray = Vec::new();
    if !wit_dir.is_dir() {
        return Ok(stray);
    }
    for entry in std::fs::read_dir(wit_dir).with_context(|| format!("cannot read {}", wit_dir.display()))? {
        let path = entry?.path();
        let world_file = path.is_file() && !path.is_symlink() && path.extension().is_some_and(|e| e == "wit");
        let deps_link = path.file_name().is_some_and(|n| n == "deps") && path.is_symlink();
        if !world_file && !deps_link {
            stray.push(path);
        }
    }
    stray.sort();
    Ok(stray)
}

/// The directories of the pinned WASI lines under `pins` (the project's
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
/// of its `deps/` files (cheaper than resolving them), [`EXTENSIONS`] left
/// out.
pub fn line_version(line: &Path) -> Result<String> {
    let mut versions = BTreeSet::new();
    for file in wit_files(&line.join("deps"))? {
        let name = package_of(&file)?;
        if name.namespace == "wasi"
            && !is_extension_package(&name)
            && let Some(version) = &name.version
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

/// The package a `.wit` file declares.
pub fn package_of(file: &Path) -> Result<PackageName> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let group = UnresolvedPackageGroup::parse(file, &text)
        .map_err(|(map, e)| anyhow::anyhow!("invalid WIT in {}: fix the file\n{}", file.display(), e.render(&map)))?;
    Ok(group.main.name)
}
