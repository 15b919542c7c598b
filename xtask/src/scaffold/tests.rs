//! The scaffold's tests: `new` refusing bad input and renaming only what
//! names the component, every template copied and built, a standalone copy
//! (`new --out`) brought back through `dist`, and `rm` of every template
//! leaving a workspace whose guards pass. The ones that build are
//! `#[ignore]`d as slow (`.ci/run` runs them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::guard::{size, tidy};
use crate::pipeline::{compose, dist};
use crate::scaffold::{new, rm};
use crate::testing::*;
use crate::workspace;

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
    let tmp = workspace_copy("new-refused");
    let before = snapshot(tmp.path());
    let out = tmp.path().join("components");
    for (name, template, out, lines, expected) in [
        ("Orders", "greeter", None, &[][..], "`Orders` is not a valid component name"),
        ("9lives", "greeter", None, &[], "`9lives` is not a valid component name"),
        ("orders--api", "greeter", None, &[], "is not a valid component name"),
        ("orders_api", "greeter", None, &[], "is not a valid component name"),
        ("type", "greeter", None, &[], "`type` is a Rust or WIT keyword"),
        ("edge-fn", "greeter", None, &[], "components/edge-fn already exists"),
        // Not a crate, but an artifact of one (http-api's 0.3 line).
        ("http-api-p3", "greeter", None, &[], "`http-api-p3` is already the name of an artifact"),
        (
            "orders",
            "http-api",
            None,
            &["p4".to_string()],
            "the `http-api` template is built for p2, p3; --lines names p4",
        ),
        (
            "orders",
            "greeter",
            None,
            &["p3".to_string()],
            "the `greeter` template has one world, not a choice of WASI lines",
        ),
        (
            "orders",
            "nope",
            None,
            &[],
            "no template `nope`: the templates are the components under components/ (command, edge-fn, greeter, \
             http-api, kv-api, middleware, proxy)",
        ),
        (
            "orders",
            "greeter",
            Some(out.as_path()),
            &[],
            "already exists and is not empty: name a new directory with --out",
        ),
    ] {
        assert_mentions(&error_of(new::create_with(tmp.path(), name, template, out, lines)), &[expected]);
        assert!(snapshot(tmp.path()) == before, "`new {name} --template {template}` changed files");
    }
}

