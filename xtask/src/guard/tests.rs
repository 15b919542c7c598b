//! The guards' tests: tidy on the workspace and on a component missing each
//! thing it needs, size budgets failing on purpose, byte attribution on the
//! real artifacts, a WASI bump in a copy of the workspace, and the guest
//! library's own tests on each WASI line (the library is no workspace
//! member, so `cargo test` reaches its tests only through here).

use std::collections::BTreeMap;

use crate::flags;
use crate::guard::{explain, picture, size, tidy, witbump};
use crate::pipeline::{compose, drift, roundtrip};
use crate::testing::*;
use crate::wit::Wit;
use crate::workspace;

#[test]
fn tidy() {
    if let Err(e) = tidy::check(&workspace::root()) {
        panic!("{e:#}");
    }
}

#[test]
fn tidy_names_what_a_new_component_lacks() {
    let tmp = workspace_copy("tidy");
    write(
        tmp.path(),
        "components/stray/Cargo.toml",
        "[package]\nname = \"stray\"\nversion = \"0.1.0\"\n\n[dependencies]\nwit-bindgen.workspace = true\n\n\
         [package.metadata.component.target]\nworld = \"stray\"\n",
    );
    write(tmp.path(), "components/stray/src/lib.rs", "fn main() {}\n");
    write(tmp.path(), "components/stray/wit/stray.wit", "package edgekit:components@0.1.0;\n\nworld other {}\n");
    // A copy of a pinned WASI package in a component: never.
    let http = std::fs::read_to_string(workspace::root().join("wit/deps/http.wit")).unwrap();
    write(tmp.path(), "components/edge-fn/wit/deps/http.wit", &http);
    // A 0.3 world that also names a 0.2 package: both lines, never allowed.
    let p3_world = tmp.path().join("components/edge-fn/wit/edge-fn-p3.wit");
    let text = std::fs::read_to_string(&p3_world).unwrap();
    std::fs::write(&p3_world, text.replace("{\n", "{\n  import wasi:random/random@0.2.12;\n")).unwrap();
    // http-api: its dependency turns on a line (both lines' builds would get
    // it), its p3 feature is gone, and so are its 0.3 tests and README row.
    let edit = |rel: &str, from: &str, to: &str| {
        let path = tmp.path().join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{rel} has no `{from}`");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("components/http-api/Cargo.toml", "features = [\"alloc\"", "features = [\"p2\", \"alloc\"");
    edit("components/http-api/Cargo.toml", "p3 = [\"edgekit/p3\"]\n", "");
    let tests = tmp.path().join("components/http-api/edgekit-test.rs");
    let text = std::fs::read_to_string(&tests).unwrap();
    std::fs::write(&tests, text.replace("lines(\"http-api\")", "[Line { artifact: \"http-api\" }]")).unwrap();
    edit("README.md", "| `http-api-p3` |", "| http-api-p3 |");
    // kv-api: its 0.2 line names the 0.3 world.
    edit("components/kv-api/Cargo.toml", "p2 = \"kv-api\"", "p2 = \"kv-api-p3\"");
    // The guest library's link to the pins, replaced by a copy.
    let guest_deps = tmp.path().join("guest/wit/p3/deps");
    std::fs::remove_file(&guest_deps).unwrap();
    copy_tree(&workspace::root().join("wit/p3/deps"), &guest_deps);
    let message = error_of(tidy::check(tmp.path()));
    assert_mentions(
        &message,
        &[
            "names world `stray`, which does not exist",
            "add an empty `[workspace]` table",
            "inherit nothing from the edgekit workspace",
            "stray/Cargo.lock is missing",
            "stray/rust-toolchain.toml must pin the channel",
            "must read `path: \"wit\", world: \"stray\"`",
            "stray has no tests: add",
            "stray is not in README.md",
            "lib.rs: start the file with a `//!` comment",
            "edge-fn/wit/deps is not a world file",
            "no copy of the pinned WASI",
            "world `edge-fn-p3` in",
            "edge-fn/wit names WASI {\"0.2.12\", \"0.3.0\"}: an artifact targets one WASI line, never both",
            "http-api/Cargo.toml: the `edgekit` dependency's features name the line \"p2\"",
            "http-api/Cargo.toml: it is built for p3, so it needs the feature `p3 = [\"edgekit/p3\"]`",
            "http-api/edgekit-test.rs: it is built for p3, so its tests must run on that line's artifact",
            "http-api-p3 (built by http-api) is not in README.md",
            "kv-api/Cargo.toml: under [package.metadata.edgekit.lines], p2 names world `kv-api-p3`, which is on WASI 0.3.0",
            "kv-api/Cargo.toml: two of its lines name the world `kv-api-p3`",
            "guest/wit/p3/deps must be a symbolic link to the pins, ../../../wit/p3/deps",
        ],
    );
    // The rest of the workspace has none of these problems.
    for clean in ["greeter/", "command/", "middleware/", "proxy/"] {
        assert!(!message.contains(clean), "{clean}: {message}");
    }
}

/// `cargo <args>` on the guest library (`guest/`, its own lockfile and no
/// workspace member), started as from a shell; its output, and whether it
/// succeeded.
fn cargo_on_guest(args: &[&str]) -> (bool, String) {
    let sh = xshell::Shell::new().unwrap();
    let manifest = crate::project::Project::load(&workspace::root()).unwrap().library_dir().join("Cargo.toml");
    let output = workspace::from_shell(xshell::cmd!(sh, "cargo {args...} --manifest-path {manifest}"))
        .ignore_status()
        .quiet()
        .output()
        .unwrap();
    let text = [String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)].concat();
    (output.status.success(), text)
}

