//! `deploy wasmcloud`: the manifests it writes, and a real local lattice
//! (NATS, wadm, two wasmCloud hosts, a registry) serving dist artifacts
//! pulled from the registry, each as an application and together as an app
//! of routes on one address per host, through the loss of a host. They read
//! `target/dist` (run `cargo xtask dist` first).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use xshell::Shell;
use xtask::flags::{Deploy, Engine, Wasmcloud};
use xtask::process::alive;
use xtask::workspace;
use xtask_deploy::wasmcloud::{self, Local};

const TOKEN: &str = "edgekit-example-token";

fn args(components: &[&str]) -> Wasmcloud {
    Wasmcloud {
        components: components.iter().map(|c| c.to_string()).collect(),
        local: false,
        hosts: 3,
        replicas: 3,
        registry: Some("ghcr.io/acme/edgekit".into()),
        listen: "127.0.0.1:9000".parse().unwrap(),
    }
}

#[test]
fn manifests_name_the_image_and_spread_the_replicas() {
    let root = workspace::root();
    let run = |a| wasmcloud::run(Deploy { engine: Engine::Wasmcloud(a) });
    run(args(&["edge-fn", "middleware+http-api"])).unwrap();
    let dir = wasmcloud::deploy_dir(&root);
    let yaml = std::fs::read_to_string(dir.join("middleware-http-api.wadm.yaml")).unwrap();
    // The tag is the handler crate's version, not the tool's.
    let version = xtask_deploy::oci::crate_version(&root, "http-api").unwrap();
    assert!(yaml.contains(&format!("image: ghcr.io/acme/edgekit/middleware-http-api:{version}\n")), "{yaml}");
    assert!(yaml.contains("instances: 3\n"), "{yaml}");
    assert_eq!(yaml.matches("edgekit-host: ").count(), 3, "one spread per host, one server on all:\n{yaml}");
    assert!(yaml.contains("address: 127.0.0.1:9001\n"), "the second application takes the next port:\n{yaml}");

    let e = run(args(&["edge-fn-p3"])).unwrap_err().to_string();
    assert!(e.contains("WASI 0.3 not supported by wasmCloud 1.x"), "{e}");
    let e = run(args(&["proxy"])).unwrap_err().to_string();
    assert!(e.contains("wasi:config"), "{e}");
    let e = run(Wasmcloud { registry: None, ..args(&["edge-fn"]) }).unwrap_err().to_string();
    assert!(e.contains("--registry ghcr.io/<org>/edgekit"), "{e}");

    // No names: the app of edgekit.toml, which wasmCloud 1.x's server cannot
    // route whole, and says why, route by route.
    let e = format!("{:#}", run(args(&[])).unwrap_err());
    assert!(e.contains("the app of ") && e.contains("cannot go to wasmCloud 1.x"), "{e}");
    assert!(!e.contains("[[route]] 1 "), "the exact route to edge-fn can go: {e}");
    assert!(e.contains("[[route]] 2 (path = \"/api/...\"): a prefix route"), "{e}");
    assert!(e.contains("[[route]] 3 (path = \"/kv/...\"): a prefix route"), "{e}");
    assert!(e.contains("kv-api: imports [\"wasi:keyvalue/"), "{e}");

    // An app of exact paths goes: one application, every component once,
    // the server in path mode, a link per route carrying its path.
    let routes = xtask::project::routes::parse(&root.join("lattice-app.toml"), LATTICE_APP).unwrap();
    let yaml = wasmcloud::app_manifest(&root, &routes, "ghcr.io/acme/edgekit", 2, 2, "0.0.0.0:8080".parse().unwrap())
        .unwrap_or_else(|e| panic!("{e:#}"));
    println!("{yaml}");
    assert_eq!(yaml.matches("type: component").count(), 2, "edge-fn and middleware+http-api, once each:\n{yaml}");
    assert!(yaml.contains(&format!("image: ghcr.io/acme/edgekit/middleware-http-api:{version}\n")), "{yaml}");
    assert!(yaml.contains("routing_mode: path\n              default_address: 0.0.0.0:8080\n"), "{yaml}");
    assert_eq!(yaml.matches("- type: link").count(), 3, "{yaml}");
    for (i, path) in ["/", "/items", "/items/2"].iter().enumerate() {
        assert!(yaml.contains(&format!("name: route-{}\n", i + 1)), "{yaml}");
        assert!(yaml.contains(&format!("path: {path}\n")), "{yaml}");
    }
    let bad = "[[route]]\npath = \"/p3\"\ncomponent = \"edge-fn-p3\"\n";
    let routes = xtask::project::routes::parse(&root.join("bad.toml"), bad).unwrap();
    let e =
        format!("{:#}", wasmcloud::app_manifest(&root, &routes, "r", 1, 1, "0.0.0.0:1".parse().unwrap()).unwrap_err());
    assert!(e.contains("[[route]] 1 (path = \"/p3\"): edge-fn-p3: WASI 0.3 not supported by wasmCloud 1.x"), "{e}");
}

