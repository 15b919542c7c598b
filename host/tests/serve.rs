//! `serve` over real HTTP on 127.0.0.1: the templates' answers; each limit
//! (deadline, memory, trap, busy instance slots) failing only its own
//! request while the server goes on serving, before or after the guest set
//! its response; idle, slow and surplus connections; outbound grants; the
//! graceful stop; and a soak run. The misbehaving guests are WAT components
//! from `edgekit_host::test_guests`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use edgekit_host::client::{Connection, get_blocking};
use edgekit_host::http::{Grants, Handler, Limits, MAX_LINE, MAX_LINES, full_body};
use edgekit_host::serve::{Log, Running, ServerLimits, engines, start_with};
use edgekit_host::test_guests::{self, PARTIAL_BODY};

/// Small limits, so a test hits them quickly.
fn limits() -> Limits {
    Limits { deadline: Duration::from_millis(300), memory: 16 << 20, instances: 8, ..Limits::default() }
}

/// A server to start: a dist artifact or a test guest, and everything it
/// runs under.
struct Setup {
    name: &'static str,
    guest: Option<Vec<u8>>,
    limits: Limits,
    grants: Grants,
    server: ServerLimits,
    log: Log,
    /// Where the guest's stdout and stderr lines go.
    guest_log: Log,
}

impl Setup {
    /// The dist artifact `name` under [`limits`], logging to stderr.
    fn dist(name: &'static str) -> Setup {
        Setup {
            name,
            guest: None,
            limits: limits(),
            grants: Grants::default(),
            server: ServerLimits::default(),
            log: Log::Stderr,
            guest_log: Log::Stderr,
        }
    }

    /// A test guest's component bytes, as [`Setup::dist`] otherwise.
    fn guest(bytes: Vec<u8>) -> Setup {
        Setup { name: "test guest", guest: Some(bytes), ..Setup::dist("") }
    }

    /// Serves it on a free port.
    fn start(self) -> Running {
        let engines = engines(&self.limits);
        let component = match self.guest {
            Some(bytes) => engines.compile(bytes).unwrap(),
            None => edgekit_host::load(&engines, self.name).unwrap_or_else(|e| panic!("{e:#}")),
        };
        let handler =
            Handler::with(&component, self.limits, self.grants).unwrap().named(self.name).guest_log(self.guest_log);
        start_with("127.0.0.1:0", handler, self.server, self.log).unwrap()
    }
}

/// Serves the dist artifact `name`, or `guest`'s bytes, on a free port.
fn serve(name: &'static str, guest: Option<Vec<u8>>) -> Running {
    match guest {
        Some(bytes) => Setup::guest(bytes).start(),
        None => Setup::dist(name).start(),
    }
}

/// `GET path` on a fresh connection: status and body as text.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, body) = get_blocking(addr, path, Duration::from_secs(10)).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A log whose lines a test reads.
fn log_lines() -> (Log, mpsc::Receiver<String>) {
    let (lines, receiver) = mpsc::channel();
    (Log::Lines(lines), receiver)
}

/// The next access log line whose part after the request number (and the
/// 0.3 instance) starts with `prefix`, waiting at most 10 s for it: that
/// part, and the number.
fn next_line(lines: &mpsc::Receiver<String>, prefix: &str) -> (String, u64) {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let left = give_up.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some((number, rest)) = access_line(&line)
                    && rest.starts_with(prefix)
                {
                    return (rest.to_string(), number);
                }
            }
            Err(e) => panic!("no access log line starting with {prefix:?} within 10 s: {e}"),
        }
    }
}

/// An access log line (`#12 GET / 200 40 µs`, `#12 i3 GET / ...` on 0.3)
/// split into its request number and what follows the tags; `None` for any
/// other line.
fn access_line(line: &str) -> Option<(u64, &str)> {
    let (number, rest) = line.strip_prefix('#')?.split_once(' ')?;
    let rest = match rest.split_once(' ') {
        Some((instance, after)) if instance.starts_with('i') && instance[1..].parse::<u64>().is_ok() => after,
        _ => rest,
    };
    Some((number.parse().ok()?, rest))
}

/// Every line `lines` receives until `count` access log lines have come,
/// waiting at most 10 s for each.
fn lines_until_requests(lines: &mpsc::Receiver<String>, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    while seen.iter().filter(|l: &&String| access_line(l).is_some()).count() < count {
        match lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("{count} access log lines did not come within 10 s each ({e}); got {seen:#?}"),
        }
    }
    seen
}

/// Sends `request` as is on a fresh connection and reads until the server
/// closes it (a reset counts as a close), for at most 30 s.
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request).unwrap();
    read_until_closed(&mut stream)
}

/// Everything `stream` receives until it is closed or reset; fails the test
/// if it stays open past its read timeout.
fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the connection stayed open ({e}) after {:?}", String::from_utf8_lossy(&answer)),
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A GET the server answers and then closes the connection after.
const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";

