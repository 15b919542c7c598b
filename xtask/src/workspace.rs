//! The project as every wing sees it: where things are built, and the guest
//! components with the world each one targets. Where things live comes from
//! the project file (`project.rs`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::project::Project;

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

/// The guest library's WIT, one directory per pinned line (`p2`, `p3`),
/// each a world over that line's `deps/` copies, which `dist` refreshes
/// like a component's.
pub fn guest_wit_dirs(project: &Project) -> Vec<PathBuf> {
    ["p2", "p3"].iter().map(|line| project.library_dir().join("wit").join(line)).collect()
}

/// One guest crate under `components/`.
#[derive(Debug, Clone)]
pub struct Component {
    /// The directory name, which is also the crate name and the artifact name.
    pub name: String,
    pub dir: PathBuf,
    pub manifest: PathBuf,
    /// The world in `wit/` this component is written against, read from
    /// `[package.metadata.component.target] world` in its Cargo.toml.
    pub world: String,
}

impl Component {
    /// The file name cargo gives the cdylib (`edge-fn` becomes `edge_fn.wasm`).
    pub fn core_file_name(&self) -> String {
        format!("{}.wasm", self.name.replace('-', "_"))
    }

    /// The component's own WIT: its world file and the pinned WASI it needs.
    pub fn wit_dir(&self) -> PathBuf {
        crate::wit::component_dir(&self.dir)
    }

    /// Whether it is written on the guest library (depends on `guest/` by path).
    pub fn uses_guest(&self) -> bool {
        std::fs::read_to_string(&self.manifest).is_ok_and(|text| text.contains(GUEST_DEPENDENCY))
    }

    /// What its artifact is built from, relative to the project's root
    /// (recorded in the manifest; the tests refuse an artifact older than
    /// any of these): its directory, the pins, the guest library when it is
    /// written on it, and the project's toolchain file when there is one.
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
    let project = Project::load(root)?;
    let components_dir = project.components_dir();
    let mut names = Vec::new();
    if !components_dir.exists() {
        return Ok(names);
    }
    let entries = std::fs::read_dir(&components_dir).with_context(|| {
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

/// Lists the components of the project at `root`, sorted by name. With a
/// non-empty `only`, returns just those, failing on a name that has no
/// directory.
pub fn components(root: &Path, only: &[String]) -> Result<Vec<Component>> {
    let components_dir = Project::load(root)?.components_dir();
    let mut names = component_names(root)?;
    if !only.is_empty() {
        for name in only {
            if !names.contains(name) {
                bail!(
                    "no component `{name}`: {} does not exist (components: {}); \
                     create it with `{}`, or fix the name",
                    components_dir.join(name).display(),
                    names.join(", "),
                    crate::tool::cmd(&format!("new {name} --template <template>"))
                );
            }
        }
        names.retain(|n| only.contains(n));
    }
    names.iter().map(|name| load(&components_dir.join(name))).collect()
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
    let world = toml
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("component"))
        .and_then(|c| c.get("target"))
        .and_then(|t| t.get("world"))
        .and_then(|w| w.as_str())
        .with_context(|| {
            format!(
                "{} does not name its world: add `world = \"<name>\"` under \
                 `[package.metadata.component.target]`, naming a world in wit/",
                manifest.display()
            )
        })?
        .to_string();
    Ok(Component { name, dir: dir.to_path_buf(), manifest, world })
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
