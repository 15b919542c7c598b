//! Typed calls into the greeter.
//!
//! The host declares the `name` record with wasmtime's derives rather than
//! generating bindings from `wit/` at compile time: the host then still
//! compiles when a WIT file is broken, so the pipeline can report the error.
//! Wasmtime checks these types against the component's own at lookup, so a
//! drifted interface fails loudly.

use anyhow::{Context, Result};
use wasmtime::component::{Component, ComponentExportIndex, ComponentType, Lift, Linker, Lower, TypedFunc};
use wasmtime::{ResourceLimiter, Store};

/// The interface the greeter exports.
pub const INTERFACE: &str = "edgekit:greeter/api@0.1.0";

/// `record name { first: string, last: string }`
#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(record)]
pub struct Name {
    pub first: String,
    pub last: String,
}

/// A compiled greeter with its `greet` export already located.
pub struct Greeter {
    component: Component,
    linker: Linker<PeakMemory>,
    greet: ComponentExportIndex,
}

impl Greeter {
    pub fn new(component: &Component) -> Result<Greeter> {
        Greeter::for_interface(component, INTERFACE)
    }

    /// A greeter exporting the same `greet` under another interface name,
    /// such as a copy made with `cargo xtask new` (`edgekit:<name>/api@0.1.0`).
    pub fn for_interface(component: &Component, interface: &str) -> Result<Greeter> {
        let api = component
            .get_export_index(None, interface)
            .with_context(|| format!("the component does not export `{interface}`"))?;
        let greet = component
            .get_export_index(Some(&api), "greet")
            .with_context(|| format!("`{interface}` has no `greet` function"))?;
        // The greeter imports nothing, so the linker stays empty.
        Ok(Greeter { component: component.clone(), linker: Linker::new(component.engine()), greet })
    }

    /// Instantiates the greeter and calls `greet` once.
    pub fn greet(&self, first: &str, last: &str) -> Result<String> {
        self.instantiate()?.greet(first, last)
    }

    /// One instance to call many times, e.g. to put its allocator under churn.
    pub fn instantiate(&self) -> Result<Session> {
        let mut store = Store::new(self.component.engine(), PeakMemory::default());
        store.limiter(|peak| peak);
        let instance = self.linker.instantiate(&mut store, &self.component)?;
        let greet = instance.get_typed_func(&mut store, self.greet)?;
        Ok(Session { store, greet })
    }
}

/// A live greeter instance.
pub struct Session {
    store: Store<PeakMemory>,
    greet: TypedFunc<(Name,), (String,)>,
}

impl Session {
    pub fn greet(&mut self, first: &str, last: &str) -> Result<String> {
        let name = Name { first: first.to_string(), last: last.to_string() };
        let (answer,) = self.greet.call(&mut self.store, (name,))?;
        Ok(answer)
    }

    /// The largest the instance's linear memory has grown to, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.store.data().bytes
    }
}

/// Records the largest linear memory an instance asked for.
#[derive(Default)]
pub struct PeakMemory {
    bytes: usize,
}

impl ResourceLimiter for PeakMemory {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.bytes = self.bytes.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, _desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}
