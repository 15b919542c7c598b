//! The http-api-p3 template: the http-api JSON API on WASI 0.3's `wasi:http`.
//!
//! Routes (see docs/templates.md, "http-api-p3"), as http-api's:
//!
//! - `GET /health`: `{"status":"ok"}`
//! - `GET /items?min_price=<n>&limit=<n>`: the catalogue, filtered
//! - `GET /items/{id}`: one item, or 404
//! - `POST /items` with `{"name": "...", "price": <integer>}`: validated, then
//!   answered 201 with the new item and a `location` header
//!
//! An unknown path is 404, a known path with another method 405 with an
//! `allow` header, a body over `MAX_BODY` bytes 413, and malformed JSON or a
//! failed validation 400; every error has a `{"error": "..."}` body. No input
//! makes it trap: the code has no `unwrap`, no indexing that can fail, and
//! JSON nesting is bounded.
//!
//! What 0.3 changes: `handle` is an `async fn` that takes the request and
//! returns the response; the body is read asynchronously from the request's
//! `stream<u8>` (under the same 4,096-byte limit), and the response body is
//! a stream this component writes after returning the response. A 0.3 host
//! reuses an instance for many requests, some at once, so nothing here keeps
//! state between requests: the catalogue is static data, and `POST` shows
//! validation and the response a real API gives after writing to its store.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Waker};

// A free-list allocator of about 1 KB instead of std's dlmalloc (about 7 KB);
// see docs/size.md, "The allocator", for the trade (0.3 hosts reuse an
// instance, so the heap outlives a request; lol_alloc reuses freed blocks).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: a component instance is single-threaded.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// A panic traps: the host answers 500 for the requests in flight in this
/// instance and discards it. (Nothing here panics on any input; the handler
/// is `no_std` so that wit-bindgen's runtime asserts do not link std's
/// message formatting: docs/size.md, "WASI 0.3 and async".)
#[cfg(all(target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// The stock build without edgekit, `cargo build --release --target
/// wasm32-wasip2`, expects libc to provide `cabi_realloc` (the function the
/// host calls to give the component memory for strings and lists), and a
/// `no_std` crate links no libc. On `wasm32-unknown-unknown`, edgekit's
/// target, wit-bindgen provides it.
#[cfg(all(target_arch = "wasm32", target_env = "p2", not(test)))]
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};
    if new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a valid alignment, and `old` is a
    // block of `old_len` bytes this allocator handed out, when not empty.
    let new = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(old, Layout::from_size_align_unchecked(old_len, align), new_len)
        }
    };
    if new.is_null() {
        core::arch::wasm32::unreachable();
    }
    new
}

wit_bindgen::generate!({ path: "wit", world: "http-api-p3", generate_all });

mod json;

use exports::wasi::http::handler::Guest;
use json::Value;
use wasi::http::types::{ErrorCode, Fields, Method, Request, Response};
use wit_bindgen::StreamResult;

/// The largest request body accepted; a bigger one is answered 413.
const MAX_BODY: usize = 4096;
/// The longest item name accepted, in characters.
const MAX_NAME: usize = 64;
/// The highest price accepted, in cents.
const MAX_PRICE: i64 = 1_000_000;

/// The catalogue: `(id, name, price in cents)`.
const ITEMS: &[(u64, &str, u64)] = &[(1, "kettle", 2500), (2, "teapot", 1800), (3, "mug", 650)];

/// A response still to be sent: status, extra headers, JSON body.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: String) -> Reply {
        Reply { status, headers: Vec::new(), body }
    }

    fn error(status: u16, message: &str) -> Reply {
        let mut body = String::from("{\"error\":");
        json::push_string(&mut body, message);
        body.push('}');
        Reply::json(status, body)
    }

    fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

struct HttpApiP3;

impl Guest for HttpApiP3 {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        Ok(respond(route(request).await))
    }
}