#[test]
fn new_renames_identifiers_and_names_and_leaves_prose() {
    let tmp = workspace_copy("new-renames");
    new::create(tmp.path(), "hello-world", "greeter", None).unwrap();
    new::create(tmp.path(), "gateway", "proxy", None).unwrap();
    tidy::check(tmp.path()).unwrap();
    let read = |rel: &str| std::fs::read_to_string(tmp.path().join(rel)).unwrap();
    assert_mentions(
        &read("components/hello-world/wit/hello-world.wit"),
        &["world hello-world {", "package edgekit:hello-world@0.1.0 {", "export edgekit:hello-world/api@0.1.0;"],
    );
    assert_mentions(
        &read("components/hello-world/src/lib.rs"),
        &["world: \"hello-world\"", "exports::edgekit::hello_world::api", "struct HelloWorld;", "export!(HelloWorld);"],
    );
    assert_mentions(
        &read("components/hello-world/Cargo.toml"),
        &["name = \"hello-world\"", "world = \"hello-world\"", "package = \"edgekit:hello-world\""],
    );
    let lock = read("components/hello-world/Cargo.lock");
    assert_mentions(&lock, &["name = \"hello-world\""]);
    // In the order cargo writes them, so the first build leaves it be.
    let names: Vec<&str> = lock.lines().filter_map(|l| l.strip_prefix("name = ")).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    let tests = read("components/hello-world/edgekit-test.rs");
    assert_mentions(
        &tests,
        &["\"edgekit:hello-world/api@0.1.0\"", "compiled(\"hello-world\"", "Greeter::for_interface"],
    );
    assert_eq!(size::budgets(tmp.path()).unwrap().artifacts["hello-world"].baseline, 0);
    // Prose is the person's to rewrite: comments and response text keep the
    // template's words, while the code's names move.
    let gateway = read("components/gateway/src/lib.rs");
    let proxy = read("components/proxy/src/lib.rs");
    // Written on the guest library, its code names no world; the world
    // files (one per WASI line) and the manifest's lines table do, the
    // library dependency stays as it is, and the copy links the library in
    // as the template does.
    assert_mentions(&read("components/gateway/wit/gateway.wit"), &["world gateway {"]);
    assert_mentions(&read("components/gateway/wit/gateway-p3.wit"), &["world gateway-p3 {"]);
    assert_mentions(
        &read("components/gateway/Cargo.toml"),
        &["p2 = \"gateway\"", "p3 = \"gateway-p3\"", "p3 = [\"edgekit/p3\"]", "edgekit = { path = \"edgekit\""],
    );
    // Its tests, written once, run on the lines the copy's lines table names.
    assert_mentions(&read("components/gateway/edgekit-test.rs"), &["for line in lines(\"gateway\")"]);
    let link = std::fs::read_link(tmp.path().join("components/gateway/edgekit")).unwrap();
    assert_eq!(link, Path::new("../../guest"));
    let prose = |text: &str| -> Vec<String> {
        text.lines().filter(|l| l.trim_start().starts_with("//")).map(str::to_string).collect()
    };
    assert_eq!(prose(&gateway), prose(&proxy), "comments changed");
    assert!(prose(&gateway).iter().any(|l| l.contains("proxy")), "the template's comments name it");
    // A middleware's tests run its compositions, one per line, which the
    // copy gets under its own names.
    new::create(tmp.path(), "auth", "middleware", None).unwrap();
    assert_mentions(
        &read("components/auth/edgekit-test.rs"),
        &["compiled(\"auth+http-api\"", "compiled(\"auth-p3+http-api-p3\""],
    );
    assert_mentions(
        &read("edgekit.toml"),
        &["middleware = \"auth\"", "middleware = \"auth-p3\"", "[budgets.\"auth-p3+http-api-p3\"]"],
    );
    // One line of two: the other's world file, feature, lines entry, tests,
    // budget and README row stay behind.
    new::create_with(tmp.path(), "solo", "http-api", None, &["p3".to_string()]).unwrap();
    let manifest = read("components/solo/Cargo.toml");
    assert_mentions(&manifest, &["p3 = \"solo-p3\"", "p3 = [\"edgekit/p3\"]"]);
    assert!(!manifest.contains("p2 = "), "{manifest}");
    assert!(!tmp.path().join("components/solo/wit/solo.wit").exists());
    assert_mentions(&read("components/solo/wit/solo-p3.wit"), &["world solo-p3 {"]);
    assert_mentions(&read("components/solo/edgekit-test.rs"), &["for line in lines(\"solo\")"]);
    let budgets = size::budgets(tmp.path()).unwrap();
    assert_eq!(budgets.artifacts["solo-p3"].budget, budgets.artifacts["http-api-p3"].budget);
    assert!(!budgets.artifacts.contains_key("solo"));
    let readme = read("README.md");
    assert!(readme.contains("| `solo-p3` |") && !readme.contains("| `solo` |"), "{readme}");
    tidy::check(tmp.path()).unwrap();
    // The name is taken now.
    assert_mentions(&error_of(new::create(tmp.path(), "hello-world", "edge-fn", None)), &["already exists"]);
}

/// `new --out` writes a standalone crate and touches nothing in the
/// workspace; put back under `components/`, it goes through `dist` as it is.
#[test]
#[ignore = "slow: builds a component; run with `cargo test -- --include-ignored` (.ci/run does)"]
fn new_out_is_standalone_and_goes_back_through_dist() {
    let tmp = workspace_copy("new-out");
    let before = snapshot(tmp.path());
    let out = tempdir("standalone");
    let crate_dir = out.path().join("orders-api");
    new::create(tmp.path(), "orders-api", "http-api", Some(&crate_dir)).unwrap();
    assert!(snapshot(tmp.path()) == before, "`new --out` changed the workspace");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert_mentions(
        &manifest,
        &["name = \"orders-api\"", "\n[workspace]\n", "[profile.release]", "edgekit = { path = \"edgekit\""],
    );
    for file in [
        "README.md",
        "Cargo.lock",
        "rust-toolchain.toml",
        "wit/orders-api.wit",
        "wit/orders-api-p3.wit",
        "edgekit/Cargo.toml",
        "edgekit/src/lib.rs",
        "edgekit/wit/p2/guest.wit",
        // The pins, copied through the library's links to them (and the
        // 0.3 line's link to the extension written out beside 0.2's).
        "edgekit/wit/p2/deps/http.wit",
        "edgekit/wit/p3/deps/http.wit",
        "edgekit/wit/p3/deps/keyvalue.wit",
    ] {
        let path = crate_dir.join(file);
        assert!(path.is_file() && !path.is_symlink(), "{file} is missing from the standalone crate, or a link");
    }
    assert!(!crate_dir.join("edgekit-test.rs").exists(), "edgekit's own tests are not a standalone crate's");
    for dir in ["edgekit", "edgekit/wit/p2/deps", "edgekit/wit/p3/deps"] {
        assert!(!crate_dir.join(dir).is_symlink(), "the standalone crate has a copy of {dir}, not a link");
    }
    assert!(!crate_dir.join("wit/deps").exists(), "a component's wit/ holds its worlds alone");
    assert_mentions(
        &std::fs::read_to_string(crate_dir.join("README.md")).unwrap(),
        &["--features p2   # world orders-api", "--features p3   # world orders-api-p3"],
    );
    // A template that generates its own bindings gets its line's pins
    // copied where its link to them was.
    let counter = out.path().join("counter");
    new::create(tmp.path(), "counter", "command", Some(&counter)).unwrap();
    assert!(counter.join("wit/deps/cli.wit").is_file() && !counter.join("wit/deps").is_symlink());
    assert!(snapshot(tmp.path()) == before, "`new --out` changed the workspace");
    copy_tree(&crate_dir, &tmp.path().join("components/orders-api"));
    copy_tree(&counter, &tmp.path().join("components/counter"));
    let sh = xshell::Shell::new().unwrap();
    let (_, artifacts) = dist::produce(&sh, tmp.path(), &["orders-api".to_string(), "counter".to_string()]).unwrap();
    let worlds: Vec<&str> = artifacts.iter().map(|(a, _)| a.world.as_str()).collect();
    assert_eq!(
        worlds,
        [
            "edgekit:components/counter@0.1.0",
            "edgekit:components/orders-api@0.1.0",
            "edgekit:components/orders-api-p3@0.1.0"
        ]
    );
}

