//! The pipeline's own tests: the workspace rules (tidy), and every kind of bad
//! input getting a clear error that names the file and the fix. They run in
//! process on temporary copies of `wit/` and fabricated components, so no
//! cargo build is needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wit_parser::{LiftLowerAbi, ManglingAndAbi};

use crate::wit::Wit;
use crate::{
    componentize, dist, drift, explain, flags, manifest, new, optimize, project, roundtrip, size, strip, tidy, witbump,
};

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
    copy_tree(&project::root().join("wit"), &tmp.0.join("wit"));
    tmp
}

fn real_wit() -> Wit {
    Wit::load(&project::root().join("wit")).unwrap()
}

/// wit-component's dummy core module for `world`, with the world embedded
/// as wit-bindgen would: exactly the imports and exports of the world.
fn dummy_core(wit: &Wit, world: &str) -> Vec<u8> {
    let world = wit.world(world, Path::new("test")).unwrap();
    let mut module = wit_component::dummy_module(&wit.resolve, world, ManglingAndAbi::Legacy(LiftLowerAbi::Sync));
    wit_component::embed_component_metadata(&mut module, &wit.resolve, world, Default::default(), false)
        .unwrap();
    module
}

/// A component for `world` made from its dummy core module.
fn fabricate(wit: &Wit, world: &str) -> Vec<u8> {
    componentize::componentize(&dummy_core(wit, world)).unwrap()
}

/// A copy of `wit/` with one more world, `<base>-plus`: `base` and `import`.
fn wit_with_extra_import(label: &str, base: &str, import: &str) -> (TempDir, Wit) {
    let tmp = wit_copy(label);
    tmp.write(
        &format!("wit/{base}-plus.wit"),
        &format!("package edgekit:components@0.1.0;\n\nworld {base}-plus {{\n  include {base};\n  import {import};\n}}\n"),
    );
    let wit = Wit::load(&tmp.0.join("wit")).unwrap();
    (tmp, wit)
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
    let (_tmp, wit) = wit_with_extra_import("extra-import", "greeter", "wasi:cli/environment@0.2.12");
    let component = fabricate(&wit, "greeter-plus");
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
    let mut module = dummy_core(&wit, "edge-fn");
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

// ---- Size budgets, attribution, WASI drift and reproducibility (issue 3) ----

/// A dist artifact, or a one-line failure saying how to make it.
fn dist_artifact(name: &str) -> (PathBuf, Vec<u8>) {
    let path = project::dist_dir(&project::root()).join(format!("{name}.wasm"));
    match std::fs::read(&path) {
        Ok(bytes) => (path, bytes),
        Err(_) => panic!("{} is missing: run `cargo xtask dist` first", path.display()),
    }
}

/// `bytes` with a custom section of `pad` bytes appended: still a valid
/// component, just bigger.
fn padded(bytes: &[u8], pad: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let section = wasm_encoder::CustomSection { name: "padding".into(), data: vec![0u8; pad].into() };
    out.push(wasm_encoder::Section::id(&section));
    wasm_encoder::Encode::encode(&section, &mut out);
    componentize::validate(&out).unwrap();
    out
}

fn budgets() -> size::Budgets {
    size::Budgets::load(&project::root()).unwrap()
}

fn sizes(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(n, b)| (n.to_string(), *b)).collect()
}

fn outcome_for(outcomes: &[size::Outcome], name: &str) -> size::Outcome {
    outcomes.iter().find(|o| o.component == name).unwrap().clone()
}

#[test]
fn budgets_cover_exactly_the_components() {
    let mut names: Vec<String> = project::components(&project::root(), &[]).unwrap().into_iter().map(|c| c.name).collect();
    names.extend(crate::compose::compositions(&project::root()).unwrap().iter().map(|c| c.name()));
    names.sort();
    let budgeted: Vec<String> = budgets().components.keys().cloned().collect();
    assert_eq!(names, budgeted, "every component needs an entry in {}", size::BUDGETS_FILE);
}

#[test]
fn padded_past_budget_fails() {
    let (_, bytes) = dist_artifact("greeter");
    let b = budgets();
    let budget = b.components["greeter"].budget;
    let fat = padded(&bytes, budget);
    let outcomes = size::evaluate(&b, &sizes(&[("greeter", fat.len()), ("edge-fn", b.components["edge-fn"].baseline)]), 1.0);
    let o = outcome_for(&outcomes, "greeter");
    assert!(!o.ok);
    assert_mentions(&o.message, &["over its budget", "cargo xtask size --explain greeter"]);
    assert!(outcome_for(&outcomes, "edge-fn").ok);
}

