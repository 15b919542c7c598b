//! The Firefox Profiler JSON, with the names of the names file.
//!
//! wasmtime's `GuestProfiler` names a function from the module's own name
//! section, and a stripped artifact has none: its functions come out as
//! `<wasm function N>`, N counting the module's defined functions (imports
//! not included). [`Renames`] maps those of the main core module to the
//! names `dist` set aside, after the profile is written: in each thread of
//! the processed profile, a function (`funcTable`) and a native symbol
//! (`nativeSymbols`) belong to a library (`libs`, one per core module, named
//! when the profiler was made), and their names are indices into the
//! thread's `stringArray`. Only names of the main module's library change;
//! the shims keep wasmtime's.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;

/// What to rename, in the library named `library`: defined function index
/// to name.
pub(super) struct Renames {
    library: String,
    functions: BTreeMap<u32, String>,
}

impl Renames {
    /// Renames in the library named `library` (the main module's label);
    /// none until [`main_module`](Renames::main_module) is told the names.
    pub(super) fn new(library: &str) -> Renames {
        Renames { library: library.to_string(), functions: BTreeMap::new() }
    }

    /// Takes the names of `module`, the main core module, from `names`
    /// (which count imported functions first, as the name section does).
    pub(super) fn main_module(&mut self, module: &wasmtime::Module, names: &crate::trap::Names) {
        let imported = module.imports().filter(|import| matches!(import.ty(), wasmtime::ExternType::Func(_))).count();
        let imported = u32::try_from(imported).unwrap_or(u32::MAX);
        self.functions = names
            .functions()
            .filter_map(|(index, name)| Some((index.checked_sub(imported)?, name.to_string())))
            .collect();
    }

    /// The profile `raw` (the JSON wasmtime wrote) with the main module's
    /// functions named.
    pub(super) fn apply(&self, raw: &[u8]) -> Result<Vec<u8>> {
        let mut profile: Value = serde_json::from_slice(raw).context("wasmtime's profile is not JSON")?;
        let library = profile["libs"]
            .as_array()
            .and_then(|libs| libs.iter().position(|lib| lib["name"] == self.library.as_str()));
        if let (Some(library), false) = (library, self.functions.is_empty()) {
            let threads = profile["threads"].as_array_mut().context("the profile has no `threads`")?;
            for thread in threads {
                self.rename_thread(thread, library).context(
                    "the profile is not in the Firefox Profiler format edgekit reads (processed profile, \
                     fxprof-processed-profile 0.8 as wasmtime 48 writes it)",
                )?;
            }
        }
        Ok(serde_json::to_vec(&profile)?)
    }

    fn rename_thread(&self, thread: &mut Value, library: usize) -> Result<()> {
        let libs_of_resources: Vec<Option<u64>> = column(&thread["resourceTable"]["lib"])?;
        let resources: Vec<Option<u64>> = column(&thread["funcTable"]["resource"])?;
        let symbol_libs: Vec<Option<u64>> = column(&thread["nativeSymbols"]["libIndex"])?;
        let mut strings: Vec<String> = serde_json::from_value(thread["stringArray"].take()).context("stringArray")?;
        let in_library = |lib: Option<u64>| lib == Some(library as u64);
        // Functions: their resource's library.
        let func_libs: Vec<bool> = resources
            .iter()
            .map(|r| r.and_then(|r| libs_of_resources.get(r as usize).copied().flatten()))
            .map(in_library)
            .collect();
        self.rename_column(&mut thread["funcTable"]["name"], &func_libs, &mut strings)?;
        let symbol_libs: Vec<bool> = symbol_libs.into_iter().map(in_library).collect();
        self.rename_column(&mut thread["nativeSymbols"]["name"], &symbol_libs, &mut strings)?;
        thread["stringArray"] = serde_json::to_value(strings)?;
        Ok(())
    }

    /// Points each name in `names` whose row is in the main library, and
    /// which is wasmtime's `<wasm function N>`, at a new string holding the
    /// name from the names file.
    fn rename_column(&self, names: &mut Value, in_main: &[bool], strings: &mut Vec<String>) -> Result<()> {
        let indices = names.as_array_mut().context("a name column")?;
        for (row, index) in indices.iter_mut().enumerate() {
            if !in_main.get(row).copied().unwrap_or(false) {
                continue;
            }
            let Some(old) = index.as_u64().and_then(|i| strings.get(i as usize)) else { continue };
            let defined = old.strip_prefix("<wasm function ").and_then(|rest| rest.strip_suffix('>'));
            let Some(name) = defined.and_then(|n| n.parse::<u32>().ok()).and_then(|n| self.functions.get(&n)) else {
                continue;
            };
            strings.push(name.clone());
            *index = Value::from(strings.len() - 1);
        }
        Ok(())
    }
}

/// A column of optional indices (`null` or negative for none).
fn column(value: &Value) -> Result<Vec<Option<u64>>> {
    let values = value.as_array().context("a column")?;
    Ok(values.iter().map(Value::as_u64).collect())
}