/// Matches the method and path to a handler.
async fn route(request: Request) -> Reply {
    let target = request.get_path_with_query().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.get_method();
    match (segments.as_slice(), &method) {
        (["health"], Method::Get) => Reply::json(200, String::from("{\"status\":\"ok\"}")),
        (["health"], _) => not_allowed("GET"),
        (["items"], Method::Get) => list(query),
        (["items"], Method::Post) => match read_body(request).await {
            Ok(body) => create(&body),
            Err(reply) => reply,
        },
        (["items"], _) => not_allowed("GET, POST"),
        (["items", id], Method::Get) if !id.is_empty() => get(id),
        (["items", id], _) if !id.is_empty() => not_allowed("GET"),
        _ => Reply::error(404, "no such route"),
    }
}

fn not_allowed(allow: &str) -> Reply {
    Reply::error(405, "method not allowed").with_header("allow", String::from(allow))
}

fn push_item(out: &mut String, (id, name, price): (u64, &str, u64)) {
    out.push_str("{\"id\":");
    json::push_u64(out, id);
    out.push_str(",\"name\":");
    json::push_string(out, name);
    out.push_str(",\"price\":");
    json::push_u64(out, price);
    out.push('}');
}

/// `GET /items/{id}`
fn get(id: &str) -> Reply {
    let Some(id) = parse_u64(id) else {
        return Reply::error(400, "id must be a positive integer");
    };
    match ITEMS.iter().find(|item| item.0 == id) {
        Some(&item) => {
            let mut body = String::new();
            push_item(&mut body, item);
            Reply::json(200, body)
        }
        None => Reply::error(404, "no such item"),
    }
}

/// `GET /items?min_price=<n>&limit=<n>`
fn list(query: &str) -> Reply {
    let mut min_price = 0;
    let mut limit = u64::MAX;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(value) = percent_decode(value) else {
            return Reply::error(400, "malformed percent-encoding in the query");
        };
        let parsed = parse_u64(&value);
        match (key, parsed) {
            ("min_price", Some(n)) => min_price = n,
            ("limit", Some(n)) => limit = n,
            ("min_price" | "limit", None) => {
                return Reply::error(400, "min_price and limit must be non-negative integers");
            }
            _ => return Reply::error(400, "unknown query parameter; use min_price or limit"),
        }
    }
    let mut body = String::from("{\"items\":[");
    let matching = ITEMS.iter().filter(|item| item.2 >= min_price);
    for (i, &item) in matching.take(usize::try_from(limit).unwrap_or(usize::MAX)).enumerate() {
        if i > 0 {
            body.push(',');
        }
        push_item(&mut body, item);
    }
    body.push_str("]}");
    Reply::json(200, body)
}

/// `POST /items`: validates `{"name": string, "price": integer}`.
fn create(body: &[u8]) -> Reply {
    let fields = match json::parse(body) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return Reply::error(400, "the body must be a JSON object"),
        Err(message) => return Reply::error(400, message),
    };
    let mut name = None;
    let mut price = None;
    for (key, value) in &fields {
        match (key.as_str(), value) {
            ("name", Value::String(s)) => name = Some(s.trim()),
            ("name", _) => return Reply::error(400, "`name` must be a string"),
            ("price", v) => match v.as_i64() {
                Some(p) => price = Some(p),
                None => return Reply::error(400, "`price` must be an integer (cents)"),
            },
            _ => return Reply::error(400, "unknown field; an item has `name` and `price`"),
        }
    }
    let (Some(name), Some(price)) = (name, price) else {
        return Reply::error(400, "`name` and `price` are required");
    };
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Reply::error(400, "`name` must be 1 to 64 characters");
    }
    if !(0..=MAX_PRICE).contains(&price) {
        return Reply::error(400, "`price` must be between 0 and 1000000");
    }
    // The catalogue is static (see the header): the new item gets the next id.
    let id = ITEMS.len() as u64 + 1;
    let mut out = String::new();
    push_item(&mut out, (id, name, price as u64));
    let mut location = String::from("/items/");
    json::push_u64(&mut location, id);
    Reply::json(201, out).with_header("location", location)
}

