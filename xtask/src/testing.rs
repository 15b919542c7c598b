//! What the wings' tests share: temporary copies of the workspace, WIT and
//! fabricated components, dist artifacts, and assertions on error messages.
//! Compiled only for tests.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use wit_parser::{LiftLowerAbi, ManglingAndAbi};

use crate::pipeline::componentize;
use crate::wit::{Pins, Wit};
use crate::workspace;

/// A fresh temporary directory, removed when dropped.
pub fn tempdir(label: &str) -> TempDir {
    tempfile::Builder::new().prefix(&format!("edgekit-{label}-")).tempdir().expect("a temporary directory")
}

/// Writes `text` to `root/rel`, creating its directory.
pub fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Copies a source tree, leaving out build output (`target/`); a symbolic
/// link (a component's `edgekit` link to the guest library) is copied as
/// the same link.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        let target = to.join(path.file_name().unwrap());
        if path.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&path).unwrap(), &target).unwrap();
        } else if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A copy of the files a project needs to build its components and run
/// the guards: the pins, the components, the project file (budgets and
/// compositions), README, toolchain file and cargo's configuration (no
/// xtask or host: nothing here builds them).
///
/// `.cargo/config.toml` comes too: its `[env]` is part of every build's
/// fingerprint, and a copy without it, sharing the target directory, would
/// rebuild the workspace's dependencies under the same names, so that the
/// workspace's next build rebuilds them back.
pub fn workspace_copy(label: &str) -> TempDir {
    let root = workspace::root();
    let tmp = tempdir(label);
    for dir in ["wit", "components", "guest", ".cargo"] {
        copy_tree(&root.join(dir), &tmp.path().join(dir));
    }
    for file in ["README.md", crate::project::FILE, "rust-toolchain.toml"] {
        std::fs::copy(root.join(file), tmp.path().join(file)).unwrap();
    }
    tmp
}

/// Both pinned lines, `wit/` (0.2) and `wit/p3/` (0.3).
pub fn all_pins() -> Pins {
    Pins::load(&workspace::root().join("wit")).unwrap()
}

/// A component's own WIT, `components/<name>/wit/`, resolved against the
/// pins: every world it is built for (`edge-fn` holds `edge-fn` and
/// `edge-fn-p3`).
pub fn component_wit(name: &str) -> Wit {
    all_pins().component(&workspace::root().join("components").join(name).join("wit")).unwrap()
}

/// wit-component's dummy core module for `world`, with the world embedded
/// as wit-bindgen would: exactly the imports and exports of the world.
pub fn dummy_core(wit: &Wit, world: &str) -> Vec<u8> {
    let world = wit.world(world, Path::new("test")).unwrap();
    let mut module = wit_component::dummy_module(&wit.resolve, world, ManglingAndAbi::Legacy(LiftLowerAbi::Sync));
    wit_component::embed_component_metadata(&mut module, &wit.resolve, world, Default::default(), false).unwrap();
    module
}

/// A component for `world` made from its dummy core module.
pub fn fabricate(wit: &Wit, world: &str) -> Vec<u8> {
    componentize::componentize(&dummy_core(wit, world)).unwrap()
}

/// A copy of component `component`'s WIT with one more world,
/// `<world>-plus`: its world `world` and `import`, resolved against the
/// pins.
pub fn wit_with_extra_import(label: &str, component: &str, world: &str, import: &str) -> (TempDir, Wit) {
    let tmp = tempdir(label);
    let dir = tmp.path().join("wit");
    copy_tree(&workspace::root().join("components").join(component).join("wit"), &dir);
    write(
        &dir,
        &format!("{world}-plus.wit"),
        &format!(
            "package edgekit:components@0.1.0;\n\nworld {world}-plus {{\n  include {world};\n  import {import};\n}}\n"
        ),
    );
    let wit = all_pins().component(&dir).unwrap();
    (tmp, wit)
}

/// A dist artifact, or a one-line failure saying how to make it.
pub fn dist_artifact(name: &str) -> (PathBuf, Vec<u8>) {
    let path = workspace::dist_dir(&workspace::root()).join(format!("{name}.wasm"));
    match std::fs::read(&path) {
        Ok(bytes) => (path, bytes),
        Err(_) => panic!("{} is missing: run `cargo xtask dist` first", path.display()),
    }
}

/// `bytes` with a custom section of `pad` bytes appended: still a valid
/// component, just bigger.
pub fn padded(bytes: &[u8], pad: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let section = wasm_encoder::CustomSection { name: "padding".into(), data: vec![0u8; pad].into() };
    out.push(wasm_encoder::Section::id(&section));
    wasm_encoder::Encode::encode(&section, &mut out);
    componentize::validate(&out).unwrap();
    out
}

pub fn error_of<T>(result: anyhow::Result<T>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

pub fn assert_mentions(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(message.contains(needle), "message does not mention `{needle}`:\n{message}");
    }
}