/// The guest library's unit tests and doc examples pass on each line, as
/// `.ci/run` runs them.
#[test]
fn guest_library_tests_pass_on_each_line() {
    for line in ["p2", "p3"] {
        let (passed, output) = cargo_on_guest(&["test", "--features", line]);
        assert!(passed, "the guest library's tests fail with --features {line}:\n{output}");
        assert!(output.contains("test result: ok"), "no tests ran with --features {line}:\n{output}");
    }
}

/// Both lines at once is refused, saying what to do.
#[test]
fn guest_library_refuses_both_lines_at_once() {
    let (passed, output) = cargo_on_guest(&["check", "--features", "p2,p3"]);
    assert!(!passed, "the guest library built with both lines:\n{output}");
    assert_mentions(&output, &["the features `p2` and `p3` are both on", "Enable exactly one"]);
}

fn budgets() -> size::Budgets {
    size::budgets(&workspace::root()).unwrap()
}

fn sizes(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(n, b)| (n.to_string(), *b)).collect()
}

fn outcome_for(outcomes: &[size::Outcome], name: &str) -> size::Outcome {
    outcomes.iter().find(|o| o.component == name).unwrap().clone()
}

#[test]
fn budgets_cover_exactly_the_artifacts() {
    let root = workspace::root();
    let mut names = workspace::artifact_names(&root).unwrap();
    names.extend(compose::compositions(&root).unwrap().iter().map(|c| c.name()));
    names.sort();
    let budgeted: Vec<String> = budgets().artifacts.keys().cloned().collect();
    assert_eq!(names, budgeted, "every artifact needs an entry in {}", crate::project::FILE);
}

#[test]
fn padded_past_budget_fails() {
    let (_, bytes) = dist_artifact("greeter");
    let b = budgets();
    let budget = b.artifacts["greeter"].budget;
    let fat = padded(&bytes, budget);
    let outcomes =
        size::evaluate(&b, &sizes(&[("greeter", fat.len()), ("edge-fn", b.artifacts["edge-fn"].baseline)]), 1.0);
    let o = outcome_for(&outcomes, "greeter");
    assert!(!o.ok);
    assert_mentions(&o.message, &["over its budget", "cargo xtask size --explain greeter"]);
    assert!(outcome_for(&outcomes, "edge-fn").ok);
}

#[test]
fn growth_past_tolerance_fails_and_names_bless() {
    let b = budgets();
    let baseline = b.artifacts["greeter"].baseline;
    let grown = baseline + baseline / 50 + 1; // 2%: within the budget, past the 1% tolerance
    assert!(grown <= b.artifacts["greeter"].budget);
    let o = outcome_for(&size::evaluate(&b, &sizes(&[("greeter", grown)]), 1.0), "greeter");
    assert!(!o.ok);
    assert_mentions(&o.message, &["grew 2.0%", "cargo xtask size --bless", "--diff"]);
    // A looser tolerance, as `--tolerance 5` gives, passes the same growth.
    assert!(outcome_for(&size::evaluate(&b, &sizes(&[("greeter", grown)]), 5.0), "greeter").ok);
}

