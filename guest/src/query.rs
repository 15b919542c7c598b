//! What a URL carries beyond its path: the pairs of a query string, their
//! percent-encoded values, and decimal integers (in a query or a path
//! segment), read the same way by every template.
//!
//! ```
//! use edgekit::query;
//!
//! let mut found = Vec::new();
//! for (name, value) in query::pairs("q=tea+%26+cake&limit=2&&flag") {
//!     found.push((name, query::decode(value)));
//! }
//! assert_eq!(found[0], ("q", Some("tea & cake".to_string())));
//! assert_eq!(query::parse_u64("2"), Some(2));
//! assert_eq!(found[2], ("flag", Some(String::new())));
//! assert_eq!(query::decode("%zz"), None);
//! ```

use alloc::string::String;
use alloc::vec::Vec;

/// The `name=value` pairs of a query string (without its `?`), in order
/// and as sent: empty pairs (`a=1&&b=2`) are skipped, a pair without `=`
/// has the value `""`. Decode a value with [`decode`].
#[inline]
pub fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Decodes a query value: `%XX` escapes (two hex digits) and `+` as a
/// space. `None` if an escape is malformed or the result is not UTF-8.
#[inline]
pub fn decode(value: &str) -> Option<String> {
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => hex(bytes.next()?)? << 4 | hex(bytes.next()?)?,
            b => b,
        });
    }
    String::from_utf8(out).ok()
}

/// The value of one hex digit.
#[inline]
fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// A decimal integer that fits in a `u64`: one or more ASCII digits and
/// nothing else (no sign, no spaces). Leading zeros are allowed.
#[inline]
pub fn parse_u64(text: &str) -> Option<u64> {
    digits(text.as_bytes())
}

/// [`parse_u64`] of bytes (a header value, say). A loop of its own rather
/// than `str::parse`, which also takes a sign and links its radix machinery.
pub(crate) fn digits(bytes: &[u8]) -> Option<u64> {
    /// Past it, one more digit overflows; at it, a digit over 5 does
    /// (`u64::MAX` is `10 * MAX_TENTH + 5`).
    const MAX_TENTH: u64 = u64::MAX / 10;
    if bytes.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &byte in bytes {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 || n > MAX_TENTH || (n == MAX_TENTH && digit > 5) {
            return None;
        }
        n = n * 10 + u64::from(digit);
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn pairs_in_order_as_sent() {
        let found: Vec<(&str, &str)> = pairs("a=1&&b=&c&d=x=y&%41=%42").collect();
        assert_eq!(found, vec![("a", "1"), ("b", ""), ("c", ""), ("d", "x=y"), ("%41", "%42")]);
        assert_eq!(pairs("").count(), 0);
    }

    #[test]
    fn decoding() {
        assert_eq!(decode("a+b%20c%2B%e2%82%AC").as_deref(), Some("a b c+€"));
        assert_eq!(decode("").as_deref(), Some(""));
        for bad in ["%", "%4", "%zz", "%+f", "%-1", "%ff", "%e2%82"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("007"), Some(7));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "18446744073709551616", "99999999999999999999", "+1", "-1", " 1", "1.0", "1e3", "x"] {
            assert_eq!(parse_u64(bad), None, "{bad}");
        }
    }
}
