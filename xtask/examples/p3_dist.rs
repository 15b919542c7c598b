//! TEMPORARY, for the p3-mw-proxy branch only: DROP AT MERGE.
//!
//! Until the two-line pipeline (issue #11, part A) is merged, `cargo xtask
//! dist` refuses WASI 0.3 imports in its drift stage and `wit::sync` would
//! overwrite a 0.3 component's `wit/deps/` with the 0.2.12 pins. This runs
//! the same stages on WASI 0.3 components, minus those two:
//!
//!   cargo run -p xtask --example p3_dist -- middleware-p3 proxy-p3 [path/to/crate] [mw+handler]
//!
//! Each name is a component under `components/` (or a path to a crate
//! outside, for a scratch handler); `a+b` composes dist artifact `a` in front
//! of `b` with wasm-compose, as `pipeline/compose.rs` does. Each component is
//! checked against its own world (the round-trip) and against the
//! `wasi:http@0.3.0` world it must fit (`service`, or `middleware` for a
//! component importing the handler). Artifacts go to `target/dist/` and the
//! manifest, like `dist`'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xtask::artifact::{Artifact, write_atomic};
use xtask::pipeline::{build, componentize, compose, dist, optimize, roundtrip, strip};
use xtask::wit::Wit;
use xtask::workspace::{self, Component};

const HANDLER: &str = "wasi:http/handler@0.3.0";

fn main() -> std::process::ExitCode {
    xtask::exit(run())
}

fn run() -> Result<()> {
    let sh = xshell::Shell::new()?;
    let root = workspace::root();
    let dist_dir = workspace::dist_dir(&root);
    let work = root.join("target").join("xtask");
    let pins = Wit::load(&root.join("wit"))?;
    let mut built: Vec<dist::Built> = Vec::new();
    for arg in std::env::args().skip(1) {
        if let Some((middleware, handler)) = arg.split_once('+') {
            let read = |name: &str| -> Result<Vec<u8>> {
                if let Some((a, _)) = built.iter().find(|(a, _)| a.name == name) {
                    return Ok(a.bytes.clone());
                }
                let path = dist_dir.join(format!("{name}.wasm"));
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
            };
            let artifact =
                compose_pair(&arg, middleware, handler, &read(middleware)?, &read(handler)?, &work.join(&arg))?;
            let sources = vec![
                format!("components/{middleware}"),
                format!("components/{handler}"),
                "wit".into(),
                "compose.toml".into(),
                "rust-toolchain.toml".into(),
            ];
            built.push((artifact, sources));
            continue;
        }
        let component = component(&root, &arg)?;
        let own = Wit::load(&component.wit_dir())?;
        let world = own.world(&component.world, &component.manifest)?;
        let core = build::build(&sh, &root, &component)?;
        let core = std::fs::read(&core)?;
        let name = &component.name;
        let stripped = strip::strip(&core, true)?;
        let optimized = optimize::optimize(&stripped, &work.join(name))?;
        let names = strip::function_names(&optimized)?;
        let optimized = strip::strip(&optimized, false)?;
        let bytes = componentize::componentize(&optimized)?;
        let artifact_path = dist_dir.join(format!("{name}.wasm"));
        let surface = roundtrip::check(&own, world, &artifact_path, &bytes)?;
        fits(&own, &bytes, &surface, name)?;
        let before = componentize::componentize(&core)?.len();
        eprintln!(
            "{name}: core {} -> stripped {} -> -Oz {} -> component {}",
            core.len(),
            stripped.len(),
            optimized.len(),
            bytes.len()
        );
        let artifact = Artifact {
            name: name.clone(),
            world: own.world_id(world),
            parts: Vec::new(),
            before,
            bytes,
            surface,
            names,
            built_with: BTreeMap::from([("binaryen".into(), optimize::BINARYEN_VERSION.into())]),
        };
        built.push((artifact, component.sources()));
    }
    for (artifact, _) in &built {
        write_atomic(&dist_dir.join(format!("{}.wasm", artifact.name)), &artifact.bytes)?;
        eprintln!("wrote target/dist/{}.wasm ({} bytes)", artifact.name, artifact.bytes.len());
    }
    // The manifest keeps only what `dist` would: components, and the
    // compositions compose.toml lists.
    let names = workspace::component_names(&root)?;
    let listed: Vec<String> = compose::compositions(&root)?
        .iter()
        .filter(|c| names.contains(&c.middleware) && names.contains(&c.handler))
        .map(|c| c.name())
        .collect();
    let shipped: Vec<dist::Built> =
        built.into_iter().filter(|(a, _)| names.contains(&a.name) || listed.contains(&a.name)).collect();
    dist::write(&root, &pins, &shipped)?;
    Ok(())
}

