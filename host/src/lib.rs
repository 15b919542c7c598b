//! Runs edgekit's dist artifacts in wasmtime, the way an edge host does.
//!
//! The test suite is the first user: it loads `target/dist/<name>.wasm`, the
//! exact bytes `cargo xtask dist` ships, and checks the answers. Non-http
//! components are called through typed bindings generated from `wit/`;
//! wasi:http components get a real request through wasmtime-wasi-http with
//! only the `wasi:http/proxy` world linked, as `wasmtime serve` does.

pub mod bench;
pub mod call;
pub mod client;
pub mod command;
mod engines;
pub mod greeter;
pub mod http;
pub mod kv;
pub mod load;
pub mod profile;
pub mod serve;
pub mod test_guests;
pub mod trap;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wasmtime::Config;
use wasmtime::component::Component;

pub use engines::Engines;

include!(concat!(env!("OUT_DIR"), "/components.rs"));

mod fresh;

/// The project's root, found at run time and never from a path compiled
/// into the binary, so a binary reused from a target directory that several
/// checkouts share reads the checkout it runs in: the nearest directory
/// holding an `edgekit.toml` at or above `CARGO_MANIFEST_DIR` when cargo
/// set it (`cargo test`, `cargo run`), else at or above the current
/// directory ([`root_above`]). Outside any, the current directory: the
/// artifact a caller looks for is then missing, and [`artifact`] says how
/// to make a project.
pub fn root() -> PathBuf {
    find_root().unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

/// [`root`], or `None` outside an edgekit project: the root the running
/// tool named ([`set_tool`]), else found as above.
pub fn find_root() -> Option<PathBuf> {
    if let Some((_, root)) = TOOL.get() {
        return root.clone();
    }
    let from_cargo = std::env::var_os("CARGO_MANIFEST_DIR").and_then(|dir| root_above(Path::new(&dir)));
    from_cargo.or_else(|| root_above(&std::env::current_dir().ok()?))
}

/// The nearest directory at or above `dir` holding the project file
/// `edgekit.toml` (the same rule as xtask's `project::root_above`).
pub fn root_above(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|dir| dir.join("edgekit.toml").is_file()).map(Path::to_path_buf)
}

/// What a person types to run edgekit's `command` (`dist`, `dist greeter`):
/// `cargo xtask dist` in edgekit's repository, `cargo edgekit dist` from
/// the installed tool, which says so with [`set_tool`].
pub fn tool(command: &str) -> String {
    format!("{} {command}", TOOL.get().map_or("cargo xtask", |(name, _)| name))
}

static TOOL: std::sync::OnceLock<(&'static str, Option<PathBuf>)> = std::sync::OnceLock::new();

/// Names the running tool for the messages (`cargo edgekit`) and the
/// project it runs in (`None` outside one), which [`root`] then is; the
/// first call wins. Without it (the tests), the root is found.
pub fn set_tool(command: &'static str, root: Option<PathBuf>) {
    let _ = TOOL.set((command, root));
}

/// The path of a dist artifact, or a one-line error saying how to make it.
/// An artifact older than any of the sources `dist` built it from is
/// refused too, naming the changed file: tests never run stale bytes.
pub fn artifact(name: &str) -> Result<PathBuf> {
    if find_root().is_none() {
        let here = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        bail!(
            "no edgekit project at or above {here} (a directory with an edgekit.toml): run from a project, \
             or make one with `cargo edgekit init`"
        );
    }
    let path = root().join("target").join("dist").join(format!("{name}.wasm"));
    if !path.exists() {
        let dir = path.parent().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".wasm").map(str::to_string))
            .collect();
        if names.is_empty() {
            bail!("{} is missing: run `{}` first", path.display(), tool("dist"));
        }
        names.sort();
        bail!(
            "{} is missing: `{name}` is not a dist artifact (there are: {}); name one of those, \
             or run `{}` if `{name}` is a new component",
            path.display(),
            names.join(", "),
            tool("dist")
        );
    }
    fresh::check(&root(), name, &path)?;
    Ok(path)
}

/// A component named on the command line: a dist artifact's name
/// (`greeter`), or the path of any `.wasm` component.
pub fn resolve(component: &str) -> Result<PathBuf> {
    let path = Path::new(component);
    if component.ends_with(".wasm") {
        if !path.exists() {
            bail!("{component} does not exist: name a dist artifact (`greeter`) or an existing .wasm file");
        }
        return Ok(path.to_path_buf());
    }
    artifact(component)
}

/// How many guest frames a trap's backtrace keeps (see [`trap`]).
pub const BACKTRACE_FRAMES: usize = 64;

/// The engines every artifact runs in (see [`Engines`]). Traps carry a
/// guest backtrace of up to [`BACKTRACE_FRAMES`] frames, which [`trap`]
/// names.
pub fn engines() -> Engines {
    let mut config = Config::new();
    config.wasm_component_model(true).wasm_backtrace_max_frames(std::num::NonZeroUsize::new(BACKTRACE_FRAMES));
    Engines::new(&config)
}

/// Compiles a dist artifact, or any `.wasm` component (see [`resolve`]), and
/// keeps the names of its functions for the life of the process, so its
/// traps name them (see [`trap`]). A caller that loads many components over
/// time (`dev`) uses [`load_named`] and keeps the names only as long as it
/// keeps the component.
pub fn load(engines: &Engines, name: &str) -> Result<Component> {
    let (component, names) = load_named(engines, name)?;
    names.keep();
    Ok(component)
}

/// Compiles a dist artifact, or any `.wasm` component, with the names of its
/// functions from the names file beside it (`target/dist/<name>.names.json`),
/// used only if it was written for exactly these bytes; its traps are named
/// while the [`trap::Names`] live (give them to `Handler::with_names`).
pub fn load_named(engines: &Engines, name: &str) -> Result<(Component, trap::Names)> {
    let path = resolve(name)?;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let component = engines.compile(&bytes).with_context(|| {
        format!("{} is not a component wasmtime can compile: build it with `{}`", path.display(), tool("dist"))
    })?;
    let names = trap::Names::beside(&component, &path, &bytes);
    Ok((component, names))
}
