//! Log lines on `wasi:cli/stderr`, which both lines' http worlds include, so
//! logging keeps a component inside `wasi:http/proxy` or
//! `wasi:http/service`.
//!
//! One call writes one line, `LEVEL message`, in one write. The macros take
//! the message in pieces, strings and integers ([`Piece`]), and join them
//! with nothing between them, so no `core::fmt` is linked: each piece is
//! copied, or its digits written, into a line on the stack, and only the
//! kinds of piece a component logs are compiled in. `cargo xtask serve`
//! prints each line tagged with the component and the request;
//! `wasmtime serve` prints it as `stderr [N] :: <line>`.
//!
//! ```no_run
//! # fn demo(method: &str, path: &str, status: u16) {
//! edgekit::info!(method, " ", path, " ", status);
//! edgekit::warn!("slow upstream: ", "api.internal", " took ", 1250u32, " ms");
//! # }
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ptr;

/// The longest line written, in bytes, the level and newline included; a
/// longer message is cut there (at a byte, not a character, boundary).
pub const MAX_LINE: usize = 4096;

/// How much a line matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something looks wrong but the request goes on.
    Warn,
    /// What happened: one line per request, say.
    Info,
    /// Detail for a developer.
    Debug,
}

impl Level {
    /// The level and the space after it, as a line starts.
    fn prefix(self) -> &'static str {
        match self {
            Level::Error => "ERROR ",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG ",
        }
    }

    /// The level as it starts a line.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// Writes `LEVEL` and the pieces joined as one line to stderr, for a level
/// chosen at run time (the macros, [`info!`](crate::info) and its
/// siblings, take integers too).
pub fn write(level: Level, pieces: &[&str]) {
    let mut line = Line::new(level);
    for piece in pieces {
        line.push(piece);
    }
    line.write();
}

/// The bytes of one line: `LEVEL message\n`, at most [`MAX_LINE`] long.
pub fn line(level: Level, pieces: &[&str]) -> Vec<u8> {
    let mut line = Line::new(level);
    for piece in pieces {
        line.push(piece);
    }
    line.finish().to_vec()
}

/// A line being built: the level, then the pieces, as much as fits before
/// the newline. The macros build one per call.
pub struct Line {
    /// Bytes written to [`buffer`].
    len: usize,
}

impl Line {
    /// A line that starts with `level`.
    pub fn new(level: Level) -> Line {
        let mut line = Line { len: 0 };
        line.push(level.prefix());
        line
    }

    /// Adds `text`, or as much of it as fits before the newline.
    pub fn push(&mut self, text: &str) {
        self.push_bytes(text.as_bytes());
    }

    /// Not inlined: a line is a call per piece, not a copy loop per piece.
    #[inline(never)]
    fn push_bytes(&mut self, bytes: &[u8]) {
        let take = bytes.len().min(MAX_LINE - 1 - self.len);
        // SAFETY: `len + take` is at most `MAX_LINE - 1`: the bytes fit.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), buffer().add(self.len), take) };
        self.len += take;
    }

    /// Adds `n` in decimal.
    pub fn push_u64(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        self.push(decimal(n, &mut digits));
    }

    /// Adds `n` in decimal, with a `-` when negative.
    pub fn push_i64(&mut self, n: i64) {
        if n < 0 {
            self.push("-");
        }
        self.push_u64(n.unsigned_abs());
    }

    /// Ends the line with its newline; the bytes to write.
    fn finish(&mut self) -> &[u8] {
        // SAFETY: `len` is at most `MAX_LINE - 1`, so the newline fits, and
        // the `len + 1` bytes are written.
        unsafe {
            let buf = buffer();
            buf.add(self.len).write(b'\n');
            core::slice::from_raw_parts(buf, self.len + 1)
        }
    }

    /// Ends the line and writes it to stderr.
    pub fn write(&mut self) {
        let line = self.finish();
        // On 0.2 the write is done when the call returns: the line is
        // written from the buffer, with no allocation.
        #[cfg(all(feature = "p2", not(feature = "p3")))]
        crate::p2::write_stderr(line);
        // On 0.3 the host reads the line after the call returns: it is owned.
        #[cfg(feature = "p3")]
        crate::p3::write_stderr(line.to_vec());
    }
}

