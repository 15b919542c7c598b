//! Stage 5, the WIT round-trip: reads the world back out of a finished
//! component and checks it against the world in its own `wit/` it was written for.
//!
//! Names first, for messages a person can act on: the artifact must export
//! exactly what the world exports, and import nothing the world does not
//! declare (a world's imports include those its exports `use`). Then types,
//! structurally: `wit_component::targets` instantiates the artifact against a
//! component type encoded from the world, the check `wasm-tools component
//! targets` does, at exact versions.

use std::path::Path;

use anyhow::{Context, Result, bail};
use wit_component::DecodedWasm;
use wit_parser::WorldId;

use crate::wit::{Surface, Wit};

/// Checks `component` against `world`; returns what the artifact imports and
/// exports. `artifact` names the component in messages.
pub fn check(wit: &Wit, world: WorldId, artifact: &Path, component: &[u8]) -> Result<Surface> {
    let actual = decode(artifact, component)?;
    let expected = Surface::of(&wit.resolve, world);
    let world_name = &wit.resolve.worlds[world].name;
    let world_file = wit.dir.join(format!("{world_name}.wit"));

    let missing: Vec<_> = expected.exports.difference(&actual.exports).collect();
    let unexpected: Vec<_> = actual.exports.difference(&expected.exports).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        bail!(
            "{} exports differ from world `{world_name}` in {}: missing {missing:?}, \
             unexpected {unexpected:?}; make the crate's `wit_bindgen::generate!` use \
             world `{world_name}` and implement every export",
            artifact.display(),
            world_file.display(),
        );
    }
    let undeclared: Vec<_> = actual.imports.difference(&expected.imports).collect();
    if !undeclared.is_empty() {
        bail!(
            "{} imports {undeclared:?}, which world `{world_name}` in {} does not declare; \
             remove the code that needs it (on this target, call WASI through bindings, \
             not std) or declare the import in the world",
            artifact.display(),
            world_file.display(),
        );
    }
    wit_component::targets(&wit.resolve, world, component, false).with_context(|| {
        format!(
            "{} has the names of world `{world_name}` in {} but not its types; \
             rebuild it against the current WIT",
            artifact.display(),
            world_file.display(),
        )
    })?;
    Ok(actual)
}

/// Decodes the world a component was encoded with.
pub fn decode(artifact: &Path, component: &[u8]) -> Result<Surface> {
    match wit_component::decode(component)
        .with_context(|| format!("cannot read the WIT back from {}", artifact.display()))?
    {
        DecodedWasm::Component(resolve, world) => Ok(Surface::of(&resolve, world)),
        DecodedWasm::WitPackage(..) => {
            bail!("{} is a WIT package, not a component", artifact.display())
        }
    }
}
