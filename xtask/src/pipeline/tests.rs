//! The pipeline's tests: every kind of bad input getting a clear error that
//! names the file and the fix, the round-trip and drift checks failing on
//! purpose, the manifest's one writer, and reproducible builds. Most run in
//! process on temporary copies of WIT and fabricated components, so no cargo
//! build is needed; the ones that build are `#[ignore]`d as slow (`.ci/run`
//! runs them).

use std::collections::BTreeMap;
use std::path::Path;

use crate::artifact::{Artifact, Manifest, sha256_hex};
use crate::pipeline::{compose, dist, drift, optimize, roundtrip, strip};
use crate::testing::*;
use crate::wit::{self, Pins, Surface, Wit};
use crate::workspace;

#[test]
fn wit_syntax_error_names_file_and_line() {
    let tmp = tempdir("broken-wit");
    copy_tree(&workspace::root().join("components/edge-fn/wit"), &tmp.path().join("wit"));
    write(tmp.path(), "wit/broken.wit", "package edgekit:components@0.1.0;\n\nworld broken {\n  export oops\n}\n");
    let message = error_of(all_pins().component(&tmp.path().join("wit")));
    assert_mentions(&message, &["invalid WIT", "broken.wit:5:1", "fix the file"]);
}

#[test]
fn unknown_world_names_manifest_and_lists_worlds() {
    let tmp = tempdir("unknown-world");
    let manifest = write(
        tmp.path(),
        "components/lost/Cargo.toml",
        "[package]\nname = \"lost\"\n\n[package.metadata.component.target]\nworld = \"no-such-world\"\n",
    );
    let component = workspace::load(&tmp.path().join("components/lost")).unwrap();
    let message = error_of(component_wit("edge-fn").world(&component.builds[0].world, &component.manifest));
    assert_mentions(&message, &[&manifest.display().to_string(), "`no-such-world`", "(worlds: edge-fn, edge-fn-p3)"]);
}

#[test]
fn component_without_world_is_refused() {
    let tmp = tempdir("no-world");
    write(tmp.path(), "components/bare/Cargo.toml", "[package]\nname = \"bare\"\n");
    let message = error_of(workspace::load(&tmp.path().join("components/bare")));
    assert_mentions(
        &message,
        &["does not name its world", "[package.metadata.edgekit.lines]", "[package.metadata.component.target]"],
    );
}

#[test]
fn missing_component_directory_is_named() {
    let message = error_of(workspace::components(&workspace::root(), &["nope".to_string()]));
    assert_mentions(&message, &["no component or artifact `nope`", "/components", "edge-fn, edge-fn-p3, greeter"]);
}

#[test]
fn artifact_with_other_exports_fails_round_trip() {
    let edge_fn = fabricate(&component_wit("edge-fn"), "edge-fn");
    let wit = component_wit("greeter");
    let greeter = wit.world("greeter", Path::new("test")).unwrap();
    let message = error_of(roundtrip::check(&wit, greeter, Path::new("greeter.wasm"), &edge_fn));
    assert_mentions(
        &message,
        &[
            "exports differ from world `greeter`",
            "greeter.wit",
            "edgekit:greeter/api@0.1.0",
            "wasi:http/incoming-handler",
        ],
    );
}

#[test]
fn undeclared_import_is_named() {
    let (_tmp, wit) = wit_with_extra_import("extra-import", "greeter", "greeter", "wasi:random/random@0.2.12");
    let component = fabricate(&wit, "greeter-plus");
    let greeter = wit.world("greeter", Path::new("test")).unwrap();
    let message = error_of(roundtrip::check(&wit, greeter, Path::new("greeter.wasm"), &component));
    assert_mentions(&message, &["wasi:random/random@0.2.12", "does not declare", "greeter.wit"]);
}

#[test]
fn same_names_other_types_fail_round_trip() {
    let tmp = tempdir("other-types");
    let dir = tmp.path().join("wit");
    copy_tree(&workspace::root().join("components/greeter/wit"), &dir);
    let greeter = std::fs::read_to_string(dir.join("greeter.wit")).unwrap();
    write(&dir, "greeter.wit", &greeter.replace("greet: func(n: name) -> string;", "greet: func(n: name) -> u32;"));
    let component = fabricate(&all_pins().component(&dir).unwrap(), "greeter");
    let wit = component_wit("greeter");
    let world = wit.world("greeter", Path::new("test")).unwrap();
    let message = error_of(roundtrip::check(&wit, world, Path::new("greeter.wasm"), &component));
    assert_mentions(&message, &["not its types", "rebuild it against the current WIT"]);
}

