//! The workspace as every wing sees it: where things live, and the guest
//! components under `components/` with the world each one targets.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The Rust target guests are built for: a bare core module whose only
/// imports are the WIT functions the code calls (see ARCHITECTURE.md).
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The cargo profile guests are built with: each component's own
/// `[profile.release]`, set for size.
pub const WASM_PROFILE: &str = "release";

/// The workspace root, found at run time and never from a path compiled
/// into the binary, so that a binary reused from a shared target directory
/// serves the checkout it runs in: the nearest directory at or above
/// `CARGO_MANIFEST_DIR` when cargo set it (`cargo run`, `cargo test`), else
/// at or above the current directory, whose `Cargo.toml` is a workspace with
/// `host` among its members (a component's own `[workspace]` is not).
/// Outside any, the current directory, whose missing `components/` the
/// commands then name.
pub fn root() -> PathBuf {
    let from_cargo = std::env::var_os("CARGO_MANIFEST_DIR").and_then(|dir| root_above(Path::new(&dir)));
    let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    from_cargo.or_else(|| root_above(&here)).unwrap_or(here)
}

/// The nearest directory at or above `dir` whose `Cargo.toml` declares a
/// `[workspace]` with `host` among its members.
pub fn root_above(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|dir| {
            let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else { return false };
            let Ok(manifest) = text.parse::<toml::Table>() else { return false };
            let members = manifest.get("workspace").and_then(|w| w.get("members")).and_then(|m| m.as_array());
            members.is_some_and(|members| members.iter().any(|m| m.as_str() == Some("host")))
        })
        .map(Path::to_path_buf)
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

/// The guest library's directory under the root: the crate `edgekit` the
/// http templates are written on (see ARCHITECTURE.md, `guest/`).
pub const GUEST: &str = "guest";

/// How a component depends on the guest library, in its Cargo.toml: the
/// directory `edgekit/` beside its manifest. Under `components/` that is a
/// symbolic link to `../../guest` ([`GUEST_LINK`]); copied out (`new
/// --out`) it is a copy of the library. The same line either way.
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

/// Where `components/<name>/edgekit` points: the library in this workspace.
pub const GUEST_LINK: &str = "../../guest";

/// The guest library's WIT, one directory per pinned line (`p2`, `p3`),
/// each a world over that line's `deps/` copies, which `dist` refreshes
/// like a component's.
pub fn guest_wit_dirs(root: &Path) -> Vec<PathBuf> {
    ["p2", "p3"].iter().map(|line| root.join(GUEST).join("wit").join(line)).collect()
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

    /// What its artifact is built from, relative to the root (recorded in
    /// the manifest; the tests refuse an artifact older than any of these).
    pub fn sources(&self) -> Vec<String> {
        let mut sources = vec![format!("components/{}", self.name), "wit".into(), "rust-toolchain.toml".into()];
        if self.uses_guest() {
            sources.push(GUEST.into());
        }
        sources
    }
}

/// The names of the directories under `<root>/components`, sorted.
pub fn component_names(root: &Path) -> Result<Vec<String>> {
    let components_dir = root.join("components");
    let mut names = Vec::new();
    let entries = std::fs::read_dir(&components_dir)
        .with_context(|| format!("cannot read {}: run from an edgekit checkout", components_dir.display()))?;
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Lists the components under `<root>/components`, sorted by name. With a
/// non-empty `only`, returns just those, failing on a name that has no
/// directory.
pub fn components(root: &Path, only: &[String]) -> Result<Vec<Component>> {
    let components_dir = root.join("components");
    let mut names = component_names(root)?;
    if !only.is_empty() {
        for name in only {
            if !names.contains(name) {
                bail!(
                    "no component `{name}`: {} does not exist (components: {}); \
                     create it by copying an existing component directory, or fix the name",
                    components_dir.join(name).display(),
                    names.join(", ")
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
        format!("{} is missing: every directory under components/ must be a guest crate", manifest.display())
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