/// A chunked body's data, and whether it ended with the last (empty) chunk.
fn dechunk(body: &str) -> (String, bool) {
    let (mut data, mut rest) = (String::new(), body);
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 {
            return (data, after == "\r\n");
        }
        let Some(chunk) = after.get(..size) else { break };
        data.push_str(chunk);
        rest = after.get(size + 2..).unwrap_or("");
    }
    data.push_str(rest);
    (data, false)
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

/// Serves a guest that fails after setting a 200 response and writing
/// [`PARTIAL_BODY`], and checks, twice in a row, that the client sees the
/// response cut off (chunked, with the partial body but without the last
/// chunk) and that the log line names `why`.
fn cut_off(guest: Vec<u8>, why: &str) {
    let (log, lines) = log_lines();
    let server = Setup { log, ..Setup::guest(guest) }.start();
    for _ in 0..2 {
        let answer = raw(server.addr, GET);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no complete head: {answer:?}"));
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
        assert!(head.to_ascii_lowercase().contains("\r\ntransfer-encoding: chunked"), "{answer:?}");
        let (data, complete) = dechunk(body);
        assert_eq!(data, PARTIAL_BODY, "{answer:?}");
        assert!(!complete, "the response ended as if complete: {answer:?}");
        let (line, _) = next_line(&lines, "GET / ");
        assert!(
            line.starts_with("GET / 200 ") && line.contains("the response was cut off: ") && line.contains(why),
            "{line}"
        );
    }
}

/// What a guest writes to stderr reaches the log as lines tagged with the
/// component's name and the number its request's access log line carries;
/// with the guest log off, only the access lines come.
#[test]
fn guest_stderr_lines_are_logged_with_the_component_and_the_request() {
    let (log, lines) = log_lines();
    let guest = test_guests::logs("INFO handling a request\n", 1).unwrap();
    let server = Setup { name: "logger", log: log.clone(), guest_log: log, ..Setup::guest(guest.clone()) }.start();
    for _ in 0..3 {
        // The guest returns without a response once it has logged.
        assert_eq!(get(server.addr, "/log").0, 500);
    }
    let seen = lines_until_requests(&lines, 3);
    let numbers: Vec<u64> = seen
        .iter()
        .filter_map(|line| access_line(line))
        .map(|(number, rest)| {
            assert!(rest.starts_with("GET /log 500 "), "{rest}");
            number
        })
        .collect();
    assert_eq!(numbers.len(), 3, "{seen:#?}");
    for (i, number) in numbers.iter().enumerate() {
        let tagged = format!("logger #{number} | INFO handling a request");
        let at = seen.iter().position(|line| *line == tagged).unwrap_or_else(|| panic!("no {tagged:?} in {seen:#?}"));
        let access = seen.iter().position(|line| access_line(line).is_some_and(|(n, _)| n == *number)).unwrap();
        assert!(at < access, "the guest's line came after its request's access line: {seen:#?}");
        assert!(numbers[..i].iter().all(|n| n != number), "two requests numbered {number}: {seen:#?}");
    }
    assert_eq!(seen.iter().filter(|line| line.starts_with("logger #")).count(), 3, "{seen:#?}");
    drop(server);

    let (log, lines) = log_lines();
    let quiet = Setup { name: "logger", log, guest_log: Log::Off, ..Setup::guest(guest) }.start();
    assert_eq!(get(quiet.addr, "/log").0, 500);
    let seen = lines_until_requests(&lines, 1);
    assert!(seen.iter().all(|line| access_line(line).is_some()), "{seen:#?}");
}

/// A guest cannot flood the log: lines past the cap per request are
/// counted in one line, a line longer than the cap is cut with a marker,
/// and a last line without a newline is written when the request ends.
#[test]
fn guest_log_lines_are_capped_in_number_and_length() {
    let long = "x".repeat(3000);
    let cases: [(&str, &str, u32); 3] =
        [("flood", "line\n", 1500), ("long", long.as_str(), 2), ("tail", "the end, without a newline", 1)];
    for (name, text, times) in cases {
        let (log, lines) = log_lines();
        let guest = test_guests::logs(text, times).unwrap();
        let server = Setup { name, log: log.clone(), guest_log: log, ..Setup::guest(guest) }.start();
        assert_eq!(get(server.addr, "/").0, 500);
        let seen = lines_until_requests(&lines, 1);
        let (number, _) = seen.iter().find_map(|line| access_line(line)).unwrap();
        let tag = format!("{name} #{number} | ");
        let guest_lines: Vec<&str> = seen.iter().filter_map(|line| line.strip_prefix(&tag)).collect();
        match name {
            "flood" => {
                assert_eq!(guest_lines.len(), MAX_LINES + 1, "{:?}", &guest_lines[guest_lines.len() - 3..]);
                assert!(guest_lines[..MAX_LINES].iter().all(|line| *line == "line"));
                assert_eq!(guest_lines[MAX_LINES], "[500 lines dropped: at most 1000 per request]");
            }
            "long" => {
                let cut = format!("{} [line truncated at 4096 bytes]", "x".repeat(MAX_LINE));
                assert_eq!(guest_lines, [cut.as_str()]);
            }
            _ => assert_eq!(guest_lines, ["the end, without a newline"]),
        }
        eprintln!("{name}: {} guest lines logged for request #{number}", guest_lines.len());
    }
}

