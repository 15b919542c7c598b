//! `wasi:keyvalue` behind the server, as `serve --kv <file>` gives it: the
//! kv-api artifact (and kv-api-p3, its WASI 0.3 twin) over real HTTP on
//! 127.0.0.1, through `edgekit_host::serve::start_with`. A record outlives
//! a restart, 50 clients incrementing one counter lose no update (on 0.3
//! too, where one instance serves many of them at once), and a server
//! killed with SIGKILL in the middle of a burst of writes keeps every write
//! it acknowledged.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use edgekit_host::client::Connection;
use edgekit_host::http::{Grants, Handler, Limits};
use edgekit_host::kv::KvStore;
use edgekit_host::serve::{Log, Running, ServerLimits, engines, start_with};

/// The handler of the template `name` (kv-api or kv-api-p3) on `kv`, on
/// the server's engines.
fn handler(name: &str, kv: &KvStore) -> Handler {
    let limits = Limits::default();
    let engines = engines(&limits);
    let component = edgekit_host::load(&engines, name).unwrap_or_else(|e| panic!("{e:#}"));
    let grants = Grants { kv: Some(kv.clone()), ..Grants::default() };
    Handler::with(&component, limits, grants).unwrap().guest_log(Log::Off)
}

fn serve(name: &str, kv: &KvStore) -> Running {
    start_with("127.0.0.1:0", handler(name, kv), ServerLimits::default(), Log::Off).unwrap()
}

/// One request on a fresh connection, bounded by a timeout.
fn send(addr: SocketAddr, method: &str, path: &str, body: &'static str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let answer = runtime.block_on(async {
        let ask = async { Connection::open(addr).await?.send(method, path, Bytes::from(body)).await };
        tokio::time::timeout(Duration::from_secs(30), ask).await
    });
    let (status, body) = answer.expect("an answer within 30 s").unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[test]
fn a_record_outlives_a_server_restart() {
    a_record_outlives_a_restart_of("kv-api");
}

#[test]
fn a_record_outlives_a_server_restart_on_wasi_0_3() {
    a_record_outlives_a_restart_of("kv-api-p3");
}

