//! Named traps: what a guest was doing when it trapped, with the Rust names
//! of its functions, although the artifact it runs carries none.
//!
//! `dist` strips every name from the shipped component and sets
//! the main core module's function names aside in
//! `target/dist/<name>.names.json`, with the SHA-256 of the artifact they
//! belong to. [`Names::beside`] reads that file for one artifact and uses it
//! only if the hash matches the artifact's bytes; otherwise it keeps the
//! reason ("no names: ... is stale") and a backtrace shows function indices.
//!
//! A trap's error carries wasmtime's [`WasmBacktrace`]: frames with a core
//! module and a function index. A component holds several core modules (the
//! guest's own, plus wit-component's shims); the names file covers the main
//! one, the largest, which [`Names`] recognizes by the names it exports.
//!
//! The message is made where a failure is displayed ([`describe`], called by
//! `http::Failure`'s `Display`), far from the code that loaded the artifact,
//! so live [`Names`] sit in a registry keyed by the compiled component's code
//! address, which a frame's module shares. Each entry keeps its component
//! alive, so the address cannot be reused by another component while the
//! entry exists; it goes when the last clone of its [`Names`] is dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use wasmparser::{Parser, Payload};
use wasmtime::component::Component;
use wasmtime::{FrameInfo, Trap, WasmBacktrace};

/// The function names of one compiled component's main core module, or why
/// there are none, and where they came from. Cheap to clone; traps of the
/// component are named while any clone lives (see the module docs).
#[derive(Clone)]
pub struct Names(Arc<Inner>);

struct Inner {
    /// Where the compiled component's code starts: the registry's key.
    code: usize,
    /// Keeps the code at `code` from being freed and its address reused.
    _component: Component,
    /// Demangled names by function index, or why there are none.
    functions: Result<BTreeMap<u32, String>, String>,
    /// Where the names came from, for the message.
    origin: String,
    /// The sorted export names of the main core module, to tell its frames
    /// from the other modules'.
    main_exports: Option<Vec<String>>,
    /// For a composition, each part's names (then `functions` is empty).
    parts: Vec<Part>,
}

/// The names of one part of a composition, and how to tell its main core
/// module: its sorted export names and imports (`<module>#<name>`), as
/// `dist` wrote them.
#[derive(serde::Deserialize)]
struct Part {
    component: String,
    exports: Vec<String>,
    imports: Vec<String>,
    functions: BTreeMap<u32, String>,
}

/// The names that cover one core module: its functions by index, and the
/// part of a composition it belongs to, if it is one.
pub struct ModuleNames<'a> {
    pub part: Option<&'a str>,
    pub functions: &'a BTreeMap<u32, String>,
}

/// Every live [`Names`], and those kept for the life of the process.
static REGISTRY: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());
static KEPT: Mutex<Vec<Names>> = Mutex::new(Vec::new());

/// The names file `dist` writes beside an artifact: `<name>.names.json`.
pub fn names_file(artifact: &Path) -> std::path::PathBuf {
    artifact.with_extension("names.json")
}

impl Names {
    /// The names in the names file beside `artifact`, whose bytes are
    /// `bytes`, compiled as `component`. A missing, unreadable or stale file
    /// (its hash is that of other bytes) gives no names, and the reason.
    pub fn beside(component: &Component, artifact: &Path, bytes: &[u8]) -> Names {
        let file = names_file(artifact);
        let (functions, parts) = match read_names_file(&file, bytes) {
            Ok((functions, parts)) => (Ok(functions), parts),
            Err(why) => (Err(why), Vec::new()),
        };
        let origin = match (&functions, parts.len()) {
            (Ok(_), 0) => format!("{}, written by `dist` for these exact bytes", file.display()),
            (Ok(_), _) => format!(
                "{}, written by `dist` for these exact bytes, part by part: {}",
                file.display(),
                parts.iter().map(|p| p.component.as_str()).collect::<Vec<_>>().join(", ")
            ),
            (Err(_), _) => file.display().to_string(),
        };
        Names::register(component, bytes, functions, parts, origin)
    }

    /// Names read from `text`, a names file's contents that did not come
    /// from a file (`dev` has it in memory from the pipeline run that made
    /// the bytes), checked against `bytes` like a file. `origin` says where
    /// they came from.
    pub fn from_text(component: &Component, bytes: &[u8], text: &str, origin: &str) -> Names {
        let (functions, parts) = match parse_names(text, bytes, origin) {
            Ok((functions, parts)) => (Ok(functions), parts),
            Err(why) => (Err(why), Vec::new()),
        };
        Names::register(component, bytes, functions, parts, origin.to_string())
    }

    /// Names known to belong to `bytes` without a file. `origin` says where
    /// they came from.
    pub fn of(component: &Component, bytes: &[u8], functions: BTreeMap<u32, String>, origin: &str) -> Names {
        Names::register(component, bytes, Ok(functions), Vec::new(), origin.to_string())
    }

