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
pub mod greeter;
pub mod http;
pub mod serve;
pub mod test_guests;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

include!(concat!(env!("OUT_DIR"), "/components.rs"));

mod fresh;

/// The workspace root, read at run time (cargo sets `CARGO_MANIFEST_DIR` for
/// `cargo test` and `cargo run`), so a test binary reused from a shared target
/// directory reads the checkout that ran it.
pub fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    // The nearest directory holding `wit/` and `components/`: the manifest
    // directory cargo gives is that of whichever package runs (`host/`,
    // `xtask/run/`), at any depth.
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("wit").is_dir() && dir.join("components").is_dir())
        .unwrap_or_else(|| manifest_dir.parent().unwrap())
        .to_path_buf()
}

/// The path of a dist artifact, or a one-line error saying how to make it.
/// An artifact older than any of the sources `dist` built it from is
/// refused too, naming the changed file: tests never run stale bytes.
pub fn artifact(name: &str) -> Result<PathBuf> {
    let path = root().join("target").join("dist").join(format!("{name}.wasm"));
    if !path.exists() {
        let dir = path.parent().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".wasm").map(str::to_string))
            .collect();
        if names.is_empty() {
            bail!("{} is missing: run `cargo xtask dist` first", path.display());
        }
        names.sort();
        bail!(
            "{} is missing: `{name}` is not a dist artifact (there are: {}); name one of those, \
             or run `cargo xtask dist` if `{name}` is a new component",
            path.display(),
            names.join(", ")
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

/// The engine every artifact runs in.
pub fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true).wasm_component_model_async(true);
    Ok(Engine::new(&config)?)
}

/// Compiles a dist artifact, or any `.wasm` component (see [`resolve`]).
pub fn load(engine: &Engine, name: &str) -> Result<Component> {
    let path = resolve(name)?;
    Component::from_file(engine, &path).map_err(anyhow::Error::from).with_context(|| {
        format!("{} is not a component wasmtime can compile: build it with `cargo xtask dist`", path.display())
    })
}
