//! Lists the crates under `components/` so the test suite runs each one's
//! tests: `component_tests!()` expands to one module per component,
//! `#[path = "../../components/<name>/edgekit-test.rs"] mod <name>;`
//! (`edge-fn` becomes `edge_fn`), for `tests/components.rs`, and the table
//! `COMPONENT_LINES` of the artifacts a crate built for several WASI lines
//! has (its lines table), which `lines()` there runs each test against. A
//! component without that file is then a compile error, not a silent gap.

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
    // Each crate's lines table (`p2 = "edge-fn"`, `p3 = "edge-fn-p3"`): the
    // artifacts its tests run against, one per WASI line, for `lines()`.
    let lines: String = names
        .iter()
        .map(|n| {
            let manifest = std::fs::read_to_string(components.join(n).join("Cargo.toml")).unwrap_or_default();
            let artifacts: Vec<String> = lines_table(&manifest).iter().map(|a| format!("{a:?}")).collect();
            format!("            ({n:?}, &[{}]),\n", artifacts.join(", "))
        })
        .collect();
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("components.rs");
    std::fs::write(
        out,
        format!(
            "#[macro_export]\nmacro_rules! component_tests {{\n    () => {{\n{modules}\n        \
             /// Each component and the artifacts of its WASI lines, from its lines table.\n        \
             const COMPONENT_LINES: &[(&str, &[&str])] = &[\n{lines}        ];\n    }};\n}}\n"
        ),
    )
    .expect("OUT_DIR is writable");
}

/// The worlds (artifact names) of a manifest's `[package.metadata.edgekit.lines]`
/// table, in its order; none for a crate of one world. A line-by-line read,
/// as `.ci/run` does: the table holds `pN = "world"` pairs only.
fn lines_table(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .skip_while(|l| l.trim() != "[package.metadata.edgekit.lines]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            key.trim().starts_with('p').then(|| value.trim().trim_matches('"').to_string())
        })
        .collect()
}
