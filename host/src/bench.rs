//! Benchmarks: cold start per component and HTTP throughput. Medians and
//! spread over repeated runs, printed, never asserted.
//!
//! Cold start is split into its steps, each timed on its own: compiling the
//! `.wasm`, loading a precompiled artifact (`Engine::precompile_component`
//! then `Component::deserialize`), instantiating from an `InstancePre`, and
//! instantiating plus the first call (greeter) or the first request handled
//! with its body collected (a wasi:http component). Every instance gets a
//! fresh `Store`, as every request does on an edge host; the engines are
//! the ones `serve` uses (pooling allocator, epoch interruption; the lean
//! one for all but 0.3 components, see [`Engines`]).
//!
//! Throughput is measured by [`crate::load`], a bounded load generator,
//! the same way against any server.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wasmtime::Store;
use wasmtime::component::{Component, Linker, TypedFunc};

use crate::Engines;
use crate::greeter::{INTERFACE, Name};
use crate::http::{Grants, Handler, Limits, full_body};

/// The median and spread of repeated measurements, in microseconds.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub runs: usize,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
}

impl Stats {
    pub fn of(mut samples: Vec<f64>) -> Stats {
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Stats { runs: samples.len(), median: at(0.5), p10: at(0.1), p90: at(0.9) }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = f.width().unwrap_or(0);
        let text = format!("{} [{}..{}]", short(self.median), short(self.p10), short(self.p90));
        write!(f, "{text:>w$}")
    }
}

fn short(us: f64) -> String {
    if us >= 100.0 { format!("{us:.0}") } else { format!("{us:.1}") }
}

/// Times `runs` calls of `f`, after `runs / 10 + 1` untimed warm-up calls.
pub fn time(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Stats> {
    for _ in 0..runs / 10 + 1 {
        f()?;
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(Stats::of(samples))
}

/// Cold start of one component, step by step.
pub struct ColdStart {
    pub component: String,
    pub bytes: usize,
    pub compile: Stats,
    pub load: Stats,
    pub instantiate: Stats,
    /// Instantiate and first call, or first request handled.
    pub first: Stats,
}

/// Compile and load, common to every kind of component. Compiling picks
/// the engine as serving does ([`Engines::compile`]), so its time includes
/// reading which one the component needs; loading uses that engine.
fn compile_and_load(engines: &Engines, wasm: &[u8]) -> Result<(Stats, Stats, Component)> {
    let compile = time(20, || engines.compile(wasm).map(drop))?;
    let engine = engines.compile(wasm)?.engine().clone();
    let precompiled = engine.precompile_component(wasm)?;
    // SAFETY: the bytes were produced just above by this engine.
    let deserialize = || unsafe { Component::deserialize(&engine, &precompiled) };
    let load = time(500, || deserialize().map(drop).map_err(Into::into))?;
    Ok((compile, load, deserialize()?))
}

/// The greeter: instantiate, then `greet({first: "Ada", last: "Lovelace"})`.
pub fn greeter(engines: &Engines, name: &str, wasm: &[u8]) -> Result<ColdStart> {
    let (compile, load, component) = compile_and_load(engines, wasm)?;
    let engine = component.engine();
    let api = component.get_export_index(None, INTERFACE).context("the greeter exports no api")?;
    let greet = component.get_export_index(Some(&api), "greet").context("the greeter exports no greet")?;
    let pre = Linker::<()>::new(engine).instantiate_pre(&component)?;
    let instantiate = time(5000, || {
        let mut store = Store::new(engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        pre.instantiate(&mut store)?;
        Ok(())
    })?;
    let first = time(5000, || {
        let mut store = Store::new(engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = pre.instantiate(&mut store)?;
        let f: TypedFunc<(Name,), (String,)> = instance.get_typed_func(&mut store, greet)?;
        let (answer,) = f.call(&mut store, (Name { first: "Ada".into(), last: "Lovelace".into() },))?;
        anyhow::ensure!(answer == "Hello, Ada Lovelace", "the greeter answered {answer:?}");
        Ok(())
    })?;
    Ok(ColdStart { component: name.into(), bytes: wasm.len(), compile, load, instantiate, first })
}

/// A wasi:http component: instantiate, then handle `GET /` and collect the
/// body, on a single-threaded runtime. Any answer but a 5xx counts (http-api
/// answers `/` with its JSON 404). Each request gets a fresh instance on
/// either line (a 0.3 instance serves one request here), so the first
/// request is a cold one. A component importing `wasi:keyvalue` (kv-api)
/// gets an empty store in memory.
pub fn http(engines: &Engines, name: &str, wasm: &[u8]) -> Result<ColdStart> {
    let (compile, load, component) = compile_and_load(engines, wasm)?;
    let limits = Limits { reuse: 1, ..Limits::default() };
    let grants = Grants { kv: Some(crate::kv::KvStore::memory()?), ..Grants::default() };
    // The guest's log line would measure the terminal, not the component.
    let handler = Handler::with(&component, limits, grants)?.guest_log(crate::serve::Log::Off);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let instantiate = time(5000, || runtime.block_on(handler.instantiate()))?;
    let first = time(5000, || {
        let request = hyper::Request::get("http://localhost/").body(full_body(""))?;
        let response = runtime.block_on(handler.handle(request))?;
        anyhow::ensure!(response.status < 500, "{name} failed with {}", response.status);
        Ok(())
    })?;
    Ok(ColdStart { component: name.into(), bytes: wasm.len(), compile, load, instantiate, first })
}

/// The cold-start table; its last column is the ratio of the medians of
/// instantiate + first and instantiate.
pub fn cold_start_table(rows: &[ColdStart]) -> String {
    let mut out = String::from(
        "cold start, microseconds: median [p10..p90]\n\
         component      bytes              compile         load precompiled          instantiate   instantiate + first   first / instantiate\n",
    );
    for r in rows {
        let ratio = r.first.median / r.instantiate.median;
        out += &format!(
            "{:<10} {:>9} {:>20} {:>20} {:>20} {:>21} {:>21.2}\n",
            r.component, r.bytes, r.compile, r.load, r.instantiate, r.first, ratio
        );
    }
    out
}

/// The median and 99th percentile of latencies, in microseconds.
pub fn percentiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// How a throughput run is bounded.
#[derive(Clone, Copy, Debug)]
pub struct LoadShape {
    pub connections: usize,
    pub requests: u64,
    pub cap: Duration,
}

/// One load run of `ask` against `addr` (see [`crate::load`]); fails if
/// any answer was not the one `ask` expects.
pub fn load(addr: SocketAddr, shape: LoadShape, ask: &crate::load::Ask) -> Result<crate::load::Load> {
    let load = crate::load::run(addr, shape.connections, shape.requests, shape.cap, ask)?;
    anyhow::ensure!(load.failed == 0, "{} of {} requests to {addr} failed", load.failed, load.ok + load.failed);
    Ok(load)
}
