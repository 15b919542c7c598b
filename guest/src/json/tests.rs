//! Unit tests of the JSON reader and writers, run on the host with
//! `cargo test --manifest-path guest/Cargo.toml --features p2`. serde_json is
//! the oracle (a dev-dependency: it costs the component nothing): generated
//! documents must parse to the value serde_json reads, mutated ones must be
//! accepted exactly when serde_json accepts them, and the depth and
//! surrogate limits hold.

extern crate std;

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use proptest::prelude::*;

use super::{MAX_DEPTH, Value, parse, push_string, push_u64};

/// Our value as serde_json's, numbers read from their kept source text.
fn to_serde(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(text) => serde_json::from_str(text).expect("a kept number is valid JSON"),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        // Later keys win, as in serde_json's map.
        Value::Object(fields) => {
            serde_json::Value::Object(fields.iter().map(|(k, v)| (k.clone(), to_serde(v))).collect())
        }
    }
}

/// JSON documents: every kind of value, nested a few levels, with strings
/// that need escaping and numbers that stay within f64's range.
fn document() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        (-1_000_000i32..1_000_000, 1u32..1000).prop_map(|(a, b)| serde_json::json!(a as f64 / b as f64)),
        any::<String>().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..8)
                .prop_map(|fields| serde_json::Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Nesting depth of a document, counting arrays and objects.
fn depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for c in text.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') | (false, _, '"') => in_string = !in_string,
            (false, _, '[' | '{') => {
                depth += 1;
                max = max.max(depth);
            }
            (false, _, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_documents_parse_to_what_serde_json_reads(doc in document(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) }.unwrap();
        let ours = parse(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(to_serde(&ours), doc);
    }

    #[test]
    fn mutated_documents_are_refused_exactly_when_serde_json_refuses_them(
        doc in document(),
        at in any::<prop::sample::Index>(),
        edit in 0..3u8,
        c in prop::sample::select(&['{', '}', '[', ']', '"', ',', ':', '\\', '0', '-', 'e', '.', 't', 'n', ' ', '\u{1}'][..]),
    ) {
        let mut chars: Vec<char> = serde_json::to_string(&doc).unwrap().chars().collect();
        let i = at.index(chars.len() + 1);
        match edit {
            0 if i < chars.len() => { chars.remove(i); }
            1 if i < chars.len() => chars[i] = c,
            _ => chars.insert(i, c),
        }
        let text: String = chars.into_iter().collect();
        prop_assume!(depth(&text) <= MAX_DEPTH);
        let theirs = serde_json::from_str::<serde_json::Value>(&text);
        // Numbers are kept as text here, so one past f64's range is still
        // valid JSON (RFC 8259 sets no limit); serde_json refuses it.
        prop_assume!(!theirs.as_ref().is_err_and(|e| e.to_string().starts_with("number out of range")));
        let ours = parse(text.as_bytes());
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: ours {:?}, serde_json {:?}", text, ours.as_ref().err(), theirs.as_ref().err());
        if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
            prop_assert_eq!(to_serde(&ours), theirs);
        }
    }

    #[test]
    fn written_strings_read_back_everywhere(s in any::<String>()) {
        let mut out = String::new();
        push_string(&mut out, &s);
        prop_assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s.clone());
        prop_assert!(parse(out.as_bytes()) == Ok(Value::String(s)));
    }

    #[test]
    fn written_numbers_are_decimal(n in any::<u64>()) {
        let mut out = String::new();
        push_u64(&mut out, n);
        prop_assert_eq!(out, n.to_string());
    }
}

#[test]
fn nesting_is_capped_and_deep_input_cannot_exhaust_the_stack() {
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    // The outermost value is depth 0: MAX_DEPTH levels below it are allowed.
    let first_refused = (1..100).find(|&n| parse(nested(n).as_bytes()).is_err());
    assert_eq!(first_refused, Some(MAX_DEPTH + 2));
    assert!(parse("[".repeat(1_000_000).as_bytes()).is_err());
    assert!(parse("{\"a\":".repeat(100_000).as_bytes()).is_err());
}

#[test]
fn surrogate_pairs_are_checked() {
    assert!(parse(br#""\ud83e\udd80""#) == Ok(Value::String("\u{1f980}".into())));
    for lone in [r#""\ud800""#, r#""\udc00""#, r#""\ud800\u0041""#, r#""\ud800x""#, r#""\udc00\ud800""#] {
        assert!(parse(lone.as_bytes()).is_err(), "{lone} was accepted");
        assert!(serde_json::from_str::<serde_json::Value>(lone).is_err(), "serde_json accepts {lone}");
    }
}

#[test]
fn malformed_documents_are_refused() {
    for bad in [
        "",
        " ",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "1.",
        ".5",
        "+1",
        "tru",
        "nul",
        "\"\\x\"",
        "\"\u{1}\"",
        "[1 2]",
        "{1:2}",
        "1 2",
        "\u{feff}1",
    ] {
        assert!(parse(bad.as_bytes()).is_err(), "{bad:?} was accepted");
    }
    assert!(matches!(parse(b"\xff"), Err("the body is not UTF-8")));
}