#[test]
fn growth_past_tolerance_fails_and_names_bless() {
    let b = budgets();
    let baseline = b.components["greeter"].baseline;
    let grown = baseline + baseline / 50 + 1; // 2%: within the budget, past the 1% tolerance
    assert!(grown <= b.components["greeter"].budget);
    let o = outcome_for(&size::evaluate(&b, &sizes(&[("greeter", grown)]), 1.0), "greeter");
    assert!(!o.ok);
    assert_mentions(&o.message, &["grew 2.0%", "cargo xtask size --bless", "--diff"]);
    // A looser tolerance, as `--tolerance 5` gives, passes the same growth.
    assert!(outcome_for(&size::evaluate(&b, &sizes(&[("greeter", grown)]), 5.0), "greeter").ok);
}

#[test]
fn shrinking_passes_and_says_so() {
    let b = budgets();
    let smaller = b.components["greeter"].baseline - 100;
    let o = outcome_for(&size::evaluate(&b, &sizes(&[("greeter", smaller)]), 1.0), "greeter");
    assert!(o.ok);
    assert_mentions(&o.message, &["shrank by 100 bytes", "--bless"]);
}

#[test]
fn missing_entry_and_stale_entry_fail() {
    let b = budgets();
    let outcomes = size::evaluate(&b, &sizes(&[("greeter", 2000), ("newcomer", 1000)]), 1.0);
    let newcomer = outcome_for(&outcomes, "newcomer");
    assert!(!newcomer.ok);
    assert_mentions(&newcomer.message, &["no entry in size-budgets.toml", "[components.newcomer]", "--bless"]);
    let stale = outcome_for(&outcomes, "edge-fn");
    assert!(!stale.ok);
    assert_mentions(&stale.message, &["not a component in target/dist", "remove [components.edge-fn]"]);
}

#[test]
fn size_reports_render_in_every_format() {
    let outcomes = size::evaluate(&budgets(), &sizes(&[("greeter", 5000), ("edge-fn", 100)]), 1.0);
    let table = size::render(&outcomes, flags::Format::Table);
    assert!(table.contains("greeter") && table.contains("FAIL"), "{table}");
    let markdown = size::render(&outcomes, flags::Format::Markdown);
    assert!(markdown.starts_with("| component | baseline | now |"), "{markdown}");
    assert!(markdown.contains("over its budget"), "{markdown}");
    let json: serde_json::Value = serde_json::from_str(&size::render(&outcomes, flags::Format::Json)).unwrap();
    assert_eq!(json["ok"], false);
    // One row per budgeted component, measured or not.
    assert_eq!(json["components"].as_array().unwrap().len(), budgets().components.len());
}

#[test]
fn explain_names_the_functions_of_the_shipped_artifact() {
    let (path, bytes) = dist_artifact("edge-fn");
    let b = explain::load(&path).unwrap();
    assert_eq!(b.total, bytes.len());
    let main = b.modules.iter().max_by_key(|m| m.bytes).unwrap();
    let names: Vec<&str> = main.functions.iter().map(|f| f.what.as_str()).collect();
    assert!(names.contains(&"wasi:http/incoming-handler@0.2.12#handle"), "{names:?}");
    assert!(names.iter().any(|n| n.contains("lol_alloc")), "{names:?}");
    // The names came from the side file: the artifact itself ships none.
    assert!(!main.sections.iter().any(|s| s.what == "custom `name`"), "{:?}", main.sections);
    let report = explain::render("edge-fn", &b, 5);
    assert!(report.contains("largest functions") && report.contains("component types"), "{report}");
}

#[test]
fn explain_diff_shows_what_grew() {
    let (_, bytes) = dist_artifact("greeter");
    let old = explain::breakdown(&bytes, None).unwrap();
    let new = explain::breakdown(&padded(&bytes, 3000), None).unwrap();
    let diff = explain::render_diff("greeter", &old, &new, 5);
    assert!(diff.contains("custom `padding`"), "{diff}");
    assert!(diff.contains("+300"), "{diff}");
}

/// A copy of `wit/` with every WASI reference moved from 0.2.12 to `version`.
fn wit_at_version(label: &str, version: &str) -> TempDir {
    let tmp = wit_copy(label);
    for dir in [tmp.0.join("wit"), tmp.0.join("wit/deps")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wit") {
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, text.replace("0.2.12", version)).unwrap();
            }
        }
    }
    tmp
}

#[test]
fn import_at_another_wasi_version_is_drift() {
    let old = wit_at_version("old-wasi", "0.2.9");
    let old_wit = Wit::load(&old.0.join("wit")).unwrap();
    let component = fabricate(&old_wit, "edge-fn");
    let surface = roundtrip::decode(Path::new("edge-fn.wasm"), &component).unwrap();
    let message = error_of(drift::check(&real_wit(), Path::new("edge-fn.wasm"), &component, &surface));
    assert_mentions(&message, &["wasi:http/incoming-handler@0.2.9", "pins WASI 0.2.12", "left behind"]);
}