/// A 0.3 request's access log line names the instance that served it,
/// whose tag the guest's own lines carry on 0.3.
#[test]
fn p3_access_lines_name_their_instance() {
    let (log, lines) = log_lines();
    let server = Setup { log, ..Setup::dist("edge-fn-p3") }.start();
    for _ in 0..3 {
        assert_eq!(get(server.addr, "/"), (200, "hello from the edge\n".into()));
    }
    for _ in 0..3 {
        let line = lines.recv_timeout(Duration::from_secs(10)).unwrap();
        let (_, rest) = access_line(&line).unwrap_or_else(|| panic!("not an access line: {line}"));
        let instance = line.split(' ').nth(1).unwrap();
        assert!(instance.starts_with('i') && instance[1..].parse::<u64>().is_ok(), "{line}");
        assert!(rest.starts_with("GET / 200 "), "{line}");
    }
}

#[test]
fn edge_fn_over_http() {
    let server = serve("edge-fn", None);
    for path in ["/", "/a/b?c=d", "/again"] {
        assert_eq!(get(server.addr, path), (200, "hello from the edge\n".into()));
    }
}

/// The 0.3 middleware, composed in front of the 0.3 JSON API and served
/// over real HTTP, adds its headers to the API's own responses (a 200 and a
/// 404 the API made), and answers the 401 itself.
#[test]
fn p3_middleware_adds_its_headers_to_the_api_responses_over_http() {
    let server = Setup {
        limits: Limits { deadline: Duration::from_secs(10), ..limits() },
        ..Setup::dist("middleware-p3+http-api-p3")
    }
    .start();
    let token = "authorization: Bearer edgekit-example-token\r\n";
    for (path, status, body) in [("/items/2", "200", "\"teapot\""), ("/nope", "404", "error")] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: test\r\n{token}x-request-id: req-{status}\r\nconnection: close\r\n\r\n"
        );
        let answer = raw(server.addr, request.as_bytes());
        let (head, rest) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{answer:?}"));
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with(&format!("http/1.1 {status} ")), "{answer:?}");
        assert!(head.contains(&format!("\r\nx-request-id: req-{status}")), "{answer:?}");
        assert!(head.contains("\r\naccess-control-allow-origin: *"), "{answer:?}");
        assert!(rest.contains(body), "{answer:?}");
    }
    let answer = raw(server.addr, GET);
    assert!(answer.starts_with("HTTP/1.1 401 "), "{answer:?}");
    assert!(answer.to_ascii_lowercase().contains("\r\nx-request-id: "), "{answer:?}");
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
fn trap_after_the_headers_cuts_the_response_off() {
    cut_off(test_guests::traps_after_responding().unwrap(), "the component trapped");
}

#[test]
fn memory_past_the_limit_after_the_headers_cuts_the_response_off() {
    cut_off(test_guests::allocates_after_responding().unwrap(), "memory limit of 16777216 bytes");
}

#[test]
fn deadline_after_the_headers_cuts_the_response_off() {
    cut_off(test_guests::loops_after_responding().unwrap(), "deadline of 300 ms");
}

// The same faults in WASI 0.3 guests, whose instances serve many requests:
// each request after a fault gets a fresh instance and the same answer.

#[test]
fn p3_endless_loop_gets_504_within_the_deadline() {
    fails(test_guests::p3::loops().unwrap(), 504, "deadline of 300 ms");
}

#[test]
fn p3_memory_past_the_limit_gets_500() {
    fails(test_guests::p3::allocates(32).unwrap(), 500, "memory limit of 16777216 bytes");
}

#[test]
fn p3_trap_gets_500() {
    fails(test_guests::p3::traps().unwrap(), 500, "trapped");
}

