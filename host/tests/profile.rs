//! Guest profiles (`src/profile/`), in real wasmtime: guests burning CPU in
//! a named function, sampled on serve's epoch-ticking engine, give a
//! Firefox-profiler JSON and a flame graph that both name that function,
//! from the names file when the artifact is stripped.

use std::path::Path;
use std::time::Duration;

use edgekit_host::http::{Grants, Handler, Limits, TICK};
use edgekit_host::profile::{FLAME_GRAPH, PROFILE_JSON, Profile, Written, frames_of_svg};
use edgekit_host::serve::{Log, ServerLimits, engines, start_with};
use edgekit_host::test_guests::named::{self, BURN, HANDLE, SPIN};
use edgekit_host::trap::Names;
use wasmtime::Store;
use wasmtime::component::Linker;

fn limits() -> Limits {
    Limits { instances: 4, memory: 16 << 20, ..Limits::default() }
}

/// Every string of every thread of the Firefox profile at `json`, after
/// checking it is one.
fn profile_strings(json: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(json).unwrap();
    let profile: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(profile["meta"].is_object() && profile["threads"].is_array(), "not a Firefox profile: {text}");
    let threads = profile["threads"].as_array().unwrap();
    threads
        .iter()
        .flat_map(|thread| thread["stringArray"].as_array().unwrap().iter())
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Checks what a profile of a guest whose route `BURN` burned CPU under the
/// entry point `HANDLE` shows: both names in the JSON, and in the flame
/// graph `BURN` as the widest frame above the entry point (which, as every
/// sample's outermost frame, is as wide as the guest's samples).
fn check_burn(written: &Written, dir: &Path) {
    assert_eq!((written.json.as_path(), written.svg.as_path()), (&*dir.join(PROFILE_JSON), &*dir.join(FLAME_GRAPH)));
    let strings = profile_strings(&written.json);
    for name in [BURN, HANDLE] {
        assert!(strings.iter().any(|s| s == name), "the JSON does not name {name}: {strings:?}");
    }
    let svg = std::fs::read_to_string(&written.svg).unwrap();
    let frames = frames_of_svg(&svg);
    let all = frames.iter().find(|f| f.depth == 0).unwrap_or_else(|| panic!("no root frame: {frames:?}"));
    assert_eq!((all.name.as_str(), all.samples), ("all", written.samples), "{frames:?}");
    let entry = frames.iter().find(|f| f.depth == 1).unwrap();
    assert_eq!(entry.name, HANDLE, "{frames:?}");
    let widest = frames.iter().filter(|f| f.depth >= 2).max_by_key(|f| f.samples).unwrap();
    println!("{} samples; widest above the entry point: {widest:?}", written.samples);
    assert_eq!(widest.name, BURN, "{frames:?}");
    assert!(widest.samples * 10 >= all.samples * 8, "{BURN} holds most samples: {frames:?}");
    assert_eq!(written.hottest.as_ref().map(|(name, _)| name.as_str()), Some(BURN));
}

/// `serve` with a profile, over real HTTP: a stripped 0.2 guest whose
/// `/burn` route burns CPU and whose `/` does nothing, three requests each,
/// then a graceful shutdown; the profile written names the route from the
/// names file.
#[test]
fn serve_profile_shows_the_route_that_burns_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = named::http_burner().unwrap().write(dir.path(), "burner").unwrap();
    let engines = engines(&limits());
    let (component, names) = edgekit_host::load_named(&engines, artifact.to_str().unwrap()).unwrap();
    assert!(names.found(), "{}", names.origin());
    let profile = Profile::new("burner", &names, TICK);
    let handler = Handler::with(&component, limits(), Grants::default()).unwrap().with_names(names).profiled(profile);
    let running = start_with("127.0.0.1:0", handler.clone(), ServerLimits::default(), Log::Off).unwrap();
    for path in ["/", "/burn", "/", "/burn", "/", "/burn"] {
        let (status, _) = edgekit_host::client::get_blocking(running.addr, path, Duration::from_secs(60)).unwrap();
        assert_eq!(status, 200, "{path}");
    }
    running.shutdown().unwrap();
    let out = dir.path().join("profile");
    let written = handler.profile().unwrap().write(&out).unwrap();
    check_burn(&written, &out);
    assert!(handler.profile().unwrap().write(&out).is_err(), "a profile is written once");
}

/// The same on WASI 0.3, where an instance's store serves many requests:
/// its guest burns in `BURN`, then traps (see `named::p3_http_burner`).
#[test]
fn serve_profile_samples_a_wasi_0_3_guest() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = named::p3_http_burner().unwrap().write(dir.path(), "burner").unwrap();
    let engines = engines(&limits());
    let (component, names) = edgekit_host::load_named(&engines, artifact.to_str().unwrap()).unwrap();
    let profile = Profile::new("burner", &names, TICK);
    let handler = Handler::with(&component, limits(), Grants::default()).unwrap().with_names(names).profiled(profile);
    let running = start_with("127.0.0.1:0", handler.clone(), ServerLimits::default(), Log::Off).unwrap();
    for _ in 0..3 {
        let (status, _) = edgekit_host::client::get_blocking(running.addr, "/", Duration::from_secs(60)).unwrap();
        assert_eq!(status, 500);
    }
    running.shutdown().unwrap();
    let written = handler.profile().unwrap().write(dir.path()).unwrap();
    check_burn(&written, dir.path());
}

/// A profile of a store of its own ([`Profile::attach`]), of a guest whose
/// name section is kept (as in a debug build): wasmtime's own names reach
/// the JSON unchanged.
#[test]
fn an_attached_profile_names_a_guest_that_kept_its_names() {
    let dir = tempfile::tempdir().unwrap();
    let guest = named::burner().unwrap();
    let engines = engines(&limits());
    let component = engines.compile(&guest.bytes).unwrap();
    let names = Names::of(&component, &guest.bytes, guest.names.clone(), "the test");
    let profile = Profile::new("burner", &names, TICK);
    let mut store = Store::new(component.engine(), ());
    // Forty samples, then the deadline stops the endless loop: a count of
    // ticks, not a time.
    profile.attach(&mut store, Some(40));
    let instance = Linker::<()>::new(component.engine()).instantiate(&mut store, &component).unwrap();
    let burn = instance.get_typed_func::<(), ()>(&mut store, "burn").unwrap();
    let error = anyhow::Error::from(burn.call(&mut store, ()).unwrap_err());
    assert_eq!(error.downcast_ref::<wasmtime::Trap>(), Some(&wasmtime::Trap::Interrupt), "{error:#}");
    assert!(profile.samples() >= 30, "only {} samples", profile.samples());
    let written = profile.write(dir.path()).unwrap();
    assert!(profile_strings(&written.json).iter().any(|s| s == SPIN), "the JSON does not name {SPIN}");
    let frames = frames_of_svg(&std::fs::read_to_string(&written.svg).unwrap());
    assert!(frames.iter().any(|f| f.name == SPIN), "the flame graph does not name {SPIN}: {frames:?}");
    assert!(frames.iter().any(|f| f.name == "named_guest::burn"), "the caller is missing: {frames:?}");
}
