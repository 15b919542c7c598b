//! Stage 4, componentize and validate: wraps a core module into a component
//! using the WIT world embedded in its `component-type` section
//! (wit-component), drops the component's debug names, then validates the
//! result (wasmparser).

use anyhow::{Context, Result};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};
use wit_component::ComponentEncoder;

pub fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    let component = ComponentEncoder::default()
        .module(module)
        .context(
            "the core module carries no usable WIT world: does the crate call \
             `wit_bindgen::generate!` and `export!`?",
        )?
        .validate(true)
        .encode()
        .context("wit-component could not turn the core module into a component")?;
    let component = drop_debug_names(&component)?;
    validate(&component)?;
    Ok(component)
}

/// Removes the component-level `component-name` section: names of types and
/// instances for debuggers, a fifth of a small component, and read by no host.
/// Every other section, nested modules included, is copied byte for byte.
fn drop_debug_names(component: &[u8]) -> Result<Vec<u8>> {
    let mut out = wasm_encoder::Component::new();
    let mut parser = Parser::new(0);
    let mut offset = 0;
    loop {
        let (payload, consumed) = match parser.parse(&component[offset..], true)? {
            wasmparser::Chunk::Parsed { payload, consumed } => (payload, consumed),
            wasmparser::Chunk::NeedMoreData(_) => unreachable!("the whole component is in memory"),
        };
        offset += consumed;
        match &payload {
            Payload::ModuleSection { unchecked_range, .. } | Payload::ComponentSection { unchecked_range, .. } => {
                let (id, range) = payload.as_section().unwrap();
                out.section(&wasm_encoder::RawSection {
                    id,
                    data: &component[range.start as usize..range.end as usize],
                });
                // The parent parser resumes after the nested module, which
                // was copied whole; its bytes are not fed back in.
                offset = unchecked_range.end as usize;
            }
            Payload::CustomSection(c) if c.name() == "component-name" => {}
            Payload::End(_) => break,
            _ => {
                if let Some((id, range)) = payload.as_section() {
                    out.section(&wasm_encoder::RawSection {
                        id,
                        data: &component[range.start as usize..range.end as usize],
                    });
                }
            }
        }
    }
    Ok(out.finish())
}

/// Validates a component with the features a component host supports.
pub fn validate(component: &[u8]) -> Result<()> {
    Validator::new_with_features(WasmFeatures::default())
        .validate_all(component)
        .context("the component does not validate")?;
    Ok(())
}