#[test]
fn non_proxy_import_in_http_component_is_refused() {
    let (_tmp, wit) = wit_with_extra_import("non-proxy", "edge-fn", "wasi:cli/environment@0.2.12");
    let component = fabricate(&wit, "edge-fn-plus");
    let surface = roundtrip::decode(Path::new("edge-fn.wasm"), &component).unwrap();
    let message = error_of(drift::check(&wit, Path::new("edge-fn.wasm"), &component, &surface));
    assert_mentions(&message, &["wasi:cli/environment@0.2.12", "wasi:http/proxy@0.2.12 world does not offer"]);
}

#[test]
fn dist_artifacts_pass_the_drift_check() {
    let wit = real_wit();
    for name in ["greeter", "edge-fn"] {
        let (path, bytes) = dist_artifact(name);
        drift::check(&wit, &path, &bytes, &roundtrip::decode(&path, &bytes).unwrap()).unwrap();
    }
}

#[test]
fn wasi_bump_revendors_and_catches_a_component_left_behind() {
    let tmp = wit_copy("bump");
    let sh = xshell::Shell::new().unwrap();
    witbump::bump(&sh, &tmp.0, "0.2.9").unwrap();
    let bumped = Wit::load(&tmp.0.join("wit")).unwrap();
    assert_eq!(bumped.wasi_version().unwrap(), "0.2.9");
    let edge_fn = std::fs::read_to_string(tmp.0.join("wit/edge-fn.wit")).unwrap();
    assert!(edge_fn.contains("wasi:http/incoming-handler@0.2.9"), "{edge_fn}");
    // The dist artifact, built before the bump, is now drift.
    let (path, bytes) = dist_artifact("edge-fn");
    let message = error_of(drift::check(&bumped, &path, &bytes, &roundtrip::decode(&path, &bytes).unwrap()));
    assert_mentions(&message, &["@0.2.12", "pins WASI 0.2.9"]);
    // An unknown version is refused and wit/ is left alone.
    let message = error_of(witbump::bump(&sh, &tmp.0, "0.2.99"));
    assert_mentions(&message, &["no known source for WASI 0.2.99", "WIT_SOURCES"]);
    assert_eq!(Wit::load(&tmp.0.join("wit")).unwrap().wasi_version().unwrap(), "0.2.9");
}

/// Two builds from clean, in two checkouts at different paths with separate
/// target directories, give byte-identical artifacts.
#[test]
fn clean_builds_are_reproducible() {
    let root = project::root();
    let sh = xshell::Shell::new().unwrap();
    let mut hashes = Vec::new();
    for label in ["repro-a", "repro-b-longer-path"] {
        let tmp = TempDir::new(label);
        for file in ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml"] {
            std::fs::copy(root.join(file), tmp.0.join(file)).unwrap();
        }
        for dir in ["wit", "components", "xtask", "host"] {
            copy_tree(&root.join(dir), &tmp.0.join(dir));
        }
        let _env = sh.push_env("CARGO_TARGET_DIR", tmp.0.join("target"));
        let (_, artifacts) = dist::produce(&sh, &tmp.0, &[]).unwrap();
        hashes.push(artifacts.iter().map(|a| (a.name.clone(), manifest::sha256_hex(&a.bytes))).collect::<Vec<_>>());
    }
    assert_eq!(hashes[0], hashes[1]);
}

/// Copies a source tree, leaving out build output.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

// ---- `cargo xtask new` (issue 4) ----

