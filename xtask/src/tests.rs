//! The pipeline's own tests: the workspace rules (tidy), and every kind of bad
//! input getting a clear error that names the file and the fix. They run in
//! process on temporary copies of `wit/` and fabricated components, so no
//! cargo build is needed.

use std::path::{Path, PathBuf};

use wit_parser::{LiftLowerAbi, ManglingAndAbi};

use crate::wit::Wit;
use crate::{componentize, optimize, project, roundtrip, strip, tidy};

#[test]
fn tidy() {
    if let Err(e) = tidy::check(&project::root()) {
        panic!("{e:#}");
    }
}

#[test]
fn tidy_names_what_a_new_component_lacks() {
    let tmp = wit_copy("tidy");
    tmp.write(
        "components/stray/Cargo.toml",
        "[package]\nname = \"stray\"\n\n[package.metadata.component.target]\nworld = \"stray\"\n",
    );
    tmp.write("components/stray/src/lib.rs", "fn main() {}\n");
    tmp.write("README.md", "| `greeter` | ... |\n");
    tmp.write("host/tests/components.rs", "//! Tests.\nmod greeter {}\n");
    let message = error_of(tidy::check(&tmp.0));
    assert_mentions(
        &message,
        &[
            "names world `stray`, which does not exist",
            "stray has no tests: add `mod stray { ... }`",
            "stray is not in README.md",
            "lib.rs: start the file with a `//!` comment",
        ],
    );
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("edgekit-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A copy of the workspace's `wit/` directory in a temp dir.
fn wit_copy(label: &str) -> TempDir {
    let tmp = TempDir::new(label);
    copy_dir(&project::root().join("wit"), &tmp.0.join("wit"));
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn real_wit() -> Wit {
    Wit::load(&project::root().join("wit")).unwrap()
}

/// A component for `world` whose core module is wit-component's dummy: it
/// has exactly the imports and exports of the world.
fn fabricate(wit: &Wit, world: &str) -> Vec<u8> {
    let world = wit.world(world, Path::new("test")).unwrap();
    let mut module = wit_component::dummy_module(&wit.resolve, world, ManglingAndAbi::Legacy(LiftLowerAbi::Sync));
    wit_component::embed_component_metadata(&mut module, &wit.resolve, world, Default::default(), false)
        .unwrap();
    componentize::componentize(&module).unwrap()
}

fn error_of<T>(result: anyhow::Result<T>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

fn assert_mentions(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(message.contains(needle), "message does not mention `{needle}`:\n{message}");
    }
}

#[test]
fn wit_syntax_error_names_file_and_line() {
    let tmp = wit_copy("broken-wit");
    tmp.write("wit/broken.wit", "package edgekit:components@0.1.0;\n\nworld broken {\n  export oops\n}\n");
    let message = error_of(Wit::load(&tmp.0.join("wit")));
    assert_mentions(&message, &["invalid WIT", "broken.wit:5:1", "fix the file"]);
}

#[test]
fn unknown_world_names_manifest_and_lists_worlds() {
    let tmp = TempDir::new("unknown-world");
    let manifest = tmp.write(
        "components/lost/Cargo.toml",
        "[package]\nname = \"lost\"\n\n[package.metadata.component.target]\nworld = \"no-such-world\"\n",
    );
    let component = project::load(&tmp.0.join("components/lost")).unwrap();
    let message = error_of(real_wit().world(&component.world, &component.manifest));
    assert_mentions(&message, &[&manifest.display().to_string(), "`no-such-world`", "edge-fn, greeter"]);
}

#[test]
fn component_without_world_is_refused() {
    let tmp = TempDir::new("no-world");
    tmp.write("components/bare/Cargo.toml", "[package]\nname = \"bare\"\n");
    let message = error_of(project::load(&tmp.0.join("components/bare")));
    assert_mentions(&message, &["does not name its world", "[package.metadata.component.target]"]);
}

#[test]
fn missing_component_directory_is_named() {
    let message = error_of(project::components(&project::root(), &["nope".to_string()]));
    assert_mentions(&message, &["no component `nope`", "components/nope", "edge-fn, greeter"]);
}

#[test]
fn artifact_with_other_exports_fails_round_trip() {
    let wit = real_wit();
    let edge_fn = fabricate(&wit, "edge-fn");
    let greeter = wit.world("greeter", Path::new("test")).unwrap();
    let message = error_of(roundtrip::check(&wit, greeter, Path::new("greeter.wasm"), &edge_fn));
    assert_mentions(
        &message,
        &["exports differ from world `greeter`", "greeter.wit", "edgekit:greeter/api@0.1.0", "wasi:http/incoming-handler"],
    );
}

#[test]
fn undeclared_import_is_named() {
    let tmp = wit_copy("extra-import");
    tmp.write(
        "wit/greeter-env.wit",
        "package edgekit:components@0.1.0;\n\nworld greeter-env {\n  include greeter;\n  import wasi:cli/environment@0.2.12;\n}\n",
    );
    let wit = Wit::load(&tmp.0.join("wit")).unwrap();
    let component = fabricate(&wit, "greeter-env");
    let greeter = wit.world("greeter", Path::new("test")).unwrap();
    let message = error_of(roundtrip::check(&wit, greeter, Path::new("greeter.wasm"), &component));
    assert_mentions(&message, &["wasi:cli/environment@0.2.12", "does not declare", "greeter.wit"]);
}

#[test]
fn same_names_other_types_fail_round_trip() {
    let tmp = wit_copy("other-types");
    let greeter = std::fs::read_to_string(tmp.0.join("wit/greeter.wit")).unwrap();
    tmp.write("wit/greeter.wit", &greeter.replace("greet: func(n: name) -> string;", "greet: func(n: name) -> u32;"));
    let changed = Wit::load(&tmp.0.join("wit")).unwrap();
    let component = fabricate(&changed, "greeter");
    let wit = real_wit();
    let world = wit.world("greeter", Path::new("test")).unwrap();
    let message = error_of(roundtrip::check(&wit, world, Path::new("greeter.wasm"), &component));
    assert_mentions(&message, &["not its types", "rebuild it against the current WIT"]);
}

#[test]
fn fabricated_artifacts_pass_round_trip() {
    let wit = real_wit();
    for name in ["greeter", "edge-fn"] {
        let world = wit.world(name, Path::new("test")).unwrap();
        let surface = roundtrip::check(&wit, world, Path::new("x.wasm"), &fabricate(&wit, name)).unwrap();
        if name == "greeter" {
            assert!(surface.imports.is_empty(), "{:?}", surface.imports);
        }
    }
}

#[test]
fn strip_and_optimize_keep_the_world() {
    let wit = real_wit();
    let world = wit.world("edge-fn", Path::new("test")).unwrap();
    let mut module = wit_component::dummy_module(&wit.resolve, world, ManglingAndAbi::Legacy(LiftLowerAbi::Sync));
    wit_component::embed_component_metadata(&mut module, &wit.resolve, world, Default::default(), false)
        .unwrap();
    // Sections rustc leaves behind must not survive.
    for name in ["name", "producers", ".debug_info"] {
        let section = wasm_encoder::CustomSection { name: name.into(), data: (&[0u8, 0][..]).into() };
        module.push(wasm_encoder::Section::id(&section));
        wasm_encoder::Encode::encode(&section, &mut module);
    }
    let stripped = strip::strip(&module, false).unwrap();
    let customs: Vec<String> = wasmparser::Parser::new(0)
        .parse_all(&stripped)
        .filter_map(|p| match p.unwrap() {
            wasmparser::Payload::CustomSection(c) => Some(c.name().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(customs.len(), 1, "{customs:?}");
    assert!(customs[0].starts_with("component-type"), "{customs:?}");
    let tmp = TempDir::new("optimize");
    let optimized = optimize::optimize(&stripped, &tmp.0).unwrap();
    let component = componentize::componentize(&optimized).unwrap();
    roundtrip::check(&wit, world, Path::new("edge-fn.wasm"), &component).unwrap();
}
