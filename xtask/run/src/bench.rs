//! `cargo xtask bench`: cold start of every dist artifact, the throughput
//! of the hello handler on each WASI line (edge-fn, edge-fn-p3) under
//! `serve` against `wasmtime serve` on the same artifact, in its default
//! configuration and with its pooling allocator (its fastest), measured in
//! the same run by the same bounded load generator, the latency of one
//! connection sending one request at a time to each (p50, p99), the
//! key-value templates' GET and PUT of one record under `serve --kv
//! <file>`, and the cost of an app's routing (the hello handlers behind an
//! app's routes against the same served alone; `bench --app` measures only
//! that, `bench --cold` only the cold start). Prints medians, spread,
//! ratios and the machine's core count; asserts nothing. The measuring is
//! in `edgekit_host::bench`.
//!
//! Timings of a debug build mean little, so when `cargo xtask` (a debug
//! build) runs it, it reruns itself with `cargo run --release`.

use std::time::Duration;

use anyhow::{Context, Result};
use edgekit_host::bench::{self, LoadShape, Stats};
use edgekit_host::client::send_blocking;
use edgekit_host::http::{Grants, Handler, Limits};
use edgekit_host::kv::KvStore;
use edgekit_host::load::Ask;
use edgekit_host::serve::{self, Log};
use xshell::{Shell, cmd};

use xtask::flags;

use crate::outside::{
    Build, Killed, OutsideHost, free_addr, http_components, on_interrupt_kill_children, wait_for_answer,
};

/// Throughput runs per server, alternating between the servers.
const RUNS: usize = 5;
const SHAPE: LoadShape = LoadShape { connections: 10, requests: 40_000, cap: Duration::from_secs(5) };
/// Latency runs per server, alternating, each of this many requests (or
/// this long), one connection, one request at a time.
const LATENCY_RUNS: usize = 3;
const LATENCY_REQUESTS: usize = 5_000;
const LATENCY_CAP: Duration = Duration::from_secs(5);
/// The components the throughput is measured on: the hello handler on
/// each WASI line.
const HTTP_COMPONENTS: [&str; 2] = ["edge-fn", "edge-fn-p3"];
/// The key-value templates, served with a database file as `serve --kv
/// <file>` gives it: every PUT is a committed (fsynced) transaction.
const KV_COMPONENTS: [&str; 2] = ["kv-api", "kv-api-p3"];
/// Runs per request kind, alternating GET and PUT.
const KV_RUNS: usize = 3;
const KV_SHAPE: LoadShape = LoadShape { connections: 10, requests: 20_000, cap: Duration::from_secs(5) };
/// The record the key-value runs read and replace.
const KV_RECORD: &str = r#"{"name":"kettle","price":2500}"#;
/// `wasmtime serve`'s configurations: its default, and its fastest.
const WASMTIME_CONFIGS: [(&str, &[&str]); 2] =
    [("wasmtime serve", &[]), ("wasmtime serve -O pooling-allocator", &["-O", "pooling-allocator=y"])];