/// Reads the request body, refusing one over `MAX_BODY` with 413: first by
/// its declared `content-length`, then by counting what arrives. The reads
/// are asynchronous: while this request waits for its body, the instance
/// serves others.
async fn read_body(request: Request) -> Result<Vec<u8>, Reply> {
    let too_large = || Reply::error(413, "the body is larger than 4096 bytes");
    for value in request.get_headers().get("content-length") {
        let declared = core::str::from_utf8(&value).ok().and_then(parse_u64);
        if declared.is_none_or(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
    }
    // `res` tells the host how handling the body went; dropping the writer
    // unwritten sends its default, `ok`.
    let (_res, res) = wit_future::new(|| Ok(()));
    let (mut stream, trailers) = Request::consume_body(request, res);
    // One byte more than the limit allows, to notice going over it.
    let mut bytes = Vec::with_capacity(MAX_BODY + 1);
    loop {
        if bytes.len() > MAX_BODY {
            return Err(too_large());
        }
        let (result, read) = stream.read(bytes).await;
        bytes = read;
        match result {
            StreamResult::Complete(_) => {}
            StreamResult::Dropped | StreamResult::Cancelled => break,
        }
    }
    // The stream ended: the trailers future says whether it ended well.
    match trailers.await {
        Ok(_) => Ok(bytes),
        Err(_) => Err(Reply::error(400, "the request body could not be read")),
    }
}

/// A decimal integer of at most 18 digits, with no sign or other text.
fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Decodes `%XX` escapes and `+` in a query value; `None` if malformed.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                u8::from_str_radix(core::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            b => b,
        });
    }
    String::from_utf8(out).ok()
}

/// `reply` as an `application/json` response whose body a detached task
/// writes once the host reads it (a stream write completes only when the
/// reader takes the bytes, and the host reads only after `handle` returns).
fn respond(reply: Reply) -> Response {
    let headers = Fields::new();
    // `append` fails only for forbidden or malformed headers; these are neither.
    let _ = headers.append("content-type", b"application/json");
    for (name, value) in &reply.headers {
        let _ = headers.append(name, value.as_bytes());
    }
    let (mut body, contents) = wit_stream::new();
    // No trailers: the writer, dropped unwritten, sends its default.
    let (_, trailers) = wit_future::new(|| Ok(None));
    let (response, _) = Response::new(headers, Some(contents), trailers);
    // Fails only for a status outside 100..=999; these are all inside.
    let _ = response.set_status_code(reply.status);
    detach(async move {
        // If the client goes away, the rest is not sent; nothing to do then.
        body.write_all(reply.body.into_bytes()).await;
    });
    response
}

/// Runs `future` to completion after `handle` returns, without an executor:
/// it is polled here once, and again each time the host wakes it (the waker
/// owns it). Its waits count as the task's, so the host keeps the task
/// (and the instance) alive until it ends. wit-bindgen's `spawn_local` does the
/// same with more machinery (the `async-spawn` feature and the `futures`
/// crate); see docs/size.md, "WASI 0.3 and async".
///
/// It suits futures that wait on WASI streams and futures, as this one does.
/// A future that wakes itself while it is being polled (`yield_async`) would
/// stall here, since the wake finds it taken; for general background work
/// use `wit_bindgen::spawn_local` (the `async-spawn` feature) instead.
fn detach<F: Future<Output = ()> + 'static>(future: F) {
    Arc::new(Detached(Cell::new(Some(Box::pin(future))))).wake();
}

struct Detached<F>(Cell<Option<Pin<Box<F>>>>);

// SAFETY: a component instance is single-threaded; `Wake` asks for these.
unsafe impl<F> Send for Detached<F> {}
unsafe impl<F> Sync for Detached<F> {}

impl<F: Future<Output = ()> + 'static> Wake for Detached<F> {
    fn wake(self: Arc<Self>) {
        if let Some(mut future) = self.0.take() {
            let waker = Waker::from(self.clone());
            if future.as_mut().poll(&mut Context::from_waker(&waker)).is_pending() {
                self.0.set(Some(future));
            }
        }
    }
}

export!(HttpApiP3);
