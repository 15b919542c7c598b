//! The project as every wing sees it: where things are built, and the guest
//! components with what each builds: an artifact per WASI line it names in
//! its lines table (`[package.metadata.edgekit.lines]`, `p2 = "http-api"`,
//! `p3 = "http-api-p3"`), each checked against its world, or the one
//! artifact of a crate of one world. Where things live comes from the
//! project file (`project.rs`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wit_parser::WorldId;

use crate::project::Project;
use crate::wit::Wit;

/// The Rust target guests are built for: a bare core module whose only
/// imports are the WIT functions the code calls (see ARCHITECTURE.md).
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The cargo profile guests are built with: each component's own
/// `[profile.release]`, set for size.
pub const WASM_PROFILE: &str = "release";

/// The project's root (see [`crate::project::find_root`]): the nearest
/// directory with an `edgekit.toml` at or above `CARGO_MANIFEST_DIR` when
/// cargo set it, else at or above the current directory. Outside any, the
/// current directory, whose missing project file the commands then name
/// (the entry points refuse to run a command there first).
pub fn root() -> PathBuf {
    crate::project::find_root().unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

/// The variables cargo sets for the program it runs (`cargo run`, `cargo
/// test`) to describe that program's own package: `CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_NAME` and the like, and `OUT_DIR`.
///
/// Every cargo that xtask or its tests start goes without them
/// ([`from_shell`]), so it sees the environment a cargo started from a
/// shell sees. With them, it reruns each build script that reads one (ring's
/// reads `CARGO_PKG_NAME` and `OUT_DIR`) and rebuilds what depends on it
/// (rustls, wasmtime-wasi-http, the OCI client) under the same names, and
/// the next `cargo test` from a shell rebuilds it all back.
pub fn package_env() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(key, _)| key)
        .filter(|key| {
            let key = key.to_string_lossy();
            key.starts_with("CARGO_PKG_")
                || ["CARGO_MANIFEST_DIR", "CARGO_MANIFEST_PATH", "CARGO_CRATE_NAME", "CARGO_BIN_NAME", "OUT_DIR"]
                    .contains(&&*key)
        })
        .collect()
}

