//! The http-api template: a small JSON API over `wasi:http`, one source for
//! both WASI lines (http-api on 0.2, http-api-p3 on 0.3).
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
//! JSON nesting is bounded. Each request logs `METHOD path` on stderr.
//!
//! A 0.2 edge host makes a fresh instance per request; a 0.3 host reuses one
//! for many requests, some at once (while one waits for its body, another
//! runs). Either way the component keeps no state between requests: the
//! catalogue is static data, and `POST` shows validation and the response a
//! real API gives after writing to its store.
#![no_std]

extern crate alloc;

use alloc::string::String;

use edgekit::http::{Request, Response};
use edgekit::json::{self, Value};
use edgekit::query;
use edgekit::router::Router;

/// The largest request body accepted; a bigger one is answered 413.
const MAX_BODY: usize = 4096;
/// The longest item name accepted, in characters.
const MAX_NAME: usize = 64;
/// The highest price accepted, in cents.
const MAX_PRICE: i64 = 1_000_000;

/// The catalogue: `(id, name, price in cents)`.
const ITEMS: &[(u64, &str, u64)] = &[(1, "kettle", 2500), (2, "teapot", 1800), (3, "mug", 650)];

/// Logs the request, then matches its method and path to a handler.
#[edgekit::handler]
async fn handle(request: Request) -> Response {
    edgekit::info!(request.method(), " ", request.path());
    let mut route = Router::new(request.method(), request.path());
    if route.at("GET", "/health").is_some() {
        return Response::json(200, r#"{"status":"ok"}"#);
    }
    if route.at("GET", "/items").is_some() {
        return list(request.query());
    }
    if route.at("POST", "/items").is_some() {
        drop(route); // it borrows the request, which reading the body consumes
        return match request.body(MAX_BODY).await {
            Ok(body) => create(&body),
            Err(error) => error.into(),
        };
    }
    if let Some(params) = route.at("GET", "/items/{id}") {
        return get(params.get("id"));
    }
    route.miss().into()
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
fn get(id: &str) -> Response {
    let Some(id) = query::parse_u64(id) else {
        return Response::error(400, "id must be a positive integer");
    };
    match ITEMS.iter().find(|item| item.0 == id) {
        Some(&item) => {
            let mut body = String::new();
            push_item(&mut body, item);
            Response::json(200, body)
        }
        None => Response::error(404, "no such item"),
    }
}

/// `GET /items?min_price=<n>&limit=<n>`
fn list(query: &str) -> Response {
    let mut min_price = 0;
    let mut limit = u64::MAX;
    for (key, value) in query::pairs(query) {
        let Some(value) = query::decode(value) else {
            return Response::error(400, "malformed percent-encoding in the query");
        };
        match (key, query::parse_u64(&value)) {
            ("min_price", Some(n)) => min_price = n,
            ("limit", Some(n)) => limit = n,
            ("min_price" | "limit", None) => {
                return Response::error(400, "min_price and limit must be non-negative integers");
            }
            _ => return Response::error(400, "unknown query parameter; use min_price or limit"),
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
    Response::json(200, body)
}

/// `POST /items`: validates `{"name": string, "price": integer}`.
fn create(body: &[u8]) -> Response {
    let fields = match json::parse(body) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return Response::error(400, "the body must be a JSON object"),
        Err(message) => return Response::error(400, message),
    };
    let mut name = None;
    let mut price = None;
    for (key, value) in &fields {
        match (key.as_str(), value) {
            ("name", Value::String(s)) => name = Some(s.trim()),
            ("name", _) => return Response::error(400, "`name` must be a string"),
            ("price", v) => match v.as_i64() {
                Some(p) => price = Some(p),
                None => return Response::error(400, "`price` must be an integer (cents)"),
            },
            _ => return Response::error(400, "unknown field; an item has `name` and `price`"),
        }
    }
    let (Some(name), Some(price)) = (name, price) else {
        return Response::error(400, "`name` and `price` are required");
    };
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Response::error(400, "`name` must be 1 to 64 characters");
    }
    if !(0..=MAX_PRICE).contains(&price) {
        return Response::error(400, "`price` must be between 0 and 1000000");
    }
    // The catalogue is static (see the header): the new item gets the next id.
    let id = ITEMS.len() as u64 + 1;
    let mut out = String::new();
    push_item(&mut out, (id, name, price as u64));
    let mut location = String::from("/items/");
    json::push_u64(&mut location, id);
    Response::json(201, out).header("location", location)
}