/// `n` in decimal, written at the end of `digits`: the one digit loop of
/// the library, for log lines and JSON alike.
#[inline(never)]
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &str {
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(digit) = digits.get_mut(at) {
            *digit = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // SAFETY: ASCII digits from `at` on.
    unsafe { core::str::from_utf8_unchecked(digits.get_unchecked(at..)) }
}

/// Where lines are built: one buffer, as a component instance runs one
/// thread and a line is written before the next is begun (a piece that
/// logs while its line is built garbles that line, nothing worse). Not on
/// the stack: a 4 KB local in the caller's frame moves the caller's other
/// locals to offsets that take a byte more to encode in every load and
/// store (54 bytes of edge-fn, 74 of middleware; docs/size.md).
#[cfg(target_arch = "wasm32")]
fn buffer() -> *mut u8 {
    struct Buffer(UnsafeCell<[u8; MAX_LINE]>);
    // SAFETY: without Wasm threads (the `atomics` target feature, refused at
    // compile time in lib.rs) a component instance runs one thread, and the
    // buffer is only written through raw pointers, never borrowed.
    #[cfg(not(target_feature = "atomics"))]
    unsafe impl Sync for Buffer {}
    static BUFFER: Buffer = Buffer(UnsafeCell::new([0; MAX_LINE]));
    BUFFER.0.get().cast()
}

/// On the host (a component's unit tests), a buffer per thread.
#[cfg(not(target_arch = "wasm32"))]
fn buffer() -> *mut u8 {
    extern crate std;
    std::thread_local! {
        static BUFFER: UnsafeCell<[u8; MAX_LINE]> = const { UnsafeCell::new([0; MAX_LINE]) };
    }
    BUFFER.with(|buffer| buffer.get().cast())
}

/// What a log line is made of: strings (`&str`, `String`) and integers, each
/// written as it is, with nothing between them.
pub trait Piece {
    /// Adds the piece to `line`.
    fn push_to(&self, line: &mut Line);
}

impl Piece for str {
    #[inline]
    fn push_to(&self, line: &mut Line) {
        line.push(self);
    }
}

impl Piece for String {
    #[inline]
    fn push_to(&self, line: &mut Line) {
        line.push(self);
    }
}

impl<T: Piece + ?Sized> Piece for &T {
    #[inline]
    fn push_to(&self, line: &mut Line) {
        (**self).push_to(line);
    }
}

/// Integers in decimal: the unsigned ones through one `u64` writer, the
/// signed ones through one `i64` writer.
macro_rules! integer_pieces {
    ($push:ident: $($int:ty),+) => {
        $(
            impl Piece for $int {
                #[inline]
                fn push_to(&self, line: &mut Line) {
                    line.$push((*self).into());
                }
            }
        )+
    };
}

integer_pieces!(push_u64: u8, u16, u32, u64);
integer_pieces!(push_i64: i8, i16, i32, i64);

impl Piece for usize {
    #[inline]
    fn push_to(&self, line: &mut Line) {
        line.push_u64(*self as u64);
    }
}

impl Piece for isize {
    #[inline]
    fn push_to(&self, line: &mut Line) {
        line.push_i64(*self as i64);
    }
}

/// Logs an `INFO` line: `edgekit::info!("GET ", path, " ", status)`. The
/// arguments are [`Piece`]s (strings and integers), joined with nothing
/// between them.
#[macro_export]
macro_rules! info {
    ($($piece:expr),+ $(,)?) => {
        $crate::__log!($crate::log::Level::Info, $($piece),+)
    };
}

/// Logs a `WARN` line; the arguments are [`Piece`]s, as for [`info!`].
#[macro_export]
macro_rules! warn {
    ($($piece:expr),+ $(,)?) => {
        $crate::__log!($crate::log::Level::Warn, $($piece),+)
    };
}

/// Logs an `ERROR` line; the arguments are [`Piece`]s, as for [`info!`].
#[macro_export]
macro_rules! error {
    ($($piece:expr),+ $(,)?) => {
        $crate::__log!($crate::log::Level::Error, $($piece),+)
    };
}

/// Logs a `DEBUG` line; the arguments are [`Piece`]s, as for [`info!`].
#[macro_export]
macro_rules! debug {
    ($($piece:expr),+ $(,)?) => {
        $crate::__log!($crate::log::Level::Debug, $($piece),+)
    };
}

/// One line of `level` made of the pieces, written.
#[doc(hidden)]
#[macro_export]
macro_rules! __log {
    ($level:expr, $($piece:expr),+) => {{
        let mut line = $crate::log::Line::new($level);
        $( $crate::log::Piece::push_to(&$piece, &mut line); )+
        line.write();
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_level_pieces_newline() {
        assert_eq!(line(Level::Info, &["GET ", "/items", " 200"]), b"INFO GET /items 200\n");
        assert_eq!(line(Level::Error, &[]), b"ERROR \n");
    }

    #[test]
    fn integers_are_written_in_decimal() {
        let mut line = Line::new(Level::Info);
        for piece in [&"GET /items " as &dyn Piece, &200u16, &" ", &0u8, &" ", &u64::MAX, &" ", &i64::MIN, &" ", &-7i32]
        {
            piece.push_to(&mut line);
        }
        let expected = b"INFO GET /items 200 0 18446744073709551615 -9223372036854775808 -7\n";
        assert_eq!(line.finish(), expected);
        let mut line = Line::new(Level::Debug);
        (&alloc::string::String::from("n=")).push_to(&mut line);
        usize::MAX.push_to(&mut line);
        assert_eq!(line.finish(), alloc::format!("DEBUG n={}\n", usize::MAX).as_bytes());
    }

    #[test]
    fn a_long_line_is_cut_to_the_limit() {
        let long = "x".repeat(2 * MAX_LINE);
        let line = line(Level::Warn, &[&long]);
        assert_eq!(line.len(), MAX_LINE);
        assert!(line.starts_with(b"WARN xxx"));
        assert_eq!(line.last(), Some(&b'\n'));
        // Digits past the limit are cut too, never written past the end.
        let mut line = Line::new(Level::Warn);
        line.push(&long);
        line.push_u64(12345);
        line.push_i64(-1);
        assert_eq!(line.finish().len(), MAX_LINE);
    }
}