/// `cargo` (a command that starts it) without [`package_env`].
pub fn from_shell(cargo: xshell::Cmd<'_>) -> xshell::Cmd<'_> {
    package_env().into_iter().fold(cargo, |cargo, key| cargo.env_remove(key))
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the root when
/// relative), else `<root>/target`. Where the guests are built and the
/// wings' binaries live; `dist` writes `<root>/target/dist` regardless.
pub fn target_dir(root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    if target.is_relative() { root.join(target) } else { target }
}

/// Where cargo puts one of the workspace's own binaries (debug profile).
pub fn binary(root: &Path, name: &str) -> PathBuf {
    target_dir(root).join("debug").join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Where `dist` writes artifacts: always `<root>/target/dist`, even when
/// `CARGO_TARGET_DIR` moves cargo's own output elsewhere.
pub fn dist_dir(root: &Path) -> PathBuf {
    root.join("target").join("dist")
}

/// How a component depends on the guest library, in its Cargo.toml: the
/// directory `edgekit/` beside its manifest. In a project that is a
/// symbolic link to the project's library ([`Project::guest_link`]:
/// `../../guest` in edgekit's repository, `../../.edgekit/guest` in a
/// team's project); copied out (`new --out`) it is a copy of the library.
/// The same line either way.
///
/// Invariant: the library sits inside the component's own workspace, so
/// cargo hashes its path relative to the component (`stable_hash` of a path
/// source under the workspace root), not the checkout's absolute path; with
/// `../../guest` the symbol hashes, and with them the order rustc lays out
/// vtables in, changed with the checkout's path and builds were not
/// reproducible (`clean_builds_are_reproducible`).
pub const GUEST_DEPENDENCY: &str = "path = \"edgekit\"";

/// The directory name of the library inside a component (`edgekit/`).
pub const GUEST_DIR: &str = "edgekit";

/// One guest crate under `components/`.
#[derive(Debug, Clone)]
pub struct Component {
    /// The directory name, which is also the crate name.
    pub name: String,
    pub dir: PathBuf,
    pub manifest: PathBuf,
    /// The artifacts `dist` builds from it: one per WASI line it names in
    /// `[package.metadata.edgekit.lines]`, or the one a single-world crate
    /// (`[package.metadata.component.target] world`) makes. When `only` was
    /// given to [`components`], the ones selected.
    pub builds: Vec<Build>,
}

/// One artifact a component builds: `target/dist/<artifact>.wasm`, from
/// one cargo build of the crate, checked against one world in its `wit/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// The artifact's name: the world's for a line of a lines table
    /// (`http-api-p3`), the crate's for a single-world crate (`greeter`).
    pub artifact: String,
    /// The world in the component's `wit/` it is checked against.
    pub world: String,
    /// The WASI line it is built for, a key of the lines table and the
    /// crate's cargo feature that picks it (`p2`, `p3`); `None` for a
    /// single-world crate, built with its default features.
    pub line: Option<String>,
}

impl Build {
    /// Checks that `world` (this build's, in the component's resolved
    /// `own` WIT) is on the WASI line the build names: `p3` builds a world
    /// whose `wasi:*` references are at 0.3.x. A single-world crate names no
    /// line and may use any (or none). `manifest` names the crate in errors.
    pub fn check_line(&self, own: &Wit, world: WorldId, manifest: &Path) -> Result<()> {
        let version = own.world_line(world)?;
        let Some(line) = &self.line else { return Ok(()) };
        match version {
            Some(version) if crate::wit::line_key(&version) == *line => Ok(()),
            Some(version) => bail!(
                "{}: under {LINES_TABLE}, {line} names world `{}`, which is on WASI {version} (line {}); \
                 name a world of the {line} line there, or move the world's `wasi:*` references to it",
                manifest.display(),
                self.world,
                crate::wit::line_key(&version)
            ),
            None => bail!(
                "{}: under {LINES_TABLE}, {line} names world `{}`, which uses no WASI: a line's world \
                 exports its line's wasi:http handler",
                manifest.display(),
                self.world
            ),
        }
    }
}

/// Where a component's manifest names its lines: `[package.metadata.edgekit.lines]`.
pub const LINES_TABLE: &str = "[package.metadata.edgekit.lines]";

impl Component {
    /// The file name cargo gives the cdylib (`edge-fn` becomes `edge_fn.wasm`).
    pub fn core_file_name(&self) -> String {
        format!("{}.wasm", self.name.replace('-', "_"))
    }

    /// The component's own WIT: its world files.
    pub fn wit_dir(&self) -> PathBuf {
        crate::wit::component_dir(&self.dir)
    }

    /// Whether it is written on the guest library (depends on `guest/` by path).
    pub fn uses_guest(&self) -> bool {
        std::fs::read_to_string(&self.manifest).is_ok_and(|text| text.contains(GUEST_DEPENDENCY))
    }

    /// The names of its artifacts (of the selected builds).
    pub fn artifacts(&self) -> Vec<String> {
        self.builds.iter().map(|b| b.artifact.clone()).collect()
    }

    /// What its artifacts are built from, relative to the project's root
    /// (recorded in the manifest; the tests refuse an artifact older than
    /// any of these): its directory, the pins, the guest library when it is
    /// written on it, and the project's toolchain file when there is one.
    /// Every line of a crate is built from the same sources.
    pub fn sources(&self, project: &Project) -> Vec<String> {
        let mut sources = vec![project.relative(&self.dir), project.relative(&project.pins_dir())];
        if project.root.join("rust-toolchain.toml").is_file() {
            sources.push("rust-toolchain.toml".into());
        }
        if self.uses_guest() {
            sources.push(project.relative(&project.library_dir()));
        }
        sources
    }
}

/// The names of the component directories of the project at `root`, sorted.
pub fn component_names(root: &Path) -> Result<Vec<String>> {
    names_in(&Project::load(root)?.components_dir())
}

/// The names of the directories in `components_dir`, sorted; none if it
/// does not exist.
fn names_in(components_dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    if !components_dir.exists() {
        return Ok(names);
    }
    let entries = std::fs::read_dir(components_dir).with_context(|| {
        format!("cannot read {}, the components directory {} names", components_dir.display(), crate::project::FILE)
    })?;
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Every component of the project at `root`, with all its builds, sorted
/// by name.
pub fn all_components(root: &Path) -> Result<Vec<Component>> {
    let components_dir = Project::load(root)?.components_dir();
    names_in(&components_dir)?.iter().map(|name| load(&components_dir.join(name))).collect()
}

/// The names of every artifact the project's components build, sorted
/// (compositions not included).
pub fn artifact_names(root: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = all_components(root)?.iter().flat_map(Component::artifacts).collect();
    names.sort();
    Ok(names)
}

/// The component that builds `artifact`, with that one build; `None` when
/// no component does.
pub fn component_of(root: &Path, artifact: &str) -> Result<Option<Component>> {
    Ok(all_components(root)?.into_iter().find_map(|mut component| {
        component.builds.retain(|b| b.artifact == artifact);
        (!component.builds.is_empty()).then_some(component)
    }))
}

/// The components of the project at `root`, sorted by name, each with the
/// builds `only` selects (all of them, when `only` is empty). A name in
/// `only` is a component (its crate: every line it is built for) or an
/// artifact (that line alone: `http-api-p3`); where both match, as for
/// `http-api`, the component does. A name that is neither fails, listing
/// what there is.
pub fn components(root: &Path, only: &[String]) -> Result<Vec<Component>> {
    select(root, only, false)
}

/// [`components`], where each name in `only` is an artifact: `http-api`
/// is the 0.2 artifact alone (what `dev` and `serve` mean by a name).
pub fn artifacts(root: &Path, only: &[String]) -> Result<Vec<Component>> {
    select(root, only, true)
}

fn select(root: &Path, only: &[String], exact: bool) -> Result<Vec<Component>> {
    let mut components = all_components(root)?;
    if only.is_empty() {
        return Ok(components);
    }
    for name in only {
        let crate_named = !exact && components.iter().any(|c| &c.name == name);
        let artifact = components.iter().any(|c| c.builds.iter().any(|b| &b.artifact == name));
        if !crate_named && !artifact {
            let mut names: Vec<String> = components.iter().flat_map(Component::artifacts).collect();
            names.extend(components.iter().map(|c| c.name.clone()));
            names.sort();
            names.dedup();
            bail!(
                "no component or artifact `{name}` in {} (there are: {}); \
                 create it with `{}`, or fix the name",
                Project::load(root)?.components_dir().display(),
                names.join(", "),
                crate::tool::cmd(&format!("new {name} --template <template>"))
            );
        }
    }
    for component in &mut components {
        let whole = !exact && only.contains(&component.name);
        component.builds.retain(|b| whole || only.contains(&b.artifact));
    }
    components.retain(|c| !c.builds.is_empty());
    Ok(components)
}

/// Reads one component directory.
pub fn load(dir: &Path) -> Result<Component> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "{} is missing: every directory under the components directory must be a guest crate \
             (remove the directory, or remove it from the project file's lists if it was deleted)",
            manifest.display()
        )
    })?;
    let toml: toml::Table = text.parse().with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    let crate_name = toml.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str());
    if crate_name != Some(name.as_str()) {
        bail!("{}: the crate must be named `{name}` after its directory (found {crate_name:?})", manifest.display());
    }
    let builds = builds_of(&manifest, &name, &toml)?;
    Ok(Component { name, dir: dir.to_path_buf(), manifest, builds })
}

