//! `cargo xtask dist`: the pipeline. Builds every component, then per
//! component strips, optimizes, componentizes, validates and round-trip
//! checks it, all in memory. Only when every component passed are the
//! artifacts and the manifest written, each atomically, so a failed run never
//! leaves a half-written or half-updated `target/dist/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wit_parser::WorldId;
use xshell::Shell;

use crate::manifest::{Entry, Manifest, sha256_hex};
use crate::project::{self, Component, WASM_PROFILE, WASM_TARGET};
use crate::wit::{Surface, Wit};
use crate::explain::Names;
use crate::{build, compose, componentize, drift, flags, optimize, roundtrip, strip};

/// A component that went through every stage, not yet written to disk.
pub struct Artifact {
    pub name: String,
    pub world: String,
    /// The size of the component made from the unoptimized build.
    pub before: usize,
    pub bytes: Vec<u8>,
    pub surface: Surface,
    /// Function names of the shipped core module, set aside before stripping.
    pub names: BTreeMap<u32, String>,
    /// The tools that produced it: rustc from the built core module's
    /// `producers` section, wit-component from the component's, binaryen, and
    /// the crate's direct dependencies as Cargo.lock pins them.
    pub built_with: BTreeMap<String, String>,
}

/// The `processed-by` entries of a module's or component's producers section.
fn provenance(wasm: &[u8]) -> Result<BTreeMap<String, String>> {
    let mut tools = BTreeMap::new();
    if let Some(producers) = wasm_metadata::Producers::from_wasm(wasm)? {
        if let Some(field) = producers.get("processed-by") {
            for (name, version) in field.iter() {
                tools.insert(name.clone(), version.clone());
            }
        }
    }
    Ok(tools)
}

impl flags::Dist {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let root = project::root();
        let (wit, artifacts) = produce(sh, &root, &self.components)?;
        write(&project::dist_dir(&root), &wit, &artifacts)?;
        print!("{}", table(&artifacts));
        Ok(())
    }
}

/// Runs every stage for the components of the workspace at `root` (all of
/// them, or those in `only`), in memory.
pub fn produce(sh: &Shell, root: &Path, only: &[String]) -> Result<(Wit, Vec<Artifact>)> {
    let components = project::components(root, only)?;
    let wit = Wit::load(&root.join("wit"))?;
    // Every world must exist before anything is built.
    let worlds = components
        .iter()
        .map(|c| wit.world(&c.world, &c.manifest))
        .collect::<Result<Vec<_>>>()?;

    build::ensure_target(sh)?;
    let names: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
    eprintln!("==> build      {} ({WASM_TARGET}, profile {WASM_PROFILE})", names.join(", "));
    let cores = build::build(sh, root, &components)?;

    let dist = project::dist_dir(root);
    let work = root.join("target").join("xtask");
    let mut artifacts = Vec::new();
    for ((component, world), core) in components.iter().zip(worlds).zip(cores) {
        let core = std::fs::read(&core).with_context(|| format!("cannot read {}", core.display()))?;
        let mut artifact = pipeline(&wit, component, world, &core, &work.join(&component.name), &dist)?;
        artifact.built_with.extend(project::locked_dependencies(root, &component.name)?);
        artifacts.push(artifact);
    }
    // The compositions whose parts were built in this run.
    for composition in compose::compositions(root)? {
        let name = composition.name();
        let find = |part: &str| artifacts.iter().find(|a| a.name == part).map(|a| a.bytes.clone());
        let (Some(middleware), Some(handler)) = (find(&composition.middleware), find(&composition.handler)) else {
            if only.is_empty() {
                anyhow::bail!(
                    "{}: composition {name} names a component that does not exist",
                    root.join(compose::COMPOSE_FILE).display()
                );
            }
            continue;
        };
        let artifact = compose::compose(&wit, &name, &middleware, &handler, &work.join(&name), &dist)?;
        eprintln!("    {name:<12} composed     {:>9} B", group(artifact.bytes.len()));
        artifacts.push(artifact);
    }
    Ok((wit, artifacts))
}

