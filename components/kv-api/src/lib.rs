//! The kv-api template: JSON records and counters kept in `wasi:keyvalue`,
//! one source for both WASI lines (kv-api on 0.2, kv-api-p3 on 0.3).
//!
//! Routes (see docs/templates.md, "kv-api"):
//!
//! - `PUT /items/{key}` with a JSON object: stored as sent; 201 when the
//!   key was new, 200 when it replaced a record
//! - `GET /items/{key}`: the record, or 404
//! - `DELETE /items/{key}`: 204, or 404
//! - `GET /items?prefix=<p>&cursor=<n>`: the keys starting with `p`, a page
//!   at a time, with the cursor of the next page (`null` after the last)
//! - `POST /counters/{key}`: adds one, atomically, and answers the new value
//! - `GET /counters/{key}`: the value (0 for a counter never incremented)
//!
//! A key is 1 to 128 of `A-Z a-z 0-9 . _ ~ -` (no percent-decoding needed).
//! An unknown path is 404, a known path with another method 405 with an
//! `allow` header, a body over `MAX_BODY` bytes 413, malformed JSON or a bad
//! key 400, a store that is missing 503 and one that fails 500; every error
//! has a `{"error": "..."}` body. Each request logs one line on stderr.
//!
//! Records and counters share the bucket `default` under the prefixes
//! `item:` and `counter:`. On a host whose store has no bucket of that name
//! (`no-such-store`), the template opens the host's unnamed bucket `""`,
//! which is the one bucket `wasmtime serve -Skeyvalue` offers.
//!
//! The `wasi:keyvalue` calls are plain calls on both lines (its
//! `0.2.0-draft` has no async form). A 0.3 host reuses an instance for many
//! requests, some at once; nothing here keeps state between requests: the
//! store does.
#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use edgekit::http::{Request, Response};
use edgekit::json::{self, Value};
use edgekit::query;
use edgekit::router::Router;
use edgekit::wasi::keyvalue::atomics;
use edgekit::wasi::keyvalue::store::{self, Bucket, Error};

/// The largest record accepted; a bigger body is answered 413.
const MAX_BODY: usize = 4096;
/// The longest key accepted, in bytes.
const MAX_KEY: usize = 128;
/// The bucket the template keeps its data in.
const BUCKET: &str = "default";
/// Where records and counters live in the bucket.
const ITEM: &str = "item:";
const COUNTER: &str = "counter:";
/// The fewest keys `GET /items` gathers before answering a page, and the
/// most store pages it reads for one answer: a prefix that matches few keys
/// answers short pages rather than reading the whole store at once.
const LIST_MIN: usize = 50;
const LIST_PAGES: usize = 8;

#[edgekit::handler]
async fn handle(request: Request) -> Response {
    let method = String::from(request.method());
    let path = String::from(request.path());
    let response = route(request).await;
    edgekit::info!(method, " ", path, " ", response.status());
    response
}

#[edgekit::maybe_async]
async fn route(request: Request) -> Response {
    let mut route = Router::new(request.method(), request.path());
    if route.at("GET", "/items").is_some() {
        return list(request.query());
    }
    if let Some(params) = route.at("GET", "/items/{key}") {
        return get(params.get("key"));
    }
    if let Some(params) = route.at("PUT", "/items/{key}") {
        let key = String::from(params.get("key"));
        drop(route); // it borrows the request, which reading the body consumes
        return match request.body(MAX_BODY).await {
            Ok(body) => put(&key, body),
            Err(error) => error.into(),
        };
    }
    if let Some(params) = route.at("DELETE", "/items/{key}") {
        return delete(params.get("key"));
    }
    if let Some(params) = route.at("GET", "/counters/{key}") {
        return counter(params.get("key"));
    }
    if let Some(params) = route.at("POST", "/counters/{key}") {
        return increment(params.get("key"));
    }
    route.miss().into()
}

/// The answer to a store error: 503 when the host has no store for the
/// template, 500 when it failed.
fn store_error(e: Error) -> Response {
    match e {
        Error::NoSuchStore => Response::error(503, "the host offers no key-value bucket `default`"),
        Error::AccessDenied => Response::error(503, "the host denies access to the key-value bucket `default`"),
        Error::Other(message) => {
            let mut text = String::from("the key-value store failed: ");
            text.push_str(&message);
            Response::error(500, &text)
        }
    }
}

/// Opens `default`, or the host's unnamed bucket where `default` is unknown.
fn bucket() -> Result<Bucket, Response> {
    match store::open(BUCKET) {
        Err(Error::NoSuchStore) => store::open("").map_err(|_| store_error(Error::NoSuchStore)),
        opened => opened.map_err(store_error),
    }
}