/// A 0.3 instance serves many requests (here all of 40 sent one after the
/// other, well within its reuse count and idle time); a 0.2 one serves one.
/// Connections go to the serving thread with the fewest open, and each
/// thread keeps 0.3 instances of its own: two keep-alive connections to a
/// two-thread server land on both threads, and their requests are answered
/// by two instances, each connection's always by the same one; on one
/// thread, one instance answers both (it takes up to 16 requests at once).
#[test]
fn each_serving_thread_keeps_its_own_wasi_0_3_instances() {
    for (threads, expected) in [(2, 2), (1, 1)] {
        let (log, lines) = log_lines();
        let server =
            Setup { log, server: ServerLimits { threads, ..ServerLimits::default() }, ..Setup::dist("edge-fn-p3") }
                .start();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let instances: Vec<Vec<String>> = runtime.block_on(async {
            let mut connections = Vec::new();
            for _ in 0..2 {
                connections.push(Connection::open(server.addr).await.unwrap());
            }
            let mut seen = vec![Vec::new(); connections.len()];
            for _ in 0..3 {
                for (connection, seen) in connections.iter_mut().zip(&mut seen) {
                    let (status, body) = connection.get("/").await.unwrap();
                    assert_eq!((status, &body[..]), (200, &b"hello from the edge\n"[..]));
                    // The access line is written when the response ends,
                    // before the next request on the connection starts.
                    let line = lines.recv_timeout(Duration::from_secs(10)).unwrap();
                    seen.push(line.split(' ').nth(1).unwrap().to_string());
                }
            }
            seen
        });
        for seen in &instances {
            assert!(
                seen.iter().all(|i| *i == seen[0]),
                "{threads} threads: a connection moved instances: {instances:?}"
            );
        }
        let distinct: std::collections::BTreeSet<_> = instances.iter().flatten().collect();
        assert_eq!(distinct.len(), expected, "{threads} threads: {instances:?}");
        server.shutdown().unwrap();
    }
}

#[test]
fn p3_instances_serve_many_requests_and_p2_instances_one() {
    let engines = engines(&limits());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for (name, line) in [("edge-fn-p3", "0.3"), ("edge-fn", "0.2")] {
        let component = edgekit_host::load(&engines, name).unwrap();
        let handler = Handler::with(&component, limits(), Default::default()).unwrap();
        assert_eq!(handler.line(), line);
        for _ in 0..40 {
            let request = hyper::Request::get("http://localhost/").body(full_body("")).unwrap();
            let response = runtime.block_on(handler.handle(request)).unwrap();
            assert_eq!((response.status, &response.body[..]), (200, &b"hello from the edge\n"[..]));
        }
        let made = handler.instances_made();
        match line {
            "0.3" => assert!(made < 40, "{name}: {made} instances for 40 requests"),
            _ => assert_eq!(made, 40, "{name}"),
        }
    }
}

#[test]
fn malformed_request_gets_400_and_the_server_goes_on() {
    let server = serve("edge-fn", None);
    let answer = raw(server.addr, b"NOT HTTP AT ALL\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(get(server.addr, "/").0, 200);
}

/// One instance slot, held by a guest that has answered its headers and
/// loops until its deadline: a second request gets 503 at once, and once
/// the first request ends, the slot serves again.
/// Sends `GET /` to a guest that responds and then keeps running, and
/// returns the connection once the partial body has arrived: from then on
/// the guest is in flight and holds its instance slot.
fn hold_after_partial_body(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(GET).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0; 1024];
    while !String::from_utf8_lossy(&seen).contains(PARTIAL_BODY) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the partial body: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    stream
}

#[test]
fn every_instance_slot_busy_gets_503() {
    let guest = test_guests::loops_after_responding().unwrap();
    let limits = Limits { deadline: Duration::from_secs(3), instances: 1, ..limits() };
    let server = Setup { limits, ..Setup::guest(guest) }.start();
    let holder = |addr| {
        // The partial body has come, so the guest holds the slot.
        hold_after_partial_body(addr)
    };
    let mut first = holder(server.addr);
    let (status, body) = get(server.addr, "/");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("every instance slot is busy"), "{body}");
    let rest = read_until_closed(&mut first);
    assert!(!rest.ends_with("0\r\n\r\n"), "the looping guest's response ended as if complete: {rest:?}");
    // The slot is free again once the first guest was stopped.
    holder(server.addr);
}

/// More connections than the cap, each holding a slot with half a request
/// line or nothing at all: each newcomer past the cap closes the connection
/// that has waited longest instead of being refused, so a normal request is
/// answered 200 at its first try, and the timeouts close the held
/// connections that are left; none of them gets a 503.
#[test]
fn idle_and_half_open_connections_cannot_starve_the_server() {
    let server_limits = ServerLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        max_connections: 4,
        ..ServerLimits::default()
    };
    let server = Setup { server: server_limits, ..Setup::dist("edge-fn") }.start();
    let held: Vec<TcpStream> = (0..8)
        .map(|i| {
            let mut stream = TcpStream::connect(server.addr).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            if i % 2 == 0 {
                stream.write_all(b"GET / HT").unwrap();
            }
            stream
        })
        .collect();
    assert_eq!(get(server.addr, "/"), (200, "hello from the edge\n".into()));
    for mut stream in held {
        let answer = read_until_closed(&mut stream);
        assert_eq!(answer, "", "a held connection got an answer");
    }
}

