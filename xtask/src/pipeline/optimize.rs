//! Stage 3, optimize: binaryen's `-Oz` on the stripped core module, in
//! process through the `wasm-opt` crate.
//!
//! Binaryen reads core modules only, so this runs before componentizing. A
//! stripped module has no `target_features` section, so the features rustc
//! 1.95 emits are named explicitly (see ../shared/toolchain-notes.md); all
//! features are never enabled, since that lets binaryen pick encodings some
//! hosts cannot parse.

use std::path::Path;

use anyhow::{Context, Result};
use wasm_opt::{Feature, OptimizationOptions};

/// The binaryen release inside the `wasm-opt` crate (recorded in the manifest).
pub const BINARYEN_VERSION: &str = "116 (wasm-opt crate 0.116.1)";

/// The proposals rustc 1.95 uses for `wasm32-unknown-unknown` by default.
const FEATURES: [Feature; 6] = [
    Feature::BulkMemory,
    Feature::SignExt,
    Feature::MutableGlobals,
    Feature::TruncSat,
    Feature::Multivalue,
    Feature::ReferenceTypes,
];

/// Runs `wasm-opt -Oz` on `module`, using `work` as scratch space for the
/// files binaryen's API reads and writes.
pub fn optimize(module: &[u8], work: &Path) -> Result<Vec<u8>> {
    std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let input = work.join("stripped.wasm");
    let output = work.join("optimized.wasm");
    std::fs::write(&input, module).with_context(|| format!("cannot write {}", input.display()))?;
    let mut options = OptimizationOptions::new_optimize_for_size_aggressively();
    // Keep the name section (binaryen's `-g`) so the output's functions can
    // be attributed; the strip stage removes it before componentizing.
    options.debug_info(true);
    for feature in FEATURES {
        options.enable_feature(feature);
    }
    options.run(&input, &output).with_context(|| format!("wasm-opt -Oz failed on {}", input.display()))?;
    std::fs::read(&output).with_context(|| format!("cannot read {}", output.display()))
}