/// An app wasmCloud 1.x's server can route: exact paths to 0.2 artifacts,
/// one of them behind the middleware on two paths.
const LATTICE_APP: &str = "[[route]]\npath = \"/\"\ncomponent = \"edge-fn\"\n\n\
    [[route]]\npath = \"/items\"\ncomponent = \"http-api\"\nmiddleware = \"middleware\"\n\n\
    [[route]]\npath = \"/items/2\"\ncomponent = \"http-api\"\nmiddleware = \"middleware\"\n";

/// Every route of [`LATTICE_APP`] on `addr`, and a path off them all.
fn check_app(addr: SocketAddr) {
    check_edge_fn(addr);
    let (status, answer) = get(addr, "/items/2", Some(TOKEN)).unwrap();
    assert_eq!(status, 200, "{addr}: {answer}");
    assert!(answer.contains("\"teapot\""), "{addr}: {answer}");
    let (status, answer) = get(addr, "/items", Some(TOKEN)).unwrap();
    assert_eq!(status, 200, "{addr}: {answer}");
    assert!(answer.contains("\"kettle\"") && answer.contains("\"mug\""), "{addr}: {answer}");
    let (status, answer) = get(addr, "/items", None).unwrap();
    assert_eq!(status, 401, "{addr}: {answer}");
    let (status, answer) = get(addr, "/nope", Some(TOKEN)).unwrap();
    assert_eq!(status, 404, "off every route, the server's own 404: {addr}: {answer}");
}

/// `GET path` with an optional bearer token: the status and the body.
fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}connection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
    Ok((status, answer))
}

/// The first of `count` consecutive free ports on 127.0.0.1.
fn free_ports(count: u16) -> SocketAddr {
    loop {
        let first = xtask::process::free_addr().unwrap();
        let all_free = (1..count)
            .all(|i| first.port().checked_add(i).is_some_and(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()));
        if all_free {
            return first;
        }
    }
}

/// The API behind the middleware: 401 without a token, the item, a 404.
fn check_api(addr: SocketAddr) {
    let (status, answer) = get(addr, "/items/2", None).unwrap();
    assert_eq!(status, 401, "{addr}: {answer}");
    let (status, answer) = get(addr, "/items/2", Some(TOKEN)).unwrap();
    assert_eq!(status, 200, "{addr}: {answer}");
    assert!(answer.contains("\"teapot\""), "{addr}: {answer}");
    let (status, answer) = get(addr, "/nope", Some(TOKEN)).unwrap();
    assert_eq!(status, 404, "{addr}: {answer}");
}

fn check_edge_fn(addr: SocketAddr) {
    let (status, answer) = get(addr, "/", None).unwrap();
    assert_eq!(status, 200, "{addr}: {answer}");
    assert!(answer.contains("hello from the edge\n"), "{answer}");
}

