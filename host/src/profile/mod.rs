//! Guest profiles: where a component spends its time, sampled while it
//! serves (`cargo xtask serve --profile <dir>`, `dev --profile <dir>`).
//!
//! A [`Profile`] belongs to one compiled component. Every store that runs
//! the component samples into it on each epoch tick (`serve::engine`
//! advances the epoch every `http::TICK`): the 0.2 handler's per-request
//! stores and the 0.3 handler's per-instance stores call [`Profile::sample`]
//! from the epoch callback they already have (`http/p2.rs`, `http/p3.rs`).
//! Each sample feeds two records:
//!
//! - wasmtime's `GuestProfiler`, written as `<dir>/profile.json` in the
//!   Firefox Profiler's format (open it at <https://profiler.firefox.com>),
//!   its function names taken from the names file (`firefox.rs`: wasmtime
//!   knows only indices for a stripped artifact);
//! - the stacks, folded (`outer;inner count`) with the same names, drawn as
//!   `<dir>/flamegraph.svg` by the `inferno` crate (`flame.rs`).
//!
//! Epoch interruption samples only at function entries and loop headers,
//! never in the host: a request waiting on I/O takes no samples, and a
//! guest that computes gets one per tick. All stores sample into one
//! timeline (one "thread" in the Firefox Profiler), so requests running at
//! once on two threads are interleaved there; the flame graph sums them.

mod firefox;
mod flame;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wasmtime::{AsContext, Engine, GuestProfiler, Store, Trap, UpdateDeadline, WasmBacktrace};

use crate::trap::Names;

pub use flame::{Frame, frames_of_svg};

/// The file the Firefox-profiler JSON is written to, in the profile's
/// directory.
pub const PROFILE_JSON: &str = "profile.json";
/// The file the flame graph is written to, in the profile's directory.
pub const FLAME_GRAPH: &str = "flamegraph.svg";

/// The samples of one component, taken from any number of its stores.
/// Cheap to clone: clones share the samples.
#[derive(Clone)]
pub struct Profile(Arc<Mutex<State>>);

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile").field("samples", &self.samples()).finish()
    }
}

struct State {
    /// wasmtime's profiler, made at the first sample (below).
    profiler: Option<GuestProfiler>,
    /// Whether the profile was written (sampling stops).
    written: bool,
    /// What the JSON's function names are rewritten with.
    renames: firefox::Renames,
    folded: flame::Folded,
    names: Names,
    name: String,
    interval: Duration,
    /// Samples taken before wasmtime's profiler started (see
    /// [`Profile::new`]).
    waited: u64,
}

/// How many samples wait for a stack through every named module (each part
/// of a composition) before wasmtime's profiler starts with what it has.
const START_WAIT: u64 = 50;

/// What [`Profile::write`] wrote.
#[derive(Debug)]
pub struct Written {
    pub json: PathBuf,
    pub svg: PathBuf,
    pub samples: u64,
    /// The function most samples were taken in, and how many.
    pub hottest: Option<(String, u64)>,
}

impl State {
    /// Makes wasmtime's profiler for the modules on `stack`, if every named
    /// module is among them, or after [`START_WAIT`] samples any one (see
    /// [`Profile::new`]).
    fn start(&mut self, engine: &Engine, stack: &WasmBacktrace) {
        self.waited += 1;
        let mut modules: Vec<(String, wasmtime::Module)> = Vec::new();
        let mut named = Vec::new();
        for frame in stack.frames() {
            let module = frame.module();
            if modules.iter().any(|(_, seen)| wasmtime::Module::same(seen, module)) {
                continue;
            }
            let label = match self.names.module_names(module) {
                Some(names) => {
                    let label = names.part.unwrap_or(&self.name).to_string();
                    named.push((label.clone(), module.clone()));
                    label
                }
                None => format!("shim {}", modules.len() + 1),
            };
            modules.push((label, module.clone()));
        }
        let all = named.len() >= self.names.modules_named();
        if named.is_empty() || (!all && self.waited < START_WAIT) {
            return;
        }
        for (label, module) in &named {
            if let Some(names) = self.names.module_names(module) {
                self.renames.add(label, module, names.functions);
            }
        }
        // Profiling cannot fail on serve's engine (no guest debugging); if
        // it did, the flame graph would still be drawn.
        self.profiler = GuestProfiler::new(engine, &self.name, self.interval, modules).ok();
    }
}

