//! Lists the crates under `components/` so the test suite runs each one's
//! tests: `component_tests!()` expands to one module per component,
//! `#[path = "../../components/<name>/edgekit-test.rs"] mod <name>;`
//! (`edge-fn` becomes `edge_fn`), for `tests/components.rs`; a crate built
//! for both WASI lines tests each line's artifact in a module of its own
//! inside (`edge_fn::p2`, `edge_fn::p3`). A component without that file is
//! then a compile error, not a silent gap.

use std::path::Path;

fn main() {
    // Read at run time, not with `env!`: cargo reuses a build script's binary
    // for a copy of the workspace at another path (the shared target
    // directory, the tests' temporary workspaces), and a path compiled in
    // would then point at the other copy. The paths written out are relative
    // to host/tests/ for the same reason.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let components = Path::new(&manifest_dir).join("../components");
    // Relative to this package, so a checkout elsewhere sharing the target
    // directory still reruns this script against its own components.
    println!("cargo::rerun-if-changed=../components");
    let mut names: Vec<String> = std::fs::read_dir(&components)
        .expect("components/ is readable")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // A directory's scan sees new and changed files, not removed ones: each
    // component's manifest, gone, makes the list be read again (`rm`, or a
    // crate merged into another).
    for name in &names {
        println!("cargo::rerun-if-changed=../components/{name}/Cargo.toml");
    }
    let modules: String = names
        .iter()
        .map(|n| {
            format!(
                "        #[path = \"../../components/{n}/edgekit-test.rs\"]\n        mod {};\n",
                n.replace('-', "_")
            )
        })
        .collect();
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("components.rs");
    std::fs::write(
        out,
        format!("#[macro_export]\nmacro_rules! component_tests {{\n    () => {{\n{modules}    }};\n}}\n"),
    )
    .expect("OUT_DIR is writable");
}