#[test]
#[ignore = "builds wasmcloud-host and wadm on first use (minutes) and starts a lattice; .ci/run runs it"]
fn a_two_host_lattice_serves_the_templates_and_an_app_and_survives_losing_a_host() {
    let sh = Shell::new().unwrap();
    let root = workspace::root();
    let names = ["edge-fn".to_string(), "middleware+http-api".to_string()];
    let started = Instant::now();
    let mut local = Local::up(&sh, &root, &names, 2, 2, free_ports(4)).unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("lattice up, both applications answering: {:.1} s", started.elapsed().as_secs_f64());

    let processes = local.lattice.processes();
    for (name, pid) in &processes {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if name.starts_with("host ") || name == "wadm" {
            assert!(cmdline.contains("wasmcloud"), "{name} ({pid}) runs `{cmdline}`");
        }
    }
    // And the app of LATTICE_APP: one application, a server per host in
    // path mode, every route on each.
    let routes = xtask::project::routes::parse(&root.join("lattice-app.toml"), LATTICE_APP).unwrap();
    local.deploy_app(&sh, &root, &routes, 2, free_ports(2)).unwrap_or_else(|e| panic!("{e:#}"));
    let manifest = std::fs::read_to_string(
        wasmcloud::deploy_dir(&root).join("local").join(format!("{}.wadm.yaml", local.apps[2].name)),
    )
    .unwrap();
    println!("the app's manifest:\n{manifest}");
    assert_eq!(manifest.matches("routing_mode: path").count(), 2, "a server per host in path mode:\n{manifest}");
    let [edge_fn, api, app] = &local.apps[..] else { panic!("three applications") };
    assert_eq!(edge_fn.addrs.len(), 2, "a server on each host");
    for &(_, addr) in &edge_fn.addrs {
        check_edge_fn(addr);
    }
    for &(_, addr) in &api.addrs {
        check_api(addr);
    }
    for &(_, addr) in &app.addrs {
        check_app(addr);
    }

    // A client that, like a load balancer, sends each request to the next
    // host's server and fails over to the other, asking the app's routes in
    // turn; the gap is the longest time between two answered requests,
    // across the loss of host 1.
    let addrs: Vec<SocketAddr> = app.addrs.iter().map(|&(_, addr)| addr).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU32::new(0));
    let prober = std::thread::spawn({
        let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
        move || {
            let (mut last, mut gap, mut turn) = (Instant::now(), Duration::ZERO, 0usize);
            while !stop.load(Ordering::SeqCst) {
                let (path, body) =
                    [("/", "hello from the edge"), ("/items/2", "teapot"), ("/items", "kettle")][turn % 3];
                let ok = (0..addrs.len()).any(|i| {
                    let addr = addrs[(turn / 3 + i) % addrs.len()];
                    matches!(get(addr, path, Some(TOKEN)), Ok((200, answer)) if answer.contains(body))
                });
                turn += 1;
                if ok {
                    gap = gap.max(last.elapsed());
                    last = Instant::now();
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            gap.max(last.elapsed())
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    let host_1 = processes.iter().find(|(name, _)| name == "host 1").unwrap().1;
    local.lattice.kill_host(1);
    assert!(!alive(host_1), "host 1 ({host_1}) still runs");
    let killed = Instant::now();
    let before = answered.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(5));
    // Host 2 still serves every application, whole, and the app on every route.
    check_edge_fn(edge_fn.addrs[1].1);
    check_api(api.addrs[1].1);
    check_app(app.addrs[1].1);
    stop.store(true, Ordering::SeqCst);
    let gap = prober.join().unwrap();
    let after = answered.load(Ordering::SeqCst) - before;
    eprintln!(
        "host 1 killed: the longest gap between answers was {} ms ({after} answered over {:.1} s after the kill)",
        gap.as_millis(),
        killed.elapsed().as_secs_f64()
    );
    assert!(after > 0, "no request was answered after host 1 died");
    assert!(get(edge_fn.addrs[0].1, "/", None).is_err(), "host 1's server went with it");
    assert!(get(app.addrs[0].1, "/", None).is_err(), "host 1's app server went with it");

    let addresses: Vec<SocketAddr> = local
        .lattice
        .addresses()
        .into_iter()
        .chain(local.apps.iter().flat_map(|a| a.addrs.iter().map(|&(_, addr)| addr)))
        .collect();
    let pids: Vec<(String, u32)> = local.lattice.processes();
    let logs = local.lattice.logs().to_path_buf();
    drop(local);
    for (name, pid) in pids {
        assert!(!alive(pid), "{name} ({pid}) outlived the lattice");
    }
    for addr in addresses {
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "{addr} still listens");
    }
    assert!(!logs.exists(), "{} was left behind", logs.display());
}
