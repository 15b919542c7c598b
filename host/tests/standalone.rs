//! A template copied out of the workspace by hand, the way a team starts a
//! new edge function in its own repository (`cp -rL`: the link to the guest
//! library, `edgekit/`, becomes a copy of it, and the library's links to the
//! pinned WASI copies of them), builds with the stock toolchain alone
//! (`cargo build --release --target wasm32-wasip2 --features <line>`, no
//! edgekit) into a component that answers the same requests as edgekit's
//! dist artifact of that line. It is bigger and imports std's `wasi:cli`
//! interfaces, so it is served with all of WASI linked (`Grants::cli`), as
//! `wasmtime serve -Scli` would.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use edgekit_host::client::get_blocking;
use edgekit_host::http::{Grants, Handler, Limits, full_body};
use edgekit_host::serve;

/// Copies `components/<name>` to a temporary directory outside the
/// workspace, following links (as `cp -rL`), applies `edit` to its
/// `src/lib.rs`, builds it for `wasm32-wasip2` with `--features <line>`
/// into a target directory named after `variant`, and returns the
/// component.
fn build_copied_out(name: &str, line: &str, variant: &str, edit: impl Fn(String) -> String) -> Vec<u8> {
    build_copied_out_with(name, line, variant, |manifest| manifest, edit)
}

