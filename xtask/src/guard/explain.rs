//! `cargo xtask size --explain <component> [--diff <old.wasm>]`: where the
//! bytes of a component go. Component-level sections (types, imports,
//! canonical functions, instances, ...) and, for each core module inside, its
//! sections, its code by crate (so a template's report shows what the guest
//! library, wit-bindgen's runtime, the allocator and the template's own code
//! each cost), largest functions and data segments. Twiggy reads core
//! modules only; this reads components.
//!
//! Function names come from `target/dist/<name>.names.json`, which `dist`
//! writes from the name section it sets aside before stripping; the shipped
//! artifact itself carries no names.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use wasmparser::{Parser, Payload, TypeRef};

use crate::artifact::Names;
use crate::report::group;

/// A labelled byte count.
#[derive(Clone, Debug)]
pub struct Row {
    pub what: String,
    pub bytes: usize,
}

/// One core module inside a component.
#[derive(Default)]
pub struct Module {
    /// The part of a composition whose main module this is, if it is one.
    pub part: Option<String>,
    pub bytes: usize,
    pub sections: Vec<Row>,
    pub functions: Vec<Row>,
    /// Code bytes by the crate a function's name starts with (named modules only).
    pub crates: Vec<Row>,
    pub data: Vec<Row>,
}

/// The crate a (demangled) function name belongs to: the first path segment,
/// looking through `<T as Trait>::` to `T`. `edgekit` is the guest library.
pub fn crate_of(function: &str) -> String {
    let name = function.trim_start_matches('<').trim_start_matches("&mut ").trim_start_matches('&');
    match name.split_once("::") {
        Some((krate, _)) if !krate.is_empty() && krate.chars().all(|c| c.is_alphanumeric() || c == '_') => {
            match krate {
                "edgekit" => "edgekit (the guest library)".into(),
                "core" | "alloc" => "core + alloc".into(),
                other => other.into(),
            }
        }
        _ => "exports, shims and unnamed".into(),
    }
}

/// The attribution of one component.
pub struct Breakdown {
    pub total: usize,
    pub sections: Vec<Row>,
    pub modules: Vec<Module>,
}

fn add(rows: &mut Vec<Row>, what: &str, bytes: usize) {
    match rows.iter_mut().find(|r| r.what == what) {
        Some(row) => row.bytes += bytes,
        None => rows.push(Row { what: what.to_string(), bytes }),
    }
}

fn section_label(payload: &Payload<'_>) -> String {
    match payload {
        Payload::TypeSection(_) => "type".into(),
        Payload::ImportSection(_) => "import".into(),
        Payload::FunctionSection(_) => "function".into(),
        Payload::TableSection(_) => "table".into(),
        Payload::MemorySection(_) => "memory".into(),
        Payload::GlobalSection(_) => "global".into(),
        Payload::ExportSection(_) => "export".into(),
        Payload::ElementSection(_) => "element".into(),
        Payload::DataSection(_) => "data".into(),
        Payload::CodeSectionStart { .. } => "code".into(),
        Payload::CoreTypeSection(_) => "core types".into(),
        Payload::InstanceSection(_) => "core instances".into(),
        Payload::ComponentTypeSection(_) => "component types".into(),
        Payload::ComponentImportSection(_) => "component imports".into(),
        Payload::ComponentExportSection(_) => "component exports".into(),
        Payload::ComponentCanonicalSection(_) => "canonical functions".into(),
        Payload::ComponentAliasSection(_) => "aliases".into(),
        Payload::ComponentInstanceSection(_) => "component instances".into(),
        Payload::CustomSection(c) => format!("custom `{}`", c.name()),
        _ => "other".into(),
    }
}

/// Attributes the bytes of `component`. `names` name the functions of the
/// largest core module (the main module; the others are small shims).
pub fn breakdown(component: &[u8], names: Option<&BTreeMap<u32, String>>) -> Result<Breakdown> {
    let mut b = unnamed(component)?;
    if let (Some(names), Some(main)) = (names, b.modules.iter_mut().max_by_key(|m| m.bytes)) {
        name_functions(main, names);
    }
    Ok(b)
}

/// Attributes the bytes of the artifact `component` with its names file
/// `names`: the main module's names, or a composition's, each part's names
/// on the core module its exports and imports pick out.
pub fn breakdown_named(component: &[u8], names: &Names) -> Result<Breakdown> {
    if names.parts.is_empty() {
        return breakdown(component, Some(&names.functions));
    }
    let mut b = unnamed(component)?;
    let signatures = crate::artifact::module_signatures(component)?;
    for part in &names.parts {
        let at =
            signatures.iter().position(|(_, exports, imports)| *exports == part.exports && *imports == part.imports);
        if let Some(module) = at.and_then(|i| b.modules.get_mut(i)) {
            module.part = Some(part.component.clone());
            name_functions(module, &part.functions);
        }
    }
    Ok(b)
}

/// Names `module`'s functions with `names` and sums its code by crate.
fn name_functions(module: &mut Module, names: &BTreeMap<u32, String>) {
    for row in &mut module.functions {
        let index: u32 = row.what["func[".len()..row.what.len() - 1].parse().unwrap();
        if let Some(name) = names.get(&index) {
            row.what = name.clone();
        }
    }
    let mut crates = Vec::new();
    for row in &module.functions {
        add(&mut crates, &crate_of(&row.what), row.bytes);
    }
    crates.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.what.cmp(&b.what)));
    module.functions.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.what.cmp(&b.what)));
    module.crates = crates;
}

