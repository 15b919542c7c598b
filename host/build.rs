//! Lists the crates under `components/` so the test suite can demand a test
//! module for each: `foreach_component!(m)` expands to `m!(name);` per
//! component (`edge-fn` becomes `edge_fn`). A component without tests is then
//! a compile error in `tests/components.rs`, not a silent gap.

use std::path::Path;

fn main() {
    let components = Path::new(env!("CARGO_MANIFEST_DIR")).join("../components");
    println!("cargo::rerun-if-changed={}", components.display());
    // Worktrees sharing one CARGO_TARGET_DIR share this build script's
    // output (cargo hashes path packages relative to the workspace), and the
    // path above only says when *that* worktree's list changed. Rerun when
    // cargo is started from another directory, so each worktree gets its own
    // list instead of the last one built.
    println!("cargo::rerun-if-env-changed=PWD");
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
