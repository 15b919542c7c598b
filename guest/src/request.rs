//! What a request is on both lines beyond its WASI type: why its body was
//! not read, where its path ends and its query starts, the names of its
//! methods, and the first value of a header.

use alloc::string::String;
use alloc::vec::Vec;

use crate::response::Response;

/// Why a request body was not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than `limit` bytes, declared (`content-length`) or counted: 413.
    TooLarge {
        /// The limit the body was read under.
        limit: usize,
    },
    /// The client or the host failed while sending it: 400.
    Unreadable,
}

impl BodyError {
    /// The status to answer: 413 or 400.
    pub fn status(self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            BodyError::Unreadable => 400,
        }
    }
}

/// The answer to a body not read: 413 `{"error":"the body is larger than
/// <limit> bytes"}` or 400 `{"error":"the request body could not be read"}`.
impl From<BodyError> for Response {
    #[inline]
    fn from(error: BodyError) -> Response {
        match error {
            BodyError::TooLarge { limit } => {
                let mut message = String::from("the body is larger than ");
                crate::json::push_u64(&mut message, limit as u64);
                message.push_str(" bytes");
                Response::error(413, &message)
            }
            BodyError::Unreadable => Response::error(400, "the request body could not be read"),
        }
    }
}

/// The path (without the query) and the query (without the `?`, `""` when
/// there is none) of a request target such as `/items?limit=2`.
pub(crate) fn split_target(target: &str) -> (&str, &str) {
    // A byte loop: `split_once('?')` searches a word at a time, about 400
    // bytes of code for a target a few dozen bytes long.
    match target.bytes().position(|b| b == b'?') {
        // SAFETY: `?` is ASCII, so the bytes before and after it are whole
        // characters (the checked forms link a panic message's formatting).
        Some(at) => unsafe { (target.get_unchecked(..at), target.get_unchecked(at + 1..)) },
        None => (target, ""),
    }
}

/// The names of the cases of a request's `method` without a payload (0
/// to 8, `GET` to `PATCH`), one after the other, and where each starts
/// ([`METHOD_STARTS`]); case 9 is `other(string)`. Both lines read a
/// request's method straight from their import (its case, then `other`'s
/// string), so that nothing lifts it into the generated `Method` enum only
/// to match it back into these names; each line's reader looks its case up
/// here.
pub(crate) const METHOD_NAMES: &str = "GETHEADPOSTPUTDELETECONNECTOPTIONSTRACEPATCH";
/// Where each name in [`METHOD_NAMES`] starts, and where the last ends.
pub(crate) const METHOD_STARTS: [u8; 10] = [0, 3, 7, 11, 14, 20, 27, 34, 39, 44];

/// A `list<T>` as the canonical ABI passes it: where its items are, and
/// how many.
#[repr(C)]
pub(crate) struct List {
    pub(crate) ptr: *mut u8,
    pub(crate) len: usize,
}

/// The first of the values of `name` in the `fields` whose handle is
/// `fields`, through `get`, the line's `[method]fields.get` import: the
/// generated call lifts every value into a `Vec<Vec<u8>>` first (a second
/// list to allocate and fill), only for all but one to be dropped. Not
/// inlined: about 300 bytes less for each header a handler reads.
///
/// # Safety
///
/// `get` is the import, and `fields` a live `fields` handle.
#[inline(never)]
pub(crate) unsafe fn first_value(
    get: unsafe extern "C" fn(u32, *const u8, usize, *mut List),
    fields: u32,
    name: &str,
) -> Option<Vec<u8>> {
    let mut list = List { ptr: core::ptr::null_mut(), len: 0 };
    // SAFETY: see above; the name, which the host copies; room for a
    // `list<field-value>`.
    unsafe { get(fields, name.as_ptr(), name.len(), &mut list) };
    // SAFETY: the host allocated the list (`len` values, each a pointer and
    // a length, 4-aligned) and each value's bytes through `cabi_realloc`,
    // for us to own: all freed here but the first, which is returned.
    let values = unsafe { Vec::from_raw_parts(list.ptr.cast::<List>(), list.len, list.len) };
    let mut first = None;
    for value in values {
        // SAFETY: see above.
        let bytes = unsafe { Vec::from_raw_parts(value.ptr, value.len, value.len) };
        if first.is_none() {
            first = Some(bytes);
        }
    }
    first
}

/// Whether a declared `content-length` value is over `limit` (or not a number).
#[inline(always)]
pub(crate) fn declared_too_large(value: &[u8], limit: usize) -> bool {
    crate::query::digits(value).is_none_or(|n| n > limit as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_at_the_first_question_mark() {
        assert_eq!(split_target("/items?limit=2&x=?"), ("/items", "limit=2&x=?"));
        assert_eq!(split_target("/items"), ("/items", ""));
    }

    #[test]
    fn declared_lengths() {
        assert!(!declared_too_large(b"4096", 4096));
        assert!(declared_too_large(b"4097", 4096));
        assert!(declared_too_large(b"lots", 4096));
        assert_eq!((BodyError::TooLarge { limit: 1 }.status(), BodyError::Unreadable.status()), (413, 400));
    }

    #[test]
    fn body_errors_answer_json() {
        let response = Response::from(BodyError::TooLarge { limit: 4096 });
        assert_eq!(response.status(), 413);
        assert_eq!(response.body_bytes(), Some(&br#"{"error":"the body is larger than 4096 bytes"}"#[..]));
        let response = Response::from(BodyError::Unreadable);
        assert_eq!(response.status(), 400);
        assert_eq!(response.body_bytes(), Some(&br#"{"error":"the request body could not be read"}"#[..]));
    }
}
