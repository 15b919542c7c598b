//! Composition: a middleware component (one that exports the wasi:http
//! handler interface and imports the next one) plugged in front of a
//! wasi:http component, giving one component that imports only what the two
//! need from the host. wasm-compose does it in process, for either WASI line:
//! 0.2's `wasi:http/incoming-handler` (the result must fit `wasi:http/proxy`)
//! or 0.3's `wasi:http/handler` (the result must fit `wasi:http/service`).
//! wac-graph, wasm-compose's successor, composes both lines too, but its
//! newest release (0.12) is built on an older wasm-tools than the pipeline;
//! docs/pipeline.md, "Composition", says why that keeps wasm-compose here.
//!
//! `dist` builds the compositions the project file lists (`[[composition]]`,
//! and each route's middleware in front of its component) after the
//! components and ships them like components; `cargo xtask
//! compose <middleware> <handler>` composes two dist artifacts on demand.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::Shell;

use crate::artifact::{Artifact, write_atomic};
use crate::pipeline::{componentize, drift, roundtrip};
use crate::project::{self, Project};
use crate::report::group;
use crate::wit::{Pins, Surface};
use crate::{tool, workspace};

/// Per WASI line, the handler interface a middleware exports and imports,
/// and the world a composition must fit.
const HTTP_LINES: &[(&str, &str)] =
    &[("wasi:http/incoming-handler", "wasi:http/proxy"), ("wasi:http/handler", "wasi:http/service")];

/// The handler interface `surface` exports (`wasi:http/handler@0.3.0`) and
/// the world a composition of its line must fit (`wasi:http/service@0.3.0`).
pub fn http_line(surface: &Surface) -> Option<(String, String)> {
    surface.exports.iter().find_map(|export| {
        let (name, version) = export.rsplit_once('@')?;
        let (_, world) = HTTP_LINES.iter().find(|(handler, _)| *handler == name)?;
        Some((export.clone(), format!("{world}@{version}")))
    })
}

pub use crate::project::Composition;

/// The compositions of the project at `root`: those it lists
/// (`[[composition]]`), then those its routes need (a `[[route]]` with a
/// `middleware`) that it does not list.
pub fn compositions(root: &Path) -> Result<Vec<Composition>> {
    let file = Project::load(root)?.file;
    let mut all = file.composition;
    for composition in project::routes::compositions(&file.route) {
        if !all.contains(&composition) {
            all.push(composition);
        }
    }
    Ok(all)
}

/// What a composition is built from, relative to the root: its parts'
/// sources (the sources of the components that build them).
pub fn sources(project: &Project, composition: &Composition) -> Result<Vec<String>> {
    let mut sources = Vec::new();
    for part in [&composition.middleware, &composition.handler] {
        let component = workspace::component_of(&project.root, part)?.with_context(|| {
            format!(
                "{}: composition {} names `{part}`, which no component builds",
                project.root.join(project::FILE).display(),
                composition.name()
            )
        })?;
        for source in component.sources(project) {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
    }
    Ok(sources)
}

/// Composes `middleware` in front of `handler` (both finished components)
/// and checks the result: it validates, no longer imports the handler
/// interface, and fits its line's service world (`wasi:http/proxy` on 0.2,
/// `wasi:http/service` on 0.3) and uses one pinned line. `work` holds the
/// inputs, which wasm-compose reads from files.
pub fn compose(
    pins: &Pins,
    composition: &Composition,
    middleware: &[u8],
    handler: &[u8],
    work: &Path,
    dist: &Path,
) -> Result<Artifact> {
    let name = &composition.name();
    let middleware_file = dist.join(format!("{}.wasm", composition.middleware));
    let parts = roundtrip::decode(&middleware_file, middleware)?;
    let Some((interface, world)) = http_line(&parts).filter(|(interface, _)| parts.imports.contains(interface)) else {
        bail!(
            "{}: {} is not a middleware: it must export a wasi:http handler interface and import the \
             same one (the next handler); name a middleware component first",
            name,
            middleware_file.display()
        );
    };
    let handler_file = dist.join(format!("{}.wasm", composition.handler));
    if !roundtrip::decode(&handler_file, handler)?.exports.contains(&interface) {
        bail!(
            "{name}: {} does not export {interface}, which {} imports: a middleware composes in front of an \
             http component of its own WASI line; pick a handler of that line",
            handler_file.display(),
            composition.middleware,
        );
    }
    std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let middleware_path = work.join("middleware.wasm");
    let handler_path = work.join("handler.wasm");
    std::fs::write(&middleware_path, middleware)?;
    std::fs::write(&handler_path, handler)?;
    let config = wasm_compose::config::Config {
        dir: work.to_path_buf(),
        // The handler's exports satisfy the middleware's imports of the
        // same name: its handler interface.
        definitions: vec![handler_path],
        ..Default::default()
    };
    let bytes = wasm_compose::composer::ComponentComposer::new(&middleware_path, &config)
        .compose()
        .with_context(|| format!("{name}: wasm-compose could not plug the handler into the middleware"))?;
    componentize::validate(&bytes).with_context(|| format!("{name}: the composition does not validate"))?;
    let artifact = dist.join(format!("{name}.wasm"));
    let surface = roundtrip::decode(&artifact, &bytes)?;
    if surface.imports.contains(&interface) {
        bail!("{} still imports {interface}: {} does not export it", artifact.display(), composition.handler);
    }
    if !surface.exports.contains(&interface) {
        bail!("{} exports no {interface}: the middleware must export it", artifact.display());
    }
    drift::check_pinned(pins, &artifact, &bytes, &surface)?;
    let built_with = BTreeMap::from([("wasm-compose".to_string(), "0.263".to_string())]);
    Ok(Artifact {
        name: name.to_string(),
        // drift::check_pinned made sure it fits its line's service world in full.
        world,
        parts: vec![composition.middleware.clone(), composition.handler.clone()],
        before: middleware.len() + handler.len(),
        bytes,
        surface,
        names: BTreeMap::new(),
        part_names: Vec::new(),
        built_with,
    })
}

impl crate::flags::Compose {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let root = workspace::root();
        let dist = workspace::dist_dir(&root);
        let read = |name: &str| {
            let path = dist.join(format!("{name}.wasm"));
            std::fs::read(&path).with_context(|| {
                format!("cannot read {}: run `{}` first", path.display(), tool::cmd(&format!("dist {name}")))
            })
        };
        let (middleware, handler) = (read(&self.middleware)?, read(&self.handler)?);
        let composition = Composition { middleware: self.middleware, handler: self.handler };
        let name = composition.name();
        let pins = Pins::load(&Project::load(&root)?.pins_dir())?;
        let work = root.join("target").join("xtask").join(&name);
        let artifact = compose(&pins, &composition, &middleware, &handler, &work, &dist)?;
        let path = dist.join(format!("{name}.wasm"));
        write_atomic(&path, &artifact.bytes)?;
        eprintln!(
            "wrote {} ({} bytes); list it as a [[composition]] in {} for `dist` to ship, budget and test it",
            path.display(),
            project::FILE,
            group(artifact.bytes.len())
        );
        Ok(())
    }
}