#[test]
fn fabricated_artifacts_pass_round_trip() {
    for (component, name) in [("greeter", "greeter"), ("edge-fn", "edge-fn"), ("edge-fn", "edge-fn-p3")] {
        let wit = component_wit(component);
        let world = wit.world(name, Path::new("test")).unwrap();
        let surface = roundtrip::check(&wit, world, Path::new("x.wasm"), &fabricate(&wit, name)).unwrap();
        if name == "greeter" {
            assert!(surface.imports.is_empty(), "{:?}", surface.imports);
        }
    }
}

#[test]
fn strip_and_optimize_keep_the_world() {
    let wit = component_wit("edge-fn");
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
    let tmp = tempdir("optimize");
    let optimized = optimize::optimize(&stripped, tmp.path()).unwrap();
    let component = crate::pipeline::componentize::componentize(&optimized).unwrap();
    roundtrip::check(&wit, world, Path::new("edge-fn.wasm"), &component).unwrap();
}

/// The pins moved to another WASI version, in a copy of `wit/`.
fn pins_at_version(label: &str, version: &str) -> tempfile::TempDir {
    let tmp = tempdir(label);
    copy_tree(&workspace::root().join("wit"), &tmp.path().join("wit"));
    for file in wit::wit_files(&tmp.path().join("wit"))
        .unwrap()
        .into_iter()
        .chain(wit::wit_files(&tmp.path().join("wit/deps")).unwrap())
    {
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace("0.2.12", version)).unwrap();
    }
    tmp
}

#[test]
fn import_at_another_wasi_version_is_drift() {
    let old = pins_at_version("old-wasi", "0.2.9");
    let tmp = tempdir("old-edge-fn");
    let dir = tmp.path().join("wit");
    copy_tree(&workspace::root().join("components/edge-fn/wit"), &dir);
    let world = std::fs::read_to_string(dir.join("edge-fn.wit")).unwrap();
    write(&dir, "edge-fn.wit", &world.replace("0.2.12", "0.2.9"));
    let component = fabricate(&Pins::load(&old.path().join("wit")).unwrap().component(&dir).unwrap(), "edge-fn");
    let surface = roundtrip::decode(Path::new("edge-fn.wasm"), &component).unwrap();
    let message = error_of(drift::check_pinned(&all_pins(), Path::new("edge-fn.wasm"), &component, &surface));
    assert_mentions(&message, &["wasi:http/incoming-handler@0.2.9", "pins WASI 0.2.12", "left behind"]);
}

#[test]
fn non_proxy_import_in_http_component_is_refused() {
    let (_tmp, wit) = wit_with_extra_import("non-proxy", "edge-fn", "edge-fn", "wasi:cli/environment@0.2.12");
    let component = fabricate(&wit, "edge-fn-plus");
    let surface = roundtrip::decode(Path::new("edge-fn.wasm"), &component).unwrap();
    let message = error_of(drift::check_pinned(&all_pins(), Path::new("edge-fn.wasm"), &component, &surface));
    assert_mentions(&message, &["wasi:cli/environment@0.2.12", "wasi:http/proxy@0.2.12 world does not offer"]);
}

#[test]
fn dist_artifacts_pass_the_drift_check() {
    for name in
        ["greeter", "edge-fn", "edge-fn-p3", "http-api-p3", "middleware-p3", "proxy-p3", "middleware-p3+http-api-p3"]
    {
        let (path, bytes) = dist_artifact(name);
        drift::check_pinned(&all_pins(), &path, &bytes, &roundtrip::decode(&path, &bytes).unwrap()).unwrap();
    }
}

/// One composer for both lines: each middleware in front of its line's JSON
/// API gives a component that imports no handler, exports its line's handler
/// interface and fits that line's service world, named as its manifest world.
#[test]
fn compositions_of_either_line_fit_their_service_world() {
    let pins = all_pins();
    let tmp = tempdir("compose-lines");
    for (middleware, handler, interface, world) in [
        ("middleware", "http-api", "wasi:http/incoming-handler@0.2.12", "wasi:http/proxy@0.2.12"),
        ("middleware-p3", "http-api-p3", "wasi:http/handler@0.3.0", "wasi:http/service@0.3.0"),
    ] {
        let composition = compose::Composition { middleware: middleware.into(), handler: handler.into() };
        let (m, h) = (dist_artifact(middleware).1, dist_artifact(handler).1);
        let artifact = compose::compose(&pins, &composition, &m, &h, &tmp.path().join(middleware), tmp.path()).unwrap();
        assert_eq!(artifact.world, world);
        assert!(artifact.surface.exports.contains(interface), "{:?}", artifact.surface.exports);
        assert!(!artifact.surface.imports.contains(interface), "{:?}", artifact.surface.imports);
        assert_eq!(artifact.surface.wasi_line(), world.rsplit_once('@').unwrap().1);
    }
}

