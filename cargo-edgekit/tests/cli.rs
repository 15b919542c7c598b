//! The installed tool's project commands as a person meets them, run as
//! the `cargo-edgekit` binary in temporary directories outside any
//! checkout: what it refuses outside a project, `init` in an empty
//! directory and in an existing Cargo workspace (adding, never
//! overwriting), a project file that does not parse, `new`, and `update`
//! bringing an older project's library back with a summary. Nothing here
//! builds a component; `installed.rs` does, from an installed binary.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cargo-edgekit <args>` in `dir` as cargo runs it for `cargo
/// edgekit <args>`, without the variables cargo set for this test (the
/// tool must find its project from the directory alone).
fn edgekit(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-edgekit"));
    command.current_dir(dir).arg("edgekit").args(args);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key == "OUT_DIR" {
            command.env_remove(key);
        }
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The command's output, which must have succeeded.
fn ok(dir: &Path, args: &[&str]) -> String {
    let output = edgekit(dir, args);
    assert!(output.status.success(), "`cargo edgekit {}` failed:\n{}", args.join(" "), text(&output));
    text(&output)
}

/// The command's output, which must have failed.
fn fails(dir: &Path, args: &[&str]) -> String {
    let output = edgekit(dir, args);
    assert!(!output.status.success(), "`cargo edgekit {}` succeeded:\n{}", args.join(" "), text(&output));
    text(&output)
}

fn assert_mentions(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(message.contains(needle), "message does not mention `{needle}`:\n{message}");
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("edgekit-cli-").tempdir().unwrap()
}

#[test]
fn outside_a_project_commands_name_init_and_write_nothing() {
    let tmp = tempdir();
    for args in [&["dist"][..], &["size"], &["new", "orders", "--template", "http-api"], &["serve", "orders"]] {
        let message = fails(tmp.path(), args);
        assert_mentions(&message, &["no edgekit.toml in", "cargo edgekit init"]);
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "a refused command wrote files");
    // `--help` and `--version` need no project.
    assert_mentions(&ok(tmp.path(), &["--help"]), &["Usage: cargo edgekit <COMMAND>", "init", "update", "dist"]);
    assert_mentions(&ok(tmp.path(), &["dist", "--help"]), &["Usage: cargo edgekit dist"]);
    assert_mentions(&ok(tmp.path(), &["--version"]), &["cargo edgekit 0."]);
}

#[test]
fn init_makes_a_project_and_new_adds_a_component_to_it() {
    let tmp = tempdir();
    let said = ok(tmp.path(), &["init"]);
    assert_mentions(&said, &[".edgekit/guest/", ".edgekit/wit/", "edgekit.toml", ".github/workflows/edgekit.yml"]);
    for file in [
        "edgekit.toml",
        ".edgekit/guest/Cargo.toml",
        ".edgekit/guest/src/lib.rs",
        ".edgekit/wit/deps/http.wit",
        ".edgekit/wit/p3/deps/http.wit",
        ".github/workflows/edgekit.yml",
        ".gitignore",
    ] {
        assert!(tmp.path().join(file).is_file(), "init did not write {file}");
    }
    let project = std::fs::read_to_string(tmp.path().join("edgekit.toml")).unwrap();
    assert_mentions(&project, &["dir = \".edgekit\"", "version = \"0.", "wasi = [\"0.2.12\", \"0.3.0\"]"]);
    let workflow = std::fs::read_to_string(tmp.path().join(".github/workflows/edgekit.yml")).unwrap();
    assert_mentions(&workflow, &["cargo install --locked --git", "cargo edgekit dist", "cargo edgekit size"]);
    assert_mentions(&fails(tmp.path(), &["init"]), &["edgekit.toml already exists", "cargo edgekit update"]);

    let said = ok(tmp.path(), &["new", "orders", "--template", "http-api"]);
    assert_mentions(&said, &["created", "components/orders", "cargo edgekit dist orders"]);
    let orders = tmp.path().join("components/orders");
    assert_eq!(std::fs::read_link(orders.join("edgekit")).unwrap(), Path::new("../../.edgekit/guest"));
    assert!(orders.join("edgekit/src/lib.rs").is_file(), "the link does not reach the library");
    assert!(!orders.join("edgekit-test.rs").exists(), "edgekit's own tests are not a team's");
    assert_mentions(&std::fs::read_to_string(orders.join("Cargo.toml")).unwrap(), &["name = \"orders\""]);
    let project = std::fs::read_to_string(tmp.path().join("edgekit.toml")).unwrap();
    // Both WASI lines by default: a world file and a budget per artifact,
    // and no copy of the pinned WASI in the component.
    assert_mentions(&project, &["[budgets.orders]", "[budgets.orders-p3]", "baseline = 0"]);
    assert!(orders.join("wit/orders.wit").is_file() && orders.join("wit/orders-p3.wit").is_file());
    assert!(!orders.join("wit/deps").exists(), "a component's wit/ holds its worlds alone");
    // The library reaches the pins through its links, written from the binary.
    for (line, pins) in [("p2", "../../../wit/deps"), ("p3", "../../../wit/p3/deps")] {
        let deps = tmp.path().join(".edgekit/guest/wit").join(line).join("deps");
        assert_eq!(std::fs::read_link(&deps).unwrap(), Path::new(pins));
        assert!(deps.join("http.wit").is_file(), "{} does not reach the pins", deps.display());
    }
    // One line of two, as asked.
    ok(tmp.path(), &["new", "solo", "--template", "edge-fn", "--lines", "p3"]);
    let project = std::fs::read_to_string(tmp.path().join("edgekit.toml")).unwrap();
    assert!(project.contains("[budgets.solo-p3]") && !project.contains("[budgets.solo]"), "{project}");
    // A template that generates its own bindings gets its link to the pins
    // made anew, to the project's.
    ok(tmp.path(), &["new", "counter", "--template", "command"]);
    let deps = tmp.path().join("components/counter/wit/deps");
    assert_eq!(std::fs::read_link(&deps).unwrap(), Path::new("../../../.edgekit/wit/deps"));
    assert!(deps.join("cli.wit").is_file(), "the link does not reach the pins");
    // rm takes every line's artifact out.
    ok(tmp.path(), &["rm", "solo"]);
    let project = std::fs::read_to_string(tmp.path().join("edgekit.toml")).unwrap();
    assert!(!project.contains("solo"), "{project}");
    // The template list comes from the binary, not a checkout.
    assert_mentions(&fails(tmp.path(), &["new", "x", "--template", "nope"]), &["no template `nope`", "http-api"]);
    // A middleware's compositions come along only with handlers the project has.
    ok(tmp.path(), &["new", "auth", "--template", "middleware"]);
    let project = std::fs::read_to_string(tmp.path().join("edgekit.toml")).unwrap();
    assert!(!project.contains("[[composition]]"), "a composition with a handler the project lacks:\n{project}");
    // tidy holds a team's project to the rules that fit it.
    assert_mentions(&ok(tmp.path(), &["tidy"]), &["tidy: ok"]);
}

#[test]
fn init_with_the_example_app_adds_its_components_and_routes() {
    let tmp = tempdir();
    let said = ok(tmp.path(), &["init", "--example-app"]);
    assert_mentions(
        &said,
        &["components/edge-fn/", "components/http-api/", "components/middleware/", "components/kv-api/"],
    );
    assert_mentions(&said, &["3 [[route]]s", "cargo edgekit serve"]);
    let project = std::fs::read_to_string(tmp.path().join("edgekit.toml")).unwrap();
    assert_mentions(
        &project,
        &[
            "path = \"/\"\ncomponent = \"edge-fn\"",
            "path = \"/api/...\"\ncomponent = \"http-api\"\nmiddleware = \"middleware\"",
            "path = \"/kv/...\"\ncomponent = \"kv-api\"",
            // The middleware came after its handler, so with its compositions.
            "middleware = \"middleware\"\nhandler = \"http-api\"",
            "# The example app (`cargo edgekit init --example-app`)",
        ],
    );
    assert!(!project.contains("cargo xtask"), "edgekit's own words in a team's file:\n{project}");
    // The routes are checked against the components like any project's.
    assert_mentions(&ok(tmp.path(), &["tidy"]), &["tidy: ok"]);
}

#[test]
fn init_in_a_cargo_workspace_adds_and_overwrites_nothing() {
    let tmp = tempdir();
    let manifest = "# ours\n[workspace]\nmembers = [\"crates/*\"]\nresolver = \"3\"\n";
    std::fs::write(tmp.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::write(tmp.path().join(".gitignore"), "*.log").unwrap();
    std::fs::create_dir_all(tmp.path().join(".github/workflows")).unwrap();
    std::fs::write(tmp.path().join(".github/workflows/edgekit.yml"), "# mine\n").unwrap();
    let said = ok(tmp.path(), &["init"]);
    assert_mentions(&said, &["already there, kept as it is", "now ignores target/ too"]);
    let cargo = std::fs::read_to_string(tmp.path().join("Cargo.toml")).unwrap();
    assert!(cargo.starts_with("# ours\n[workspace]\nmembers = [\"crates/*\"]"), "{cargo}");
    assert_mentions(&cargo, &["exclude = [\"components\", \".edgekit\"]"]);
    assert_eq!(std::fs::read_to_string(tmp.path().join(".gitignore")).unwrap().lines().next(), Some("*.log"));
    assert_eq!(std::fs::read_to_string(tmp.path().join(".github/workflows/edgekit.yml")).unwrap(), "# mine\n");
}

#[test]
fn a_broken_project_file_is_named_with_its_line_and_changes_nothing() {
    let tmp = tempdir();
    ok(tmp.path(), &["init"]);
    let path = tmp.path().join("edgekit.toml");
    let good = std::fs::read_to_string(&path).unwrap();
    for (broken, expected) in [
        (good.replace("tolerance-percent = 1.0", "tolerance-percent = "), "line 24"),
        (good.replace("[budgets]", "[budgets]\ncolour = \"blue\""), "colour"),
        (good.replace("components = \"components\"", "components = \"../elsewhere\""), "leaves the project"),
        (good.replace("[project]", "[project]\nname = 1"), "unknown field `name`"),
    ] {
        std::fs::write(&path, &broken).unwrap();
        let message = fails(tmp.path(), &["new", "orders", "--template", "edge-fn"]);
        assert_mentions(&message, &[&path.display().to_string(), expected]);
        assert!(!tmp.path().join("components/orders").exists(), "a refused command wrote a component");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken, "a refused command rewrote the file");
    }
    // A component the project file names, but whose directory is gone.
    std::fs::write(
        &path,
        good.replace("[budgets]", "[[composition]]\nmiddleware = \"auth\"\nhandler = \"orders\"\n\n[budgets]"),
    )
    .unwrap();
    let message = fails(tmp.path(), &["dist"]);
    assert_mentions(&message, &["composition auth+orders names an artifact no component builds", "[[composition]]"]);
}

#[test]
fn update_brings_an_older_project_up_to_date_with_a_summary() {
    let tmp = tempdir();
    ok(tmp.path(), &["init"]);
    assert_mentions(&ok(tmp.path(), &["update", "--check"]), &["up to date with cargo-edgekit"]);
    // As an older cargo-edgekit would have left it: older versions, a file
    // that has changed since, one that is new since, one that is gone since.
    let path = tmp.path().join("edgekit.toml");
    let project = std::fs::read_to_string(&path).unwrap();
    let current = project.lines().find(|l| l.starts_with("version = ")).unwrap().to_string();
    std::fs::write(&path, project.replace(&current, "version = \"0.0.1\"")).unwrap();
    let lib = tmp.path().join(".edgekit/guest/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, text.replacen("//!", "//! An older line.\n//!", 1)).unwrap();
    std::fs::remove_file(tmp.path().join(".edgekit/guest/src/router.rs")).unwrap();
    std::fs::write(tmp.path().join(".edgekit/wit/old.wit"), "// gone since\n").unwrap();

    let note = ok(tmp.path(), &["size"]);
    assert_mentions(&note, &["written by cargo-edgekit 0.0.1", "run `cargo edgekit update`"]);
    let check = fails(tmp.path(), &["update", "--check"]);
    assert_mentions(&check, &["not up to date", "cargo edgekit update"]);
    let summary = ok(tmp.path(), &["update"]);
    let row = |file: &str| -> Vec<String> {
        let line = summary.lines().find(|l| l.starts_with(file)).unwrap_or_else(|| panic!("no row {file}:\n{summary}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(row(".edgekit/guest/src/lib.rs")[1..], ["changed", "+0", "-1"]);
    assert_eq!(row(".edgekit/guest/src/router.rs")[1], "added");
    assert_eq!(row(".edgekit/wit/old.wit")[1..], ["removed", "+0", "-1"]);
    assert_mentions(&summary, &["3 files", "edgekit.toml [edgekit] version: 0.0.1 -> 0."]);
    assert!(tmp.path().join(".edgekit/guest/src/router.rs").is_file());
    assert!(!tmp.path().join(".edgekit/wit/old.wit").exists());
    assert!(!std::fs::read_to_string(&lib).unwrap().contains("An older line."));
    assert!(std::fs::read_to_string(&path).unwrap().contains(&current));
    assert_mentions(&ok(tmp.path(), &["update"]), &["up to date"]);
    assert!(!ok(tmp.path(), &["size"]).contains("note:"), "still says the project is older");
}
