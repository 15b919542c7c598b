//! A small JSON reader and writer, sized for an edge API's bodies.
//!
//! The reader accepts the whole JSON grammar (RFC 8259) and builds a
//! `Value`, but keeps numbers as their source text: converting one to an
//! integer is the caller's choice, so no float parsing or printing code is
//! linked. Nesting is limited to `MAX_DEPTH`, so hostile input cannot exhaust
//! the stack. Errors are short static strings that go straight into a 400
//! body; nothing here panics on any input.
//!
//! Every function is `#[inline]` so that it is compiled in the component's
//! own crate, beside its callers, as when each template carried a copy of
//! this file: compiled here instead, the same code measured 140 to 350 bytes
//! more per component (other inlining, and a second copy of std's small
//! inline functions such as `String::push`).
//!
//! ```
//! use edgekit::json::{self, Value};
//!
//! let body = br#"{"name": "tea", "price": 350}"#;
//! let Ok(Value::Object(fields)) = json::parse(body) else { panic!("a JSON object") };
//! assert_eq!(fields[1].1.as_i64(), Some(350));
//!
//! let mut answer = String::from("{\"name\":");
//! json::push_string(&mut answer, "tea \"green\"");
//! answer.push('}');
//! assert_eq!(answer, r#"{"name":"tea \"green\""}"#);
//! ```

use alloc::string::String;
use alloc::vec::Vec;

/// How deep arrays and objects may nest.
pub const MAX_DEPTH: usize = 32;

/// A parsed JSON value. Numbers are kept as validated source text.
#[derive(PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Number(&'a str),
    String(String),
    Array(Vec<Value<'a>>),
    Object(Vec<(String, Value<'a>)>),
}

impl Value<'_> {
    /// The value as an integer in `i64`, if it is a number without a
    /// fraction or exponent that fits.
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        let Value::Number(text) = self else { return None };
        text.parse().ok()
    }
}

/// Parses a whole document: one value, surrounded only by whitespace.
#[inline]
pub fn parse(input: &[u8]) -> Result<Value<'_>, &'static str> {
    let text = core::str::from_utf8(input).map_err(|_| "the body is not UTF-8")?;
    let mut parser = Parser { text, bytes: input, pos: 0 };
    let value = parser.value(0)?;
    parser.whitespace();
    if parser.pos != input.len() {
        return Err("unexpected text after the JSON value");
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    #[inline]
    fn literal(&mut self, word: &str, value: Value<'a>) -> Result<Value<'a>, &'static str> {
        if self.bytes.get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err("malformed JSON")
        }
    }

    #[inline]
    fn value(&mut self, depth: usize) -> Result<Value<'a>, &'static str> {
        if depth > MAX_DEPTH {
            return Err("JSON nested too deeply");
        }
        self.whitespace();
        match self.peek() {
            None => Err("unexpected end of JSON"),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.whitespace();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.whitespace();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err("expected `,` or `]` in an array"),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut fields = Vec::new();
                self.whitespace();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Value::Object(fields));
                }
                loop {
                    self.whitespace();
                    if self.peek() != Some(b'"') {
                        return Err("expected a string key in an object");
                    }
                    let key = self.string()?;
                    self.whitespace();
                    if self.peek() != Some(b':') {
                        return Err("expected `:` after an object key");
                    }
                    self.pos += 1;
                    fields.push((key, self.value(depth + 1)?));
                    self.whitespace();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Value::Object(fields));
                        }
                        _ => return Err("expected `,` or `}` in an object"),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err("malformed JSON"),
        }
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    #[inline]
    fn number(&mut self) -> Result<Value<'a>, &'static str> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_digits = self.digits();
        if int_digits == 0 || (int_digits > 1 && self.bytes.get(int_start) == Some(&b'0')) {
            return Err("malformed number");
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err("malformed number");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err("malformed number");
            }
        }
        self.text.get(start..self.pos).map(Value::Number).ok_or("malformed number")
    }

    #[inline]
    fn hex4(&mut self) -> Result<u32, &'static str> {
        let digits = self.text.get(self.pos..self.pos + 4).ok_or("malformed \\u escape")?;
        self.pos += 4;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("malformed \\u escape");
        }
        u32::from_str_radix(digits, 16).map_err(|_| "malformed \\u escape")
    }

    #[inline]
    fn string(&mut self) -> Result<String, &'static str> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            // Copy the run of plain characters up to the next quote,
            // backslash or control character in one go.
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(self.text.get(start..self.pos).ok_or("malformed string")?);
            match self.peek() {
                None => return Err("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self.peek().ok_or("unterminated string")?;
                    self.pos += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let first = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&first) {
                                // A high surrogate must be followed by an escaped low one.
                                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err("unpaired surrogate in \\u escape");
                                }
                                self.pos += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return Err("unpaired surrogate in \\u escape");
                                }
                                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                            } else {
                                first
                            };
                            char::from_u32(code).ok_or("unpaired surrogate in \\u escape")?
                        }
                        _ => return Err("unknown escape in string"),
                    };
                    out.push(c);
                }
                Some(_) => return Err("control character in string"),
            }
        }
    }
}

/// Appends `s` as a JSON string literal.
#[inline]
pub fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 0xf] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `n` in decimal, without `core::fmt`.
#[inline]
pub fn push_u64(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    out.push_str(crate::log::decimal(n, &mut digits));
}

#[cfg(test)]
mod tests;