pub fn run(flags: flags::Bench, sh: &Shell) -> Result<()> {
    // `cargo xtask` is a debug build; the installed tool is a release one.
    if cfg!(debug_assertions) && matches!(xtask::tool::get().bundle, xtask::tool::Source::Checkout) {
        eprintln!("==> rerunning in release mode (timings of a debug build mean little)");
        let only = [flags.app.then_some("--app"), flags.cold.then_some("--cold")].into_iter().flatten();
        return xtask::workspace::from_shell(cmd!(
            sh,
            "cargo run --release --quiet --package xtask-run -- bench {only...}"
        ))
        .run()
        .context("the release build of xtask failed: fix the errors above");
    }
    if flags.app {
        return run_app();
    }
    on_interrupt_kill_children();
    let root = xtask::workspace::root();
    let limits = Limits::default();
    let engines = serve::engines(&limits);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} cores (`serve` runs a serving thread per core)");
    let http = http_components(&root)?;
    let mut rows = Vec::new();
    for name in ["greeter"].into_iter().chain(http.iter().map(|a| a.name.as_str())) {
        let path = edgekit_host::artifact(name)?;
        let wasm = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        eprintln!("==> cold start: {name}");
        rows.push(if name == "greeter" {
            bench::greeter(&engines, name, &wasm)?
        } else {
            bench::http(&engines, name, &wasm)?
        });
    }
    println!("\n{}", bench::cold_start_table(&rows));
    if flags.cold {
        return Ok(());
    }

    // Throughput: every server up at once, runs alternating, so all see the
    // same machine state.
    OutsideHost::WasmtimeServe(Build::Release).install(sh)?;
    let logs = root.join("target").join("xtask").join("bench");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    eprintln!(
        "==> throughput: {RUNS} runs per server of {} requests or {} s, {} connections",
        SHAPE.requests,
        SHAPE.cap.as_secs(),
        SHAPE.connections
    );
    let mut table = String::new();
    for name in HTTP_COMPONENTS {
        let expected = Ask::get("/", edgekit_host::http::answer(name, "/")?.1);
        let component = edgekit_host::load(&engines, name)?;
        let handler = Handler::with(&component, limits.clone(), Default::default())?.named(name).guest_log(Log::Off);
        let line = handler.line();
        let ours = serve::start("127.0.0.1:0", handler, false)?;
        let path = edgekit_host::artifact(name)?;
        let mut servers = vec![("edgekit serve".to_string(), ours.addr, None)];
        for (label, args) in WASMTIME_CONFIGS {
            let addr = free_addr()?;
            let log = logs.join(format!("{}-{name}.log", label.replace([' ', '-'], "_")));
            let mut child =
                Killed(OutsideHost::WasmtimeServe(Build::Release).start_with(sh, &path, line, addr, &log, args)?);
            wait_for_answer(&mut child.0, addr, &log).with_context(|| format!("{label} on {name}"))?;
            servers.push((label.to_string(), addr, Some(child)));
        }
        let warm = LoadShape { requests: 2_000, ..SHAPE };
        for (_, addr, _) in &servers {
            bench::load(*addr, warm, &expected)?;
        }
        let (mut samples, mut client) = (vec![Vec::new(); servers.len()], vec![Vec::new(); servers.len()]);
        for _ in 0..RUNS {
            for (((_, addr, _), runs), client) in servers.iter().zip(&mut samples).zip(&mut client) {
                let load = bench::load(*addr, SHAPE, &expected)?;
                runs.push(load.per_second());
                client.push(load.client_micros_per_request());
            }
        }
        let stats: Vec<Stats> = samples.into_iter().map(Stats::of).collect();
        table.push_str(&format!(
            "\nthroughput, {name} (WASI {line}), requests/s: median [p10..p90] of {RUNS} runs; \
             the load generator's CPU time per request, median\n"
        ));
        for (((label, _, _), stat), client) in servers.iter().zip(&stats).zip(client) {
            let ratio = stats[0].median / stat.median;
            let client = Stats::of(client).median;
            table.push_str(&format!("{label:<36} {stat:>24}   edgekit / this {ratio:.2}   generator {client:.1} µs\n"));
        }
        // Latency: one connection, one request at a time, runs alternating
        // between the servers.
        let mut latencies = vec![Vec::new(); servers.len()];
        for _ in 0..LATENCY_RUNS {
            for ((_, addr, _), samples) in servers.iter().zip(&mut latencies) {
                samples.extend(edgekit_host::load::latencies(*addr, LATENCY_REQUESTS, LATENCY_CAP, &expected)?);
            }
        }
        table.push_str(&format!(
            "\nlatency, {name} (WASI {line}), one connection, one request at a time, µs: p50 and p99 of each server's requests\n"
        ));
        let ours_p50 = bench::percentiles(latencies[0].clone()).0;
        for ((label, _, _), samples) in servers.iter().zip(latencies) {
            let count = samples.len();
            let (p50, p99) = bench::percentiles(samples);
            let ratio = p50 / ours_p50;
            table.push_str(&format!(
                "{label:<36} p50 {p50:>8.1}   p99 {p99:>8.1}   this / edgekit (p50) {ratio:.2}   {count} requests\n"
            ));
        }
        ours.shutdown()?;
    }
    print!("{table}");
    print!("{}", kv_throughput(&engines, &limits, &logs)?);
    print!("{}", app_overhead(&engines, &limits)?);
    Ok(())
}