#[test]
fn shrinking_passes_and_says_so() {
    let b = budgets();
    let smaller = b.artifacts["greeter"].baseline - 100;
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
    assert_mentions(&newcomer.message, &["no entry in edgekit.toml", "[budgets.newcomer]", "--bless"]);
    let stale = outcome_for(&outcomes, "edge-fn");
    assert!(!stale.ok);
    assert_mentions(&stale.message, &["not a component in target/dist", "remove [budgets.edge-fn]"]);
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
    assert_eq!(json["components"].as_array().unwrap().len(), budgets().artifacts.len());
}

/// `--bless` rewrites baselines through toml_edit: comments and layout stay.
#[test]
fn bless_keeps_the_budget_file_as_written() {
    let tmp = workspace_copy("bless");
    let text = crate::project::edit(tmp.path(), |doc| crate::project::set_baseline(doc, "greeter", 1234)).unwrap();
    let before = std::fs::read_to_string(tmp.path().join(crate::project::FILE)).unwrap();
    let changed: Vec<(&str, &str)> = before.lines().zip(text.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].1.ends_with("1234"), "{changed:?}");
    assert!(text.starts_with("# edgekit's project file"), "{text}");
}

#[test]
fn explain_names_the_functions_of_the_shipped_artifact() {
    let (path, bytes) = dist_artifact("edge-fn");
    let b = explain::load(&path).unwrap();
    assert_eq!(b.total, bytes.len());
    let main = b.modules.iter().max_by_key(|m| m.bytes).unwrap();
    let names: Vec<&str> = main.functions.iter().map(|f| f.what.as_str()).collect();
    assert!(names.contains(&"wasi:http/incoming-handler@0.2.12#handle"), "{names:?}");
    // A dependency's function too: the allocator's (the guest library's
    // arena on 0.2).
    assert!(names.iter().any(|n| n.contains("GlobalAlloc>::alloc")), "{names:?}");
    // The names came from the side file: the artifact itself ships none.
    assert!(!main.sections.iter().any(|s| s.what == "custom `name`"), "{:?}", main.sections);
    let report = explain::render("edge-fn", &b, 5);
    assert!(report.contains("largest functions") && report.contains("component types"), "{report}");
}