/// `new` from every template into a copy of the workspace, then the same
/// pipeline, guards and tests CI runs, on the new components only.
///
/// The copy shares the workspace's target directory, and cargo names a
/// path package's builds by its path relative to the workspace root, so:
/// the copy's host crate is renamed (and so are the dependencies on it, of
/// `xtask-run` and `cargo-edgekit`), or its build would replace the
/// workspace's own; and the copy has every member of the workspace
/// (`cargo-edgekit` too) and is tested with `--workspace`, so that its dependencies resolve the same
/// features and their builds (wasmtime's, tokio's) are the workspace's, not
/// a second set.
#[test]
#[ignore = "slow: builds every template and the host; run with `cargo test -- --include-ignored` (.ci/run does)"]
fn new_from_every_template_builds_and_passes_its_tests() {
    let root = workspace::root();
    let tmp = workspace_copy("new-all");
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root.join(file), tmp.path().join(file)).unwrap();
    }
    for dir in ["host", "xtask", "cargo-edgekit"] {
        copy_tree(&root.join(dir), &tmp.path().join(dir));
    }
    let edit = |rel: &str, from: &str, to: &str| {
        let text = std::fs::read_to_string(tmp.path().join(rel)).unwrap();
        assert!(text.contains(from), "{rel} has no `{from}`");
        std::fs::write(tmp.path().join(rel), text.replacen(from, to, 1)).unwrap();
    };
    edit("host/Cargo.toml", "name = \"edgekit-host\"", "name = \"edgekit-host-copy\"");
    edit("host/Cargo.toml", "[dependencies]", "[lib]\nname = \"edgekit_host\"\n\n[dependencies]");
    edit(
        "xtask/run/Cargo.toml",
        "edgekit-host = { path = \"../../host\" }",
        "edgekit-host = { path = \"../../host\", package = \"edgekit-host-copy\" }",
    );
    edit(
        "cargo-edgekit/Cargo.toml",
        "edgekit-host = { path = \"../host\" }",
        "edgekit-host = { path = \"../host\", package = \"edgekit-host-copy\" }",
    );

    let templates = workspace::component_names(tmp.path()).unwrap();
    let names: Vec<String> = templates.iter().map(|t| format!("new-{t}")).collect();
    for (name, template) in names.iter().zip(&templates) {
        new::create(tmp.path(), name, template, None).unwrap();
    }
    tidy::check(tmp.path()).unwrap();

    let sh = xshell::Shell::new().unwrap();
    // The handlers of the copied compositions are built too.
    let mut build = names.clone();
    build.extend(compose::compositions(tmp.path()).unwrap().into_iter().map(|c| c.handler));
    let (pins, artifacts) = dist::produce(&sh, tmp.path(), &build).unwrap();
    dist::write(tmp.path(), &pins, &artifacts).unwrap();
    let budgets = size::budgets(tmp.path()).unwrap();
    let sizes: BTreeMap<String, usize> = artifacts.iter().map(|(a, _)| (a.name.clone(), a.bytes.len())).collect();
    for outcome in size::evaluate(&budgets, &sizes, budgets.tolerance_percent) {
        assert!(outcome.ok || !outcome.component.starts_with("new-"), "{}: {}", outcome.component, outcome.message);
    }

    let _dir = sh.push_dir(tmp.path());
    let filters: Vec<String> = names.iter().map(|n| format!("{}::", n.replace('-', "_"))).collect();
    let args = filters.clone();
    let run =
        workspace::from_shell(xshell::cmd!(sh, "cargo test --offline --workspace --test components -- {args...}"))
            .ignore_status()
            .output()
            .unwrap();
    let output = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{output}\n{}", String::from_utf8_lossy(&run.stderr));
    for filter in &filters {
        assert!(output.contains(&format!("test {filter}")), "no test of {filter} ran:\n{output}");
    }
    assert!(output.contains("test result: ok") && !output.contains("FAILED"), "{output}");
}

