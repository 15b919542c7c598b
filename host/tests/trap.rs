//! Named traps (`src/trap.rs`), in real wasmtime: a guest trapping inside
//! named functions, shipped stripped with its names set aside as `dist`
//! does, reports the trap with a backtrace naming them, read from the names
//! file for exactly its bytes; a stale or missing names file is never used.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use edgekit_host::http::{Handler, Limits, full_body};
use edgekit_host::serve::{Log, ServerLimits, engines, start_with};
use edgekit_host::test_guests::named::{self, CHECK, HANDLE, PARSE, PARSE_MANGLED};

/// What a request to `artifact` (a `.wasm` path), served by a handler with
/// the names `load_named` found, fails with.
fn failure(artifact: &Path) -> String {
    let engines = edgekit_host::engines();
    let (component, names) = edgekit_host::load_named(&engines, artifact.to_str().unwrap()).unwrap();
    let handler = Handler::new(&component).unwrap().with_names(names);
    let request = hyper::Request::get("http://localhost/").body(full_body("")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Err(failure) = runtime.block_on(handler.respond(request)) else { panic!("the guest did not trap") };
    assert_eq!(failure.status(), 500);
    failure.to_string()
}

#[test]
fn a_trap_names_the_functions_of_the_stripped_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let guest = named::http_trap().unwrap();
    assert!(guest.names.values().any(|n| n == PARSE_MANGLED), "the names file holds what the name section held");
    let artifact = guest.write(dir.path(), "named").unwrap();
    let message = failure(&artifact);
    println!("{message}");
    assert!(
        message.starts_with("the component trapped: wasm trap: wasm `unreachable` instruction executed\n"),
        "{message}"
    );
    assert!(message.contains(&format!("names from {}", dir.path().join("named.names.json").display())), "{message}");
    let (check, parse, handle) = (
        message.find(CHECK).unwrap_or_else(|| panic!("{message}")),
        message.find(PARSE).unwrap_or_else(|| panic!("{message}")),
        message.find(HANDLE).unwrap_or_else(|| panic!("{message}")),
    );
    assert!(check < parse && parse < handle, "innermost first: {message}");
    assert!(!message.contains(PARSE_MANGLED), "names are demangled: {message}");
    // The artifact itself carries no names: wasmtime alone cannot name them.
    let engines = edgekit_host::engines();
    let component = engines.compile(&guest.bytes).unwrap();
    let handler = Handler::new(&component).unwrap();
    let request = hyper::Request::get("http://localhost/").body(full_body("")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Err(unnamed) = runtime.block_on(handler.respond(request)) else { panic!("the guest did not trap") };
    let unnamed = unnamed.to_string();
    assert!(!unnamed.contains(CHECK) && unnamed.contains("no names: none were loaded"), "{unnamed}");
}

#[test]
fn a_stale_names_file_is_refused_and_indices_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let guest = named::http_trap().unwrap();
    let artifact = guest.write(dir.path(), "named").unwrap();
    // A names file written for other bytes: an older build of the artifact.
    let file = edgekit_host::trap::names_file(&artifact);
    let text = std::fs::read_to_string(&file).unwrap();
    let hash = text.split('"').nth(3).unwrap().to_string();
    std::fs::write(&file, text.replace(&hash, &"0".repeat(64))).unwrap();
    let message = failure(&artifact);
    println!("{message}");
    assert!(message.contains("no names:") && message.contains("is stale"), "{message}");
    assert!(message.contains("run `cargo xtask dist`"), "{message}");
    assert!(!message.contains(CHECK) && !message.contains(PARSE), "no stale name is used: {message}");
    assert!(message.contains("  0: func "), "indices instead: {message}");
}

#[test]
fn a_missing_names_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = named::http_trap().unwrap().write(dir.path(), "named").unwrap();
    std::fs::remove_file(edgekit_host::trap::names_file(&artifact)).unwrap();
    let message = failure(&artifact);
    assert!(message.contains("no names:") && message.contains("does not exist"), "{message}");
    assert!(!message.contains(CHECK), "{message}");
}

/// A `dist --debug` artifact keeps its name section and has no names
/// file: the frames are named from the artifact itself, demangled.
#[test]
fn a_debug_build_is_named_by_its_own_name_section() {
    let dir = tempfile::tempdir().unwrap();
    let guest = named::http_trap_with_names_inside().unwrap();
    let artifact = dir.path().join("named.wasm");
    std::fs::write(&artifact, &guest.bytes).unwrap();
    let message = failure(&artifact);
    println!("{message}");
    assert!(message.contains("does not exist") && message.contains("named by the artifact's own names"), "{message}");
    let (check, parse) = (
        message.find(&format!("  0: {CHECK}  (func ")).unwrap_or_else(|| panic!("{message}")),
        message.find(&format!("  1: {PARSE}  (func ")).unwrap_or_else(|| panic!("{message}")),
    );
    assert!(check < parse, "{message}");
    assert!(!message.contains("shim"), "the artifact's own names are not a shim's: {message}");
}

#[test]
fn serve_logs_the_named_backtrace() {
    serve_logs_the_named_backtrace_of(named::http_trap().unwrap());
}

/// On WASI 0.3 the trap reaches a request through wasmtime-wasi-http's
/// worker, which hands it to the host when it drops the instance.
#[test]
fn serve_logs_the_named_backtrace_on_wasi_0_3() {
    serve_logs_the_named_backtrace_of(named::p3_http_trap().unwrap());
}

