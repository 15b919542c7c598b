//! `serve` with no component: the project's app, as `cargo xtask serve`
//! builds it (`serve::app`), over real HTTP on 127.0.0.1. The example app of
//! edgekit.toml answers each route from its component, a path no route
//! takes gets the host's 404, a 0.3 component serves beside the 0.2 ones,
//! and a prefix route's component sees the path without the prefix unless
//! the route keeps it. Reads `target/dist` (run `cargo xtask dist` first).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use edgekit_host::serve::{Handlers, Log, ServerLimits, start_with};
use xtask::flags::{Command, Xtask};
use xtask::project::Project;
use xtask::project::routes;
use xtask_run::serve::{Options, app};

const TOKEN: &str = "edgekit-example-token";

/// `method path` with `headers` and `body` on a fresh connection: the
/// status and the body.
fn send(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let body = match head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        true => unchunk(body),
        false => body.to_string(),
    };
    (status, body)
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    send(addr, "GET", path, "", "")
}

/// Every line sent so far.
fn drain(lines: &mpsc::Receiver<String>) -> Vec<String> {
    std::iter::from_fn(|| lines.recv_timeout(Duration::from_millis(200)).ok()).collect()
}

#[test]
fn the_example_app_answers_each_route_from_its_component() {
    let root = xtask::workspace::root();
    let mut project = Project::load(&root).unwrap();
    let paths: Vec<String> = project.file.route.iter().map(|r| format!("{} {}", r.path, r.artifact())).collect();
    assert_eq!(paths, ["/ edge-fn", "/api/... middleware+http-api", "/kv/... kv-api"], "the example app");
    // Its store in a file of the test's own; and beside it, a 0.3 component
    // and a route whose component sees the whole path.
    let tmp = tempfile::tempdir().unwrap();
    for route in &mut project.file.route {
        if route.kv.is_some() {
            route.kv = Some(tmp.path().join("kv.redb").display().to_string());
        }
    }
    let more = "[[route]]\npath = \"/p3/...\"\ncomponent = \"edge-fn-p3\"\nreuse = 2\n\n\
                [[route]]\npath = \"/whole/...\"\ncomponent = \"edge-fn\"\nstrip-prefix = false\n";
    project.file.route.extend(routes::parse(&root.join("more.toml"), more).unwrap());

    let Command::Serve(serve) = Xtask::parse_from(["cargo xtask", "serve", "--addr", "127.0.0.1:0"]).command else {
        unreachable!()
    };
    let mut options = Options::from_flags(&serve.options).unwrap();
    let (guest, guest_lines) = mpsc::channel();
    options.guest_log = Log::Lines(guest);
    let planned = app::plan(&project, &options, "serve").unwrap_or_else(|e| panic!("{e:#}"));
    let engines = app::engines(&planned).unwrap();
    let handlers: Vec<Handlers> =
        app::handlers(&engines, &planned, &options).unwrap().into_iter().map(Handlers::One).collect();
    let (access, access_lines) = mpsc::channel();
    let server =
        start_with("127.0.0.1:0", app::app(&planned, handlers).unwrap(), ServerLimits::default(), Log::Lines(access))
            .unwrap();
    let addr = server.addr;

    let (status, body) = get(addr, "/");
    assert_eq!((status, body.as_str()), (200, "hello from the edge\n"));
    // Behind the middleware: refused without the token, the catalogue
    // with it (http-api answered /items: the prefix was stripped).
    let (status, body) = get(addr, "/api/items");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("missing or invalid bearer token"), "{body}");
    let auth = format!("authorization: Bearer {TOKEN}\r\n");
    let (status, body) = send(addr, "GET", "/api/items", &auth, "");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with(r#"{"items":[{"id":1,"name":"kettle","price":2500}"#), "{body}");
    let (status, body) = send(addr, "GET", "/api/items/2", &auth, "");
    assert_eq!((status, body.as_str()), (200, r#"{"id":2,"name":"teapot","price":1800}"#));
    // The store: a record put, then read.
    let (status, body) = send(addr, "PUT", "/kv/items/a", "", r#"{"name":"kettle"}"#);
    assert_eq!(status, 201, "{body}");
    let (status, body) = get(addr, "/kv/items/a");
    assert_eq!((status, body.as_str()), (200, r#"{"name":"kettle"}"#));
    // 0.3 beside 0.2, and a route that keeps the prefix.
    for _ in 0..3 {
        assert_eq!(get(addr, "/p3/hello"), (200, "hello from the edge\n".to_string()));
    }
    assert_eq!(get(addr, "/whole/x"), (200, "hello from the edge\n".to_string()));
    // Off every route: the host's 404, naming the routes.
    for path in ["/nope", "/x/", "/apis", "/kvx/items/a", "/p"] {
        let (status, body) = get(addr, path);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains(&format!("no route takes {path}; this app's routes: /, /api/..., ")), "{body}");
    }
    server.shutdown().unwrap();

    let access = drain(&access_lines);
    let guest = drain(&guest_lines);
    let has = |lines: &[String], text: &str| lines.iter().any(|l| l.contains(text));
    for line in [
        "[/ edge-fn] GET / 200",
        "[/api/... middleware+http-api] GET /api/items 401",
        "[/api/... middleware+http-api] GET /api/items/2 200",
        "[/kv/... kv-api] PUT /kv/items/a 201",
        "[/kv/... kv-api] GET /kv/items/a 200",
        "[/p3/... edge-fn-p3] i1 GET /p3/hello 200",
        "[/p3/... edge-fn-p3] i2 GET /p3/hello 200",
        "[/whole/... edge-fn] GET /whole/x 200",
        "[no route] GET /nope 404",
    ] {
        assert!(has(&access, line), "no access line with `{line}` in {access:#?}");
    }
    // What each component saw: the path after its prefix, or the whole
    // path where the route keeps it.
    for line in
        ["middleware+http-api #", "| INFO GET /items/2", "edge-fn-p3 i1 | INFO GET /hello", "| INFO GET /whole/x"]
    {
        assert!(has(&guest, line), "no guest line with `{line}` in {guest:#?}");
    }
    assert!(!has(&guest, "INFO GET /api/items") && !has(&guest, "INFO GET /p3/"), "{guest:#?}");
}

#[test]
fn serve_with_no_component_and_no_routes_says_how_to_make_an_app() {
    let mut project = Project::load(&xtask::workspace::root()).unwrap();
    project.file.route.clear();
    let Command::Serve(serve) = Xtask::parse_from(["cargo xtask", "serve"]).command else { unreachable!() };
    let options = Options::from_flags(&serve.options).unwrap();
    let e = format!("{:#}", app::plan(&project, &options, "serve").err().unwrap());
    assert!(e.contains("name a component to serve") && e.contains("[[route]]s"), "{e}");
}
