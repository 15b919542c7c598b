//! Stage 4, componentize and validate: wraps a core module into a component
//! using the WIT world embedded in its `component-type` section
//! (wit-component), then validates the result (wasmparser).

use anyhow::{Context, Result};
use wasmparser::{Validator, WasmFeatures};
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
    validate(&component)?;
    Ok(component)
}

/// Validates a component with the features a component host supports.
pub fn validate(component: &[u8]) -> Result<()> {
    Validator::new_with_features(WasmFeatures::default())
        .validate_all(component)
        .context("the component does not validate")?;
    Ok(())
}