/// A 0.3 middleware in front of a 0.2 handler, and a handler named as the
/// middleware, are refused before composing, naming the artifact and the fix.
#[test]
fn mismatched_compositions_are_refused() {
    let pins = all_pins();
    let tmp = tempdir("compose-mismatch");
    let compose = |middleware: &str, handler: &str| {
        let composition = compose::Composition { middleware: middleware.into(), handler: handler.into() };
        let (m, h) = (dist_artifact(middleware).1, dist_artifact(handler).1);
        error_of(compose::compose(&pins, &composition, &m, &h, &tmp.path().join("work"), tmp.path()))
    };
    let message = compose("middleware-p3", "http-api");
    assert_mentions(
        &message,
        &["http-api.wasm does not export wasi:http/handler@0.3.0", "middleware-p3 imports", "own WASI line"],
    );
    let message = compose("http-api-p3", "edge-fn-p3");
    assert_mentions(&message, &["http-api-p3.wasm is not a middleware", "import the same one", "name a middleware"]);
}

/// A component's WIT directory with one world file `<world>.wit` of
/// `body`, resolved against both pinned lines (nothing copied): what a
/// component that mixes the lines would be written against.
fn wit_with_both_lines(label: &str, world: &str, body: &str) -> (tempfile::TempDir, Wit) {
    let tmp = tempdir(label);
    let dir = tmp.path().join("wit");
    write(&dir, &format!("{world}.wit"), &format!("package edgekit:components@0.1.0;\n\nworld {world} {{\n{body}}}\n"));
    let wit = all_pins().component(&dir).unwrap();
    (tmp, wit)
}

/// An artifact that imports from both pinned lines is refused, naming the
/// file, what it uses at each version, and the fix.
#[test]
fn an_artifact_mixing_wasi_lines_is_refused() {
    let body = "  import wasi:random/random@0.2.12;\n  import wasi:random/random@0.3.0;\n";
    let (_tmp, wit) = wit_with_both_lines("mixed-lines", "mixed", body);
    let component = fabricate(&wit, "mixed");
    let surface = roundtrip::decode(Path::new("mixed.wasm"), &component).unwrap();
    let message = error_of(drift::check_pinned(&all_pins(), Path::new("mixed.wasm"), &component, &surface));
    assert_mentions(
        &message,
        &[
            "mixed.wasm mixes WASI lines",
            "0.2.12: [\"wasi:random/random@0.2.12\"]",
            "0.3.0: [\"wasi:random/random@0.3.0\"]",
            "never both",
            "move every `wasi:*` reference in the world file",
        ],
    );
    // The component's own world is refused before any build, too.
    let message = error_of(wit.world_line(wit.world("mixed", Path::new("test")).unwrap()));
    assert_mentions(&message, &["world `mixed`", "names WASI", "0.2.12", "0.3.0", "never both", "mixed.wit"]);
}

/// A 0.3 http component fits `wasi:http/service@0.3.0`; one importing what
/// that world does not offer is refused by name; a 0.3 middleware (which
/// imports the next handler) fits `wasi:http/middleware@0.3.0`.
#[test]
fn a_03_http_component_fits_the_service_world() {
    let pins = all_pins();
    let check = |wit: &Wit, world: &str| {
        let component = fabricate(wit, world);
        let surface = roundtrip::decode(Path::new("p3.wasm"), &component).unwrap();
        drift::check_pinned(&pins, Path::new("p3.wasm"), &component, &surface)
    };
    check(&component_wit("edge-fn"), "edge-fn-p3").unwrap();
    let (_tmp, wit) = wit_with_extra_import("p3-non-service", "edge-fn", "edge-fn-p3", "wasi:cli/environment@0.3.0");
    let message = error_of(check(&wit, "edge-fn-p3-plus"));
    assert_mentions(&message, &["wasi:cli/environment@0.3.0", "wasi:http/service@0.3.0 world does not offer"]);
    let (_tmp, wit) = wit_with_extra_import("p3-middleware", "edge-fn", "edge-fn-p3", "wasi:http/handler@0.3.0");
    check(&wit, "edge-fn-p3-plus").unwrap();
}

