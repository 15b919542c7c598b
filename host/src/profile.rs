//! Guest profiles: where a component spends its time, sampled while it runs.
//!
//! A [`Sampler`] rides on epoch interruption: attached to a store, it takes
//! a sample every time the engine's epoch advances while the guest runs
//! (`serve::engine` advances it every `http::TICK`), feeding two records:
//!
//! - wasmtime's `GuestProfiler`, written as Firefox-profiler JSON
//!   (`<stem>.json`; open it at <https://profiler.firefox.com>);
//! - the stacks, folded (`outer;inner count`) and drawn as a flame graph by
//!   the `inferno` crate (`<stem>.svg`, opens in a browser).
//!
//! The flame graph names frames with the component's [`Names`] (the names
//! file of exactly these bytes, see `trap.rs`); the JSON names what the
//! module itself names, so a stripped artifact shows indices there.
//!
//! Epoch interruption samples only at function entries and loop headers,
//! never in the host: a request blocked on I/O takes no samples.
//!
//! Nothing calls this yet: `serve --profile <dir>` is meant to attach one
//! [`Sampler`] per request's store and [`Sampler::finish`] it into `<dir>`
//! when the request ends (the server is being reorganized elsewhere).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wasmtime::component::Component;
use wasmtime::{Engine, GuestProfiler, Store, Trap, UpdateDeadline, WasmBacktrace};

use crate::trap::Names;

/// Samples one guest: attach it to the store the guest runs in, then
/// [`finish`](Sampler::finish) it once the guest is done.
#[derive(Clone)]
pub struct Sampler(Arc<Mutex<State>>);

struct State {
    profiler: Option<GuestProfiler>,
    /// Folded stacks (outermost frame first, `;`-separated) and their counts.
    folded: BTreeMap<String, u64>,
    names: Option<Names>,
    interval: Duration,
    samples: u64,
}

impl Sampler {
    /// A sampler for `component`, named `name` in the profile, whose samples
    /// come every `interval` (the engine's epoch period). `names` name its
    /// frames in the flame graph.
    pub fn new(
        engine: &Engine,
        name: &str,
        component: &Component,
        names: Option<Names>,
        interval: Duration,
    ) -> Result<Sampler> {
        let profiler = GuestProfiler::new_component(engine, name, interval, component.clone(), [])
            .map_err(anyhow::Error::from)
            .context("cannot start wasmtime's guest profiler")?;
        Ok(Sampler(Arc::new(Mutex::new(State {
            profiler: Some(profiler),
            folded: BTreeMap::new(),
            names,
            interval,
            samples: 0,
        }))))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Samples the guest of `store` at every epoch tick from now on. After
    /// `deadline` ticks, if given, the guest is interrupted as a deadline
    /// without the sampler would (the callback replaces the store's own
    /// deadline handling). The engine must have epoch interruption on.
    pub fn attach<T: 'static>(&self, store: &mut Store<T>, deadline: Option<u64>) {
        let sampler = self.clone();
        let mut ticks = 0u64;
        store.epoch_deadline_callback(move |cx| {
            ticks += 1;
            sampler.sample(&cx);
            if deadline.is_some_and(|deadline| ticks >= deadline) {
                return Err(Trap::Interrupt.into());
            }
            Ok(UpdateDeadline::Continue(1))
        });
        store.set_epoch_deadline(1);
    }

    /// Takes one sample of the guest running in `store`.
    fn sample(&self, store: impl wasmtime::AsContext) {
        let mut state = self.state();
        let interval = state.interval;
        if let Some(profiler) = state.profiler.as_mut() {
            profiler.sample(&store, interval);
        }
        let backtrace = WasmBacktrace::capture(&store);
        let frames: Vec<String> = backtrace
            .frames()
            .iter()
            .rev()
            .map(|frame| match &state.names {
                Some(names) => names.frame_name(frame),
                None => match frame.func_name() {
                    Some(name) => format!("{:#}", rustc_demangle::demangle(name)),
                    None => format!("func[{}]", frame.func_index()),
                },
            })
            // The folded format separates frames with `;` and ends a stack
            // at the last space.
            .map(|name| name.replace([';', ' '], "_"))
            .collect();
        if !frames.is_empty() {
            *state.folded.entry(frames.join(";")).or_default() += 1;
            state.samples += 1;
        }
    }

    /// How many stacks were sampled so far.
    pub fn samples(&self) -> u64 {
        self.state().samples
    }

    /// Writes `<dir>/<stem>.json` (Firefox profiler) and `<dir>/<stem>.svg`
    /// (flame graph) and returns their paths. A sampler finishes once.
    pub fn finish(&self, dir: &Path, stem: &str) -> Result<(PathBuf, PathBuf)> {
        let mut state = self.state();
        let Some(profiler) = state.profiler.take() else { bail!("this profile was already written") };
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let json = dir.join(format!("{stem}.json"));
        let file = std::fs::File::create(&json).with_context(|| format!("cannot write {}", json.display()))?;
        profiler
            .finish(std::io::BufWriter::new(file))
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot write the profile {}", json.display()))?;
        let svg = dir.join(format!("{stem}.svg"));
        if state.folded.is_empty() {
            bail!(
                "no samples were taken, so {} cannot be drawn: the guest ran for less than one epoch tick, \
                 or the engine has no epoch interruption",
                svg.display()
            );
        }
        let lines: Vec<String> = state.folded.iter().map(|(stack, count)| format!("{stack} {count}")).collect();
        let mut options = inferno::flamegraph::Options::default();
        options.title = format!("{stem}: {} samples, one every {} ms", state.samples, state.interval.as_millis());
        options.count_name = "samples".to_string();
        let mut out = Vec::new();
        inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out)
            .with_context(|| format!("cannot draw the flame graph {}", svg.display()))?;
        std::fs::write(&svg, out).with_context(|| format!("cannot write {}", svg.display()))?;
        Ok((json, svg))
    }
}
