//! The command template: a small file tool run through `wasi:cli/run`.
//!
//! `command <file>...` prints the lines, words and bytes of each file, like
//! `wc`, and a total for more than one. Files are opened relative to the
//! first directory the host grants (`wasmtime run --dir <host>::.`); the
//! component has no other way to reach a file, so `../x` or `/etc/passwd`
//! fail with "not permitted" and the command exits 1.

// A free-list allocator of about 1 KB instead of std's dlmalloc (about 7 KB).
// A command runs once and exits, so its heap is short-lived; see docs/size.md,
// "The allocator", for the trade.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: a component instance is single-threaded.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

wit_bindgen::generate!({ path: "wit", world: "command", generate_all });

use exports::wasi::cli::run::Guest;
use wasi::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags};
use wasi::io::streams::OutputStream;

/// Lines, words and bytes.
#[derive(Default, Clone, Copy)]
struct Counts {
    lines: u64,
    words: u64,
    bytes: u64,
}

struct Command;

impl Guest for Command {
    fn run() -> Result<(), ()> {
        let stdout = wasi::cli::stdout::get_stdout();
        let stderr = wasi::cli::stderr::get_stderr();
        let args = wasi::cli::environment::get_arguments();
        let paths = args.get(1..).unwrap_or_default();
        if paths.is_empty() {
            write(&stderr, "usage: command <file>...\n");
            return Err(());
        }
        let preopens = wasi::filesystem::preopens::get_directories();
        let Some((dir, _)) = preopens.first() else {
            write(&stderr, "command: no directory granted: run it with `--dir <path>::.`\n");
            return Err(());
        };
        let mut ok = true;
        let mut total = Counts::default();
        for path in paths {
            match count(dir, path) {
                Ok(c) => {
                    total = Counts {
                        lines: total.lines + c.lines,
                        words: total.words + c.words,
                        bytes: total.bytes + c.bytes,
                    };
                    write(&stdout, &line(c, path));
                }
                Err(e) => {
                    ok = false;
                    let mut message = String::from("command: ");
                    message.push_str(path);
                    message.push_str(": ");
                    message.push_str(describe(e));
                    message.push('\n');
                    write(&stderr, &message);
                }
            }
        }
        if paths.len() > 1 {
            write(&stdout, &line(total, "total"));
        }
        if ok { Ok(()) } else { Err(()) }
    }
}

/// Counts one file, opened read-only relative to the granted directory.
fn count(dir: &Descriptor, path: &str) -> Result<Counts, ErrorCode> {
    let file = dir.open_at(PathFlags::empty(), path, OpenFlags::empty(), DescriptorFlags::READ)?;
    let mut counts = Counts::default();
    let mut in_word = false;
    loop {
        let (chunk, end) = file.read(64 * 1024, counts.bytes)?;
        for &b in &chunk {
            if b == b'\n' {
                counts.lines += 1;
            }
            let space = b.is_ascii_whitespace();
            if !space && !in_word {
                counts.words += 1;
            }
            in_word = !space;
        }
        counts.bytes += chunk.len() as u64;
        if end || chunk.is_empty() {
            return Ok(counts);
        }
    }
}

fn describe(e: ErrorCode) -> &'static str {
    match e {
        ErrorCode::NotPermitted | ErrorCode::Access => "not permitted: outside the granted directory",
        ErrorCode::NoEntry => "no such file",
        ErrorCode::IsDirectory => "is a directory",
        _ => "cannot read",
    }
}

/// `lines words bytes name\n`, without `format!`.
fn line(c: Counts, name: &str) -> String {
    let mut out = String::new();
    for n in [c.lines, c.words, c.bytes] {
        push_u64(&mut out, n);
        out.push(' ');
    }
    out.push_str(name);
    out.push('\n');
    out
}

fn push_u64(out: &mut String, n: u64) {
    if n >= 10 {
        push_u64(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Writes all of `text`; `blocking-write-and-flush` takes 4096 bytes a call.
fn write(stream: &OutputStream, text: &str) {
    for chunk in text.as_bytes().chunks(4096) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            return;
        }
    }
}

export!(Command);
