//! The http-api template: a small JSON API over `wasi:http`.
//!
//! Routes (see docs/templates.md, "http-api"):
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
//! Edge hosts make a fresh instance per request, so the component keeps no
//! state between requests: the catalogue is static data, and `POST` shows
//! validation and the response a real API gives after writing to its store.

// A free-list allocator of about 1 KB instead of std's dlmalloc (about 7 KB).
// Edge hosts make a fresh instance per request, so the heap lives for one
// request; see docs/size.md, "The allocator", for the trade.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: a component instance is single-threaded.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

wit_bindgen::generate!({ path: "wit", world: "http-api", generate_all });

mod json;

use exports::wasi::http::incoming_handler::Guest;
use json::Value;
use wasi::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::StreamError;

/// The largest request body accepted; a bigger one is answered 413.
const MAX_BODY: u64 = 4096;
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

struct HttpApi;

impl Guest for HttpApi {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        send(out, route(request));
    }
}

/// Matches the method and path to a handler.
fn route(request: IncomingRequest) -> Reply {
    let target = request.path_with_query().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method();
    match (segments.as_slice(), &method) {
        (["health"], Method::Get) => Reply::json(200, String::from("{\"status\":\"ok\"}")),
        (["health"], _) => not_allowed("GET"),
        (["items"], Method::Get) => list(query),
        (["items"], Method::Post) => match read_body(&request) {
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
/// its declared `content-length`, then by counting what arrives.
fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, Reply> {
    let too_large = || Reply::error(413, "the body is larger than 4096 bytes");
    for value in request.headers().get("content-length") {
        let declared = core::str::from_utf8(&value).ok().and_then(parse_u64);
        if declared.is_none_or(|n| n > MAX_BODY) {
            return Err(too_large());
        }
    }
    let unreadable = || Reply::error(400, "the request body could not be read");
    let body = request.consume().map_err(|()| unreadable())?;
    let stream = body.stream().map_err(|()| unreadable())?;
    let mut bytes = Vec::new();
    loop {
        // Ask for one byte more than the limit allows, to notice going over it.
        match stream.blocking_read(MAX_BODY + 1 - bytes.len() as u64) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(_)) => return Err(unreadable()),
        }
        if bytes.len() as u64 > MAX_BODY {
            return Err(too_large());
        }
    }
    Ok(bytes)
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

/// Sends `reply` as `application/json`. Each step fails only if the host has
/// already given up on the request; returning then drops `out`, and the host
/// answers 500.
fn send(out: ResponseOutparam, reply: Reply) {
    let headers = Fields::new();
    // `append` fails only for forbidden or malformed headers; these are neither.
    let _ = headers.append("content-type", b"application/json");
    for (name, value) in &reply.headers {
        let _ = headers.append(name, value.as_bytes());
    }
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(reply.status);
    let Ok(body) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    let Ok(stream) = body.write() else { return };
    // `blocking-write-and-flush` takes at most 4096 bytes per call.
    for chunk in reply.body.as_bytes().chunks(4096) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            return;
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

export!(HttpApi);
