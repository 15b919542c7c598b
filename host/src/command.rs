//! Running `wasi:cli/run` components: one instance per run, with arguments,
//! captured stdout and stderr, and only the directory the caller grants
//! (read-only, as the guest's `.`), as `wasmtime run --dir <path>::.` does.

use std::path::Path;

use anyhow::Result;
use wasmtime::Store;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Output {
    /// `run` returned `ok` (exit status 0).
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `component` with `args` (the first is the program name), granting
/// `dir` read-only as the guest's `.` and nothing else.
pub fn run(component: &Component, args: &[&str], dir: &Path) -> Result<Output> {
    let engine = component.engine();
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let (stdout, stderr) = (MemoryOutputPipe::new(1 << 20), MemoryOutputPipe::new(1 << 20));
    let wasi = WasiCtx::builder()
        .args(args)
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .preopened_dir(dir, ".", FsPerms::ReadOnly)?
        .build();
    let mut store = Store::new(engine, State { wasi, table: ResourceTable::new() });
    let command = Command::instantiate(&mut store, component, &linker)?;
    let success = command.wasi_cli_run().call_run(&mut store)?.is_ok();
    let text = |pipe: MemoryOutputPipe| String::from_utf8_lossy(&pipe.contents()).into_owned();
    Ok(Output { success, stdout: text(stdout), stderr: text(stderr) })
}
