//! Calling any typed export of a component with arguments written in WAVE
//! (the WebAssembly Value Encoding: `greet({first: "Ada", last: "Lovelace"})`)
//! and printing the result in WAVE, without bindings for that component.
//!
//! The exports and their types come from the compiled component itself
//! (`Component::component_type`), so any non-http component works; the
//! arguments are parsed and type-checked by the `wasm-wave` crate that
//! wasmtime re-exports for its `Val`. The component gets no capabilities: the
//! linker is empty, as a pure function needs nothing.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use wasmtime::Store;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::wasm_wave::wasm::DisplayType;
use wasmtime::component::{Component, Linker, Val, wasm_wave};

/// One exported function: `greet` in `edgekit:greeter/api@0.1.0`, or a
/// function exported at the top level (`interface` is `None`).
pub struct Export {
    pub interface: Option<String>,
    pub name: String,
    pub ty: ComponentFunc,
}

impl Export {
    /// `edgekit:greeter/api@0.1.0#greet: func(n: record { ... }) -> string`
    pub fn signature(&self) -> String {
        let mut out = match &self.interface {
            Some(interface) => format!("{interface}#{}: func(", self.name),
            None => format!("{}: func(", self.name),
        };
        for (i, (name, ty)) in self.ty.params().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(out, "{sep}{name}: {}", DisplayType(&ty));
        }
        out.push(')');
        for ty in self.ty.results() {
            let _ = write!(out, " -> {}", DisplayType(&ty));
        }
        out
    }
}

/// Every function the component exports, top-level ones first, then those of
/// each exported interface, in the component's order.
pub fn exports(component: &Component) -> Vec<Export> {
    let engine = component.engine();
    let mut out = Vec::new();
    for (name, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(ty) => out.push(Export { interface: None, name: name.to_string(), ty }),
            ComponentItem::ComponentInstance(instance) => {
                for (func, item) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(ty) = item.ty {
                        out.push(Export { interface: Some(name.to_string()), name: func.to_string(), ty });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Parses `expr` (`name(args...)`, or `interface#name(args...)` when two
/// interfaces export the same name), calls that export in a fresh instance
/// and returns the result in WAVE (empty for a function with no result).
pub fn call(component: &Component, expr: &str) -> Result<String> {
    let engine = component.engine();
    let exports = exports(component);
    let listing = || {
        let lines: Vec<String> = exports.iter().map(|e| format!("  {}", e.signature())).collect();
        format!("the component exports:\n{}", lines.join("\n"))
    };
    // WAVE names cannot hold `:`, `/`, `@` or `#`, so split off a leading
    // `interface#` before parsing.
    let head = expr.split('(').next().unwrap_or_default();
    let (interface, call_expr) = match head.rfind('#') {
        Some(at) => (Some(expr[..at].trim()), &expr[at + 1..]),
        None => (None, expr),
    };
    let parsed = UntypedFuncCall::parse(call_expr).map_err(|e| {
        anyhow::anyhow!("cannot parse `{expr}` as a WAVE call like `name(arg, ...)`: {e}\n{}", listing())
    })?;
    let name = parsed.name();
    let wanted = match interface {
        Some(interface) => format!("{interface}#{name}"),
        None => name.to_string(),
    };
    let matches: Vec<&Export> = exports
        .iter()
        .filter(|e| e.name == name && (interface.is_none() || e.interface.as_deref() == interface))
        .collect();
    let export = match matches.as_slice() {
        [one] => *one,
        [] => bail!("the component exports no function `{wanted}`: call one of these\n{}", listing()),
        _ => bail!("`{wanted}` is ambiguous: write it as `<interface>#{name}(...)`\n{}", listing()),
    };
    let types: Vec<_> = export.ty.params().map(|(_, ty)| ty).collect();
    let params: Vec<Val> = parsed
        .to_wasm_params(types.iter())
        .map_err(|e| anyhow::anyhow!("bad arguments for `{}`: {e}\n{}", export.name, listing()))?;

    let index = match &export.interface {
        Some(interface) => {
            let instance = component.get_export_index(None, interface).context("the interface export vanished")?;
            component.get_export_index(Some(&instance), &export.name)
        }
        None => component.get_export_index(None, &export.name),
    }
    .context("the function export vanished")?;
    let linker: Linker<()> = Linker::new(engine);
    let mut store = Store::new(engine, ());
    let instance = linker
        .instantiate(&mut store, component)
        .map_err(anyhow::Error::from)
        .context("cannot instantiate the component without capabilities: `call` is for components that import nothing (serve wasi:http components with `serve`)")?;
    let func = instance.get_func(&mut store, index).context("the function export vanished")?;
    let mut results = vec![Val::Bool(false); export.ty.results().len()];
    if let Err(error) = func.call(&mut store, &params, &mut results) {
        let error = anyhow::Error::from(error);
        if error.downcast_ref::<wasmtime::Trap>().is_some() {
            bail!("`{}` trapped: {}", export.name, crate::trap::describe(&error));
        }
        return Err(error.context(format!("`{}` failed", export.name)));
    }
    let shown: Vec<String> = results
        .iter()
        .map(|v| wasm_wave::to_string(v).map_err(|e| anyhow::anyhow!("cannot write the result as WAVE: {e}")))
        .collect::<Result<_>>()?;
    Ok(shown.join(", "))
}
