//! `cargo xtask dist`: the pipeline. Per component, and per WASI line it is
//! built for: build it, then strip, optimize, componentize, validate and
//! check it against that line's world, all in memory; then the
//! compositions. Only when every artifact passed are they written, each
//! atomically, and the manifest updated, so a failed run never leaves a
//! half-written or half-updated `target/dist/`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::artifact::{Artifact, Manifest, PartNames};
use crate::flags;
use crate::pipeline::{build, componentize, compose, drift, optimize, roundtrip, strip};
use crate::project::Project;
use crate::report::{Table, group};
use crate::tool;
use crate::wit::{Pins, Wit};
use crate::workspace::{self, Build, Component, WASM_TARGET};

/// The `processed-by` entries of a module's or component's producers section.
fn provenance(wasm: &[u8]) -> Result<BTreeMap<String, String>> {
    let mut tools = BTreeMap::new();
    if let Some(producers) = wasm_metadata::Producers::from_wasm(wasm)?
        && let Some(field) = producers.get("processed-by")
    {
        for (name, version) in field.iter() {
            tools.insert(name.clone(), version.clone());
        }
    }
    Ok(tools)
}

impl flags::Dist {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let root = workspace::root();
        if self.debug {
            for path in crate::pipeline::debug::dist_debug(sh, &root, &self.components)? {
                println!("{}", path.display());
            }
            return Ok(());
        }
        let (pins, artifacts) = produce(sh, &root, &self.components)?;
        write(&root, &pins, &artifacts)?;
        print!("{}", table(&artifacts));
        Ok(())
    }
}

/// An artifact and the sources it was built from (see `Entry::sources`).
pub type Built = (Artifact, Vec<String>);

/// Runs every stage for the components of the project at `root` (all of
/// them, or those in `only`: a component's name builds every line it is
/// built for, an artifact's name that line alone, see
/// [`workspace::components`]), in memory. Returns the project's pins.
pub fn produce(sh: &Shell, root: &Path, only: &[String]) -> Result<(Pins, Vec<Built>)> {
    produce_builds(sh, root, &workspace::components(root, only)?, !only.is_empty())
}

/// [`produce`] for `components`, each with the builds to make; `partial`
/// when they are a selection (a composition is then built only when both
/// its parts are among them).
pub fn produce_builds(sh: &Shell, root: &Path, components: &[Component], partial: bool) -> Result<(Pins, Vec<Built>)> {
    let project = Project::load(root)?;
    if !partial {
        // The routes name the compositions built below: a route to a
        // component that is not there is reported as the route's error.
        crate::project::routes::check(&project)?;
    }
    let pins = Pins::load(&project.pins_dir())?;
    // Every component's WIT must resolve against the pins, with each world
    // it is built for on the line its build names, before anything is built.
    let mut worlds = Vec::new();
    for component in components {
        let own = pins.component(&component.wit_dir())?;
        let ids = component
            .builds
            .iter()
            .map(|build| {
                let world = own.world(&build.world, &component.manifest)?;
                build.check_line(&own, world, &component.manifest)?;
                Ok(world)
            })
            .collect::<Result<Vec<_>>>()?;
        worlds.push((own, ids));
    }

    let dist = workspace::dist_dir(root);
    let work = root.join("target").join("xtask");
    let mut artifacts = Vec::new();
    for (component, (own, ids)) in components.iter().zip(worlds) {
        // One line at a time: every line's build writes the same cdylib.
        for (build, world) in component.builds.iter().zip(ids) {
            let features = build.line.as_ref().map(|line| format!(", --features {line}")).unwrap_or_default();
            eprintln!(
                "==> {:<12} build        {WASM_TARGET}, profile {}{features}",
                build.artifact,
                workspace::WASM_PROFILE
            );
            let core = build::build(sh, root, component, build)?;
            let core = std::fs::read(&core).with_context(|| format!("cannot read {}", core.display()))?;
            let mut artifact = pipeline(&pins, &own, build, world, &core, &work.join(&build.artifact), &dist)?;
            artifact.built_with.extend(workspace::locked_dependencies(component)?);
            artifacts.push((artifact, component.sources(&project)));
        }
    }
    // The compositions whose parts were built in this run.
    for composition in compose::compositions(root)? {
        let name = composition.name();
        let find = |part: &str| artifacts.iter().find(|(a, _)| a.name == part).map(|(a, _)| a);
        let (Some(middleware), Some(handler)) = (find(&composition.middleware), find(&composition.handler)) else {
            if !partial {
                anyhow::bail!(
                    "{}: composition {name} names an artifact no component builds; \
                     remove its [[composition]], or run `{}` which does",
                    root.join(crate::project::FILE).display(),
                    tool::cmd("rm <component>")
                );
            }
            continue;
        };
        let mut artifact =
            compose::compose(&pins, &composition, &middleware.bytes, &handler.bytes, &work.join(&name), &dist)?;
        // Traps and profiles of the composition are named part by part.
        artifact.part_names = vec![
            PartNames::of(&middleware.name, &middleware.bytes, &middleware.names)?,
            PartNames::of(&handler.name, &handler.bytes, &handler.names)?,
        ];
        eprintln!("    {name:<12} composed     {:>9} B", group(artifact.bytes.len()));
        artifacts.push((artifact, compose::sources(&project, &composition)?));
    }
    Ok((pins, artifacts))
}

/// Stages 2 to 5 for one build of a component, with a progress line per
/// stage.
pub fn pipeline(
    pins: &Pins,
    own: &Wit,
    build: &Build,
    world: wit_parser::WorldId,
    core: &[u8],
    work: &Path,
    dist: &Path,
) -> Result<Artifact> {
    let name = &build.artifact;
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
    drift::check_pinned(pins, &artifact, &bytes, &roundtrip::decode(&artifact, &bytes)?)?;
    let surface = roundtrip::check(own, world, &artifact, &bytes)?;
    eprintln!("    {name:<12} round-trip   matches world `{}`", build.world);
    let mut built_with = built_with;
    built_with.extend(provenance(&bytes)?);
    built_with.insert("binaryen".into(), optimize::BINARYEN_VERSION.into());
    Ok(Artifact {
        name: name.clone(),
        world: own.world_id(world),
        parts: Vec::new(),
        before,
        bytes,
        surface,
        names,
        part_names: Vec::new(),
        built_with,
    })
}

/// Writes every artifact into `<root>/target/dist` and updates the manifest:
/// the entries of artifacts built now replace their old ones, the others
/// stay, and those of artifacts or compositions no component builds any
/// more go, files included.
pub fn write(root: &Path, pins: &Pins, artifacts: &[Built]) -> Result<Manifest> {
    let names = workspace::artifact_names(root)?;
    let compositions = compose::compositions(root)?;
    let exists = |name: &str| {
        names.iter().any(|n| n == name)
            || compositions
                .iter()
                .any(|c| c.name() == name && names.contains(&c.middleware) && names.contains(&c.handler))
    };
    Manifest::update(&workspace::dist_dir(root), &pins.versions()?, artifacts, exists)
}

fn table(artifacts: &[Built]) -> String {
    let mut table = Table::new(["component", "wasi", "world", "before", "final", "reduction"]).left(&[1, 2]);
    for (a, _) in artifacts {
        let saved = 100.0 * (1.0 - a.bytes.len() as f64 / a.before as f64);
        table.row([
            a.name.clone(),
            a.surface.wasi_line(),
            a.world.clone(),
            group(a.before),
            group(a.bytes.len()),
            format!("{saved:.1}%"),
        ]);
    }
    format!("\n{}", table.text())
}
