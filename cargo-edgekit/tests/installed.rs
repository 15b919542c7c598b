//! The installed tool in a team's repository, end to end: `cargo install`
//! from a copy of this checkout into a temporary root, the copy deleted,
//! then in a new directory outside any checkout `init`, `new orders
//! --template http-api`, `dist`, `size --bless`, a change that adds a
//! kilobyte and `size` failing on it by name, and `serve` answering `GET
//! /items`. The artifact `dist` made there must be, byte for byte, the one
//! this checkout makes of the same template renamed the same way. Then
//! `init --example-app` in another directory, `dist`, and `serve` with no
//! component answering each of the app's routes on one address.
//!
//! It installs a debug build into the test's own target directory, so the
//! install reuses what `cargo test` compiled (the release install a team
//! runs is timed in docs/project.md, not here).

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The checkout this test runs in.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `from` copied to `to`, links as links, without build output or `.git`.
fn copy_checkout(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let (path, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&path).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_checkout(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// `--config` arguments that give the workspace's members, built from
/// `clone`, another profile (codegen-units 255 for the default 256: the same
/// code), so other file names in a shared target directory. With the same
/// names, the clone's builds would replace this checkout's: cargo names a
/// path crate's files by its path inside its workspace, the same in both,
/// and `cargo test` links its doctests against the files it built before
/// the tests ran.
fn separate_units(clone: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(clone.join("Cargo.toml")).unwrap();
    let members =
        manifest.lines().find_map(|l| l.strip_prefix("members = [")).expect("the workspace lists its members");
    members
        .split('"')
        .skip(1)
        .step_by(2)
        .flat_map(|member| {
            let manifest = std::fs::read_to_string(clone.join(member).join("Cargo.toml")).unwrap();
            let name =
                manifest.lines().find_map(|l| l.strip_prefix("name = \"")?.strip_suffix('"')).unwrap().to_string();
            ["--config".to_string(), format!("profile.dev.package.{name}.codegen-units=255")]
        })
        .collect()
}

/// A command run the way a person's shell runs it: none of the variables
/// cargo set for this test, the installed tool first on `PATH`.
fn shell(program: &str, dir: &Path, bin: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && !matches!(key.as_str(), "CARGO_HOME" | "CARGO_TARGET_DIR") || key == "OUT_DIR" {
            command.env_remove(key);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    command.env("PATH", std::env::join_paths(paths).unwrap());
    command
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `cargo edgekit <args>` in `dir`, with the installed tool; its output.
fn edgekit(dir: &Path, bin: &Path, args: &[&str]) -> Output {
    let output = shell("cargo", dir, bin).arg("edgekit").args(args).output().unwrap();
    println!("$ cargo edgekit {}\n{}", args.join(" "), text(&output));
    output
}

fn ok(dir: &Path, bin: &Path, args: &[&str]) -> String {
    let output = edgekit(dir, bin, args);
    assert!(output.status.success(), "`cargo edgekit {}` failed", args.join(" "));
    text(&output)
}

/// The child process, killed if the test fails before it exits.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path`: the status and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, body) = edgekit_host::client::get_blocking(addr, path, Duration::from_secs(30)).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
#[ignore = "slow: installs cargo-edgekit and builds a component with it; .ci/run runs it"]
fn installed_tool_works_in_a_project_outside_any_checkout() {
    let tmp = tempfile::Builder::new().prefix("edgekit-installed-").tempdir().unwrap();
    let (clone, root, team) = (tmp.path().join("clone"), tmp.path().join("root"), tmp.path().join("team"));
    let bin = root.join("bin");
    copy_checkout(&checkout(), &clone);
    // The target directory this test was built in, so the install reuses
    // its dependencies; the workspace's own crates, built from the clone,
    // get file names of their own (`separate_units`).
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| checkout().join("target"));
    let install = shell("cargo", tmp.path(), &bin)
        .args(["install", "--locked", "--debug", "--quiet", "--path"])
        .arg(clone.join("cargo-edgekit"))
        .arg("--root")
        .arg(&root)
        .arg("--target-dir")
        .arg(&target)
        .args(separate_units(&clone))
        .output()
        .unwrap();
    assert!(install.status.success(), "cargo install failed:\n{}", text(&install));
    std::fs::remove_dir_all(&clone).unwrap();
    assert!(bin.join("cargo-edgekit").is_file());

    std::fs::create_dir_all(&team).unwrap();
    ok(&team, &bin, &["init"]);
    let said = ok(&team, &bin, &["new", "orders", "--template", "http-api"]);
    assert!(said.contains(&team.join("components/orders").display().to_string()), "{said}");
    ok(&team, &bin, &["dist"]);
    let built = std::fs::read(team.join("target/dist/orders.wasm")).unwrap();
    ok(&team, &bin, &["size", "--bless"]);

    // The same template renamed the same way, built in this checkout.
    let reference = tempfile::Builder::new().prefix("edgekit-reference-").tempdir().unwrap();
    copy_checkout(&checkout(), reference.path());
    xtask::scaffold::new::create(reference.path(), "orders", "http-api", None).unwrap();
    let sh = xshell::Shell::new().unwrap();
    let (_, artifacts) = xtask::pipeline::dist::produce(&sh, reference.path(), &["orders".into()]).unwrap();
    let ours = &artifacts[0].0.bytes;
    assert!(&built == ours, "the team's orders.wasm ({} B) is not this checkout's ({} B)", built.len(), ours.len());
    println!("orders.wasm: {} bytes, the same as this checkout's http-api renamed `orders`", built.len());

    // A change that adds a kilobyte: `size` fails and names the component.
    let lib = team.join("components/orders/src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let padding = format!(
        "\n/// A kilobyte of text, served at /padding.\nconst PADDING: &str = \"{}\";\n",
        "0123456789abcdef".repeat(64)
    );
    let route = "    if request.path() == \"/padding\" {\n        return Response::text(200, PADDING);\n    }\n";
    let handle = source.find("fn handle(").expect("the template has a `fn handle`");
    let body = handle + source[handle..].find("{\n").unwrap() + 2;
    let changed = format!("{}{route}{}{padding}", &source[..body], &source[body..]);
    std::fs::write(&lib, changed).unwrap();
    ok(&team, &bin, &["dist", "orders"]);
    let size = edgekit(&team, &bin, &["size"]);
    assert!(!size.status.success(), "size passed a kilobyte of growth");
    let message = text(&size);
    assert!(message.contains("`orders` grew") && message.contains("cargo edgekit size --bless"), "{message}");

    // serve answers GET /items from the team's artifact.
    let (server, addr) = serve(&team, &bin, &["orders"]);
    let (status, body) = get(addr, "/items");
    println!("GET /items: {status} {body}");
    let catalogue = r#"{"items":[{"id":1,"name":"kettle","price":2500},{"id":2,"name":"teapot","price":1800},{"id":3,"name":"mug","price":650}]}"#;
    assert_eq!((status, body.as_str()), (200, catalogue));
    let (status, body) = get(addr, "/padding");
    assert_eq!((status, body.len()), (200, 1024), "the change is what serve runs");
    drop(server);

    // `init --example-app`: its components built, and every route answered
    // on one address by `serve` with no component named.
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    ok(&app, &bin, &["init", "--example-app"]);
    ok(&app, &bin, &["dist"]);
    let (_child, addr) = serve(&app, &bin, &[]);
    let answers = [
        ("GET", "/", "", 200, "hello from the edge\n"),
        ("GET", "/api/items", "", 401, r#"{"error":"missing or invalid bearer token"}"#),
        ("PUT", "/kv/items/a", r#"{"name":"kettle"}"#, 201, r#"{"name":"kettle"}"#),
        ("GET", "/kv/items/a", "", 200, r#"{"name":"kettle"}"#),
        ("GET", "/nope", "", 404, ""),
    ];
    for (method, path, body, status, expected) in answers {
        let (got, answer) =
            edgekit_host::client::send_blocking(addr, method, path, body.into(), Duration::from_secs(30)).unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        println!("example app, {method} {path}: {got} {answer}");
        assert_eq!(got, status, "{method} {path}: {answer}");
        if !expected.is_empty() {
            assert_eq!(answer, expected, "{method} {path}");
        }
    }
}

/// `cargo edgekit serve <args>` in `dir` on a free port: the server (killed
/// when dropped) and the address its banner names.
fn serve(dir: &Path, bin: &Path, args: &[&str]) -> (Child, SocketAddr) {
    let mut child = shell("cargo", dir, bin)
        .args(["edgekit", "serve"])
        .args(args)
        .args(["--addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let child = Child(child);
    let (lines, heard) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let banner = heard.recv_timeout(Duration::from_secs(120)).expect("serve prints its banner");
    let addr = xtask_run::serve::banner_address(&banner).unwrap_or_else(|| panic!("no address in {banner}"));
    (child, addr)
}
