//! `cargo xtask serve --profile <dir>` as a person runs it: the command
//! serves a stripped guest whose `/burn` route burns CPU, takes requests
//! over real HTTP, and on Ctrl-C writes `<dir>/profile.json` and
//! `<dir>/flamegraph.svg`, whose widest frame above the entry point is that
//! route's function, named from the names file.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use edgekit_host::profile::frames_of_svg;
use edgekit_host::test_guests::named::{self, BURN, HANDLE};

/// The child process, killed if the test fails before it exits.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_profile_writes_the_profile_and_the_flame_graph_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = named::http_burner().unwrap().write(dir.path(), "burner").unwrap();
    let out = dir.path().join("profile");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask-run"))
        .arg("serve")
        .arg(&artifact)
        .args(["--addr", "127.0.0.1:0", "--max-connections", "64", "--profile"])
        .arg(&out)
        .stderr(Stdio::piped())
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
    let banner = heard.recv_timeout(Duration::from_secs(60)).expect("serve prints its banner");
    assert!(banner.contains(&format!("profiled into {} on stop", out.display())), "{banner}");
    let addr = xtask_run::serve::banner_address(&banner).unwrap_or_else(|| panic!("no address in {banner}"));
    for path in ["/burn", "/", "/burn", "/", "/burn"] {
        let (status, _) = edgekit_host::client::get_blocking(addr, path, Duration::from_secs(60)).unwrap();
        assert_eq!(status, 200, "{path}");
    }
    let pid = libc::pid_t::try_from(child.0.id()).unwrap();
    // SAFETY: kill has no memory effects; it signals our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    // Its stderr closes when it exits.
    let said: Vec<String> = std::iter::from_fn(|| heard.recv_timeout(Duration::from_secs(60)).ok()).collect();
    let mut child = child;
    let status = child.0.wait().unwrap();
    assert!(status.success(), "serve exited with {status}: {said:#?}");
    let line = said.iter().find(|l| l.starts_with("profile: ")).unwrap_or_else(|| panic!("{said:#?}"));
    println!("{line}");
    assert!(line.contains(&format!("most samples in {BURN}")), "{line}");
    let json = std::fs::read_to_string(out.join("profile.json")).unwrap();
    assert!(json.contains(&format!("\"{BURN}\"")), "the JSON does not name {BURN}");
    let frames = frames_of_svg(&std::fs::read_to_string(out.join("flamegraph.svg")).unwrap());
    assert!(frames.iter().any(|f| f.depth == 1 && f.name == HANDLE), "{frames:?}");
    let widest = frames.iter().filter(|f| f.depth >= 2).max_by_key(|f| f.samples).unwrap();
    assert_eq!(widest.name, BURN, "{frames:?}");
}
