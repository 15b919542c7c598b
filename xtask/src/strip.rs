//! Stage 2, strip: drops debug info, names and every other custom section
//! from a core module, except the `component-type:*` sections that carry the
//! WIT world to the componentize stage.

use anyhow::{Context, Result};
use wasmparser::{Parser, Payload};

/// Custom sections that survive stripping: the WIT world wit-bindgen embedded.
fn keep_custom(name: &str) -> bool {
    name.starts_with("component-type")
}

pub fn strip(module: &[u8]) -> Result<Vec<u8>> {
    let mut out = wasm_encoder::Module::new();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.context("the core module does not parse")?;
        if let Payload::CustomSection(reader) = &payload {
            if !keep_custom(reader.name()) {
                continue;
            }
        }
        if let Some((id, range)) = payload.as_section() {
            out.section(&wasm_encoder::RawSection { id, data: &module[range.start as usize..range.end as usize] });
        }
    }
    Ok(out.finish())
}