/// At the cap, a newcomer closes the connection that has waited longest for
/// the rest of its request head and is served; the idle connection opened
/// after it stays open. (The half-open one is also the older, so it goes
/// first whether or not the server has read its half head yet.)
#[test]
fn a_newcomer_at_the_cap_closes_the_half_open_connection_and_is_served() {
    let server =
        Setup { server: ServerLimits { max_connections: 2, ..ServerLimits::default() }, ..Setup::dist("edge-fn") }
            .start();
    let mut half_open = TcpStream::connect(server.addr).unwrap();
    half_open.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    half_open.write_all(b"GET / HT").unwrap();
    let mut idle = TcpStream::connect(server.addr).unwrap();
    let answer = raw(server.addr, GET);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(answer.contains("\r\n\r\n14\r\nhello from the edge\n\r\n0\r\n\r\n"), "{answer:?}");
    assert_eq!(read_until_closed(&mut half_open), "", "the half-open connection got an answer");
    // The idle connection was kept: it is still served.
    idle.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    idle.write_all(GET).unwrap();
    let answer = read_until_closed(&mut idle);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
}

/// When every open connection is serving a request, none can be closed to
/// make room: the newcomer gets the canned 503 at once.
#[test]
fn every_connection_serving_a_request_gets_503() {
    let guest = test_guests::loops_after_responding().unwrap();
    let limits = Limits { deadline: Duration::from_secs(3), ..limits() };
    let server =
        Setup { limits, server: ServerLimits { max_connections: 2, ..ServerLimits::default() }, ..Setup::guest(guest) }
            .start();
    let _busy: Vec<TcpStream> = (0..2).map(|_| hold_after_partial_body(server.addr)).collect();
    let answer = raw(server.addr, GET);
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
    assert!(answer.ends_with("\r\n\r\ntoo many open connections; retry later\n"), "{answer:?}");
}

/// An upstream for the proxy on 127.0.0.1, in plain std, one connection at a
/// time: it sends each request's line to `arrived`, waits for a message on
/// the release channel, and answers 200 `from upstream`. Returns the origin.
fn upstream() -> (String, mpsc::Receiver<String>, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let (arrivals, arrived) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut head = Vec::new();
            let mut byte = [0];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            let line = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_string();
            if arrivals.send(line).is_err() || released.recv().is_err() {
                return;
            }
            let reply = "HTTP/1.1 200 OK\r\ncontent-length: 14\r\nconnection: close\r\n\r\nfrom upstream\n";
            let _ = stream.write_all(reply.as_bytes());
            // Reading what is left of the request before closing keeps the
            // close from resetting the connection under the reply.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = stream.read_to_end(&mut Vec::new());
        }
    });
    (origin, arrived, release)
}

/// The proxy artifact forwarding to `origin`, allowed to reach `hosts`.
fn proxy(origin: &str, hosts: &[&str], limits: Limits) -> Running {
    let grants = Grants {
        outbound_hosts: hosts.iter().map(|h| h.to_string()).collect(),
        config: vec![("upstream".into(), origin.into())],
        ..Grants::default()
    };
    Setup { grants, limits, ..Setup::dist("proxy") }.start()
}

#[test]
fn outbound_requests_reach_only_the_allowed_hosts() {
    let (origin, arrived, release) = upstream();
    release.send(()).unwrap();
    let allowed = proxy(&origin, &["127.0.0.1"], limits());
    assert_eq!(get(allowed.addr, "/through"), (200, "from upstream\n".into()));
    assert_eq!(arrived.recv_timeout(Duration::from_secs(10)).unwrap(), "GET /through HTTP/1.1");
    for hosts in [&[][..], &["localhost", "example.com"][..]] {
        let denied = proxy(&origin, hosts, limits());
        // The guest's outbound request fails with HTTP-request-denied, which
        // the proxy answers 502; the upstream hears nothing.
        assert_eq!(get(denied.addr, "/denied"), (502, "proxy: the upstream could not be reached or failed\n".into()));
    }
    assert_eq!(arrived.try_recv(), Err(mpsc::TryRecvError::Empty));
}

