//! Stage 5, WASI drift (runs just before the round-trip): every WASI
//! interface an artifact uses is at the one version `wit/deps/` pins (the
//! component's own copies under `components/<name>/wit/deps/` are kept equal
//! to them by `wit::sync` before the build), and a
//! wasi:http component fits the `wasi:http/proxy` world of that version,
//! the world edge hosts offer (`wasmtime serve` without `-Scli`, most edge
//! platforms).

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::wit::{Surface, Wit};

const INCOMING_HANDLER: &str = "wasi:http/incoming-handler";
/// WASI proposals with their own version line that edge hosts offer beside
/// `wasi:http/proxy` (runtime configuration: wasmtime's wasmtime-wasi-config,
/// Spin, wasmCloud). Declared in the world file that uses them (wit/proxy.wit).
const EXTENSIONS: &[&str] = &["wasi:config/store@0.2.0-rc.1"];

pub fn check(wit: &Wit, artifact: &Path, component: &[u8], surface: &Surface) -> Result<()> {
    let pinned = wit.wasi_version()?;
    let drifted: Vec<&String> = surface
        .imports
        .iter()
        .chain(&surface.exports)
        .filter(|n| n.starts_with("wasi:") && !n.ends_with(&format!("@{pinned}")) && !EXTENSIONS.contains(&n.as_str()))
        .collect();
    if !drifted.is_empty() {
        bail!(
            "{} uses {drifted:?}, but the workspace pins WASI {pinned} in {}/deps: the component \
             was left behind by a WASI bump; move the versions in its world file \
             (components/<name>/wit/) to {pinned} and rebuild with `cargo xtask dist`",
            artifact.display(),
            wit.dir.display(),
        );
    }
    if !surface.exports.iter().any(|e| e.starts_with(INCOMING_HANDLER)) {
        return Ok(());
    }
    let proxy_name = format!("wasi:http/proxy@{pinned}");
    // Middleware imports the next handler, which the proxy world does not
    // offer: it fits once composed in front of one, and the composition is
    // checked here in full (compose.rs).
    let middleware = surface.imports.iter().any(|i| i.starts_with(INCOMING_HANDLER));
    let proxy = wit
        .resolve
        .select_world(&[wit.package], Some(&proxy_name))
        .with_context(|| format!("{}/deps has no world {proxy_name}", wit.dir.display()))?;
    let offered = Surface::of(&wit.resolve, proxy);
    let extra: Vec<&String> = surface
        .imports
        .difference(&offered.imports)
        .filter(|i| !(middleware && i.starts_with(INCOMING_HANDLER)))
        .filter(|i| !EXTENSIONS.contains(&i.as_str()))
        .collect();
    if !extra.is_empty() {
        bail!(
            "{} imports {extra:?}, which the {proxy_name} world does not offer: hosts that serve \
             only that world refuse the component; remove the code that needs it",
            artifact.display(),
        );
    }
    // The structural check is against the proxy world alone, which an
    // extension import cannot fit; the names were checked above and the
    // round-trip checks the types against the component's own world.
    if middleware || surface.imports.iter().any(|i| EXTENSIONS.contains(&i.as_str())) {
        return Ok(());
    }
    wit_component::targets(&wit.resolve, proxy, component, true)
        .with_context(|| format!("{} does not fit the {proxy_name} world", artifact.display()))
}
