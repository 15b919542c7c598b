//! Guests that trap inside named functions, shipped as `dist` ships a
//! component: the core module's name section set aside (as a names file
//! holds it) and stripped before componentizing. For the tests of
//! [`crate::trap`] and [`crate::profile`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmparser::{BinaryReader, Name, NameSectionReader, Parser, Payload};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

/// The function the http guest's `handle` export is.
pub const HANDLE: &str = "named_guest::handle";
/// The function `handle` calls, mangled in the name section as rustc
/// mangles (legacy scheme); the trap names it demangled.
pub const PARSE_MANGLED: &str = "_ZN11named_guest7request5parse17h0123456789abcdefE";
pub const PARSE: &str = "named_guest::request::parse";
/// The function that traps, called by `parse`.
pub const CHECK: &str = "named_guest::request::check_header";

/// A component as `dist` leaves it: stripped bytes, and the names set
/// aside, by function index.
pub struct Guest {
    pub bytes: Vec<u8>,
    pub names: BTreeMap<u32, String>,
}

impl Guest {
    /// Writes `<dir>/<name>.wasm` and the names file `dist` would write
    /// beside it; returns the artifact's path.
    pub fn write(&self, dir: &Path, name: &str) -> Result<PathBuf> {
        let path = dir.join(format!("{name}.wasm"));
        std::fs::write(&path, &self.bytes).with_context(|| format!("cannot write {}", path.display()))?;
        let hash = {
            use sha2::Digest;
            sha2::Sha256::digest(&self.bytes).iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let file = serde_json::json!({ "artifact_sha256": hash, "functions": self.names });
        let names = crate::trap::names_file(&path);
        std::fs::write(&names, file.to_string()).with_context(|| format!("cannot write {}", names.display()))?;
        Ok(path)
    }
}

/// A WASI 0.2 http component whose `handle` calls `parse`, which calls
/// `check_header`, which traps (`unreachable`, as a Rust panic does in a
/// `panic = "abort"` guest).
pub fn http_trap() -> Result<Guest> {
    http_trap_kept(false)
}

/// [`http_trap`] as `dist --debug` leaves it: the name section kept in the
/// component's bytes (`names` still lists it, for the test to compare).
pub fn http_trap_with_names_inside() -> Result<Guest> {
    http_trap_kept(true)
}

fn http_trap_kept(keep_names: bool) -> Result<Guest> {
    let module = format!(
        r#"(module
  (memory (export "memory") 1)
  (func ${HANDLE} (export "wasi:http/incoming-handler@0.2.12#handle") (param i32 i32)
(call ${PARSE_MANGLED} (local.get 0)))
  (func ${PARSE_MANGLED} (param i32)
(call ${CHECK} (local.get 0)))
  (func ${CHECK} (param i32)
unreachable))"#
    );
    let world = "package edgekit:test-guests;\nworld named { export wasi:http/incoming-handler@0.2.12; }\n";
    let deps = ["io", "clocks", "random", "filesystem", "sockets", "cli", "http"];
    componentize(&module, "wit/deps", &deps, world, keep_names)
}

/// The WASI 0.3 twin of [`http_trap`]: `handle`, lifted asynchronously
/// as `wasi:http/handler@0.3.0#handle`, calls `parse`, which calls
/// `check_header`, which traps.
pub fn p3_http_trap() -> Result<Guest> {
    let handle = "wasi:http/handler@0.3.0#handle";
    let module = format!(
        r#"(module
  (memory (export "memory") 1)
  (func $cabi_realloc (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) unreachable)
  (func ${HANDLE} (export "[async-lift]{handle}") (param i32) (result i32)
(call ${PARSE_MANGLED} (local.get 0))
unreachable)
  (func ${PARSE_MANGLED} (param i32)
(call ${CHECK} (local.get 0)))
  (func ${CHECK} (param i32)
unreachable)
  (func $callback (export "[callback][async-lift]{handle}") (param i32 i32 i32) (result i32) unreachable))"#
    );
    let world = "package edgekit:test-guests;\nworld named-p3 { export wasi:http/handler@0.3.0; }\n";
    shipped(&module, "wit/p3/deps", &["clocks", "random", "filesystem", "sockets", "cli", "http"], world)
}