    /// No names, for the reason `why`; the backtrace shows indices.
    pub fn none(component: &Component, bytes: &[u8], why: &str) -> Names {
        Names::register(component, bytes, Err(why.to_string()), Vec::new(), String::new())
    }

    fn register(
        component: &Component,
        bytes: &[u8],
        functions: Result<BTreeMap<u32, String>, String>,
        mut parts: Vec<Part>,
        origin: String,
    ) -> Names {
        let demangle = |names: BTreeMap<u32, String>| -> BTreeMap<u32, String> {
            names.into_iter().map(|(index, name)| (index, format!("{:#}", rustc_demangle::demangle(&name)))).collect()
        };
        let functions = functions.map(demangle);
        for part in &mut parts {
            part.functions = demangle(std::mem::take(&mut part.functions));
        }
        let inner = Arc::new(Inner {
            code: component.image_range().start as usize,
            _component: component.clone(),
            functions,
            origin,
            main_exports: main_exports(bytes),
            parts,
        });
        let mut registry = REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        registry.retain(|entry| entry.strong_count() > 0);
        registry.push(Arc::downgrade(&inner));
        Names(inner)
    }

    /// Keeps these names for the life of the process: for callers that load
    /// a component once and keep it (`load`, the commands, the tests).
    pub fn keep(self) {
        KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(self);
    }

    /// Whether names were found (not why not).
    pub fn found(&self) -> bool {
        self.0.functions.is_ok()
    }

    /// The name of function `index` of the main core module, if known.
    pub fn function(&self, index: u32) -> Option<&str> {
        self.0.functions.as_ref().ok()?.get(&index).map(String::as_str)
    }

    /// Where the names came from, or why there are none.
    pub fn origin(&self) -> String {
        match &self.0.functions {
            Ok(_) => self.0.origin.clone(),
            Err(why) => format!("no names: {why}"),
        }
    }

    /// The names covering `module`, one of the component's core modules:
    /// the main one's (recognized by its exports), or in a composition the
    /// main module of each part (by its exports and imports); `None` for
    /// the others (wit-component's shims) and when there are no names.
    pub fn module_names(&self, module: &wasmtime::Module) -> Option<ModuleNames<'_>> {
        let mut exports: Vec<String> = module.exports().map(|e| e.name().to_string()).collect();
        exports.sort();
        if !self.0.parts.is_empty() {
            let mut imports: Vec<String> = module.imports().map(|i| format!("{}#{}", i.module(), i.name())).collect();
            imports.sort();
            let part = self.0.parts.iter().find(|p| p.exports == exports && p.imports == imports)?;
            return Some(ModuleNames { part: Some(&part.component), functions: &part.functions });
        }
        let functions = self.0.functions.as_ref().ok()?;
        (self.0.main_exports.as_ref() == Some(&exports)).then_some(ModuleNames { part: None, functions })
    }

    /// How many core modules these names cover: one, or a composition's
    /// parts.
    pub fn modules_named(&self) -> usize {
        self.0.parts.len().max(1)
    }

    /// The name of `frame`'s function from these names, and its part.
    fn named(&self, frame: &FrameInfo) -> Option<(&str, Option<&str>)> {
        let names = self.module_names(frame.module())?;
        Some((names.functions.get(&frame.func_index())?.as_str(), names.part))
    }

    /// The best name for `frame`: from these names if it runs in the main
    /// module, else the name wasmtime knows (a name section, an export),
    /// else `func[<index>]`, or `shim func[<index>]` in a module other than
    /// the main one (wit-component's shims: trampolines to imports).
    pub fn frame_name(&self, frame: &FrameInfo) -> String {
        let in_main = self.module_names(frame.module()).is_some();
        match (self.named(frame), frame.func_name()) {
            (Some((name, _)), _) => name.to_string(),
            (None, Some(name)) => format!("{:#}", rustc_demangle::demangle(name)),
            (None, None) if in_main || self.0.main_exports.is_none() => format!("func[{}]", frame.func_index()),
            (None, None) => format!("shim func[{}]", frame.func_index()),
        }
    }

    /// The guest backtrace of `error` named with these names, or `None` when
    /// the error carries no backtrace.
    pub fn backtrace(&self, error: &anyhow::Error) -> Option<String> {
        render(error.downcast_ref::<WasmBacktrace>()?, Some(self))
    }
}

/// Reads a names file and checks it was written for `bytes`: the main
/// module's names, and a composition's parts'.
fn read_names_file(file: &Path, bytes: &[u8]) -> Result<(BTreeMap<u32, String>, Vec<Part>), String> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{} does not exist (`dist` writes it beside the artifact)", file.display()));
        }
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    parse_names(&text, bytes, &file.display().to_string())
}