/// A request in flight when the server is told to stop still gets its
/// answer, while new connections are refused; then the stop returns.
#[test]
fn graceful_shutdown_finishes_the_request_in_flight() {
    let (origin, arrived, release) = upstream();
    let server = proxy(&origin, &["127.0.0.1"], Limits { deadline: Duration::from_secs(10), ..limits() });
    let addr = server.addr;
    let in_flight = std::thread::spawn(move || get(addr, "/slow"));
    assert_eq!(arrived.recv_timeout(Duration::from_secs(10)).unwrap(), "GET /slow HTTP/1.1");
    let stopping = std::thread::spawn(move || server.shutdown());
    let mut tries = 0;
    loop {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
            Err(e) => panic!("connecting failed otherwise than refused: {e}"),
            Ok(_) => {
                tries += 1;
                assert!(tries < 500, "new connections are still accepted");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    assert!(!stopping.is_finished(), "the server stopped before its request in flight was answered");
    release.send(()).unwrap();
    assert_eq!(in_flight.join().unwrap(), (200, "from upstream\n".into()));
    stopping.join().unwrap().unwrap();
}

/// A server given its handlers through a watch channel serves each new
/// request with the latest one, while a request in flight finishes on the
/// handler it started with: what `cargo xtask dev` relies on to swap in a
/// rebuilt component without closing the listening socket.
#[test]
fn a_swapped_in_handler_serves_new_requests_and_the_one_in_flight_finishes_on_the_old() {
    let (origin, arrived, release) = upstream();
    let limits = Limits { deadline: Duration::from_secs(10), ..limits() };
    let engines = engines(&limits);
    let handler = |name: &str, grants: Grants| {
        let component = edgekit_host::load(&engines, name).unwrap_or_else(|e| panic!("{e:#}"));
        Handler::with(&component, limits.clone(), grants).unwrap()
    };
    let grants = Grants {
        outbound_hosts: vec!["127.0.0.1".into()],
        config: vec![("upstream".into(), origin)],
        ..Grants::default()
    };
    let (latest, handlers) = tokio::sync::watch::channel(handler("proxy", grants));
    let server = start_with("127.0.0.1:0", handlers, ServerLimits::default(), Log::Stderr).unwrap();
    let addr = server.addr;
    let in_flight = std::thread::spawn(move || get(addr, "/slow"));
    assert_eq!(arrived.recv_timeout(Duration::from_secs(10)).unwrap(), "GET /slow HTTP/1.1");
    latest.send_replace(handler("edge-fn", Grants::default()));
    assert_eq!(get(addr, "/"), (200, "hello from the edge\n".into()));
    assert!(!in_flight.is_finished(), "the request in flight ended before its upstream answered");
    release.send(()).unwrap();
    assert_eq!(in_flight.join().unwrap(), (200, "from upstream\n".into()));
    server.shutdown().unwrap();
}

/// Resident memory of this process (server and clients), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// What a soak run counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    ok: u64,
    expected_4xx: u64,
    unexpected: u64,
    transport_errors: u64,
}

/// A request of a soak mix: method, path, body, and the status it must get.
type Mixed = (&'static str, &'static str, &'static str, u16);

/// `requests` requests over `connections` keep-alive connections, the i-th
/// being `mix[i % mix.len()]`, stopping early at `cap`.
fn soak(addr: SocketAddr, connections: usize, requests: u64, mix: &'static [Mixed], cap: Duration) -> Counts {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let next = next.clone();
            tasks.push(tokio::spawn(async move {
                let mut counts = Counts::default();
                let mut connection = None;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= requests || start.elapsed() > cap {
                        return counts;
                    }
                    let (method, path, body, expected) = mix[i as usize % mix.len()];
                    let answer = async {
                        if connection.is_none() {
                            connection = Some(Connection::open(addr).await?);
                        }
                        let open = connection.as_mut().expect("opened above");
                        open.send(method, path, Bytes::from_static(body.as_bytes())).await
                    };
                    match tokio::time::timeout(Duration::from_secs(10), answer).await {
                        Ok(Ok((status, _))) if status == expected && status < 300 => counts.ok += 1,
                        Ok(Ok((status, _))) if status == expected => counts.expected_4xx += 1,
                        Ok(Ok(_)) => counts.unexpected += 1,
                        Ok(Err(_)) | Err(_) => {
                            counts.transport_errors += 1;
                            connection = None;
                        }
                    }
                }
            }));
        }
        let mut total = Counts::default();
        for task in tasks {
            let c = task.await.unwrap();
            total.ok += c.ok;
            total.expected_4xx += c.expected_4xx;
            total.unexpected += c.unexpected;
            total.transport_errors += c.transport_errors;
        }
        total
    })
}

