//! Stage 2, strip: drops debug info and every custom section a shipped
//! component does not need, keeping the `component-type:*` sections that
//! carry the WIT world to the componentize stage.
//!
//! Stripping runs twice: before wasm-opt it keeps the `name` section, so
//! binaryen's output still names its functions; those names are set aside
//! (`function_names`, for `cargo xtask size --explain`) and the second pass
//! drops them from the module that ships.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use wasmparser::{BinaryReader, Name, NameSectionReader, Parser, Payload};

/// Whether a custom section survives. `component-type` sections carry the
/// world; `name` is kept only on request.
fn keep_custom(name: &str, keep_names: bool) -> bool {
    name.starts_with("component-type") || (keep_names && name == "name")
}

pub fn strip(module: &[u8], keep_names: bool) -> Result<Vec<u8>> {
    let mut out = wasm_encoder::Module::new();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.context("the core module does not parse")?;
        if let Payload::CustomSection(reader) = &payload
            && !keep_custom(reader.name(), keep_names)
        {
            continue;
        }
        if let Some((id, range)) = payload.as_section() {
            out.section(&wasm_encoder::RawSection { id, data: &module[range.start as usize..range.end as usize] });
        }
    }
    Ok(out.finish())
}

/// The demangled function names in a core module's `name` section, by
/// function index (imports included, as wasm counts them).
pub fn function_names(module: &[u8]) -> Result<BTreeMap<u32, String>> {
    let mut names = BTreeMap::new();
    for payload in Parser::new(0).parse_all(module) {
        let Payload::CustomSection(reader) = payload? else { continue };
        if reader.name() != "name" {
            continue;
        }
        let section = NameSectionReader::new(BinaryReader::new(reader.data(), reader.data_offset()));
        for name in section {
            if let Name::Function(map) = name? {
                for naming in map {
                    let naming = naming?;
                    names.insert(naming.index, format!("{:#}", rustc_demangle::demangle(naming.name)));
                }
            }
        }
    }
    Ok(names)
}
