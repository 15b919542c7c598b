//! [`Bytes`]: header values and bodies, borrowed for the program's life or
//! owned, so a constant answer is never copied into the heap before it is
//! written.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Deref;

/// Bytes a response carries: a `&'static` string or slice, or an owned
/// `String` or `Vec<u8>`. Every method that takes header values or bodies
/// takes `impl Into<Bytes>`, so any of the four goes in as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bytes(Cow<'static, [u8]>);

impl Bytes {
    /// The bytes as an owned vector (no copy when they are owned already).
    pub fn into_vec(self) -> Vec<u8> {
        self.0.into_owned()
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&'static [u8]> for Bytes {
    fn from(bytes: &'static [u8]) -> Bytes {
        Bytes(Cow::Borrowed(bytes))
    }
}

impl<const N: usize> From<&'static [u8; N]> for Bytes {
    fn from(bytes: &'static [u8; N]) -> Bytes {
        Bytes(Cow::Borrowed(bytes))
    }
}

impl From<&'static str> for Bytes {
    fn from(text: &'static str) -> Bytes {
        Bytes(Cow::Borrowed(text.as_bytes()))
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Bytes {
        Bytes(Cow::Owned(bytes))
    }
}

impl From<String> for Bytes {
    fn from(text: String) -> Bytes {
        Bytes(Cow::Owned(text.into_bytes()))
    }
}

/// A header name: a `&'static str`, or a `String` (a name copied from
/// another message). Kept as [`Bytes`], always UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderName(Bytes);

impl HeaderName {
    /// The name.
    pub fn as_str(&self) -> &str {
        // SAFETY: made only from `str`s (the `From` impls below).
        unsafe { core::str::from_utf8_unchecked(&self.0) }
    }
}

impl From<&'static str> for HeaderName {
    fn from(name: &'static str) -> HeaderName {
        HeaderName(Bytes::from(name))
    }
}

impl From<String> for HeaderName {
    fn from(name: String) -> HeaderName {
        HeaderName(Bytes::from(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn every_source_reads_the_same() {
        let all = [
            Bytes::from("hi"),
            Bytes::from(&b"hi"[..]),
            Bytes::from(b"hi"),
            Bytes::from("hi".to_string()),
            Bytes::from(b"hi".to_vec()),
        ];
        for bytes in all {
            assert_eq!(&*bytes, b"hi");
            assert_eq!(bytes.into_vec(), b"hi");
        }
    }
}