fn serve_logs_the_named_backtrace_of(guest: named::Guest) {
    let dir = tempfile::tempdir().unwrap();
    let artifact = guest.write(dir.path(), "named").unwrap();
    // serve's own engines (pooling, epochs), as `cargo xtask serve` makes it.
    let limits = Limits { instances: 4, memory: 16 << 20, ..Limits::default() };
    let engines = engines(&limits);
    let (component, names) = edgekit_host::load_named(&engines, artifact.to_str().unwrap()).unwrap();
    let handler = Handler::with(&component, limits, Default::default()).unwrap().with_names(names);
    let (sender, lines) = mpsc::channel();
    let running = start_with("127.0.0.1:0", handler, ServerLimits::default(), Log::Lines(sender)).unwrap();
    let (status, body) = edgekit_host::client::get_blocking(running.addr, "/", Duration::from_secs(30)).unwrap();
    assert_eq!(status, 500);
    let line = loop {
        let line = lines.recv_timeout(Duration::from_secs(30)).expect("a log line for the request");
        // The access line: `#<number> GET / 500 <micros> µs: <why>`.
        if line.starts_with('#') && line.contains(" GET / ") {
            break line;
        }
    };
    println!("{line}");
    assert!(line.contains(" GET / 500 "), "{line}");
    assert!(line.contains("the component trapped: wasm trap: "), "{line}");
    let (check, parse, handle) = (
        line.find(CHECK).unwrap_or_else(|| panic!("{CHECK} missing from the log line: {line}")),
        line.find(PARSE).unwrap_or_else(|| panic!("{PARSE} missing from the log line: {line}")),
        line.find(HANDLE).unwrap_or_else(|| panic!("{HANDLE} missing from the log line: {line}")),
    );
    assert!(check < parse && parse < handle, "innermost first: {line}");
    for name in [CHECK, PARSE, HANDLE] {
        assert!(String::from_utf8_lossy(&body).contains(name), "{name} missing from the body");
    }
    running.shutdown().unwrap();
}

#[test]
fn call_names_the_function_that_trapped() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = named::call_trap().unwrap().write(dir.path(), "boom").unwrap();
    let engines = edgekit_host::engines();
    let component = edgekit_host::load(&engines, artifact.to_str().unwrap()).unwrap();
    let error = edgekit_host::call::call(&component, "explode()").unwrap_err();
    let message = format!("{error:#}");
    println!("{message}");
    assert!(
        message.starts_with("`explode` trapped: wasm trap: wasm `unreachable` instruction executed\n"),
        "{message}"
    );
    assert!(message.contains("named_guest::boom::inner") && message.contains("named_guest::explode"), "{message}");
}

#[test]
fn dist_artifacts_load_with_the_names_of_their_bytes() {
    let engines = edgekit_host::engines();
    let (_, names) = edgekit_host::load_named(&engines, "edge-fn").unwrap_or_else(|e| panic!("{e:#}"));
    assert!(names.found(), "target/dist/edge-fn.names.json does not match target/dist/edge-fn.wasm");
    // edge-fn's own handler is inlined into its export; the guest library's
    // functions it calls keep their names.
    assert!((0..64).filter_map(|i| names.function(i)).any(|n| n.starts_with("edgekit::")), "no edgekit names");
}

/// A composition's names file names each part's main core module, told by
/// its exports and imports: a trap that passes through two modules names
/// the functions of both, each with its part. Here a component of two core
/// modules, `outer` calling `inner`, whose functions carry no names (the
/// WAT gives them none), and a names file written as `dist` writes one for
/// a composition.
#[test]
fn a_composition_names_the_functions_of_each_part() {
    let wat = r#"(component
  (core module $inner
    (func (export "inner") (call 1))
    (func unreachable))
  (core instance $inner (instantiate $inner))
  (core module $outer
    (import "inner" "inner" (func))
    (func (export "explode") (call 2))
    (func (call 0)))
  (core instance $outer (instantiate $outer (with "inner" (instance $inner))))
  (func (export "explode") (canon lift (core func $outer "explode"))))"#;
    let bytes = wat::parse_str(wat).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("outer+inner.wasm");
    std::fs::write(&artifact, &bytes).unwrap();
    let hash = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let names = serde_json::json!({
        "artifact_sha256": hash,
        "functions": {},
        "parts": [
            {"component": "outer", "exports": ["explode"], "imports": ["inner#inner"],
             "functions": {"1": "outer::explode", "2": "outer::relay"}},
            {"component": "inner", "exports": ["inner"], "imports": [],
             "functions": {"0": "inner::entry", "1": "inner::boom"}},
        ],
    });
    std::fs::write(edgekit_host::trap::names_file(&artifact), names.to_string()).unwrap();
    let engines = edgekit_host::engines();
    let component = edgekit_host::load(&engines, artifact.to_str().unwrap()).unwrap();
    let message = format!("{:#}", edgekit_host::call::call(&component, "explode()").unwrap_err());
    println!("{message}");
    assert!(message.contains("part by part: outer, inner"), "{message}");
    let lines = [
        "inner::boom  (func 1 of inner)",
        "inner::entry  (func 0 of inner)",
        "outer::relay  (func 2 of outer)",
        "outer::explode  (func 1 of outer)",
    ];
    let at: Vec<usize> = lines.iter().map(|l| message.find(l).unwrap_or_else(|| panic!("no {l}: {message}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "innermost first: {message}");
}
