//! `serve` over real HTTP on 127.0.0.1: the templates' answers, and each
//! limit (deadline, memory, trap) failing only its own request while the
//! server goes on serving. The misbehaving guests are WAT components from
//! `edgekit_host::test_guests`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use edgekit_host::client::get_blocking;
use edgekit_host::http::{Grants, Handler, Limits};
use edgekit_host::serve::{Running, engine, start};
use edgekit_host::test_guests;
use wasmtime::component::Component;

/// Small limits, so a test hits them quickly.
fn limits() -> Limits {
    Limits { deadline: Duration::from_millis(300), memory: 16 << 20, instances: 8 }
}

/// Serves the dist artifact `name`, or `guest`'s bytes, on a free port.
fn serve(name: &str, guest: Option<Vec<u8>>) -> Running {
    let engine = engine(&limits()).unwrap();
    let component = match guest {
        Some(bytes) => Component::new(&engine, bytes).unwrap(),
        None => edgekit_host::load(&engine, name).unwrap_or_else(|e| panic!("{e:#}")),
    };
    let handler = Handler::with(&engine, &component, limits(), Grants::default()).unwrap();
    start("127.0.0.1:0", handler, true).unwrap()
}

/// `GET path` on a fresh connection: status and body as text.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, body) = get_blocking(addr, path, Duration::from_secs(10)).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Serves a misbehaving guest and checks the request fails with `status`
/// and a body naming `why`, three times in a row.
fn fails(guest: Vec<u8>, status: u16, why: &str) {
    let server = serve("", Some(guest));
    for _ in 0..3 {
        let (got, body) = get(server.addr, "/");
        assert_eq!(got, status, "{body}");
        assert!(body.contains(why), "{body}");
    }
}

#[test]
fn edge_fn_over_http() {
    let server = serve("edge-fn", None);
    for path in ["/", "/a/b?c=d", "/again"] {
        assert_eq!(get(server.addr, path), (200, "hello from the edge\n".into()));
    }
}

#[test]
fn endless_loop_gets_504_within_the_deadline() {
    fails(test_guests::loops().unwrap(), 504, "deadline of 300 ms");
}

#[test]
fn memory_past_the_limit_gets_500() {
    fails(test_guests::allocates(32).unwrap(), 500, "memory limit of 16777216 bytes");
}

#[test]
fn memory_under_the_limit_is_not_a_memory_failure() {
    fails(test_guests::allocates(4).unwrap(), 500, "without setting a response");
}

#[test]
fn trap_gets_500() {
    fails(test_guests::traps().unwrap(), 500, "trapped");
}

#[test]
fn malformed_request_gets_400_and_the_server_goes_on() {
    let server = serve("edge-fn", None);
    let mut raw = TcpStream::connect(server.addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = raw.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(get(server.addr, "/").0, 200);
}
