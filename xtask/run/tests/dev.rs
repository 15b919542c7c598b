//! `cargo xtask dev` over real HTTP on 127.0.0.1, in a copy of the
//! workspace: edge-fn is served, its answer changed in the source, and the
//! new answer served once rebuilt, the old one until then; a broken source
//! and a component past its budget keep the last good version serving and
//! print their error once; a file written under `target/` rebuilds nothing;
//! Ctrl-C stops it with status 0 and no temporary file left.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a build may take here, at most: the first one in a fresh copy
/// compiles the guest crate and its dependencies for the copy's paths.
const BUILD: Duration = Duration::from_secs(600);

/// The answers of edge-fn before and after the edits.
const OLD: &str = "hello from the edge\n";
const NEW: &str = "hello from dev\n";
const AGAIN: &str = "hello again\n";

/// Copies the sources a build needs: the pins, the components and the guest
/// library they are written on (without any `target/`), and the root files
/// the pipeline reads.
fn workspace_copy(root: &Path) -> tempfile::TempDir {
    let tmp = tempfile::Builder::new().prefix("edgekit-dev-").tempdir().unwrap();
    for dir in ["wit", "components", "guest"] {
        copy_tree(&root.join(dir), &tmp.path().join(dir));
    }
    // README.md for `new`, which adds a component's rows to it here.
    for file in ["edgekit.toml", "rust-toolchain.toml", "README.md"] {
        std::fs::copy(root.join(file), tmp.path().join(file)).unwrap();
    }
    // The root is found from the manifest directory of xtask (see
    // `workspace::root`), which the binary is told below.
    std::fs::create_dir_all(tmp.path().join("xtask")).unwrap();
    tmp
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        let target = to.join(path.file_name().unwrap());
        if path.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&path).unwrap(), &target).unwrap();
        } else if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// `cargo xtask dev` running in a copy, and everything it printed so far.
struct Dev {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Dev {
    /// Ctrl-C, then waits up to 60 s for dev to exit, which must be with 0.
    fn interrupt_and_expect_a_clean_exit(&mut self) {
        // SAFETY: kill has no memory effects; the pid is our own child's.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let give_up = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < give_up, "dev did not stop within 60 s of Ctrl-C");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(0), "{}", self.lines().join("\n"));
    }