/// [`build_copied_out`], with `manifest` applied to the copy's `Cargo.toml`
/// too.
fn build_copied_out_with(
    name: &str,
    line: &str,
    variant: &str,
    manifest_edit: impl Fn(String) -> String,
    edit: impl Fn(String) -> String,
) -> Vec<u8> {
    let root = edgekit_host::root();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_tree(&root.join("components").join(name), &dir);
    // A template on the guest library links it in as `edgekit/`; the copy
    // by hand follows the link, so the crate carries the library there.
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, manifest_edit(text)).unwrap();
    let lib = dir.join("src/lib.rs");
    std::fs::write(&lib, edit(std::fs::read_to_string(&lib).unwrap())).unwrap();
    // Its own rust-toolchain.toml pins the toolchain; make sure rustup has
    // the target (a fresh toolchain install already brings it). Once per
    // test binary: two `rustup target add` at once download into the same
    // file, and one of them fails (seen on a fresh machine).
    static WASIP2: OnceLock<()> = OnceLock::new();
    WASIP2.get_or_init(|| {
        let status = std::process::Command::new("rustup")
            .current_dir(&dir)
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .expect("rustup runs");
        assert!(status.success(), "`rustup target add wasm32-wasip2` failed: run it by hand and retry");
    });
    // A target directory of its own under cargo's (CARGO_TARGET_DIR, which
    // CI keeps between runs, else the workspace's), so reruns are
    // incremental and the copy's build never touches the workspace's; one
    // per variant, so tests running at once never read each other's build
    // of the same crate.
    let cargo_target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let target = cargo_target.join("standalone").join(variant);
    let output = std::process::Command::new("cargo")
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTUP_TOOLCHAIN")
        .args(["build", "--release", "--target", "wasm32-wasip2", "--features", line, "--target-dir"])
        .arg(&target)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the copied-out {name} does not build with --features {line}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = target.join("wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()))
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.ends_with("target") {
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

/// GET `path` through `handler`: status and body.
fn get(handler: &Handler, path: &str) -> (u16, Vec<u8>) {
    let request = hyper::Request::get(format!("http://localhost{path}")).body(full_body("")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let response = runtime.block_on(handler.handle(request)).unwrap();
    (response.status, response.body.to_vec())
}

/// Each line of a crate built for both, copied out once: the 0.2 build
/// against `<name>.wasm`, the 0.3 build against `<name>-p3.wasm`.
#[test]
#[ignore = "slow: builds templates with the stock toolchain; run with `cargo test -- --include-ignored` (.ci/run does)"]
fn templates_copied_out_build_alone_and_answer_the_same() {
    for (name, line, artifact, paths) in [
        ("edge-fn", "p2", "edge-fn", &["/", "/any/path"][..]),
        ("http-api", "p2", "http-api", &["/health", "/items/2", "/nope"][..]),
        ("edge-fn", "p3", "edge-fn-p3", &["/", "/any/path"][..]),
        ("http-api", "p3", "http-api-p3", &["/health", "/items/2", "/nope"][..]),
    ] {
        let bytes = build_copied_out(name, line, &format!("as-is-{line}"), |source| source);
        let dist = std::fs::read(edgekit_host::artifact(artifact).unwrap()).unwrap();
        assert!(
            bytes.len() > dist.len(),
            "{artifact}: the stock build ({} B) should be bigger than edgekit's",
            bytes.len()
        );
        let engines = edgekit_host::engines();
        let copied = engines.compile(&bytes).unwrap();
        let grants = Grants { cli: true, ..Grants::default() };
        let copied = Handler::with(&copied, Limits::default(), grants).unwrap();
        let ours = Handler::new(&edgekit_host::load(&engines, artifact).unwrap()).unwrap();
        for path in paths {
            let answer = get(&copied, path);
            assert_eq!(answer, get(&ours, path), "{artifact} {path}");
            eprintln!("{artifact} {path}: {} ({} bytes copied out, {} from dist)", answer.0, bytes.len(), dist.len());
        }
    }
}

/// The 4 KiB trap: `blocking-write-and-flush` takes at most 4,096 bytes a
/// call, so a team that grows edge-fn's body past that must still get all
/// of it. The template's body, made 10 KiB in a copy, arrives whole.
#[test]
#[ignore = "slow: builds a template with the stock toolchain; run with `cargo test -- --include-ignored` (.ci/run does)"]
fn edge_fn_grown_past_4_kib_answers_its_whole_body() {
    let body: String = (0..10 * 1024).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let bytes = build_copied_out("edge-fn", "p2", "grown", |source| {
        let from = "\"hello from the edge\\n\"";
        assert!(source.contains(from), "edge-fn's answer moved; update this test");
        source.replace(from, &format!("\"{body}\""))
    });
    let engines = edgekit_host::engines();
    let component = engines.compile(&bytes).unwrap();
    let handler = Handler::with(&component, Limits::default(), Grants { cli: true, ..Grants::default() }).unwrap();
    let (status, answer) = get(&handler, "/");
    assert_eq!(status, 200);
    assert_eq!(answer.len(), body.len(), "the body was cut");
    assert!(answer == body.as_bytes());
}

/// The library's dependency line with std's allocator and panic handler.
fn uses_std_manifest(manifest: String) -> String {
    let from = "features = [\"alloc\", \"panic-trap\"]";
    assert!(manifest.contains(from), "edge-fn's dependency on the library moved; update this test");
    manifest.replace(from, "features = []")
}

/// `serve --cli` (issue 21): edge-fn built the stock way, with a copy that
/// uses std's WASI (it logs with `eprintln!` and reads a variable with
/// `std::env::var`, so it imports `wasi:cli/environment`, which the proxy
/// world lacks), served over real HTTP on 127.0.0.1 with all of WASI
/// linked, answers 200 with its body and the variable `--env` gave it, and
/// its stderr line reaches the guest log; without the grant it is refused,
/// and the error names `--cli`.
#[test]
#[ignore = "slow: builds a template with the stock toolchain; run with `cargo test -- --include-ignored` (.ci/run does)"]
fn a_stock_build_is_served_over_http_with_cli_granted() {
    let bytes = build_copied_out_with("edge-fn", "p2", "uses-std", uses_std_manifest, |source| {
        let from = "    Response::text(200, \"hello from the edge\\n\")";
        assert!(source.contains(from), "edge-fn's answer moved; update this test");
        // A crate on std: std's panic handler and allocator, so the
        // library's (`panic-trap`, `alloc`) are turned off in the manifest.
        let source = source.replace("#![no_std]\n", "");
        let to = "    eprintln!(\"INFO handling a request\");\n    \
                  let greeting = std::env::var(\"EDGE_GREETING\").unwrap_or_default();\n    \
                  Response::text(200, format!(\"hello from the edge\\n{greeting}\"))";
        source.replace(from, to)
    });
    let limits = Limits::default();
    let engines = serve::engines(&limits);
    let component = engines.compile(&bytes).unwrap();
    let refused = match Handler::with(&component, limits.clone(), Grants::default()) {
        Ok(_) => panic!("the stock build using std was linked without wasi:cli"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("imports more than the wasi:http/proxy@0.2 world offers"), "{refused}");
    assert!(refused.contains("`--cli`"), "{refused}");
    let grants =
        Grants { cli: true, env: vec![("EDGE_GREETING".into(), "and from --env\n".into())], ..Grants::default() };
    let (lines, logged) = std::sync::mpsc::channel();
    let handler = Handler::with(&component, limits, grants).unwrap().named("stock").guest_log(serve::Log::Lines(lines));
    let server = serve::start_with("127.0.0.1:0", handler, serve::ServerLimits::default(), serve::Log::Stderr).unwrap();
    for path in ["/", "/again"] {
        let (status, body) = get_blocking(server.addr, path, std::time::Duration::from_secs(10)).unwrap();
        let body = String::from_utf8_lossy(&body).into_owned();
        assert_eq!((status, body.as_str()), (200, "hello from the edge\nand from --env\n"), "{path}");
    }
    server.shutdown().unwrap();
    let logged: Vec<String> = logged.try_iter().collect();
    // The library's line on `wasi:cli/stderr`, then std's `eprintln!`.
    assert_eq!(
        logged,
        [
            "stock #1 | INFO GET /",
            "stock #1 | INFO handling a request",
            "stock #2 | INFO GET /again",
            "stock #2 | INFO handling a request"
        ]
    );
}
