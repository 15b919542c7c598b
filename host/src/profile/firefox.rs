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
//! thread's `stringArray`. Only names of the named modules' libraries
//! change (the main module, or each part of a composition); the shims keep
//! wasmtime's.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;

/// What to rename: per library (by its name), defined function index to
/// name.
#[derive(Default)]
pub(super) struct Renames {
    libraries: Vec<(String, BTreeMap<u32, String>)>,
}

impl Renames {
    /// Renames the functions of `module`, a named core module profiled as
    /// the library `library`, with `names` (which count imported functions
    /// first, as the name section does).
    pub(super) fn add(&mut self, library: &str, module: &wasmtime::Module, names: &BTreeMap<u32, String>) {
        let imported = module.imports().filter(|import| matches!(import.ty(), wasmtime::ExternType::Func(_))).count();
        let imported = u32::try_from(imported).unwrap_or(u32::MAX);
        let functions =
            names.iter().filter_map(|(index, name)| Some((index.checked_sub(imported)?, name.clone()))).collect();
        self.libraries.push((library.to_string(), functions));
    }

    /// The profile `raw` (the JSON wasmtime wrote) with the named modules'
    /// functions named.
    pub(super) fn apply(&self, raw: &[u8]) -> Result<Vec<u8>> {
        let mut profile: Value = serde_json::from_slice(raw).context("wasmtime's profile is not JSON")?;
        let libs = profile["libs"].as_array().context("the profile has no `libs`")?;
        // Library index to the names of its functions, for the named ones.
        let by_library: Vec<Option<&BTreeMap<u32, String>>> = libs
            .iter()
            .map(|lib| self.libraries.iter().find(|(name, _)| lib["name"] == name.as_str()).map(|(_, names)| names))
            .collect();
        let threads = profile["threads"].as_array_mut().context("the profile has no `threads`")?;
        for thread in threads {
            rename_thread(thread, &by_library).context(
                "the profile is not in the Firefox Profiler format edgekit reads (processed profile, \
                 fxprof-processed-profile 0.8 as wasmtime 48 writes it)",
            )?;
        }
        Ok(serde_json::to_vec(&profile)?)
    }
}

fn rename_thread(thread: &mut Value, by_library: &[Option<&BTreeMap<u32, String>>]) -> Result<()> {
    let libs_of_resources: Vec<Option<u64>> = column(&thread["resourceTable"]["lib"])?;
    let resources: Vec<Option<u64>> = column(&thread["funcTable"]["resource"])?;
    let symbol_libs: Vec<Option<u64>> = column(&thread["nativeSymbols"]["libIndex"])?;
    let mut strings: Vec<String> = serde_json::from_value(thread["stringArray"].take()).context("stringArray")?;
    let names_of = |lib: Option<u64>| lib.and_then(|lib| by_library.get(lib as usize).copied().flatten());
    // A function's library is its resource's.
    let func_names: Vec<_> = resources
        .iter()
        .map(|r| names_of(r.and_then(|r| libs_of_resources.get(r as usize).copied().flatten())))
        .collect();
    rename_column(&mut thread["funcTable"]["name"], &func_names, &mut strings)?;
    let symbol_names: Vec<_> = symbol_libs.into_iter().map(names_of).collect();
    rename_column(&mut thread["nativeSymbols"]["name"], &symbol_names, &mut strings)?;
    thread["stringArray"] = serde_json::to_value(strings)?;
    Ok(())
}

/// Points each name in `names` whose row belongs to a named library, and
/// which is wasmtime's `<wasm function N>`, at a new string holding the
/// name from the names file.
fn rename_column(
    names: &mut Value,
    libraries: &[Option<&BTreeMap<u32, String>>],
    strings: &mut Vec<String>,
) -> Result<()> {
    let indices = names.as_array_mut().context("a name column")?;
    for (row, index) in indices.iter_mut().enumerate() {
        let Some(functions) = libraries.get(row).copied().flatten() else { continue };
        let Some(old) = index.as_u64().and_then(|i| strings.get(i as usize)) else { continue };
        let defined = old.strip_prefix("<wasm function ").and_then(|rest| rest.strip_suffix('>'));
        let Some(name) = defined.and_then(|n| n.parse::<u32>().ok()).and_then(|n| functions.get(&n)) else {
            continue;
        };
        strings.push(name.clone());
        *index = Value::from(strings.len() - 1);
    }
    Ok(())
}

/// A column of optional indices (`null` or negative for none).
fn column(value: &Value) -> Result<Vec<Option<u64>>> {
    let values = value.as_array().context("a column")?;
    Ok(values.iter().map(Value::as_u64).collect())
}
