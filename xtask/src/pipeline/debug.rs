//! `cargo xtask dist --debug [components]`: a variant of each component to
//! debug, not to ship. Built with DWARF (cargo profile `dist-debug`: the
//! component's own `[profile.release]` plus `debug = true` and
//! `strip = false`), neither stripped nor run through `wasm-opt -Oz`
//! (binaryen would drop or garble the DWARF), then componentized and
//! validated like a shipped component.
//!
//! It goes to `target/dist/debug/<name>.wasm`: never in the manifest, never
//! checked against budgets, never packaged or published (those read only
//! the manifest). Paths are not remapped, so the DWARF names this checkout's
//! source files and a debugger finds them; the build is not reproducible.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::Shell;

use crate::artifact::write_atomic;
use crate::pipeline::{build, componentize};
use crate::report::group;
use crate::workspace;

/// The cargo profile of debug builds, declared on the command line (it
/// inherits the component's release profile, so it builds what ships, with
/// debug info, into a directory of its own).
pub const DEBUG_PROFILE: &str = "dist-debug";

/// Where debug builds go: `target/dist/debug/`.
pub fn debug_dir(root: &Path) -> PathBuf {
    workspace::dist_dir(root).join("debug")
}

/// Builds and componentizes the debug variant of the components of the
/// project at `root` (all, or those in `only`, as `dist` selects them: a
/// component's every line, or one artifact), writes each artifact to
/// [`debug_dir`] and returns their paths.
pub fn dist_debug(sh: &Shell, root: &Path, only: &[String]) -> Result<Vec<PathBuf>> {
    let components = workspace::components(root, only)?;
    let config = [
        format!("profile.{DEBUG_PROFILE}.inherits=\"release\""),
        format!("profile.{DEBUG_PROFILE}.debug=true"),
        format!("profile.{DEBUG_PROFILE}.strip=false"),
    ];
    let mut built = Vec::new();
    for component in &components {
        for line in &component.builds {
            let name = &line.artifact;
            eprintln!("==> {name:<12} build        {}, profile {DEBUG_PROFILE} (DWARF)", workspace::WASM_TARGET);
            let core = build::build_with(sh, root, component, line, DEBUG_PROFILE, &config)?;
            let core = std::fs::read(&core).with_context(|| format!("cannot read {}", core.display()))?;
            let bytes =
                componentize::componentize(&core).with_context(|| format!("{name}: componentizing the debug build"))?;
            eprintln!("    {name:<12} componentize {:>9} B -> {:>9} B", group(core.len()), group(bytes.len()));
            built.push((name.clone(), bytes));
        }
    }
    let dir = debug_dir(root);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut paths = Vec::new();
    for (name, bytes) in built {
        let path = dir.join(format!("{name}.wasm"));
        write_atomic(&path, &bytes)?;
        paths.push(path);
    }
    Ok(paths)
}

/// The names of the custom sections of each core module inside
/// `component`, in order (for the tests and the docs: DWARF lives in
/// `.debug_*` sections).
pub fn module_custom_sections(component: &[u8]) -> Result<Vec<Vec<String>>> {
    use wasmparser::{Parser, Payload};
    let mut modules: Vec<Vec<String>> = Vec::new();
    let mut depth = 0usize;
    let mut current: Option<usize> = None;
    for payload in Parser::new(0).parse_all(component) {
        match payload.context("the component does not parse")? {
            Payload::ModuleSection { .. } => {
                modules.push(Vec::new());
                current = Some(modules.len() - 1);
                depth += 1;
            }
            Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth > 0 => {
                depth -= 1;
                current = None;
            }
            Payload::CustomSection(section) => {
                if let Some(m) = current {
                    modules[m].push(section.name().to_string());
                }
            }
            _ => {}
        }
    }
    Ok(modules)
}
