//! Packs the files the installed tool carries (the templates, the guest
//! library, the pinned WASI, edgekit's project file, the wasmCloud lattice's
//! sources: `edgekit_bundle::PARTS`) from this checkout into
//! `$OUT_DIR/bundle.bin`, which `main.rs` includes. So `cargo install`
//! copies them into the binary, and the checkout can go.

use std::path::Path;

fn main() {
    // Read at run time, not compiled in with `env!`: this script's binary is
    // reused from a target directory that other checkouts share.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest_dir).join("..");
    for part in edgekit_bundle::PARTS {
        println!("cargo:rerun-if-changed={}", root.join(part).display());
    }
    let entries = edgekit_bundle::collect(&root).unwrap_or_else(|e| {
        panic!("cannot read edgekit's files from {}: {e}; build cargo-edgekit from a whole checkout", root.display())
    });
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("bundle.bin");
    std::fs::write(&out, edgekit_bundle::encode(&entries))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