/// `prefix` + `key`, if `key` is a valid key.
fn stored_key(prefix: &str, key: &str) -> Result<String, Response> {
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-');
    if key.is_empty() || key.len() > MAX_KEY || !key.bytes().all(valid) {
        return Err(Response::error(400, "a key is 1 to 128 of A-Z a-z 0-9 . _ ~ -"));
    }
    let mut stored = String::from(prefix);
    stored.push_str(key);
    Ok(stored)
}

/// Runs `f` on the record or counter key `key` in the bucket.
fn with_key(prefix: &str, key: &str, f: impl FnOnce(&Bucket, &str) -> Result<Response, Error>) -> Response {
    let stored = match stored_key(prefix, key) {
        Ok(stored) => stored,
        Err(response) => return response,
    };
    match bucket() {
        Ok(bucket) => f(&bucket, &stored).unwrap_or_else(store_error),
        Err(response) => response,
    }
}

/// `GET /items/{key}`
fn get(key: &str) -> Response {
    with_key(ITEM, key, |bucket, stored| {
        Ok(match bucket.get(stored)? {
            Some(record) => Response::json(200, record),
            None => Response::error(404, "no such item"),
        })
    })
}

/// `PUT /items/{key}`: a JSON object, stored as sent.
fn put(key: &str, body: Vec<u8>) -> Response {
    match json::parse(&body) {
        Ok(Value::Object(_)) => {}
        Ok(_) => return Response::error(400, "a record must be a JSON object"),
        Err(message) => return Response::error(400, message),
    }
    with_key(ITEM, key, |bucket, stored| {
        let existed = bucket.exists(stored)?;
        bucket.set(stored, &body)?;
        Ok(match existed {
            true => Response::json(200, body),
            false => {
                let mut location = String::from("/items/");
                location.push_str(key);
                Response::json(201, body).header("location", location)
            }
        })
    })
}

/// `DELETE /items/{key}`
fn delete(key: &str) -> Response {
    with_key(ITEM, key, |bucket, stored| {
        if !bucket.exists(stored)? {
            return Ok(Response::error(404, "no such item"));
        }
        bucket.delete(stored)?;
        Ok(Response::new(204))
    })
}

/// `{"key": key, "value": value}`
fn counter_body(key: &str, value: u64) -> String {
    let mut body = String::from("{\"key\":");
    json::push_string(&mut body, key);
    body.push_str(",\"value\":");
    json::push_u64(&mut body, value);
    body.push('}');
    body
}

/// `POST /counters/{key}`
fn increment(key: &str) -> Response {
    with_key(COUNTER, key, |bucket, stored| {
        let value = atomics::increment(bucket, stored, 1)?;
        Ok(Response::json(200, counter_body(key, value)))
    })
}

/// `GET /counters/{key}`
fn counter(key: &str) -> Response {
    with_key(COUNTER, key, |bucket, stored| {
        let value = match bucket.get(stored)? {
            None => 0,
            Some(digits) => match core::str::from_utf8(&digits).ok().and_then(query::parse_u64) {
                Some(value) => value,
                None => return Ok(Response::error(500, "the counter holds something other than a number")),
            },
        };
        Ok(Response::json(200, counter_body(key, value)))
    })
}

/// `GET /items?prefix=<p>&cursor=<n>`: `{"keys": [...], "cursor": n|null}`.
fn list(query: &str) -> Response {
    let mut prefix = String::new();
    let mut cursor = None;
    for (name, value) in query::pairs(query) {
        let Some(value) = query::decode(value) else {
            return Response::error(400, "malformed percent-encoding in the query");
        };
        match name {
            "prefix" => prefix = value,
            "cursor" => match query::parse_u64(&value) {
                Some(n) => cursor = Some(n),
                None => return Response::error(400, "cursor must be a non-negative integer"),
            },
            _ => return Response::error(400, "unknown query parameter; use prefix or cursor"),
        }
    }
    let bucket = match bucket() {
        Ok(bucket) => bucket,
        Err(response) => return response,
    };
    let mut wanted = String::from(ITEM);
    wanted.push_str(&prefix);
    let mut keys = Vec::new();
    for _ in 0..LIST_PAGES {
        let page = match bucket.list_keys(cursor) {
            Ok(page) => page,
            Err(e) => return store_error(e),
        };
        keys.extend(page.keys.into_iter().filter(|k| k.starts_with(&wanted)));
        cursor = page.cursor;
        if cursor.is_none() || keys.len() >= LIST_MIN {
            break;
        }
    }
    let mut body = String::from("{\"keys\":[");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        json::push_string(&mut body, key.get(ITEM.len()..).unwrap_or(""));
    }
    body.push_str("],\"cursor\":");
    match cursor {
        Some(n) => json::push_u64(&mut body, n),
        None => body.push_str("null"),
    }
    body.push('}');
    Response::json(200, body)
}
