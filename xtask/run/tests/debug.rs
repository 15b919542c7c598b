//! `cargo xtask dist --debug`: the debug variant of edge-fn carries DWARF in
//! its core module and is a component wasmtime compiles with debug info on
//! (what `wasmtime run -g` and a debugger need).

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
    let paths = debug::dist_debug(&sh, &root, &["edge-fn".to_string()]).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(paths, vec![debug::debug_dir(&root).join("edge-fn.wasm")]);
    let bytes = std::fs::read(&paths[0]).unwrap();
    let modules = debug::module_custom_sections(&bytes).unwrap();
    let main = modules.iter().find(|sections| sections.iter().any(|s| s == ".debug_info"));
    let main = main.unwrap_or_else(|| panic!("no core module with .debug_info: {modules:?}"));
    for section in [".debug_line", ".debug_str", "name"] {
        assert!(main.iter().any(|s| s == section), "{section} missing: {main:?}");
    }
    // Never in the manifest: the shipped artifact's entry is the same.
    let manifest = std::fs::read_to_string(root.join("target/dist/manifest.json")).unwrap_or_default();
    assert!(!manifest.contains("debug/"), "the manifest names a debug build");

    let mut config = Config::new();
    config.wasm_component_model(true).debug_info(true);
    let engine = Engine::new(&config).unwrap();
    Component::new(&engine, &bytes).unwrap_or_else(|e| panic!("wasmtime cannot compile the debug build: {e:#}"));
}
