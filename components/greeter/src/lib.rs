//! The greeter template: a pure function behind a WIT interface.
//!
//! It exports `edgekit:greeter/api` and imports nothing, so any component host
//! can run it without granting a single capability.

wit_bindgen::generate!({ path: "../../wit", world: "greeter" });

use exports::edgekit::greeter::api::{Guest, Name};

struct Greeter;

impl Guest for Greeter {
    fn greet(n: Name) -> String {
        format!("Hello, {} {}", n.first, n.last)
    }
}

export!(Greeter);