/// A component under `components/`, or a crate elsewhere named by its path.
fn component(root: &Path, arg: &str) -> Result<Component> {
    if !arg.contains('/') {
        return workspace::components(root, &[arg.to_string()])?.pop().context("no such component");
    }
    let dir = PathBuf::from(arg);
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)?;
    let doc: toml::Table = text.parse()?;
    let name = doc["package"]["name"].as_str().context("no package name")?.to_string();
    let world = std::fs::read_dir(dir.join("wit"))?
        .filter_map(|e| e.ok()?.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
        .find(|s| s != "deps")
        .context("no world file")?;
    Ok(Component { name, dir, manifest, world })
}

/// The `wasi:http@0.3.0` world `bytes` must fit: `middleware` when it
/// imports the handler, else `service`. `wasi:config` is the one extension.
fn fits(own: &Wit, bytes: &[u8], surface: &xtask::wit::Surface, name: &str) -> Result<()> {
    if !surface.exports.contains(HANDLER) {
        return Ok(());
    }
    let world = if surface.imports.contains(HANDLER) { "middleware" } else { "service" };
    let http = own
        .resolve
        .package_names
        .iter()
        .find(|(n, _)| n.namespace == "wasi" && n.name == "http")
        .map(|(_, id)| *id)
        .context("no wasi:http in deps")?;
    let id = own.resolve.select_world(&[http], Some(world))?;
    let offered = xtask::wit::Surface::of(&own.resolve, id);
    let extra: Vec<_> =
        surface.imports.difference(&offered.imports).filter(|i| *i != "wasi:config/store@0.2.0-rc.1").collect();
    if !extra.is_empty() {
        bail!("{name} imports {extra:?}, which wasi:http@0.3.0/{world} does not offer");
    }
    if !surface.imports.iter().any(|i| i.starts_with("wasi:config/")) {
        wit_component::targets(&own.resolve, id, bytes, true)
            .with_context(|| format!("{name} does not fit wasi:http@0.3.0/{world}"))?;
    }
    eprintln!("{name}: fits wasi:http@0.3.0/{world}");
    Ok(())
}

/// `pipeline/compose.rs` without the 0.2 drift check.
fn compose_pair(name: &str, middleware: &str, handler: &str, m: &[u8], h: &[u8], work: &Path) -> Result<Artifact> {
    std::fs::create_dir_all(work)?;
    let (mp, hp) = (work.join("middleware.wasm"), work.join("handler.wasm"));
    std::fs::write(&mp, m)?;
    std::fs::write(&hp, h)?;
    let config = wasm_compose::config::Config { dir: work.to_path_buf(), definitions: vec![hp], ..Default::default() };
    let bytes = wasm_compose::composer::ComponentComposer::new(&mp, &config)
        .compose()
        .with_context(|| format!("{name}: wasm-compose could not plug the handler into the middleware"))?;
    componentize::validate(&bytes)?;
    let surface = roundtrip::decode(Path::new(name), &bytes)?;
    if surface.imports.contains(HANDLER) {
        bail!("{name} still imports {HANDLER}");
    }
    // The middleware's own WIT holds the 0.3 pins the composition must fit.
    let pins = Wit::load(&workspace::root().join("components").join(middleware).join("wit"))?;
    fits(&pins, &bytes, &surface, name)?;
    eprintln!("{name}: composed, {} bytes, imports {:?}", bytes.len(), surface.imports);
    Ok(Artifact {
        name: name.to_string(),
        world: "wasi:http/service@0.3.0".into(),
        parts: vec![middleware.to_string(), handler.to_string()],
        before: m.len() + h.len(),
        bytes,
        surface,
        names: BTreeMap::new(),
        built_with: BTreeMap::from([("wasm-compose".to_string(), "0.263".to_string())]),
    })
}