    /// `dev` on `component`, or with none (the copy's app).
    fn start(copy: &Path, component: Option<&str>) -> Dev {
        let real = xtask::workspace::root();
        let mut child = Command::new(env!("CARGO_BIN_EXE_xtask-run"))
            .arg("dev")
            .args(component)
            .args(["--addr", "127.0.0.1:0"])
            .current_dir(copy)
            .env("CARGO_MANIFEST_DIR", copy.join("xtask"))
            // The shared build cache: only the copy's own crates compile.
            .env("CARGO_TARGET_DIR", xtask::workspace::target_dir(&real))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in
            [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    eprintln!("[dev] {line}");
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Dev { child, lines }
    }

    /// The lines printed so far.
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits (at most `within`) until the output has `n` lines containing
    /// `needle`, and returns the last of them.
    fn wait_for(&mut self, needle: &str, n: usize, within: Duration) -> String {
        let give_up = Instant::now() + within;
        loop {
            let found: Vec<String> = self.lines().into_iter().filter(|l| l.contains(needle)).collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("dev exited ({status}) before printing {needle:?}:\n{}", self.lines().join("\n"));
            }
            assert!(Instant::now() < give_up, "no {needle:?} (x{n}) within {within:?}:\n{}", self.lines().join("\n"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // A failed test still stops its server (this child, by its own id).
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET /` on a fresh connection: status and body.
fn get(addr: SocketAddr) -> (u16, String) {
    get_path(addr, "/")
}

/// `GET path` on a fresh connection: status and body.
fn get_path(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, dechunk(&body))
}

/// The body of a chunked response (hyper chunks a streamed body).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { return body.to_string() };
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    out
}

/// Asks `GET /` until the answer is `new`, at most for [`BUILD`]; every
/// answer before it must be `old`. Returns how many old answers came.
fn served_until(addr: SocketAddr, old: &str, new: &str) -> usize {
    served_at_until(addr, "/", old, new)
}

/// [`served_until`] on `path`.
fn served_at_until(addr: SocketAddr, path: &str, old: &str, new: &str) -> usize {
    let give_up = Instant::now() + BUILD;
    let mut olds = 0;
    loop {
        let (status, body) = get_path(addr, path);
        assert_eq!(status, 200, "{body}");
        if body == new {
            return olds;
        }
        assert_eq!(body, old, "neither the old answer nor the new one");
        olds += 1;
        assert!(Instant::now() < give_up, "{new:?} was not served within {BUILD:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes edge-fn's `source` to `lib` with its answer replaced by `body` (a
/// Rust string literal's contents) and `extra` appended.
fn edit(lib: &Path, source: &str, body: &str, extra: &str) {
    const ANSWER: &str = "Response::text(200, \"";
    let start = source.find(ANSWER).expect("edge-fn's answer, `Response::text(200, \"...\")`") + ANSWER.len();
    let end = start + source[start..].find("\")").unwrap();
    let mut new = format!("{}{body}{}", &source[..start], &source[end..]);
    new.push_str(extra);
    // Written whole and renamed into place, as many editors save: a write in
    // place can be seen half done on a busy machine (its truncation, then
    // its bytes), which dev rightly takes for two changes.
    let temporary = lib.with_file_name(".lib.rs.tmp");
    std::fs::write(&temporary, new).unwrap();
    std::fs::rename(&temporary, lib).unwrap();
}

#[test]
fn dev_serves_each_change_that_passes_and_keeps_the_last_good_one() {
    let real = xtask::workspace::root();
    let copy = workspace_copy(&real);
    let lib: PathBuf = copy.path().join("components/edge-fn/src/lib.rs");
    let original = std::fs::read_to_string(&lib).unwrap();
    let edit = |body: &str, extra: &str| edit(&lib, &original, body, extra);
    let mut dev = Dev::start(copy.path(), Some("edge-fn"));
    let banner = dev.wait_for("serving edge-fn (WASI 0.2) on http://", 1, BUILD);
    let addr = xtask_run::serve::banner_address(&banner).unwrap_or_else(|| panic!("no address in {banner}"));
    dev.wait_for("dev: watching", 1, BUILD);
    assert_eq!(get(addr), (200, OLD.to_string()));
    let builds_at_start = dev.count("==> edge-fn");

    // A new answer: the old one is served until the new one passed.
    edit("hello from dev\\n", "");
    served_until(addr, OLD, NEW);
    let line = dev.wait_for("dev: edge-fn ", 1, BUILD);
    for needle in [" B, ", "against the baseline 8,", "under the budget 8,618", "rebuilt in "] {
        assert!(line.contains(needle), "the rebuild line lacks {needle:?}: {line}");
    }

    // A source that does not compile: the error once, the last good answer.
    let broken = "\nfn broken() -> u32 { \"not a number\" }\n";
    edit("hello from dev\\n", broken);
    dev.wait_for("still serves the previous version", 1, BUILD);
    assert_eq!(get(addr), (200, NEW.to_string()));

    // Past the budget: refused, naming it, and the last good answer again.
    edit(&"x".repeat(3000), "");
    let refused = dev.wait_for("still serves the previous version", 2, BUILD);
    assert_eq!(get(addr), (200, NEW.to_string()));
    let error = dev.lines().into_iter().rev().find(|l| l.contains("size check failed")).unwrap_or_default();
    assert!(error.contains("over its budget of 8,618 in edgekit.toml"), "{error}\n{refused}");

    // Build output changes nothing: written under the root's target/ and
    // the component's, then a real change whose rebuild must be the next one.
    for dir in ["target/dist", "components/edge-fn/target/release"] {
        std::fs::create_dir_all(copy.path().join(dir)).unwrap();
        std::fs::write(copy.path().join(dir).join("junk.txt"), "build output").unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    edit("hello again\\n", "");
    served_until(addr, NEW, AGAIN);
    dev.wait_for("dev: edge-fn ", 2, BUILD);
    let rebuilds = dev.count("changed: rebuilding edge-fn");
    assert_eq!(rebuilds, 4, "one rebuild per change, none for target/:\n{}", dev.lines().join("\n"));
    assert_eq!(dev.count("==> edge-fn") - builds_at_start, 4, "{}", dev.lines().join("\n"));
    // Each failure was printed once, each with its own error.
    assert_eq!(dev.count("still serves the previous version"), 2, "{}", dev.lines().join("\n"));
    assert_eq!(dev.count("cargo could not build"), 1, "{}", dev.lines().join("\n"));
    assert_eq!(dev.count("size check failed"), 1, "{}", dev.lines().join("\n"));

    // Ctrl-C: a graceful stop, status 0, no temporary file left behind.
    dev.interrupt_and_expect_a_clean_exit();
    let dist = copy.path().join("target/dist");
    let left: Vec<String> = std::fs::read_dir(&dist)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left in {}: {left:?}", dist.display());
    let served = std::fs::read(dist.join("edge-fn.wasm")).unwrap();
    assert!(served.len() < 12_288, "the artifact written is the last good one, not the one past the budget");
}

/// The instance numbers of the access lines of `route` (`[/p3/... hello-p3] i4 GET ...`).
fn instances(lines: &[String], route: &str) -> Vec<usize> {
    let tag = format!("[{route}] i");
    lines.iter().filter_map(|l| l.split_once(&tag)?.1.split(' ').next()?.parse().ok()).collect()
}

#[test]
fn dev_of_an_app_rebuilds_only_the_component_that_changed() {
    let real = xtask::workspace::root();
    let copy = workspace_copy(&real);
    // A second crate with the same hello, built for 0.3 alone (`hello-p3`):
    // edge-fn's own 0.3 line is built from the same crate as its 0.2 one,
    // so a change to it rebuilds both.
    xtask::scaffold::new::create_with(copy.path(), "hello", "edge-fn", None, &["p3".to_string()]).unwrap();
    // The copy's app: edge-fn on /, hello-p3 on /p3/..., a fresh 0.3
    // instance per request there (reuse = 1), so its access lines count
    // the instances its handler made.
    let routes = "[[route]]\npath = \"/\"\ncomponent = \"edge-fn\"\n\n\
                  [[route]]\npath = \"/p3/...\"\ncomponent = \"hello-p3\"\nreuse = 1\n";
    let text = xtask::project::edit(copy.path(), |doc| {
        let more: toml_edit::DocumentMut = routes.parse()?;
        doc.insert("route", more["route"].clone());
        Ok(())
    })
    .unwrap();
    std::fs::write(copy.path().join("edgekit.toml"), text).unwrap();
    let lib = copy.path().join("components/edge-fn/src/lib.rs");
    let lib_p3 = copy.path().join("components/hello/src/lib.rs");
    let (original, original_p3) = (std::fs::read_to_string(&lib).unwrap(), std::fs::read_to_string(&lib_p3).unwrap());

    let mut dev = Dev::start(copy.path(), None);
    let banner = dev.wait_for("serving the app of ", 1, BUILD);
    let addr = xtask_run::serve::banner_address(&banner).unwrap_or_else(|| panic!("no address in {banner}"));
    dev.wait_for("dev: watching the sources of edge-fn, hello-p3", 1, BUILD);
    assert_eq!(get(addr), (200, OLD.to_string()));
    for _ in 0..3 {
        assert_eq!(get_path(addr, "/p3/x"), (200, OLD.to_string()));
    }
    dev.wait_for("[/p3/... hello-p3] i3 GET /p3/x 200", 1, Duration::from_secs(10));

    // edge-fn changes: it alone is rebuilt; /p3/... answers all along from
    // the same handler, whose instances go on being numbered from 4.
    edit(&lib, &original, "hello from dev\\n", "");
    let give_up = Instant::now() + BUILD;
    while get(addr).1 != NEW {
        assert_eq!(get_path(addr, "/p3/x"), (200, OLD.to_string()));
        assert!(Instant::now() < give_up, "{NEW:?} was not served within {BUILD:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..3 {
        assert_eq!(get_path(addr, "/p3/x"), (200, OLD.to_string()));
    }
    dev.wait_for("dev: edge-fn ", 1, BUILD);
    let numbers = instances(&dev.lines(), "/p3/... hello-p3");
    let expected: Vec<usize> = (1..=numbers.len()).collect();
    assert_eq!(numbers, expected, "hello-p3's instances were numbered on, never afresh:\n{}", dev.lines().join("\n"));
    assert_eq!(dev.count("rebuilding hello-p3"), 0, "{}", dev.lines().join("\n"));
    assert_eq!(dev.count("changed: rebuilding edge-fn"), 1, "{}", dev.lines().join("\n"));

    // The control: hello changes, and hello-p3's new handler numbers its
    // instances from 1 again, while / keeps its new answer.
    edit(&lib_p3, &original_p3, "hello again\\n", "");
    served_at_until(addr, "/p3/x", OLD, AGAIN);
    assert_eq!(get(addr), (200, NEW.to_string()));
    dev.wait_for("dev: hello-p3 ", 1, BUILD);
    dev.wait_for("[/p3/... hello-p3] i1 GET /p3/x 200", 2, Duration::from_secs(10));
    let after = instances(&dev.lines(), "/p3/... hello-p3");
    assert_eq!(after.last(), Some(&1), "the rebuilt hello-p3 starts at instance 1: {after:?}");
    assert_eq!(dev.count("changed: rebuilding edge-fn"), 1, "one rebuild each:\n{}", dev.lines().join("\n"));
    assert_eq!(dev.count("changed: rebuilding hello-p3"), 1, "one rebuild each:\n{}", dev.lines().join("\n"));

    dev.interrupt_and_expect_a_clean_exit();
}