/// A component exporting `explode: func()`, which calls
/// `named_guest::boom::inner`, which traps: for `call`.
pub fn call_trap() -> Result<Guest> {
    let module = r#"(module
  (memory (export "memory") 1)
  (func $named_guest::explode (export "explode")
(call $named_guest::boom::inner))
  (func $named_guest::boom::inner
unreachable))"#;
    let world = "package edgekit:test-guests;\nworld named-call { export explode: func(); }\n";
    shipped(module, "wit/deps", &[], world)
}

/// The function [`http_burner`]'s `/burn` route is: it burns CPU.
pub const BURN: &str = "named_guest::routes::burn";
/// The function [`http_burner`]'s other paths are: it does nothing.
pub const HELLO: &str = "named_guest::routes::hello";
/// How many times [`BURN`] goes round its loop: a few hundred
/// milliseconds of compiled code, dozens of epoch ticks.
pub const BURN_ROUNDS: u32 = 300_000_000;

/// A WASI 0.2 http component that routes on the path: `handle` calls
/// [`BURN`] for any path longer than `/` (`/burn`), which loops
/// [`BURN_ROUNDS`] times, and [`HELLO`] for `/`; then it answers 200
/// with no body. For the profiler, served stripped as `dist` ships it.
pub fn http_burner() -> Result<Guest> {
    let types = "wasi:http/types@0.2.12";
    let module = format!(
        r#"(module
  (import "{types}" "[method]incoming-request.path-with-query" (func $path (param i32 i32)))
  (import "{types}" "[constructor]fields" (func $fields (result i32)))
  (import "{types}" "[constructor]outgoing-response" (func $response (param i32) (result i32)))
  (import "{types}" "[static]response-outparam.set" (func $set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $sink (mut i32) (i32.const 0))
  (func $cabi_realloc (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
(global.get $heap)
(global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get 3) (i32.const 7)) (i32.const -8)))))
  (func ${HANDLE} (export "wasi:http/incoming-handler@0.2.12#handle") (param $request i32) (param $out i32)
;; option<string> at 0: tag, then pointer and length.
(call $path (local.get $request) (i32.const 0))
(if (i32.and (i32.load8_u (i32.const 0)) (i32.gt_u (i32.load offset=8 (i32.const 0)) (i32.const 1)))
  (then (call ${BURN}))
  (else (call ${HELLO})))
(call $set (local.get $out) (i32.const 0) (call $response (call $fields))
  (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func ${BURN} (local $left i32)
(local.set $left (i32.const {BURN_ROUNDS}))
(loop $again
  (global.set $sink (i32.add (global.get $sink) (local.get $left)))
  (br_if $again (local.tee $left (i32.sub (local.get $left) (i32.const 1))))))
  (func ${HELLO}
(global.set $sink (i32.add (global.get $sink) (i32.const 1)))))"#
    );
    let world = "package edgekit:test-guests;\nworld named-burner { export wasi:http/incoming-handler@0.2.12; }\n";
    shipped(&module, "wit/deps", &["io", "clocks", "random", "filesystem", "sockets", "cli", "http"], world)
}

/// The WASI 0.3 twin of [`http_burner`]'s `/burn`, for the profiler on
/// that line: `handle` (lifted asynchronously) calls [`BURN`], then
/// traps, so it answers 500: a 0.3 response is a resource with a body
/// stream and a trailers future, more than a test guest written by hand
/// should build. What is sampled is the burning.
pub fn p3_http_burner() -> Result<Guest> {
    let handle = "wasi:http/handler@0.3.0#handle";
    let module = format!(
        r#"(module
  (memory (export "memory") 1)
  (global $sink (mut i32) (i32.const 0))
  (func $cabi_realloc (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) unreachable)
  (func ${HANDLE} (export "[async-lift]{handle}") (param i32) (result i32)
(call ${BURN})
unreachable)
  (func ${BURN} (local $left i32)
(local.set $left (i32.const {BURN_ROUNDS}))
(loop $again
  (global.set $sink (i32.add (global.get $sink) (local.get $left)))
  (br_if $again (local.tee $left (i32.sub (local.get $left) (i32.const 1))))))
  (func $callback (export "[callback][async-lift]{handle}") (param i32 i32 i32) (result i32) unreachable))"#
    );
    let world = "package edgekit:test-guests;\nworld named-burner-p3 { export wasi:http/handler@0.3.0; }\n";
    shipped(&module, "wit/p3/deps", &["clocks", "random", "filesystem", "sockets", "cli", "http"], world)
}