/// The builds a component's manifest (`toml`, read from `manifest`) names
/// for the crate `name`: one per line of its lines table, or its one world.
pub fn builds_of(manifest: &Path, name: &str, toml: &toml::Table) -> Result<Vec<Build>> {
    let metadata = toml.get("package").and_then(|p| p.get("metadata"));
    let lines = metadata.and_then(|m| m.get("edgekit")).and_then(|e| e.get("lines"));
    Ok(match lines {
        Some(lines) => {
            let lines = lines.as_table().with_context(|| {
                format!(
                    "{}: {LINES_TABLE} must be a table of lines and worlds, e.g. p2 = \"{name}\"",
                    manifest.display()
                )
            })?;
            let mut builds = Vec::new();
            for (line, world) in lines {
                let valid =
                    line.strip_prefix('p').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                let world = world.as_str().filter(|_| valid).with_context(|| {
                    format!(
                        "{}: under {LINES_TABLE}, `{line}` must be a WASI line (p2, p3) naming a world in wit/, \
                         e.g. p3 = \"{name}-p3\"",
                        manifest.display()
                    )
                })?;
                builds.push(Build { artifact: world.to_string(), world: world.to_string(), line: Some(line.clone()) });
            }
            if builds.is_empty() {
                bail!("{}: {LINES_TABLE} names no line; add one, e.g. p2 = \"{name}\"", manifest.display());
            }
            builds
        }
        None => {
            let world = metadata
                .and_then(|m| m.get("component"))
                .and_then(|c| c.get("target"))
                .and_then(|t| t.get("world"))
                .and_then(|w| w.as_str())
                .with_context(|| {
                    format!(
                        "{} does not name its world: add {LINES_TABLE} with a world per WASI line \
                         (p2 = \"{name}\", p3 = \"{name}-p3\"), or `world = \"<name>\"` under \
                         `[package.metadata.component.target]` for a crate of one world, naming worlds in wit/",
                        manifest.display()
                    )
                })?;
            vec![Build { artifact: name.to_string(), world: world.to_string(), line: None }]
        }
    })
}

/// The versions a component's Cargo.lock pins for its direct dependencies,
/// e.g. `wit-bindgen` to `0.61.1`, recorded in the manifest beside the tools.
pub fn locked_dependencies(component: &Component) -> Result<std::collections::BTreeMap<String, String>> {
    let krate = component.name.as_str();
    let path = component.dir.join("Cargo.lock");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let lock: toml::Table = text.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
    let packages = lock.get("package").and_then(|p| p.as_array()).cloned().unwrap_or_default();
    let version_of = |name: &str| {
        packages
            .iter()
            .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(name))
            .and_then(|p| p.get("version")?.as_str().map(str::to_string))
    };
    let mut deps = std::collections::BTreeMap::new();
    let Some(package) = packages.iter().find(|p| p.get("name").and_then(|n| n.as_str()) == Some(krate)) else {
        return Ok(deps);
    };
    for dep in package.get("dependencies").and_then(|d| d.as_array()).into_iter().flatten() {
        let Some(dep) = dep.as_str() else { continue };
        // An entry is `name`, or `name version` when several versions are locked.
        let (name, version) = match dep.split_once(' ') {
            Some((name, version)) => (name, Some(version.to_string())),
            None => (dep, version_of(dep)),
        };
        if let Some(version) = version {
            deps.insert(name.to_string(), version);
        }
    }
    Ok(deps)
}
