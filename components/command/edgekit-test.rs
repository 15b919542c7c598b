//! The tests edgekit runs against the `command` dist artifact in wasmtime.
//!
//! `host/tests/components.rs` includes this file as its `command` module
//! (generated from the directory listing), so a component without it does
//! not compile; it travels with the component when `cargo xtask new` copies
//! it and goes with it on `cargo xtask rm`.

use super::*;
use edgekit_host::command::Output;

/// A directory `granted/` holding `a.txt` and `b.txt`, beside a
/// `secret.txt` the command must not reach; removed when dropped.
struct Sandbox(std::path::PathBuf);

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sandbox() -> Sandbox {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let root = std::env::temp_dir().join(format!("edgekit-command-{}-{n}", std::process::id()));
    std::fs::create_dir_all(root.join("granted")).unwrap();
    std::fs::write(root.join("granted/a.txt"), "hello world\nbye\n").unwrap();
    std::fs::write(root.join("granted/b.txt"), "  one  two three ").unwrap();
    std::fs::write(root.join("secret.txt"), "top secret\n").unwrap();
    Sandbox(root)
}

/// Runs `command <args>` with only `granted/` granted.
fn run(args: &[&str]) -> Output {
    let component = compiled("command");
    let sandbox = sandbox();
    let argv: Vec<&str> = std::iter::once("command").chain(args.iter().copied()).collect();
    edgekit_host::command::run(component, &argv, &sandbox.0.join("granted")).unwrap()
}

#[test]
fn counts_a_file_in_the_granted_directory() {
    let out = run(&["a.txt"]);
    assert_eq!((out.success, out.stdout.as_str(), out.stderr.as_str()), (true, "2 3 16 a.txt\n", ""));
}

#[test]
fn counts_several_with_a_total() {
    let out = run(&["a.txt", "b.txt"]);
    assert_eq!(out.stdout, "2 3 16 a.txt\n0 3 17 b.txt\n2 6 33 total\n");
}

#[test]
fn cannot_reach_outside_the_granted_directory() {
    let out = run(&["../secret.txt"]);
    assert_eq!((out.success, out.stdout.as_str()), (false, ""));
    assert_eq!(out.stderr, "command: ../secret.txt: not permitted: outside the granted directory\n");
    // A file that exists, by its absolute host path.
    let other = sandbox();
    let out = run(&[other.0.join("secret.txt").to_str().unwrap()]);
    assert!(!out.success && out.stderr.contains("not permitted"), "{out:?}");
}

#[test]
fn missing_file_and_no_arguments_fail() {
    let out = run(&["nope.txt"]);
    assert_eq!((out.success, out.stderr.as_str()), (false, "command: nope.txt: no such file\n"));
    assert_eq!(run(&[]).stderr, "usage: command <file>...\n");
}