/// PUT and increment, restart the server on the same file, GET and
/// increment again.
fn a_record_outlives_a_restart_of(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.redb");
    let kv = KvStore::open(&path).unwrap();
    let server = serve(name, &kv);
    assert_eq!(send(server.addr, "PUT", "/items/kettle", r#"{"price":2500}"#), (201, r#"{"price":2500}"#.into()));
    assert_eq!(send(server.addr, "POST", "/counters/restarts", "").0, 200);
    server.shutdown().unwrap();
    // The database closes with its last clone; a new server opens the file.
    drop(kv);
    let kv = KvStore::open(&path).unwrap();
    let server = serve(name, &kv);
    assert_eq!(send(server.addr, "GET", "/items/kettle", ""), (200, r#"{"price":2500}"#.into()));
    assert_eq!(send(server.addr, "POST", "/counters/restarts", ""), (200, r#"{"key":"restarts","value":2}"#.into()));
    server.shutdown().unwrap();
}

/// 50 clients incrementing one counter 20 times each on `--kv memory`:
/// the same transactions as on a file, in a tenth of the requests.
#[test]
fn fifty_clients_incrementing_one_counter_lose_no_update() {
    fifty_clients_increment("kv-api", &KvStore::memory().unwrap(), 20);
}

/// The same on WASI 0.3, where one instance serves many clients at once.
#[test]
fn fifty_clients_incrementing_one_counter_lose_no_update_on_wasi_0_3() {
    fifty_clients_increment("kv-api-p3", &KvStore::memory().unwrap(), 20);
}

/// 50 clients incrementing one counter 200 times each on a database file,
/// each increment committed to disk: exactly 10,000.
#[test]
#[ignore = "slow: 10,000 requests, each increment fsynced (about 30 s in a debug build); .ci/run runs it"]
fn fifty_clients_incrementing_one_counter_200_times_on_a_file_end_at_10000() {
    let dir = tempfile::tempdir().unwrap();
    fifty_clients_increment("kv-api", &KvStore::open(&dir.path().join("kv.redb")).unwrap(), 200);
}

/// 50 keep-alive clients each add one to the same counter `each` times:
/// every answer is a distinct value, and the counter ends at exactly
/// `50 * each`.
fn fifty_clients_increment(name: &str, kv: &KvStore, each: usize) {
    const CLIENTS: usize = 50;
    let server = serve(name, kv);
    let addr = server.addr;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut values: Vec<u64> = runtime.block_on(async move {
        let clients = (0..CLIENTS).map(|_| {
            tokio::spawn(async move {
                let mut connection = Connection::open(addr).await.unwrap();
                let mut seen = Vec::with_capacity(each);
                for _ in 0..each {
                    let (status, body) = connection.send("POST", "/counters/hits", Bytes::new()).await.unwrap();
                    assert_eq!(status, 200, "{body:?}");
                    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    seen.push(answer["value"].as_u64().unwrap());
                }
                seen
            })
        });
        let all = futures_join(clients.collect()).await;
        all.into_iter().flatten().collect()
    });
    values.sort_unstable();
    let expected: Vec<u64> = (1..=(CLIENTS * each) as u64).collect();
    assert!(values == expected, "each increment answers a value no other got, 1 to {}", CLIENTS * each);
    let total = (CLIENTS * each).to_string();
    let answer = format!(r#"{{"key":"hits","value":{total}}}"#);
    assert_eq!(send(addr, "GET", "/counters/hits", ""), (200, answer));
    assert_eq!(kv.get("default", "counter:hits"), Ok(Some(total.into_bytes())));
    server.shutdown().unwrap();
}

/// Awaits every task, bounded by a generous cap so a hang fails the test.
async fn futures_join<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let all = async {
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    };
    tokio::time::timeout(Duration::from_secs(600), all).await.expect("the clients finish within 10 minutes")
}

/// The child of [`acknowledged_writes_survive_sigkill`]: serves kv-api on the
/// store file named by `CHILD` until killed, printing its address.
const CHILD: &str = "EDGEKIT_KV_KILL_CHILD";

fn serve_child(path: &Path) {
    let kv = KvStore::open(path).unwrap();
    let handler = handler("kv-api", &kv);
    edgekit_host::serve::serve_blocking("127.0.0.1:0", handler, |addr| println!("listening on {addr}")).unwrap();
}

/// A server process serving with `--kv <file>` is killed with SIGKILL while
/// four clients write records as fast as it answers; the file, opened
/// again, holds every record whose 201 reached a client, and a new server
/// on it serves them.
#[test]
#[ignore = "slow: starts a server process (compiling kv-api) and kills it in a burst of writes; .ci/run runs it"]
fn acknowledged_writes_survive_sigkill() {
    if let Some(path) = std::env::var_os(CHILD) {
        serve_child(Path::new(&path));
        return;
    }
    const CLIENTS: usize = 4;
    const MAX_EACH: usize = 2_000;
    const KILL_AFTER: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.redb");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "acknowledged_writes_survive_sigkill", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    /// Kills the server process if the test fails before it does.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut child = Killed(child);
    let (addrs, addr) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
            if let Some((_, a)) = line.split_once("listening on ") {
                let _ = addrs.send(a.parse::<SocketAddr>().unwrap());
            }
        }
    });
    let addr: SocketAddr = addr.recv_timeout(Duration::from_secs(120)).expect("the server process prints its address");

    // Each client writes its own keys until a request fails (the server is
    // gone) or it has written MAX_EACH; each sends what it saw acknowledged.
    let (acks, acknowledged) = mpsc::channel::<String>();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let acks = acks.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async move {
                    let Ok(mut connection) = Connection::open(addr).await else { return };
                    for i in 0..MAX_EACH {
                        let key = format!("c{client}-{i:05}");
                        let body = Bytes::from(format!(r#"{{"client":{client},"n":{i}}}"#));
                        let path = format!("/items/{key}");
                        let put = connection.send("PUT", &path, body);
                        match tokio::time::timeout(Duration::from_secs(30), put).await {
                            Ok(Ok((201, _))) => {
                                let _ = acks.send(key);
                            }
                            Ok(Ok((status, body))) => panic!("PUT {key}: {status} {body:?}"),
                            _ => return,
                        }
                    }
                })
            })
        })
        .collect();
    drop(acks);
    let mut acked = Vec::new();
    while acked.len() < KILL_AFTER {
        acked.push(acknowledged.recv_timeout(Duration::from_secs(60)).expect("writes are acknowledged"));
    }
    // SIGKILL, in the middle of the burst: no chance to flush or close.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    for client in clients {
        client.join().unwrap();
    }
    acked.extend(acknowledged.try_iter());
    assert!(acked.len() < CLIENTS * MAX_EACH, "the server was killed before the clients were done");

    let kv = KvStore::open(&path).unwrap();
    for key in &acked {
        let (client, n) = key.trim_start_matches('c').split_once('-').unwrap();
        let expected = format!(r#"{{"client":{client},"n":{}}}"#, n.parse::<u32>().unwrap());
        assert_eq!(kv.get("default", &format!("item:{key}")), Ok(Some(expected.into_bytes())), "{key}");
    }
    let server = serve("kv-api", &kv);
    let last = acked.last().unwrap();
    assert_eq!(send(server.addr, "GET", &format!("/items/{last}"), "").0, 200);
    server.shutdown().unwrap();
}
