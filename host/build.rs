//! Lists the crates under `components/` so the test suite can demand a test
//! module for each: `foreach_component!(m)` expands to `m!(name);` per
//! component (`edge-fn` becomes `edge_fn`). A component without tests is then
//! a compile error in `tests/components.rs`, not a silent gap.

use std::path::Path;

fn main() {
    // Read at run time, not with `env!`: cargo reuses a build script's binary
    // for a copy of the workspace at another path (the shared target
    // directory, the tests' temporary workspaces), and a path compiled in
    // would then point at the other copy.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let components = Path::new(&manifest_dir).join("../components");
    // Relative to this package, so a checkout elsewhere sharing the target
    // directory still reruns this script against its own components.
    println!("cargo::rerun-if-changed=../components");
    let mut names: Vec<String> = std::fs::read_dir(&components)
        .expect("components/ is readable")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().replace('-', "_"))
        .collect();
    names.sort();
    let calls: String = names.iter().map(|n| format!("        $m!({n});\n")).collect();
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("components.rs");
    std::fs::write(
        out,
        format!("#[macro_export]\nmacro_rules! foreach_component {{\n    ($m:ident) => {{\n{calls}    }};\n}}\n"),
    )
    .unwrap();
}
