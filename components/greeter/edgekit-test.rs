//! The tests edgekit runs against the `greeter` dist artifact in wasmtime.
//!
//! `host/tests/components.rs` includes this file as its `greeter` module
//! (generated from the directory listing), so a component without it does
//! not compile; it travels with the component when `cargo xtask new` copies
//! it and goes with it on `cargo xtask rm`.

use super::*;

/// The interface the component exports (`cargo xtask new` renames it).
const INTERFACE: &str = "edgekit:greeter/api@0.1.0";

fn greet(first: &str, last: &str) -> String {
    let component = compiled("greeter");
    Greeter::for_interface(component, INTERFACE).unwrap().greet(first, last).unwrap()
}

/// The greeting the interface documents.
fn expected(first: &str, last: &str) -> String {
    ["Hello, ", first, " ", last].concat()
}

#[test]
fn ascii() {
    assert_eq!(greet("Ada", "Lovelace"), "Hello, Ada Lovelace");
}

#[test]
fn non_ascii() {
    assert_eq!(greet("Zoë", "Ōtsuka 東京 🦀"), expected("Zoë", "Ōtsuka 東京 🦀"));
}

#[test]
fn empty() {
    assert_eq!(greet("", ""), "Hello,  ");
}

/// The greeter's allocator (lol_alloc's free list) under churn in one
/// instance: thousands of calls with sizes from empty to 1 MiB, each
/// allocating the arguments, growing the answer (reallocs) and freeing
/// both. Every answer must be right, and memory must stay bounded, which
/// fails if freed blocks are not reused.
#[test]
fn allocator_churn() {
    let component = compiled("greeter");
    let mut session = Greeter::for_interface(component, INTERFACE).unwrap().instantiate().unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |limit: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % limit) as usize
    };
    let mut allocated = 0usize;
    for call in 0..3000 {
        let first_len = if call % 250 == 0 { 1024 * 1024 } else { next(64 * 1024) };
        let first = "é".repeat(first_len / 2);
        let last = "z".repeat(next(300));
        allocated += 2 * (first.len() + last.len());
        assert_eq!(session.greet(&first, &last).unwrap(), expected(&first, &last), "call {call}");
    }
    let peak = session.peak_memory();
    assert!(allocated > 100 * 1024 * 1024, "the churn allocated only {allocated} bytes");
    assert!(peak < 16 * 1024 * 1024, "memory grew to {peak} bytes over {allocated} allocated");
}

/// `cargo xtask call greeter '<expr>'`: the answer, or the error message.
fn call(expr: &str) -> String {
    let component = compiled("greeter");
    edgekit_host::call::call(component, expr).unwrap_or_else(|e| format!("{e:#}"))
}

const SIGNATURE: &str = "edgekit:greeter/api@0.1.0#greet: func(n: record { first: string, last: string }) -> string";

#[test]
fn call_wave() {
    assert_eq!(call(r#"greet({first: "Ada", last: "Lovelace"})"#), r#""Hello, Ada Lovelace""#);
}

#[test]
fn call_qualified_name() {
    assert_eq!(call(r#"edgekit:greeter/api@0.1.0#greet({first: "", last: "\u{1f980}"})"#), r#""Hello,  🦀""#);
}

#[test]
fn call_unknown_function_lists_exports() {
    assert!(call("hello()").contains(SIGNATURE));
}

#[test]
fn call_ill_typed_arguments_list_exports() {
    assert!(call(r#"greet({first: "Ada"})"#).contains(SIGNATURE));
    assert!(call("greet(42)").contains(SIGNATURE));
}

#[test]
fn one_mib_names() {
    let first = "é".repeat(512 * 1024);
    let last = "x".repeat(1024 * 1024);
    let answer = greet(&first, &last);
    assert_eq!(answer.len(), "Hello,  ".len() + first.len() + last.len());
    assert_eq!(answer, expected(&first, &last));
}
