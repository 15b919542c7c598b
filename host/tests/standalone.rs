//! A template copied out of the workspace by hand, the way a team starts a
//! new edge function in its own repository, builds with the stock toolchain
//! alone (`cargo build --release --target wasm32-wasip2`, no edgekit) into a
//! component that answers the same requests as edgekit's dist artifact. It
//! is bigger and imports std's `wasi:cli` interfaces, so it is served with
//! all of WASI linked (`Grants::cli`), as `wasmtime serve -Scli` would.

use std::path::Path;

use edgekit_host::http::{Grants, Handler, Limits, full_body};

/// Copies `components/<name>` to a temporary directory outside the
/// workspace, builds it for `wasm32-wasip2` and returns the component.
fn build_copied_out(name: &str) -> Vec<u8> {
    let root = edgekit_host::root();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_tree(&root.join("components").join(name), &dir);
    // Its own rust-toolchain.toml pins the toolchain; make sure rustup has
    // the target (a fresh toolchain install already brings it).
    let status = std::process::Command::new("rustup")
        .current_dir(&dir)
        .args(["target", "add", "wasm32-wasip2"])
        .status()
        .expect("rustup runs");
    assert!(status.success(), "`rustup target add wasm32-wasip2` failed");
    // A target directory of its own under the workspace's, so reruns are
    // incremental and the copy's build never touches the workspace's.
    let target = root.join("target").join("standalone");
    let output = std::process::Command::new("cargo")
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTUP_TOOLCHAIN")
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target)
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "the copied-out {name} does not build:\n{}", String::from_utf8_lossy(&output.stderr));
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
        if path.is_dir() { copy_tree(&path, &target) } else { drop(std::fs::copy(&path, &target).unwrap()) }
    }
}

/// GET `path` through `handler`: status and body.
fn get(handler: &Handler, path: &str) -> (u16, Vec<u8>) {
    let request = hyper::Request::get(format!("http://localhost{path}")).body(full_body("")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let response = runtime.block_on(handler.handle(request)).unwrap();
    (response.status, response.body.to_vec())
}

#[test]
#[ignore = "slow: builds templates with the stock toolchain; run with `cargo test -- --include-ignored` (.ci/run does)"]
fn templates_copied_out_build_alone_and_answer_the_same() {
    for (name, paths) in [("edge-fn", &["/", "/any/path"][..]), ("http-api", &["/health", "/items/2", "/nope"][..])] {
        let bytes = build_copied_out(name);
        let dist = std::fs::read(edgekit_host::artifact(name).unwrap()).unwrap();
        assert!(bytes.len() > dist.len(), "{name}: the stock build ({} B) should be bigger than edgekit's", bytes.len());
        let engine = edgekit_host::engine().unwrap();
        let copied = wasmtime::component::Component::new(&engine, &bytes).unwrap();
        let grants = Grants { cli: true, ..Grants::default() };
        let copied = Handler::with(&engine, &copied, Limits::default(), grants).unwrap();
        let ours = Handler::new(&engine, &edgekit_host::load(&engine, name).unwrap()).unwrap();
        for path in paths {
            let answer = get(&copied, path);
            assert_eq!(answer, get(&ours, path), "{name} {path}");
            eprintln!("{name} {path}: {} ({} bytes copied out, {} from dist)", answer.0, bytes.len(), dist.len());
        }
    }
}