/// The routing of an app: each hello handler served alone against the
/// same component behind an app of three routes (the example app's shape:
/// `/` exact, `/api/...` and `/kv/...` prefixes), asked on its exact route
/// and on a prefix route (matched, then stripped), all servers up at once
/// and measured alternately: the table's lines.
fn app_overhead(engines: &edgekit_host::Engines, limits: &Limits) -> Result<String> {
    use edgekit_host::serve::app::{App, Pattern, Route};
    eprintln!("==> app routing: {RUNS} runs per server of {} requests or {} s", SHAPE.requests, SHAPE.cap.as_secs());
    let mut table = String::new();
    for name in HTTP_COMPONENTS {
        let answer = edgekit_host::http::answer(name, "/")?.1;
        let component = edgekit_host::load(engines, name)?;
        let handler = || -> Result<Handler> {
            Ok(Handler::with(&component, limits.clone(), Default::default())?.named(name).guest_log(Log::Off))
        };
        let line = handler()?.line();
        let alone = serve::start("127.0.0.1:0", handler()?, false)?;
        let routes = ["/", "/api/...", "/kv/..."]
            .into_iter()
            .map(|path| Ok(Route::new(Pattern::parse(path)?, handler()?, name)))
            .collect::<Result<Vec<_>>>()?;
        let app = serve::start("127.0.0.1:0", App::new(routes)?, false)?;
        let servers = [
            ("served alone, GET /", alone.addr, Ask::get("/", answer.clone())),
            ("app, exact route /, GET /", app.addr, Ask::get("/", answer.clone())),
            ("app, prefix /api/..., GET /api/items", app.addr, Ask::get("/api/items", answer.clone())),
        ];
        let warm = LoadShape { requests: 2_000, ..SHAPE };
        for (_, addr, ask) in &servers {
            bench::load(*addr, warm, ask)?;
        }
        let mut samples = vec![Vec::new(); servers.len()];
        for _ in 0..RUNS {
            for ((_, addr, ask), runs) in servers.iter().zip(&mut samples) {
                runs.push(bench::load(*addr, SHAPE, ask)?.per_second());
            }
        }
        alone.shutdown()?;
        app.shutdown()?;
        let stats: Vec<Stats> = samples.into_iter().map(Stats::of).collect();
        table.push_str(&format!(
            "\napp routing, {name} (WASI {line}), requests/s: median [p10..p90] of {RUNS} runs, {} connections\n",
            SHAPE.connections
        ));
        for ((label, _, _), stat) in servers.iter().zip(&stats) {
            let ratio = stat.median / stats[0].median;
            table.push_str(&format!("{label:<40} {stat:>24}   this / alone {ratio:.3}\n"));
        }
    }
    Ok(table)
}

/// `bench --app`: only the app's routing against the component alone.
fn run_app() -> Result<()> {
    let limits = Limits::default();
    print!("{}", app_overhead(&serve::engines(&limits), &limits)?);
    Ok(())
}

/// GET and PUT of one record on each key-value template under `serve` with
/// a database file in `dir` (made anew for each): the table's lines.
fn kv_throughput(engines: &edgekit_host::Engines, limits: &Limits, dir: &std::path::Path) -> Result<String> {
    let mut table = String::new();
    for name in KV_COMPONENTS {
        let file = dir.join(format!("{name}.redb"));
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
        }
        let kv = KvStore::open(&file)?;
        let component = edgekit_host::load(engines, name)?;
        let grants = Grants { kv: Some(kv), ..Grants::default() };
        let handler = Handler::with(&component, limits.clone(), grants)?.named(name).guest_log(Log::Off);
        let line = handler.line();
        let server = serve::start("127.0.0.1:0", handler, false)?;
        let path = "/items/bench";
        let (created, _) =
            send_blocking(server.addr, "PUT", path, KV_RECORD.into(), Duration::from_secs(10)).context(name)?;
        anyhow::ensure!(created == 201, "{name}: the first PUT of {path} answered {created}, not 201");
        let asks = [("GET", Ask::get(path, KV_RECORD)), ("PUT", Ask::echo("PUT", path, KV_RECORD))];
        eprintln!("==> key-value: {name}, {KV_RUNS} runs of GET and of PUT");
        let mut samples = vec![Vec::new(); asks.len()];
        for _ in 0..KV_RUNS {
            for ((_, ask), runs) in asks.iter().zip(&mut samples) {
                runs.push(bench::load(server.addr, KV_SHAPE, ask)?.per_second());
            }
        }
        server.shutdown()?;
        table.push_str(&format!(
            "\nkey-value, {name} (WASI {line}) under serve --kv <file>, {} connections, requests/s: median [p10..p90] of {KV_RUNS} runs\n",
            KV_SHAPE.connections
        ));
        for ((label, ask), runs) in asks.iter().zip(samples) {
            table.push_str(&format!("{label} {:<31} {:>24}\n", ask.path, Stats::of(runs)));
        }
    }
    Ok(table)
}