/// The WASI WIT once: no component holds a copy of a pinned package (its
/// `wit/` is its world files, and for a crate generating its own bindings
/// a link to its line's pins); every world resolves against the pins, each
/// on the line its build names; the extensions, pinned once beside the
/// 0.2 line and linked from the 0.3 line's deps, count as neither line.
#[test]
fn component_worlds_resolve_against_the_pins_and_hold_no_copies() {
    let root = workspace::root();
    let pins = all_pins();
    assert_eq!(pins.versions().unwrap(), ["0.2.12", "0.3.0"]);
    assert_eq!(wit::line_version(&root.join("wit/p3")).unwrap(), "0.3.0");
    assert!(root.join("wit/p3/deps/keyvalue.wit").is_symlink() && root.join("wit/p3/deps/config.wit").is_symlink());
    let mut lines = Vec::new();
    for component in workspace::components(&root, &[]).unwrap() {
        assert_eq!(wit::not_world_files(&component.wit_dir()).unwrap(), Vec::<std::path::PathBuf>::new());
        let own = pins.component(&component.wit_dir()).unwrap();
        for build in &component.builds {
            let world = own.world(&build.world, &component.manifest).unwrap();
            build.check_line(&own, world, &component.manifest).unwrap();
            lines.push((build.artifact.clone(), own.world_line(world).unwrap()));
        }
    }
    let line = |artifact: &str| lines.iter().find(|(a, _)| a == artifact).map(|(_, l)| l.clone()).unwrap();
    assert_eq!(line("greeter"), None);
    assert_eq!(line("command").as_deref(), Some("0.2.12"));
    assert_eq!(line("edge-fn").as_deref(), Some("0.2.12"));
    assert_eq!(line("edge-fn-p3").as_deref(), Some("0.3.0"));
    // wasi:keyvalue@0.2.0-draft is an extension, not a third line.
    assert_eq!(line("kv-api").as_deref(), Some("0.2.12"));
    assert_eq!(line("kv-api-p3").as_deref(), Some("0.3.0"));
    assert_eq!(lines.len(), 12, "{lines:?}");

    // A copy of the pins in a component's wit/ is named; a lines table
    // naming a world of the other line is refused; so is a world at a
    // version no line pins.
    let tmp = tempdir("no-copies");
    let dir = tmp.path().join("wit");
    copy_tree(&root.join("components/edge-fn/wit"), &dir);
    write(&dir, "deps/http.wit", &std::fs::read_to_string(root.join("wit/deps/http.wit")).unwrap());
    assert_eq!(wit::not_world_files(&dir).unwrap(), [dir.join("deps")]);
    let own = pins.component(&dir).unwrap();
    let wrong = workspace::Build { artifact: "edge-fn".into(), world: "edge-fn-p3".into(), line: Some("p2".into()) };
    let message = error_of(wrong.check_line(&own, own.world("edge-fn-p3", Path::new("x")).unwrap(), Path::new("x")));
    assert_mentions(
        &message,
        &["p2 names world `edge-fn-p3`", "on WASI 0.3.0 (line p3)", "name a world of the p2 line"],
    );
    let world = std::fs::read_to_string(dir.join("edge-fn.wit")).unwrap();
    write(&dir, "edge-fn.wit", &world.replace("0.2.12", "0.2.9"));
    let message = error_of(pins.component(&dir));
    assert_mentions(&message, &["names WASI 0.2.9", "does not pin", "0.2.12 in", "0.3.0 in"]);
}

/// A fabricated artifact standing in for one `dist` built.
fn artifact(name: &str, bytes: Vec<u8>) -> (Artifact, Vec<String>) {
    let artifact = Artifact {
        name: name.to_string(),
        world: format!("edgekit:components/{name}@0.1.0"),
        parts: Vec::new(),
        before: bytes.len(),
        bytes,
        surface: Surface::default(),
        names: BTreeMap::new(),
        part_names: Vec::new(),
        built_with: BTreeMap::new(),
    };
    (artifact, vec![format!("components/{name}")])
}