/// Removing each shipped template, the first thing a team does after
/// forking, leaves a workspace whose guards pass and whose `dist` builds the
/// rest (dist runs once, on the copy with every removal made).
#[test]
#[ignore = "slow: builds the remaining components; run with `cargo test -- --include-ignored` (.ci/run does)"]
fn removing_templates_leaves_a_workspace_that_passes() {
    let tmp = workspace_copy("rm");
    let sh = xshell::Shell::new().unwrap();
    let (pins, artifacts) = dist::produce(&sh, tmp.path(), &[]).unwrap();
    dist::write(tmp.path(), &pins, &artifacts).unwrap();
    let all = workspace::component_names(tmp.path()).unwrap();
    // Each one alone, in its own copy, for the guards that need no build:
    // every artifact of the crate (each line's) goes, with its budget, its
    // compositions and its README row.
    for name in &all {
        let one = workspace_copy(&format!("rm-{name}"));
        let artifacts = workspace::load(&one.path().join("components").join(name)).unwrap().artifacts();
        rm::remove(one.path(), name).unwrap();
        tidy::check(one.path()).unwrap();
        let budgets = size::budgets(one.path()).unwrap();
        let readme = std::fs::read_to_string(one.path().join("README.md")).unwrap();
        for artifact in &artifacts {
            assert!(!budgets.artifacts.keys().any(|k| k.split('+').any(|p| p == artifact)), "{name}: {artifact}");
            assert!(!readme.contains(&format!("| `{artifact}` ")), "{artifact} is still in the README");
        }
    }
    // Then all but the greeter from the built copy: the manifest forgets
    // them, their files go, and `size` passes on what is left.
    for name in all.iter().filter(|n| *n != "greeter") {
        rm::remove(tmp.path(), name).unwrap();
    }
    let dist_dir = workspace::dist_dir(tmp.path());
    let manifest = crate::artifact::Manifest::read(&dist_dir).unwrap();
    assert_eq!(manifest.components.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["greeter"]);
    assert!(!dist_dir.join("edge-fn.wasm").exists() && !dist_dir.join("edge-fn-p3.wasm").exists());
    let budgets = size::budgets(tmp.path()).unwrap();
    let sizes = size::dist_sizes(tmp.path()).unwrap();
    assert!(size::evaluate(&budgets, &sizes, budgets.tolerance_percent).iter().all(|o| o.ok));
    let (_, artifacts) = dist::produce(&sh, tmp.path(), &[]).unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_mentions(&error_of(rm::remove(tmp.path(), "edge-fn")), &["no component `edge-fn`", "nothing removed"]);
}

/// `rm` takes away the routes to the component (as itself, in a
/// composition, or as the middleware), and what is left is an app that
/// checks.
#[test]
fn rm_takes_the_routes_to_a_component_away() {
    let tmp = workspace_copy("rm-routes");
    let said = rm::remove(tmp.path(), "middleware").unwrap().join("\n");
    assert_mentions(&said, &["the route /api/... from edgekit.toml", "composition middleware+http-api"]);
    let project = crate::project::Project::load(tmp.path()).unwrap();
    let paths: Vec<String> = project.file.route.iter().map(|r| r.path.to_string()).collect();
    assert_eq!(paths, ["/", "/kv/..."], "{said}");
    crate::project::routes::check(&project).unwrap();
    let text = std::fs::read_to_string(tmp.path().join("edgekit.toml")).unwrap();
    assert!(text.contains("# The app: `cargo xtask serve`"), "the comments before the routes went:\n{text}");
}