/// Stages 2 to 5 for one component, with a progress line per stage.
pub fn pipeline(
    wit: &Wit,
    component: &Component,
    world: WorldId,
    core: &[u8],
    work: &Path,
    dist: &Path,
) -> Result<Artifact> {
    let name = &component.name;
    let progress = |stage: &str, from: usize, to: usize| {
        eprintln!("    {name:<12} {stage:<12} {:>9} B -> {:>9} B", group(from), group(to));
    };
    let built_with = provenance(core)?;
    let before = componentize::componentize(core)
        .with_context(|| format!("{name}: componentizing the unoptimized build"))?
        .len();
    let stripped = strip::strip(core, true).with_context(|| format!("{name}: strip"))?;
    progress("strip", core.len(), stripped.len());
    let optimized = optimize::optimize(&stripped, work).with_context(|| format!("{name}: wasm-opt"))?;
    let names = strip::function_names(&optimized)?;
    let optimized = strip::strip(&optimized, false).with_context(|| format!("{name}: strip names"))?;
    progress("wasm-opt -Oz", stripped.len(), optimized.len());
    let bytes = componentize::componentize(&optimized).with_context(|| format!("{name}: componentize"))?;
    progress("componentize", optimized.len(), bytes.len());
    let artifact = dist.join(format!("{name}.wasm"));
    drift::check(wit, &artifact, &bytes, &roundtrip::decode(&artifact, &bytes)?)?;
    let surface = roundtrip::check(wit, world, &artifact, &bytes)?;
    eprintln!("    {name:<12} round-trip   matches world `{}`", component.world);
    let mut built_with = built_with;
    built_with.extend(provenance(&bytes)?);
    built_with.insert("binaryen".into(), optimize::BINARYEN_VERSION.into());
    Ok(Artifact { name: name.clone(), world: wit.world_id(world), before, bytes, surface, names, built_with })
}

/// Writes every artifact, then the manifest, each through a temporary file
/// renamed into place.
pub fn write(dist: &Path, wit: &Wit, artifacts: &[Artifact]) -> Result<()> {
    std::fs::create_dir_all(dist).with_context(|| format!("cannot create {}", dist.display()))?;
    let mut entries = Vec::new();
    for a in artifacts {
        let file = format!("{}.wasm", a.name);
        let path = dist.join(&file);
        write_atomic(&path, &a.bytes)?;
        let names = Names { artifact_sha256: sha256_hex(&a.bytes), functions: a.names.clone() };
        write_atomic(&Names::path(&path), serde_json::to_string(&names)?.as_bytes())?;
        entries.push(Entry {
            name: a.name.clone(),
            file,
            bytes: a.bytes.len(),
            sha256: sha256_hex(&a.bytes),
            world: a.world.clone(),
            imports: a.surface.imports.iter().cloned().collect(),
            exports: a.surface.exports.iter().cloned().collect(),
            wasi: a.surface.wasi_versions().into_iter().collect(),
            built_with: a.built_with.clone(),
        });
    }
    let manifest = Manifest { wasi: wit.wasi_version()?, components: entries };
    write_atomic(&dist.join("manifest.json"), manifest.to_json().as_bytes())
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))
}

fn table(artifacts: &[Artifact]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{:<14} {:>10} {:>10} {:>10}", "component", "before", "final", "reduction");
    for a in artifacts {
        let saved = 100.0 * (1.0 - a.bytes.len() as f64 / a.before as f64);
        let _ = writeln!(
            out,
            "{:<14} {:>10} {:>10} {:>9.1}%",
            a.name,
            group(a.before),
            group(a.bytes.len()),
            saved
        );
    }
    out
}

/// `12345` as `12,345`.
pub fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