/// Checks that `svg` is well-formed as XML goes: every tag closed in order,
/// no `<` or `&` left unescaped in text. Returns the text of the labels and
/// titles, unescaped.
fn svg_text(svg: &str) -> String {
    let mut open: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let content = &rest[..start];
        assert!(!content.contains('>'), "a stray `>` in {content:?}");
        for (i, _) in content.match_indices('&') {
            let entity = &content[i..content[i..].find(';').map_or(content.len(), |end| i + end + 1)];
            assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity), "bad entity {entity:?}");
        }
        text.push_str(content);
        text.push('\n');
        let end = start + rest[start..].find('>').expect("an unclosed tag");
        let tag = &rest[start + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(name), "</{name}> closes the wrong tag");
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().unwrap().to_string());
        }
        rest = &rest[end + 1..];
    }
    assert!(open.is_empty(), "tags left open: {open:?}");
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[test]
fn explain_svg_draws_the_largest_crate_and_function() {
    let (path, _) = dist_artifact("edge-fn");
    let b = explain::load(&path).unwrap();
    let svg = picture::svg(&picture::tree("edge-fn", &b));
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    let text = svg_text(&svg);
    let main = b.modules.iter().max_by_key(|m| m.bytes).unwrap();
    let (largest_crate, largest_function) = (&main.crates[0].what, &main.functions[0].what);
    for name in [largest_crate, largest_function, &"component: component types".to_string()] {
        assert!(text.contains(&format!("{name} \u{2014} ")), "no box titled {name}:\n{text}");
    }
    assert!(svg.matches("<rect").count() > main.crates.len() + b.sections.len(), "{svg}");
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

#[test]
fn wasi_bump_revendors_and_catches_a_component_left_behind() {
    let tmp = workspace_copy("bump");
    let sh = xshell::Shell::new().unwrap();
    witbump::bump(&sh, tmp.path(), "0.2.9").unwrap();
    let bumped = Wit::load(&tmp.path().join("wit")).unwrap();
    assert_eq!(bumped.wasi_version().unwrap(), "0.2.9");
    let edge_fn = std::fs::read_to_string(tmp.path().join("components/edge-fn/wit/edge-fn.wit")).unwrap();
    assert!(edge_fn.contains("wasi:http/incoming-handler@0.2.9"), "{edge_fn}");
    // The extensions have their own version line and stay as they were.
    for extension in ["keyvalue.wit", "config.wit"] {
        let read = |root: &std::path::Path| std::fs::read(root.join("wit/deps").join(extension)).unwrap();
        assert_eq!(read(tmp.path()), read(&workspace::root()), "{extension}");
    }
    // The 0.3 worlds of the same crates stayed, and every world resolves.
    let edge_fn_p3 = std::fs::read_to_string(tmp.path().join("components/edge-fn/wit/edge-fn-p3.wit")).unwrap();
    assert!(edge_fn_p3.contains("wasi:http/handler@0.3.0;"), "{edge_fn_p3}");
    let guest = std::fs::read_to_string(tmp.path().join("guest/wit/p2/guest.wit")).unwrap();
    assert!(guest.contains("wasi:http/proxy@0.2.9;"), "{guest}");
    tidy::check(tmp.path()).unwrap();
    // The dist artifact, built before the bump, is now drift.
    let (path, bytes) = dist_artifact("edge-fn");
    let message = error_of(drift::check(&bumped, &path, &bytes, &roundtrip::decode(&path, &bytes).unwrap()));
    assert_mentions(&message, &["@0.2.12", "pins WASI 0.2.9"]);
    // An unknown version is refused and wit/ is left alone.
    let message = error_of(witbump::bump(&sh, tmp.path(), "0.2.99"));
    assert_mentions(&message, &["no known source for WASI 0.2.99", "WIT_SOURCES"]);
    assert_eq!(Wit::load(&tmp.path().join("wit")).unwrap().wasi_version().unwrap(), "0.2.9");
}

/// `wit --bump 0.3.N` moves the 0.3 line and the components on it, and
/// leaves the 0.2 line and its components alone. The copy starts with its
/// 0.3 line moved back to a release candidate, so bumping to 0.3.0
/// re-vendors it from the wasmtime-wasi-http crate.
#[test]
fn wasi_bump_moves_only_its_line() {
    let tmp = workspace_copy("bump-p3");
    let rc = "0.3.0-rc-2026-01-06";
    // The pins, the library's world (its deps/ is a link to the pins) and
    // every component's world files (those naming 0.3.0 change).
    let mut dirs = vec![tmp.path().join("wit/p3"), tmp.path().join("wit/p3/deps"), tmp.path().join("guest/wit/p3")];
    for component in crate::workspace::components(tmp.path(), &[]).unwrap() {
        dirs.push(component.wit_dir());
    }
    for file in dirs.iter().flat_map(|d| crate::wit::wit_files(d).unwrap()) {
        let text = std::fs::read_to_string(&file).unwrap();
        let text = text.replace("@0.3.0", &format!("@{rc}"));
        std::fs::write(&file, text.replace("version = 0.3.0", &format!("version = {rc}"))).unwrap();
    }
    tidy::check(tmp.path()).unwrap();
    let p2_before = std::fs::read(tmp.path().join("wit/deps/http.wit")).unwrap();
    let sh = xshell::Shell::new().unwrap();
    let line = witbump::bump(&sh, tmp.path(), "0.3.0").unwrap();
    assert_eq!(line, tmp.path().join("wit/p3"));
    // The line is the vendored 0.3.0 again, byte for byte, and so are the
    // copies of every component on it.
    for file in crate::wit::wit_files(&workspace::root().join("wit/p3/deps")).unwrap() {
        let name = file.file_name().unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(tmp.path().join("wit/p3/deps").join(name)).unwrap());
    }
    let edge_fn_p3 = std::fs::read_to_string(tmp.path().join("components/edge-fn/wit/edge-fn-p3.wit")).unwrap();
    assert!(edge_fn_p3.contains("wasi:http/handler@0.3.0;"), "{edge_fn_p3}");
    let edge_fn = std::fs::read_to_string(tmp.path().join("components/edge-fn/wit/edge-fn.wit")).unwrap();
    assert!(edge_fn.contains("wasi:http/incoming-handler@0.2.12;"), "{edge_fn}");
    let guest = std::fs::read_to_string(tmp.path().join("guest/wit/p3/guest.wit")).unwrap();
    assert!(guest.contains("wasi:http/service@0.3.0;") && !guest.contains(rc), "{guest}");
    assert_eq!(std::fs::read(tmp.path().join("wit/deps/http.wit")).unwrap(), p2_before);
    tidy::check(tmp.path()).unwrap();
    // A version of a line the workspace does not pin is refused.
    let message = error_of(witbump::bump(&sh, tmp.path(), "0.1.0"));
    assert_mentions(&message, &["no known source for WASI 0.1.0"]);
}