/// A names file's contents, `text`, from `source`, checked against `bytes`.
fn parse_names(text: &str, bytes: &[u8], source: &str) -> Result<(BTreeMap<u32, String>, Vec<Part>), String> {
    #[derive(serde::Deserialize)]
    struct NamesFile {
        artifact_sha256: String,
        functions: BTreeMap<u32, String>,
        #[serde(default)]
        parts: Vec<Part>,
    }
    let names: NamesFile = serde_json::from_str(text)
        .map_err(|e| format!("{source} is not a names file ({e}): run `{}` again", crate::tool("dist")))?;
    let actual = sha256_hex(bytes);
    if names.artifact_sha256 != actual {
        return Err(format!(
            "{source} is stale: it names the functions of the artifact with SHA-256 {}, and this one's is {}; \
             run `{}` to write both again",
            short(&names.artifact_sha256),
            short(&actual),
            crate::tool("dist")
        ));
    }
    if names.functions.is_empty() && names.parts.is_empty() {
        return Err(format!(
            "{source} names no function: the artifact was stripped of its names without setting them aside; \
             run `{}` to write both again",
            crate::tool("dist")
        ));
    }
    Ok((names.functions, names.parts))
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The sorted export names of the largest core module inside the component
/// `bytes` (the one `dist`'s names file covers), or `None` if it holds none.
fn main_exports(bytes: &[u8]) -> Option<Vec<String>> {
    let mut modules: Vec<(usize, Vec<String>)> = Vec::new();
    let mut depth = 0usize;
    let mut current: Option<usize> = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else { return None };
        match payload {
            Payload::ModuleSection { unchecked_range, .. } => {
                modules.push(((unchecked_range.end - unchecked_range.start) as usize, Vec::new()));
                current = Some(modules.len() - 1);
                depth += 1;
            }
            Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth > 0 => {
                depth -= 1;
                current = None;
            }
            Payload::ExportSection(reader) => {
                if let Some(m) = current {
                    for export in reader.into_iter().flatten() {
                        modules[m].1.push(export.name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let (_, mut exports) = modules.into_iter().max_by_key(|(size, _)| *size)?;
    exports.sort();
    Some(exports)
}

/// The one-line cause of a trap, then the guest backtrace named with the
/// [`Names`] registered for the component it ran in, or saying why there are
/// no names. What `http::Failure` prints for a trap, and `call` for a failed
/// call.
pub fn describe(error: &anyhow::Error) -> String {
    let mut out = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    if let Some(backtrace) = error.downcast_ref::<WasmBacktrace>() {
        let names = backtrace.frames().first().and_then(|frame| lookup(frame.module().image_range().start as usize));
        if let Some(text) = render(backtrace, names.as_ref()) {
            out.push('\n');
            out.push_str(&text);
        }
    }
    out
}

/// The live [`Names`] of the component whose code starts at `code`.
fn lookup(code: usize) -> Option<Names> {
    let registry = REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    registry.iter().filter_map(Weak::upgrade).find(|inner| inner.code == code).map(Names)
}

/// The backtrace, one frame a line, innermost first, under a line saying
/// where the names came from or why there are none.
fn render(backtrace: &WasmBacktrace, names: Option<&Names>) -> Option<String> {
    let frames = backtrace.frames();
    if frames.is_empty() {
        return None;
    }
    let mut out = String::new();
    match names.map(|n| (&n.0.functions, &n.0.origin)) {
        Some((Ok(_), origin)) => {
            let _ = writeln!(out, "guest backtrace, innermost first (names from {origin}):");
        }
        Some((Err(why), _)) if frames.iter().any(|f| f.func_name().is_some()) => {
            let _ =
                writeln!(out, "guest backtrace, innermost first (no names: {why}; named by the artifact's own names):");
        }
        Some((Err(why), _)) => {
            let _ = writeln!(out, "guest backtrace, innermost first (no names: {why}):");
        }
        None => {
            let _ = writeln!(
                out,
                "guest backtrace, innermost first (no names: none were loaded for this component; \
                 load it with `edgekit_host::load_named` or give its handler `Handler::with_names`):"
            );
        }
    }
    // Without names that loaded, a frame's module cannot be told from a
    // shim; a name wasmtime knows is then the artifact's own (an export, or
    // the name section a `dist --debug` build keeps).
    let loaded = names.is_some_and(|n| n.0.functions.is_ok() || !n.0.parts.is_empty());
    for (i, frame) in frames.iter().enumerate() {
        let index = frame.func_index();
        let covered = names.is_some_and(|n| n.module_names(frame.module()).is_some());
        let named = names.and_then(|n| n.named(frame));
        let place = if covered || !loaded { "" } else { " in a wit-component shim" };
        let _ = match (named, frame.func_name()) {
            (Some((name, None)), _) => write!(out, "  {i:>3}: {name}  (func {index})"),
            (Some((name, Some(part))), _) => write!(out, "  {i:>3}: {name}  (func {index} of {part})"),
            (None, Some(own)) => write!(out, "  {i:>3}: {:#}  (func {index}{place})", rustc_demangle::demangle(own)),
            (None, None) => write!(out, "  {i:>3}: func {index}{place}"),
        };
        if i + 1 < frames.len() {
            out.push('\n');
        }
    }
    Some(out)
}
