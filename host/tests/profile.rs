//! Guest profiles (`src/profile.rs`), in real wasmtime: a guest burning CPU
//! in a named function, sampled on serve's epoch-ticking engine, gives a
//! Firefox-profiler JSON and a flame graph that both name that function.

use edgekit_host::http::{Limits, TICK};
use edgekit_host::profile::Sampler;
use edgekit_host::serve::engine;
use edgekit_host::test_guests::named::{self, SPIN};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

#[test]
fn a_burning_guest_is_named_in_the_profile_and_the_flame_graph() {
    let dir = tempfile::tempdir().unwrap();
    let guest = named::burner().unwrap();
    let engine = engine(&Limits { instances: 2, memory: 16 << 20, ..Limits::default() }).unwrap();
    let component = Component::new(&engine, &guest.bytes).unwrap();
    let sampler = Sampler::new(&engine, "burner", &component, None, TICK).unwrap();
    let mut store = Store::new(&engine, ());
    // Forty samples, then the deadline stops the endless loop: a count of
    // ticks, not a time.
    sampler.attach(&mut store, Some(40));
    let instance = Linker::<()>::new(&engine).instantiate(&mut store, &component).unwrap();
    let burn = instance.get_typed_func::<(), ()>(&mut store, "burn").unwrap();
    let error = anyhow::Error::from(burn.call(&mut store, ()).unwrap_err());
    assert_eq!(error.downcast_ref::<wasmtime::Trap>(), Some(&wasmtime::Trap::Interrupt), "{error:#}");
    assert!(sampler.samples() >= 30, "only {} samples", sampler.samples());

    let (json, svg) = sampler.finish(dir.path(), "burner").unwrap();
    let json = std::fs::read_to_string(json).unwrap();
    let profile: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(profile["meta"].is_object() && profile["threads"].is_array(), "not a Firefox profile: {json}");
    assert!(json.contains(SPIN), "the JSON does not name {SPIN}");
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains(SPIN), "the flame graph does not name {SPIN}");
    assert!(svg.contains("named_guest::burn"), "the caller is missing from the flame graph");
    assert!(sampler.finish(dir.path(), "again").is_err(), "a profile is written once");
}