impl Profile {
    /// A profile named `name` of the component whose frames `names` names
    /// (the names file of exactly its bytes), sampled every `interval` (the
    /// engine's epoch period).
    ///
    /// wasmtime's profiler is made at a sample: it must be told the
    /// component's core modules, and wasmtime 48 hands out a component's
    /// modules only through its frames. The first stack running through
    /// every named module (the main one, or each part of a composition)
    /// starts it, or after [`START_WAIT`] samples any stack through one:
    /// the modules on that stack are profiled, a named one under its name
    /// (`name`, or the part's), a wit-component shim as `shim <n>`. Frames
    /// of a module not on that stack, and the samples before it, are left
    /// out of the JSON (the flame graph has them).
    pub fn new(name: &str, names: &Names, interval: Duration) -> Profile {
        Profile(Arc::new(Mutex::new(State {
            profiler: None,
            written: false,
            renames: firefox::Renames::default(),
            folded: flame::Folded::default(),
            names: names.clone(),
            name: name.to_string(),
            interval,
            waited: 0,
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one sample of the guest running in `store`: called from the
    /// store's epoch callback, so on the guest's own stack.
    pub fn sample(&self, store: impl AsContext) {
        let mut state = self.state();
        if state.written {
            return;
        }
        let backtrace = WasmBacktrace::capture(&store);
        if state.profiler.is_none() {
            state.start(store.as_context().engine(), &backtrace);
        }
        let State { profiler, folded, names, interval, .. } = &mut *state;
        if let Some(profiler) = profiler.as_mut() {
            profiler.sample(&store, *interval);
        }
        // Outermost frame first, as a flame graph stacks them.
        folded.add(backtrace.frames().iter().rev().map(|frame| names.frame_name(frame)));
    }

    /// Samples the guest of a store of its own (not one of `serve`'s) at
    /// every epoch tick from now on; after `deadline` ticks, if given, the
    /// guest is interrupted. The engine must have epoch interruption on.
    pub fn attach<T: 'static>(&self, store: &mut Store<T>, deadline: Option<u64>) {
        let profile = self.clone();
        let mut ticks = 0u64;
        store.epoch_deadline_callback(move |cx| {
            ticks += 1;
            profile.sample(&cx);
            if deadline.is_some_and(|deadline| ticks >= deadline) {
                return Err(Trap::Interrupt.into());
            }
            Ok(UpdateDeadline::Continue(1))
        });
        store.set_epoch_deadline(1);
    }

    /// How many stacks were sampled so far.
    pub fn samples(&self) -> u64 {
        self.state().folded.samples()
    }

    /// Writes `<dir>/profile.json` (Firefox Profiler) and
    /// `<dir>/flamegraph.svg`; a profile is written once (sampling stops).
    pub fn write(&self, dir: &Path) -> Result<Written> {
        let mut state = self.state();
        if std::mem::replace(&mut state.written, true) {
            bail!("this profile was already written");
        }
        let svg = dir.join(FLAME_GRAPH);
        if state.folded.samples() == 0 {
            bail!(
                "no samples were taken, so no profile was written to {}: the guest did not compute for one \
                 epoch tick ({} ms) in any request; send it requests that do work while it is profiled",
                dir.display(),
                state.interval.as_millis()
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let Some(profiler) = state.profiler.take() else {
            bail!("wasmtime's profiler never started: no sample was taken in the component's own code")
        };
        let mut raw = Vec::new();
        profiler.finish(&mut raw).map_err(anyhow::Error::from).context("wasmtime cannot write the profile")?;
        let json = dir.join(PROFILE_JSON);
        let named =
            state.renames.apply(&raw).with_context(|| format!("cannot name the functions of {}", json.display()))?;
        std::fs::write(&json, named).with_context(|| format!("cannot write {}", json.display()))?;
        let title = format!(
            "{}: {} samples, one every {} ms ({})",
            state.name,
            state.folded.samples(),
            state.interval.as_millis(),
            state.names.origin()
        );
        let drawn = state.folded.draw(&title).with_context(|| format!("cannot draw {}", svg.display()))?;
        std::fs::write(&svg, drawn).with_context(|| format!("cannot write {}", svg.display()))?;
        let hottest = state.folded.hottest().map(|(name, count)| (name.to_string(), count));
        Ok(Written { json, svg, samples: state.folded.samples(), hottest })
    }
}