/// `dist <names>` updates the manifest: the other entries stay, and those
/// of components that no longer exist go, with their files.
#[test]
fn the_manifest_is_updated_never_truncated() {
    let tmp = tempdir("manifest");
    let dist = tmp.path().join("dist");
    let pinned = ["0.2.12".to_string(), "0.3.0".to_string()];
    let all = |_: &str| true;
    Manifest::update(&dist, &pinned, &[artifact("a", vec![1]), artifact("b", vec![2]), artifact("c", vec![3])], all)
        .unwrap();
    let manifest = Manifest::update(&dist, &pinned, &[artifact("b", vec![4, 4])], all).unwrap();
    let sizes: Vec<(&str, usize)> = manifest.components.iter().map(|e| (e.name.as_str(), e.bytes)).collect();
    assert_eq!(sizes, [("a", 1), ("b", 2), ("c", 1)]);
    assert_eq!(manifest.components[1].sha256, sha256_hex(&[4, 4]));
    assert_eq!(std::fs::read(dist.join("b.wasm")).unwrap(), [4, 4]);
    // `c` was removed from the workspace: its entry and files go.
    let manifest = Manifest::update(&dist, &pinned, &[], |name| name != "c").unwrap();
    assert_eq!(manifest.components.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(!dist.join("c.wasm").exists() && !dist.join("c.names.json").exists());
    assert_eq!(Manifest::read(&dist).unwrap().components.len(), 2);
    assert!(std::fs::read_dir(&dist).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
}

/// Two builds from clean, in two checkouts at different paths with separate
/// target directories, give byte-identical artifacts: the hello handler of
/// each WASI line, which goes through every stage (the other components add
/// build time, not stages).
#[test]
#[ignore = "slow: two clean builds; run with `cargo test -- --include-ignored` (.ci/run does)"]
fn clean_builds_are_reproducible() {
    let sh = xshell::Shell::new().unwrap();
    let mut hashes = Vec::new();
    // Its crate: both lines.
    let names = ["edge-fn".to_string()];
    for label in ["repro-a", "repro-b-longer-path"] {
        let tmp = workspace_copy(label);
        let _env = sh.push_env("CARGO_TARGET_DIR", tmp.path().join("target"));
        let (_, artifacts) = dist::produce(&sh, tmp.path(), &names).unwrap();
        assert_eq!(artifacts.iter().map(|(a, _)| a.name.as_str()).collect::<Vec<_>>(), ["edge-fn", "edge-fn-p3"]);
        hashes.push(artifacts.iter().map(|(a, _)| (a.name.clone(), sha256_hex(&a.bytes))).collect::<Vec<_>>());
    }
    assert_eq!(hashes[0], hashes[1]);
}

/// A cargo that xtask starts does not see the variables cargo set for this
/// process (a test binary gets them as xtask does under `cargo run`): with
/// them, ring's build script reruns and a hand-over build rebuilds half the
/// workspace's dependencies.
#[test]
fn cargo_started_by_xtask_sees_no_package_variables() {
    let inherited = workspace::package_env();
    for key in ["CARGO_PKG_NAME", "CARGO_MANIFEST_DIR", "OUT_DIR"] {
        assert!(inherited.iter().any(|k| k == key), "cargo set no {key} for this test: {inherited:?}");
    }
    let sh = xshell::Shell::new().unwrap();
    let seen = workspace::from_shell(xshell::cmd!(sh, "env")).quiet().read().unwrap();
    let leaked: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .filter(|k| inherited.iter().any(|i| i == k))
        .collect();
    assert!(leaked.is_empty(), "passed on to cargo: {leaked:?}");
    assert!(seen.lines().any(|l| l.starts_with("PATH=")), "the rest of the environment goes through");
}

/// A composition's names file names each part: the names of the part's
/// main core module, with an export and import signature that picks out
/// exactly one core module of the composition (composing leaves modules as
/// they were), which is how the host finds a frame's part.
#[test]
fn a_composition_names_file_names_each_part_by_a_module_of_its_own() {
    for (composition, parts) in [
        ("middleware+http-api", ["middleware", "http-api"]),
        ("middleware-p3+http-api-p3", ["middleware-p3", "http-api-p3"]),
    ] {
        let (path, bytes) = dist_artifact(composition);
        let text = std::fs::read_to_string(crate::artifact::Names::path(&path)).unwrap();
        let names: crate::artifact::Names = serde_json::from_str(&text).unwrap();
        assert_eq!(names.artifact_sha256, sha256_hex(&bytes));
        let components: Vec<&str> = names.parts.iter().map(|p| p.component.as_str()).collect();
        assert_eq!(components, parts, "{composition}");
        let modules = crate::artifact::module_signatures(&bytes).unwrap();
        for part in &names.parts {
            let (_, own) = dist_artifact(&part.component);
            let own_names = crate::artifact::Names::load(
                &crate::workspace::dist_dir(&workspace::root()).join(format!("{}.wasm", part.component)),
                &own,
            );
            assert_eq!(
                Some(&part.functions),
                own_names.as_ref(),
                "{composition}: {} keeps its own names",
                part.component
            );
            let matching = modules.iter().filter(|(_, e, i)| *e == part.exports && *i == part.imports).count();
            assert_eq!(matching, 1, "{composition}: {} matches {matching} core modules", part.component);
        }
    }
}