/// The features cargo resolves for each crate, one line per instance
/// (`name vX.Y.Z [a,b]`), for a `cargo tree` selection.
fn resolved_features(args: &[&str]) -> std::collections::BTreeSet<String> {
    let sh = xshell::Shell::new().unwrap();
    let _dir = sh.push_dir(workspace::root());
    let format = "{p} [{f}]";
    let out = xshell::cmd!(sh, "cargo tree --offline --prefix none -f {format} {args...}").quiet().read().unwrap();
    out.lines().map(|l| l.trim_end_matches(" (*)").to_string()).collect()
}

/// `cargo xtask` (xtask alone) and `cargo test` (the whole workspace, dev
/// dependencies included) must resolve the crates binaryen's build script
/// depends on with the same features, or binaryen is compiled twice. The
/// pins in xtask's `[build-dependencies]` keep them equal; this fails with
/// the crate and both feature lists when a dependency update moves them.
#[test]
fn binaryen_builds_once_for_cargo_xtask_and_cargo_test() {
    let closure = resolved_features(&["-p", "wasm-opt-sys", "-e", "normal,build"]);
    let names: std::collections::BTreeSet<&str> =
        closure.iter().filter_map(|l| l.split(" [").next()).map(|p| p.trim_end_matches(" (proc-macro)")).collect();
    let alone = resolved_features(&["-p", "xtask", "-e", "normal,build"]);
    let workspace = resolved_features(&["--workspace", "-e", "normal,build,dev"]);
    // Every instance of each crate (host and target) must resolve alike: a
    // crate whose host instance differs rebuilds the build script.
    let instances = |set: &std::collections::BTreeSet<String>, name: &str| -> Vec<String> {
        set.iter().filter(|l| l.starts_with(&format!("{name} ["))).cloned().collect()
    };
    let differ: Vec<String> = names
        .iter()
        .filter_map(|name| {
            let (a, b) = (instances(&alone, name), instances(&workspace, name));
            (a != b).then(|| format!("{name}: cargo xtask {a:?}, cargo test {b:?}"))
        })
        .collect();
    assert!(
        differ.is_empty(),
        "binaryen would compile twice; pin these features in xtask/Cargo.toml [build-dependencies]:\n  {}",
        differ.join("\n  ")
    );
}

/// `--explain` on a composition names the functions of both parts, each
/// on the core module its names file's exports and imports pick out.
#[test]
fn explain_names_both_parts_of_a_composition() {
    let (path, _) = dist_artifact("middleware+http-api");
    let b = explain::load(&path).unwrap();
    let parts: Vec<&str> = b.modules.iter().filter_map(|m| m.part.as_deref()).collect();
    assert_eq!(parts, ["middleware", "http-api"]);
    // The middleware's own code is all inlined into its export; the guest
    // library's functions keep their names.
    for (part, krate) in [("middleware", "edgekit (the guest library)"), ("http-api", "http_api")] {
        let module = b.modules.iter().find(|m| m.part.as_deref() == Some(part)).unwrap();
        assert!(module.crates.iter().any(|c| c.what == krate), "{part}: no {krate} code among {:?}", module.crates);
        assert!(!module.functions[0].what.starts_with("func["), "{part}: its largest function is unnamed");
    }
    // The parts' bytes are counted once: as their sections and modules, not
    // also as the nested components holding them.
    let counted: usize =
        b.sections.iter().map(|r| r.bytes).sum::<usize>() + b.modules.iter().map(|m| m.bytes).sum::<usize>();
    assert!(counted <= b.total && counted * 100 >= b.total * 95, "{counted} of {} bytes counted", b.total);
    let report = explain::render("middleware+http-api", &b, 5);
    assert!(report.contains("(middleware): ") && report.contains("(http-api): "), "{report}");
}
