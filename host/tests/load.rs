//! `bench`'s load generator (`edgekit_host::load`): it counts an answer only
//! when its status and whole body are the ones asked for, reading bodies
//! framed by content-length and by chunks, from a hand-written server that
//! uses both and from `serve`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use edgekit_host::load::{Ask, run};
use edgekit_host::serve::start;

/// A server answering every request on every connection with `hello`, its
/// answers framed by content-length and by chunks in turn (the chunked ones
/// in two chunks with an extension), each answer written in two pieces.
fn both_framings() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                for n in 0.. {
                    // The request head, to its empty line (no body is sent).
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let answer: &[u8] = match n % 2 {
                        0 => b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
                        _ => {
                            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"
                        }
                    };
                    let (first, rest) = answer.split_at(answer.len() / 2);
                    writer.write_all(first).unwrap();
                    writer.flush().unwrap();
                    writer.write_all(rest).unwrap();
                }
            });
        }
    });
    addr
}

#[test]
fn both_framings_are_read_and_counted() {
    let addr = both_framings();
    let load = run(addr, 3, 300, Duration::from_secs(30), &Ask::get("/", "hello")).unwrap();
    assert_eq!((load.ok, load.failed), (300, 0));
    assert!(load.per_second() > 0.0);
    let wrong = run(addr, 1, 10, Duration::from_secs(30), &Ask::get("/", "hell")).unwrap();
    assert_eq!((wrong.ok, wrong.failed), (0, 10));
}

#[test]
fn serve_answers_are_counted_and_others_are_not() {
    let engines = edgekit_host::serve::engines(&Default::default());
    for name in ["edge-fn", "edge-fn-p3"] {
        let component = edgekit_host::load(&engines, name).unwrap();
        let handler = edgekit_host::http::Handler::new(&component).unwrap().guest_log(edgekit_host::serve::Log::Off);
        let server = start("127.0.0.1:0", handler, false).unwrap();
        let ask = Ask::get("/", "hello from the edge\n");
        let load = run(server.addr, 4, 200, Duration::from_secs(30), &ask).unwrap();
        assert_eq!((load.ok, load.failed), (200, 0), "{name}");
        let missing = Ask { status: 404, ..Ask::get("/nowhere", "hello from the edge\n") };
        let load = run(server.addr, 1, 5, Duration::from_secs(30), &missing).unwrap();
        assert_eq!((load.ok, load.failed), (0, 5), "{name}: edge-fn answers every path the same, with 200");
        server.shutdown().unwrap();
    }
}
