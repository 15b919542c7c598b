//! Runs edgekit's dist artifacts in wasmtime, the way an edge host does.
//!
//! The test suite is the first user: it loads `target/dist/<name>.wasm`, the
//! exact bytes `cargo xtask dist` ships, and checks the answers. Non-http
//! components are called through typed bindings generated from `wit/`;
//! wasi:http components get a real request through wasmtime-wasi-http with
//! only the `wasi:http/proxy` world linked, as `wasmtime serve` does.

pub mod command;
pub mod greeter;
pub mod http;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The path of a dist artifact, or a one-line error saying how to make it.
pub fn artifact(name: &str) -> Result<PathBuf> {
    let path = root().join("target").join("dist").join(format!("{name}.wasm"));
    if !path.exists() {
        bail!("{} is missing: run `cargo xtask dist` first", path.display());
    }
    Ok(path)
}

/// The engine every artifact runs in.
pub fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    Ok(Engine::new(&config)?)
}

/// Compiles a dist artifact.
pub fn load(engine: &Engine, name: &str) -> Result<Component> {
    let path = artifact(name)?;
    Ok(Component::from_file(engine, &path)?)
}
