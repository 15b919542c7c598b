//! The project root is found at run time (issue 21): one `xtask-run`
//! binary, from one target directory, run in two copies of the workspace,
//! reads each copy's own `target/dist/`, never the checkout it was compiled
//! in; `CARGO_MANIFEST_DIR` counts only when it is set (as cargo sets it).

use std::path::Path;
use std::process::Command;

/// A minimal copy of the workspace at `dir`: the project file, the root
/// manifest, `components/` with a standalone crate's own `[workspace]`
/// manifest (which must not count as the root), and one dist artifact
/// named `artifact`.
fn copy_of_the_workspace(dir: &Path, artifact: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(root.join("Cargo.toml"), dir.join("Cargo.toml")).unwrap();
    std::fs::copy(root.join("edgekit.toml"), dir.join("edgekit.toml")).unwrap();
    let component = dir.join("components").join("edge-fn");
    std::fs::create_dir_all(&component).unwrap();
    std::fs::write(component.join("Cargo.toml"), "[package]\nname = \"edge-fn\"\n\n[workspace]\n").unwrap();
    std::fs::create_dir_all(dir.join("wit")).unwrap();
    std::fs::create_dir_all(dir.join("xtask").join("run")).unwrap();
    let dist = dir.join("target").join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join(format!("{artifact}.wasm")), b"").unwrap();
}

/// Runs `xtask-run serve missing` in `cwd`, with `CARGO_MANIFEST_DIR` set to
/// `manifest_dir` or unset, and returns its stderr: the error names the
/// artifact it looked for and the artifacts of the dist directory it read.
fn serve_missing(cwd: &Path, manifest_dir: Option<&Path>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask-run"));
    command.current_dir(cwd).args(["serve", "missing"]).env_remove("CARGO_MANIFEST_DIR");
    if let Some(dir) = manifest_dir {
        command.env("CARGO_MANIFEST_DIR", dir);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success(), "serving a missing artifact succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn two_copies_sharing_one_binary_each_read_their_own_dist() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    copy_of_the_workspace(a.path(), "alpha");
    copy_of_the_workspace(b.path(), "beta");
    let expect = |stderr: &str, copy: &Path, artifact: &str| {
        let missing = copy.join("target").join("dist").join("missing.wasm");
        assert!(stderr.contains(&format!("{} is missing", missing.display())), "{stderr}");
        assert!(stderr.contains(&format!("(there are: {artifact})")), "{stderr}");
    };
    // From each root, and from deeper inside each (a component's own
    // [workspace] on the way up does not count).
    expect(&serve_missing(a.path(), None), a.path(), "alpha");
    expect(&serve_missing(b.path(), None), b.path(), "beta");
    expect(&serve_missing(&a.path().join("components").join("edge-fn"), None), a.path(), "alpha");
    // CARGO_MANIFEST_DIR, when set, names the package cargo runs: it wins
    // over the current directory.
    let b_run = b.path().join("xtask").join("run");
    expect(&serve_missing(a.path(), Some(&b_run)), b.path(), "beta");
    // Outside any project, the error says so instead of reading the
    // checkout the binary was built in.
    let outside = tempfile::tempdir().unwrap();
    let stderr = serve_missing(outside.path(), None);
    assert!(stderr.contains("no edgekit.toml in") && stderr.contains("cargo edgekit init"), "{stderr}");
}