/// Runs `requests` of `mix` against a fresh server for `name` after a
/// warm-up of a tenth as many, and checks every answer and the memory.
fn soak_one(name: &'static str, requests: u64, mix: &'static [Mixed]) -> Counts {
    let limits = Limits { deadline: Duration::from_secs(10), instances: 64, ..limits() };
    let server = Setup { limits, log: Log::Off, ..Setup::dist(name) }.start();
    let cap = Duration::from_secs(600);
    let warm_up = soak(server.addr, 50, requests / 10, mix, cap);
    assert_eq!((warm_up.unexpected, warm_up.transport_errors), (0, 0), "warm-up of {name}: {warm_up:?}");
    let before = rss_kib();
    let started = Instant::now();
    let counts = soak(server.addr, 50, requests, mix, cap);
    let elapsed = started.elapsed();
    let after = rss_kib();
    eprintln!(
        "soak {name}: {requests} requests over 50 keep-alive connections in {:.1} s ({:.0}/s): {counts:?}; \
         RSS {before} KiB after the warm-up, {after} KiB at the end",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(counts.ok + counts.expected_4xx + counts.unexpected + counts.transport_errors, requests, "{counts:?}");
    assert_eq!((counts.unexpected, counts.transport_errors), (0, 0), "{name}: {counts:?}");
    assert!(after <= before + (64 << 10), "{name}: RSS grew from {before} to {after} KiB");
    counts
}

#[test]
#[ignore = "slow: soak; run with cargo test -- --ignored"]
fn soak_edge_fn_and_http_api() {
    const EDGE_FN: &[Mixed] = &[("GET", "/", "", 200), ("GET", "/a/b?c=d", "", 200), ("POST", "/p", "payload", 200)];
    let counts = soak_one("edge-fn", 100_000, EDGE_FN);
    assert_eq!(counts.ok, 100_000);
    const HTTP_API: &[Mixed] = &[
        ("GET", "/health", "", 200),
        ("GET", "/items", "", 200),
        ("GET", "/items/2", "", 200),
        ("GET", "/items?min_price=1000&limit=1", "", 200),
        ("POST", "/items", r#"{"name": "cup", "price": 990}"#, 201),
        ("GET", "/items/99", "", 404),
        ("GET", "/nope", "", 404),
        ("DELETE", "/items", "", 405),
        ("POST", "/items", r#"{"name": "x", "price": 1"#, 400),
        ("GET", "/items/abc", "", 400),
    ];
    let counts = soak_one("http-api", 20_000, HTTP_API);
    assert_eq!((counts.ok, counts.expected_4xx), (10_000, 10_000));
}

/// `serve_blocking` in a process of its own (this test binary again, running
/// only this test as the server): Ctrl-C with no request in flight stops it
/// gracefully (exit status 0); Ctrl-C while a request holds it waits for the
/// request, and a second Ctrl-C quits at once with status 130.
#[test]
fn ctrl_c_stops_serve_blocking_and_a_second_quits_at_once() {
    const CHILD: &str = "EDGEKIT_SERVE_BLOCKING_CHILD";
    if let Some(guest) = std::env::var_os(CHILD) {
        // The server: the guest named, a deadline far longer than the test.
        let limits = Limits { deadline: Duration::from_secs(120), ..limits() };
        let engines = engines(&limits);
        let bytes = match guest.to_str() {
            Some("loops-after-responding") => test_guests::loops_after_responding().unwrap(),
            _ => test_guests::traps().unwrap(),
        };
        let component = engines.compile(bytes).unwrap();
        let handler = Handler::with(&component, limits, Grants::default()).unwrap();
        edgekit_host::serve::serve_blocking("127.0.0.1:0", handler, |addr| println!("listening on {addr}")).unwrap();
        return;
    }
    /// A server process, killed if the test fails before it exits.
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    /// Starts the server process for `guest` and returns it with its address.
    fn server(guest: &str) -> (Server, SocketAddr) {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "ctrl_c_stops_serve_blocking_and_a_second_quits_at_once",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, guest)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Its output is read to the end, so that its last lines (the test
        // harness's) do not fail on a closed pipe.
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (addrs, addr) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
                // The harness may have started the line with the test's name.
                if let Some((_, a)) = line.split_once("listening on ") {
                    let _ = addrs.send(a.parse::<SocketAddr>().unwrap());
                }
            }
        });
        let child = Server(child);
        let addr = addr.recv_timeout(Duration::from_secs(60)).expect("the server process prints its address");
        (child, addr)
    }
    /// Sends Ctrl-C to `child`.
    fn interrupt(child: &Server) {
        let pid = libc::pid_t::try_from(child.0.id()).unwrap();
        // SAFETY: kill has no memory effects; it signals our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    }
    /// Waits at most 30 s for `child` to exit and returns its exit code.
    fn exit_code(mut child: Server) -> Option<i32> {
        for _ in 0..3000 {
            if let Some(status) = child.0.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the server process did not exit within 30 s");
    }

    let (idle, addr) = server("traps");
    assert_eq!(get(addr, "/").0, 500);
    interrupt(&idle);
    assert_eq!(exit_code(idle), Some(0));

    let (busy, addr) = server("loops-after-responding");
    // Held open (not dropped) so the request stays in flight.
    let _held = hold_after_partial_body(addr);
    interrupt(&busy);
    // The first Ctrl-C leaves the request in flight: no new connections,
    // but the process waits for it (up to its 120 s deadline).
    let mut tries = 0;
    while TcpStream::connect(addr).is_ok() {
        tries += 1;
        assert!(tries < 500, "new connections are still accepted after Ctrl-C");
        std::thread::sleep(Duration::from_millis(10));
    }
    interrupt(&busy);
    assert_eq!(exit_code(busy), Some(130));
}

/// Every http template logs one line per request through the guest library
/// (`INFO <method> <path>` on `wasi:cli/stderr`), and `serve` prints it
/// tagged with the artifact's name: on both lines, and for compositions.
#[test]
fn every_http_template_logs_its_request_under_serve() {
    for name in ["edge-fn", "edge-fn-p3", "http-api", "http-api-p3", "middleware+http-api", "middleware-p3+http-api-p3"]
    {
        let (log, lines) = log_lines();
        let server = Setup { log: log.clone(), guest_log: log, ..Setup::dist(name) }.start();
        let (status, _) = get(server.addr, "/health");
        assert!(status == 200 || status == 401, "{name}: GET /health answered {status}");
        let wanted = format!("{name} ");
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        let found = loop {
            match lines.recv_timeout(give_up.saturating_duration_since(Instant::now())) {
                Ok(line) if line.starts_with(&wanted) && line.ends_with("| INFO GET /health") => break true,
                Ok(line) => seen.push(line),
                Err(_) => break false,
            }
        };
        assert!(found, "{name}: no `{wanted}... | INFO GET /health` line in {seen:#?}");
    }
}

/// What a flood run saw.
#[derive(Debug)]
struct Flooded {
    probes: u32,
    answered: u32,
    longest_gap: Duration,
    flood_connections: u64,
}

/// Issue 21's flood: one client keeps `HALF_OPEN` connections open with
/// unfinished request heads against `name`, reopening each one the server
/// closes, while `PROBES` normal requests go out, one every 0.5 s (30 s in
/// all; a probe that takes longer delays the next, and the run stops after
/// `AT_MOST` whatever is left).
/// The cap is lower than the flood, so the server keeps making room by
/// closing the half-open connection that waited longest.
fn flood(name: &'static str) -> Flooded {
    const HALF_OPEN: usize = 3_000;
    const CAP: u32 = 1_000;
    const PROBES: u32 = 60;
    const PROBE_EVERY: Duration = Duration::from_millis(500);
    const AT_MOST: Duration = Duration::from_secs(120);
    /// Bounds the flood's connections, whatever the machine's speed.
    const MOST_FLOOD_CONNECTIONS: u64 = 5_000_000;
    let files = edgekit_host::serve::raise_file_limit().unwrap();
    assert!(files >= (HALF_OPEN as u64 + CAP as u64) * 2, "the file limit {files} is too low for the flood test");
    let server_limits = ServerLimits { max_connections: CAP, ..ServerLimits::default() };
    let limits = Limits { deadline: Duration::from_secs(10), ..limits() };
    let server = Setup { server: server_limits, limits, log: Log::Off, ..Setup::dist(name) }.start();
    let addr = server.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooding = stop.clone();
    let flooder = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(async move {
            use std::sync::atomic::Ordering::Relaxed;
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let opened = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let tasks: Vec<_> = (0..HALF_OPEN)
                .map(|_| {
                    let (stop, opened) = (flooding.clone(), opened.clone());
                    tokio::spawn(async move {
                        while !stop.load(Relaxed) && opened.fetch_add(1, Relaxed) < MOST_FLOOD_CONNECTIONS {
                            let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            };
                            let _ = stream.write_all(b"GET / HTTP/1.1\r\nhost: flood\r\n").await;
                            // Held until the server closes it, or the flood ends.
                            let mut buf = [0; 64];
                            loop {
                                tokio::select! {
                                    read = stream.read(&mut buf) => match read {
                                        Ok(0) | Err(_) => break,
                                        Ok(_) => {}
                                    },
                                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                                        if stop.load(Relaxed) {
                                            return;
                                        }
                                    }
                                }
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                let _ = task.await;
            }
            opened.load(Relaxed)
        })
    });
    // Let the flood fill the server's slots before the first probe.
    std::thread::sleep(Duration::from_secs(2));
    let (mut probes, mut answered) = (0, 0);
    let started = Instant::now();
    let (mut last_answer, mut longest_gap) = (started, Duration::ZERO);
    while probes < PROBES && started.elapsed() < AT_MOST {
        let due = started + PROBE_EVERY * probes;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        probes += 1;
        if let Ok((200, body)) = get_blocking(addr, "/", Duration::from_secs(5))
            && body.as_ref() == b"hello from the edge\n"
        {
            answered += 1;
            longest_gap = longest_gap.max(last_answer.elapsed());
            last_answer = Instant::now();
        }
    }
    longest_gap = longest_gap.max(last_answer.elapsed());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flood_connections = flooder.join().unwrap();
    let flooded = Flooded { probes, answered, longest_gap, flood_connections };
    eprintln!(
        "flood {name}: {HALF_OPEN} half-open connections against a cap of {CAP} for {:.1} s: {}/{} probes \
         answered 200, longest gap between answers {} ms, {} flood connections opened; RSS {} KiB",
        started.elapsed().as_secs_f64(),
        flooded.answered,
        flooded.probes,
        flooded.longest_gap.as_millis(),
        flooded.flood_connections,
        rss_kib()
    );
    drop(server);
    flooded
}

/// Issue 21: the server keeps serving under a flood of half-open
/// connections three times its cap: at least 95% of the 60 normal requests
/// sent every 0.5 s are answered 200. The longest gap between answers is
/// printed, not asserted (the issue asks for none over 2 s; a timing
/// assertion would be flaky on a loaded machine).
#[test]
#[ignore = "slow: a 30 s flood per WASI line; run with cargo test -- --ignored (.ci/run does)"]
fn a_flood_of_half_open_connections_does_not_stop_the_server() {
    for name in ["edge-fn", "edge-fn-p3"] {
        let flooded = flood(name);
        // A probe not sent within the run's bound counts as unanswered.
        assert!(flooded.answered * 100 >= 60 * 95, "{name}: {flooded:?}");
    }
}