/// The function [`burner`] spends its time in.
pub const SPIN: &str = "named_guest::burn::spin";

/// A component exporting `burn: func()`, which calls
/// `named_guest::burn::spin`, which loops forever (only a deadline stops
/// it): for the profiler. Its name section is kept, as in a debug
/// build, so wasmtime's own profile names it too.
pub fn burner() -> Result<Guest> {
    let module = format!(
        r#"(module
  (memory (export "memory") 1)
  (global $counter (mut i32) (i32.const 0))
  (func $named_guest::burn (export "burn")
(call ${SPIN}))
  (func ${SPIN}
(loop $again
  (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
  (br $again))))"#
    );
    let world = "package edgekit:test-guests;\nworld burner { export burn: func(); }\n";
    let mut guest = shipped(&module, "wit/deps", &[], world)?;
    let mut named = wat::parse_str(&module)?;
    let resolve_world = {
        let mut resolve = Resolve::default();
        let package = resolve.push_str("burner.wit", world)?;
        let id = resolve.select_world(&[package], None)?;
        (resolve, id)
    };
    wit_component::embed_component_metadata(
        &mut named,
        &resolve_world.0,
        resolve_world.1,
        StringEncoding::UTF8,
        false,
    )?;
    guest.bytes = ComponentEncoder::default().validate(true).module(&named)?.encode()?;
    Ok(guest)
}

/// Assembles `module`, sets its function names aside, strips them and
/// componentizes it for `world` (over the packages `deps` of the
/// vendored WIT in `wit_dir`, each before the ones using it).
fn shipped(module: &str, wit_dir: &str, deps: &[&str], world: &str) -> Result<Guest> {
    componentize(module, wit_dir, deps, world, false)
}

/// The component of `module` against `world`, its core module's name
/// section stripped (as `dist` ships) or kept (as `dist --debug` does).
fn componentize(module: &str, wit_dir: &str, deps: &[&str], world: &str, keep_names: bool) -> Result<Guest> {
    let named = wat::parse_str(module).with_context(|| format!("test guest WAT does not assemble:\n{module}"))?;
    let names = function_names(&named)?;
    let mut stripped = if keep_names { named } else { strip_names(&named)? };
    let dir = crate::root().join(wit_dir);
    let mut resolve = Resolve::default();
    for package in deps {
        let file = dir.join(format!("{package}.wit"));
        resolve.push_file(&file).with_context(|| format!("cannot read the vendored WIT {}", file.display()))?;
    }
    let package = resolve.push_str("named.wit", world)?;
    let world = resolve.select_world(&[package], None)?;
    wit_component::embed_component_metadata(&mut stripped, &resolve, world, StringEncoding::UTF8, false)?;
    let bytes = ComponentEncoder::default()
        .validate(true)
        .module(&stripped)?
        .encode()
        .context("cannot componentize the named test guest")?;
    Ok(Guest { bytes, names })
}

/// The function names of a core module's name section, as written.
fn function_names(module: &[u8]) -> Result<BTreeMap<u32, String>> {
    let mut names = BTreeMap::new();
    for payload in Parser::new(0).parse_all(module) {
        let Payload::CustomSection(reader) = payload? else { continue };
        if reader.name() == "name" {
            let section = NameSectionReader::new(BinaryReader::new(reader.data(), reader.data_offset()));
            for name in section {
                if let Name::Function(map) = name? {
                    for naming in map {
                        let naming = naming?;
                        names.insert(naming.index, naming.name.to_string());
                    }
                }
            }
        }
    }
    Ok(names)
}

/// The module without its custom sections: every other section copied
/// as it is (id, LEB128 size, contents).
fn strip_names(module: &[u8]) -> Result<Vec<u8>> {
    let mut out = module[..8].to_vec();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload?;
        if matches!(payload, Payload::CustomSection(_)) {
            continue;
        }
        if let Some((id, range)) = payload.as_section() {
            out.push(id);
            let mut size = range.end - range.start;
            loop {
                let byte = (size & 0x7f) as u8;
                size >>= 7;
                out.push(if size == 0 { byte } else { byte | 0x80 });
                if size == 0 {
                    break;
                }
            }
            out.extend_from_slice(&module[range.start as usize..range.end as usize]);
        }
    }
    Ok(out)
}
