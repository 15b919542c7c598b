//! The WIT side of the workspace: parses `wit/` (the worlds and the vendored
//! WASI packages under `wit/deps/`) and answers questions about worlds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wit_parser::{PackageId, Resolve, WorldId, WorldItem, WorldKey};

/// The parsed `wit/` directory.
pub struct Wit {
    pub dir: PathBuf,
    pub resolve: Resolve,
    /// The root package (`edgekit:components`), which holds every world.
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
        let mut names: Vec<String> =
            self.resolve.packages[self.package].worlds.keys().cloned().collect();
        names.sort();
        names
    }

    /// Looks up the world a component names in its Cargo.toml (`manifest`).
    pub fn world(&self, name: &str, manifest: &Path) -> Result<WorldId> {
        match self.resolve.packages[self.package].worlds.get(name) {
            Some(id) => Ok(*id),
            None => bail!(
                "{} names world `{name}`, which does not exist in {} (worlds: {}); \
                 fix `world` under `[package.metadata.component.target]` or add `world {name}` to {}",
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

    /// The WASI 0.2.x version vendored in `wit/deps/` (the version of
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
