//! `cargo xtask bench`: cold start of every dist artifact and the
//! throughput of edge-fn under `serve` against `wasmtime serve` on the same
//! artifact, measured in the same run by the same bounded load generator.
//! Prints medians and spread; asserts nothing. The measuring is in
//! `edgekit_host::bench`.
//!
//! Timings of a debug build mean little, so when `cargo xtask` (a debug
//! build) runs it, it reruns itself with `cargo run --release`.

use std::time::Duration;

use anyhow::{Context, Result};
use edgekit_host::bench::{self, LoadShape, Stats};
use edgekit_host::http::{Handler, Limits};
use edgekit_host::serve;
use xshell::{Shell, cmd};

use xtask::flags;

use crate::outside::{Killed, OutsideHost, free_addr, http_components, on_interrupt_kill_hosts, wait_for_answer};

/// Throughput runs per server, alternating between the servers.
const RUNS: usize = 5;
const SHAPE: LoadShape = LoadShape { connections: 10, requests: 40_000, cap: Duration::from_secs(5) };
/// The component the throughput is measured on.
const HTTP_COMPONENT: &str = "edge-fn";

pub fn run(_flags: flags::Bench, sh: &Shell) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("==> rerunning in release mode (timings of a debug build mean little)");
        return cmd!(sh, "cargo run --release --quiet --package xtask-run -- bench")
            .run()
            .context("the release build of xtask failed: fix the errors above");
    }
    on_interrupt_kill_hosts();
    let root = xtask::workspace::root();
    let limits = Limits::default();
    let engine = serve::engine(&limits)?;

    let http = http_components(&root)?;
    let mut rows = Vec::new();
    for name in ["greeter"].into_iter().chain(http.iter().map(String::as_str)) {
        let path = edgekit_host::artifact(name)?;
        let wasm = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        eprintln!("==> cold start: {name}");
        rows.push(if name == "greeter" {
            bench::greeter(&engine, name, &wasm)?
        } else {
            bench::http(&engine, name, &wasm)?
        });
    }
    println!("\n{}", bench::cold_start_table(&rows));

    // Throughput: both servers up at once, runs alternating, so both see
    // the same machine state.
    OutsideHost::WasmtimeServe.install(sh)?;
    let expected = edgekit_host::http::answer(HTTP_COMPONENT, "/")?.1;
    let component = edgekit_host::load(&engine, HTTP_COMPONENT)?;
    let ours = serve::start("127.0.0.1:0", Handler::with(&engine, &component, limits, Default::default())?, false)?;
    let logs = root.join("target").join("xtask").join("bench");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let log = logs.join("wasmtime-serve.log");
    let theirs_addr = free_addr()?;
    let path = edgekit_host::artifact(HTTP_COMPONENT)?;
    let mut theirs = Killed(OutsideHost::WasmtimeServe.start(sh, &path, theirs_addr, &log)?);
    wait_for_answer(&mut theirs.0, theirs_addr, &log).context("wasmtime serve")?;

    eprintln!(
        "==> throughput: {RUNS} runs per server of {} requests or {} s, {} connections",
        SHAPE.requests,
        SHAPE.cap.as_secs(),
        SHAPE.connections
    );
    let warm = LoadShape { requests: 2_000, ..SHAPE };
    bench::requests_per_second(ours.addr, warm, &expected)?;
    bench::requests_per_second(theirs_addr, warm, &expected)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        a.push(bench::requests_per_second(ours.addr, SHAPE, &expected)?);
        b.push(bench::requests_per_second(theirs_addr, SHAPE, &expected)?);
    }
    let (a, b) = (Stats::of(a), Stats::of(b));
    println!("throughput, {HTTP_COMPONENT}, requests/s: median [p10..p90] of {RUNS} runs");
    println!("edgekit serve   {a:>24}");
    println!("wasmtime serve  {b:>24}");
    println!("ratio           {:>24.2}", a.median / b.median);
    Ok(())
}