/// The files a `new` can touch, copied into a temp dir: wit/, components/,
/// the README, the host tests and the budgets.
fn new_copy(label: &str) -> TempDir {
    let root = project::root();
    let tmp = wit_copy(label);
    copy_tree(&root.join("components"), &tmp.0.join("components"));
    for file in ["README.md", "size-budgets.toml", "compose.toml", "host/tests/components.rs"] {
        std::fs::create_dir_all(tmp.0.join(file).parent().unwrap()).unwrap();
        std::fs::copy(root.join(file), tmp.0.join(file)).unwrap();
    }
    tmp
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn new_refuses_bad_names_existing_directories_and_unknown_templates() {
    let tmp = new_copy("new-refused");
    let before = snapshot(&tmp.0);
    for (name, template, expected) in [
        ("Orders", "greeter", "`Orders` is not a valid component name"),
        ("9lives", "greeter", "`9lives` is not a valid component name"),
        ("orders--api", "greeter", "is not a valid component name"),
        ("orders_api", "greeter", "is not a valid component name"),
        ("type", "greeter", "`type` is a Rust or WIT keyword"),
        ("edge-fn", "greeter", "components/edge-fn already exists"),
        ("orders", "nope", "no template `nope`: the templates are the components under components/ (command, edge-fn, greeter"),
    ] {
        assert_mentions(&error_of(new::create(&tmp.0, name, template)), &[expected]);
        assert!(snapshot(&tmp.0) == before, "`new {name} --template {template}` changed files");
    }
}

#[test]
fn new_renames_everything_and_passes_tidy() {
    let tmp = new_copy("new-renames");
    new::create(&tmp.0, "hello-world", "greeter").unwrap();
    tidy::check(&tmp.0).unwrap();
    let read = |rel: &str| std::fs::read_to_string(tmp.0.join(rel)).unwrap();
    assert_mentions(&read("wit/hello-world.wit"), &["world hello-world {", "package edgekit:hello-world@0.1.0 {"]);
    assert_mentions(
        &read("components/hello-world/src/lib.rs"),
        &["world: \"hello-world\"", "exports::edgekit::hello_world::api", "struct HelloWorld;", "export!(HelloWorld);"],
    );
    assert_mentions(&read("components/hello-world/Cargo.toml"), &["name = \"hello-world\"", "world = \"hello-world\""]);
    assert_mentions(&read("host/tests/components.rs"), &["mod hello_world {", "\"edgekit:hello-world/api@0.1.0\""]);
    assert_eq!(size::Budgets::load(&tmp.0).unwrap().components["hello-world"].baseline, 0);
    // The name is taken now.
    assert_mentions(&error_of(new::create(&tmp.0, "hello-world", "edge-fn")), &["already exists"]);
}

/// `new` from every template into a copy of the workspace, then the same
/// pipeline and tests CI runs, on the new components only. The copy's host
/// crate is renamed so its build never replaces the workspace's own in the
/// shared target directory.
#[test]
fn new_from_every_template_builds_and_passes_its_tests() {
    let root = project::root();
    let tmp = TempDir::new("new-all");
    for file in ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml", "README.md", "size-budgets.toml", "compose.toml"] {
        std::fs::copy(root.join(file), tmp.0.join(file)).unwrap();
    }
    for dir in ["wit", "components", "xtask", "host"] {
        copy_tree(&root.join(dir), &tmp.0.join(dir));
    }
    let edit = |rel: &str, from: &str, to: &str| {
        let text = std::fs::read_to_string(tmp.0.join(rel)).unwrap();
        assert!(text.contains(from), "{rel} has no `{from}`");
        std::fs::write(tmp.0.join(rel), text.replacen(from, to, 1)).unwrap();
    };
    edit("host/Cargo.toml", "name = \"edgekit-host\"", "name = \"edgekit-host-copy\"");
    edit("host/Cargo.toml", "[dependencies]", "[lib]\nname = \"edgekit_host\"\n\n[dependencies]");
    edit("xtask/Cargo.toml", "edgekit-host = { path = \"../host\" }", "edgekit-host = { path = \"../host\", package = \"edgekit-host-copy\" }");

    let templates: Vec<String> = project::components(&tmp.0, &[]).unwrap().into_iter().map(|c| c.name).collect();
    let names: Vec<String> = templates.iter().map(|t| format!("new-{t}")).collect();
    for (name, template) in names.iter().zip(&templates) {
        new::create(&tmp.0, name, template).unwrap();
    }
    tidy::check(&tmp.0).unwrap();

    let sh = xshell::Shell::new().unwrap();
    // The handlers of the copied compositions are built too.
    let mut build = names.clone();
    build.extend(crate::compose::compositions(&tmp.0).unwrap().into_iter().map(|c| c.handler));
    let (wit, artifacts) = dist::produce(&sh, &tmp.0, &build).unwrap();
    dist::write(&project::dist_dir(&tmp.0), &wit, &artifacts).unwrap();
    let budgets = size::Budgets::load(&tmp.0).unwrap();
    let sizes: BTreeMap<String, usize> = artifacts.iter().map(|a| (a.name.clone(), a.bytes.len())).collect();
    for outcome in size::evaluate(&budgets, &sizes, budgets.tolerance_percent) {
        assert!(outcome.ok || !outcome.component.starts_with("new-"), "{}: {}", outcome.component, outcome.message);
    }

    let _dir = sh.push_dir(&tmp.0);
    let filters: Vec<String> = names.iter().map(|n| format!("{}::", n.replace('-', "_"))).collect();
    let args = filters.clone();
    let output = xshell::cmd!(sh, "cargo test --offline -p edgekit-host-copy --test components -- {args...}")
        .read()
        .unwrap();
    for filter in &filters {
        assert!(output.contains(&format!("test {filter}")), "no test of {filter} ran:\n{output}");
    }
    assert!(output.contains("test result: ok") && !output.contains("FAILED"), "{output}");
}