/// The breakdown with no function named.
fn unnamed(component: &[u8]) -> Result<Breakdown> {
    let mut sections = Vec::new();
    let mut modules: Vec<Module> = Vec::new();
    // Depth 0 is the component; inside a nested module, `current` is its index.
    let mut current: Option<usize> = None;
    let mut imported_funcs = 0u32;
    let mut next_func = 0u32;
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload.context("the component does not parse")?;
        match (&payload, current) {
            (Payload::ModuleSection { unchecked_range, .. }, None) => {
                modules.push(Module {
                    bytes: (unchecked_range.end - unchecked_range.start) as usize,
                    ..Module::default()
                });
                current = Some(modules.len() - 1);
                imported_funcs = 0;
                next_func = 0;
                continue;
            }
            (Payload::End(_), Some(_)) => {
                current = None;
                continue;
            }
            _ => {}
        }
        let Some(m) = current else {
            // A nested component (a composition's part) is read section by
            // section as the parser goes into it; its whole range would
            // count its bytes twice.
            if matches!(payload, Payload::ComponentSection { .. }) {
                continue;
            }
            if let Some((_, range)) = payload.as_section() {
                add(&mut sections, &section_label(&payload), (range.end - range.start) as usize);
            }
            continue;
        };
        let module = &mut modules[m];
        match &payload {
            Payload::ImportSection(reader) => {
                for import in reader.clone().into_imports() {
                    if matches!(import?.ty, TypeRef::Func(_)) {
                        imported_funcs += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let index = imported_funcs + next_func;
                next_func += 1;
                let range = body.range();
                module
                    .functions
                    .push(Row { what: format!("func[{index}]"), bytes: (range.end - range.start) as usize });
                continue;
            }
            Payload::DataSection(reader) => {
                for (i, data) in reader.clone().into_iter().enumerate() {
                    let data = data?;
                    module.data.push(Row { what: format!("data[{i}]"), bytes: data.data.len() });
                }
            }
            _ => {}
        }
        if let Some((_, range)) = payload.as_section() {
            add(&mut module.sections, &section_label(&payload), (range.end - range.start) as usize);
        }
    }
    for rows in [&mut sections]
        .into_iter()
        .chain(modules.iter_mut().flat_map(|m| [&mut m.sections, &mut m.functions, &mut m.crates, &mut m.data]))
    {
        rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.what.cmp(&b.what)));
    }
    Ok(Breakdown { total: component.len(), sections, modules })
}

/// Reads an artifact and its names file, if any.
pub fn load(artifact: &Path) -> Result<Breakdown> {
    let bytes = std::fs::read(artifact)
        .with_context(|| format!("cannot read {}: run `{}` first", artifact.display(), crate::tool::cmd("dist")))?;
    match Names::load_file(artifact, &bytes) {
        Some(names) => breakdown_named(&bytes, &names),
        None => breakdown(&bytes, None),
    }
}

fn rows(out: &mut String, title: &str, rows: &[Row], top: usize) {
    let _ = writeln!(out, "  {title}");
    for row in rows.iter().take(top) {
        let _ = writeln!(out, "    {:>9}  {}", group(row.bytes), row.what);
    }
    if rows.len() > top {
        let rest: usize = rows[top..].iter().map(|r| r.bytes).sum();
        let _ = writeln!(out, "    {:>9}  ({} more)", group(rest), rows.len() - top);
    }
}

/// The report `--explain` prints.
pub fn render(name: &str, b: &Breakdown, top: usize) -> String {
    let mut out = String::new();
    let modules: usize = b.modules.iter().map(|m| m.bytes).sum();
    let _ = writeln!(out, "{name}: {} bytes ({} in core modules)", group(b.total), group(modules));
    rows(&mut out, "component sections", &b.sections, usize::MAX);
    for (i, m) in b.modules.iter().enumerate() {
        match &m.part {
            Some(part) => writeln!(out, "core module {i} ({part}): {} bytes", group(m.bytes)),
            None => writeln!(out, "core module {i}: {} bytes", group(m.bytes)),
        }
        .ok();
        rows(&mut out, "sections", &m.sections, usize::MAX);
        if !m.crates.is_empty() {
            rows(&mut out, "code by crate", &m.crates, usize::MAX);
        }
        if !m.functions.is_empty() {
            rows(&mut out, "largest functions", &m.functions, top);
        }
        if !m.data.is_empty() {
            rows(&mut out, "data segments", &m.data, top);
        }
    }
    out
}

/// What changed between two builds: component sections, then the functions
/// of the main modules matched by name, largest change first.
pub fn render_diff(name: &str, old: &Breakdown, new: &Breakdown, top: usize) -> String {
    let mut out = String::new();
    let delta = new.total as i64 - old.total as i64;
    let _ = writeln!(out, "{name}: {} -> {} bytes ({delta:+})", group(old.total), group(new.total));
    let main =
        |b: &Breakdown| b.modules.iter().max_by_key(|m| m.bytes).map(|m| m.functions.clone()).unwrap_or_default();
    for (title, old_rows, new_rows) in [
        ("component sections", old.sections.clone(), new.sections.clone()),
        ("main module functions", main(old), main(new)),
    ] {
        let mut changes: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in &old_rows {
            changes.entry(r.what.clone()).or_default().0 += r.bytes;
        }
        for r in &new_rows {
            changes.entry(r.what.clone()).or_default().1 += r.bytes;
        }
        let mut changes: Vec<_> = changes.into_iter().filter(|(_, (a, b))| a != b).collect();
        changes.sort_by_key(|(_, (a, b))| std::cmp::Reverse((*b as i64 - *a as i64).abs()));
        let _ = writeln!(out, "  {title}");
        if changes.is_empty() {
            let _ = writeln!(out, "    (no change)");
        }
        for (what, (a, b)) in changes.into_iter().take(top) {
            let _ = writeln!(out, "    {:>+9}  {what} ({} -> {})", b as i64 - a as i64, group(a), group(b));
        }
    }
    out
}
