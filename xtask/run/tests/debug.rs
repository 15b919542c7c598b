//! `cargo xtask dist --debug`: the debug variants of edge-fn, one per WASI
//! line, carry DWARF in their core module and are components wasmtime
//! compiles with debug info on (what `wasmtime run -g` and a debugger
//! need).

use wasmtime::component::Component;
use wasmtime::{Config, Engine};
use xtask::pipeline::debug;
use xtask::workspace;

#[test]
#[ignore = "builds edge-fn with DWARF (about a minute the first time); .ci/run runs it"]
fn dist_debug_edge_fn_has_dwarf_and_loads_with_debug_info() {
    let root = workspace::root();
    let sh = xshell::Shell::new().unwrap();
    sh.change_dir(&root);
    // The crate: a debug build of each line it is built for.
    let paths = debug::dist_debug(&sh, &root, &["edge-fn".to_string()]).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        paths,
        vec![debug::debug_dir(&root).join("edge-fn.wasm"), debug::debug_dir(&root).join("edge-fn-p3.wasm")]
    );
    let mut config = Config::new();
    config.wasm_component_model(true).wasm_component_model_async(true).debug_info(true);
    let engine = Engine::new(&config).unwrap();
    for path in &paths {
        let bytes = std::fs::read(path).unwrap();
        let modules = debug::module_custom_sections(&bytes).unwrap();
        let main = modules.iter().find(|sections| sections.iter().any(|s| s == ".debug_info"));
        let main = main.unwrap_or_else(|| panic!("{}: no core module with .debug_info: {modules:?}", path.display()));
        for section in [".debug_line", ".debug_str", "name"] {
            assert!(main.iter().any(|s| s == section), "{}: {section} missing: {main:?}", path.display());
        }
        Component::new(&engine, &bytes)
            .unwrap_or_else(|e| panic!("wasmtime cannot compile the debug build {}: {e:#}", path.display()));
    }
    // Never in the manifest: the shipped artifacts' entries are the same.
    let manifest = std::fs::read_to_string(root.join("target/dist/manifest.json")).unwrap_or_default();
    assert!(!manifest.contains("debug/"), "the manifest names a debug build");
}
