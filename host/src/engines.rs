//! The two engines a host compiles components on, and which one a
//! component gets.
//!
//! An engine with `Config::concurrency_support` (which the component
//! model's async features, and so every WASI 0.3 component, need) keeps
//! wasmtime's async bookkeeping in each of its stores: every call from a
//! guest into the host makes and deletes a host task, and every store sets
//! up and tears down the state for them. A component that uses none of it
//! (every 0.2 component, the greeter, a command) pays for it all the same:
//! on this machine it was a quarter of a fresh 0.2 instance's first
//! request (edge-fn, 23.3 to 17.4 µs) and a seventh of its instantiation
//! (7.8 to 6.7 µs).
//!
//! So a host has two engines of the same configuration but for that:
//! `lean`, without concurrency support, and `full`, with the component
//! model's async features. [`Engines::compile`] puts a component on the
//! full one when it uses those features and on the lean one otherwise; the
//! engine a component was compiled on (`Component::engine`) is the one its
//! linker, stores and instances use. Each engine is made when the first
//! component needs it, so a host serving one line reserves one pooling
//! allocator's address space, not two.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context as _, Result};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The lean engine and the full one, configured alike but for concurrency
/// support, each made on first use. Cheap to clone: clones share them.
#[derive(Clone)]
pub struct Engines(Arc<Inner>);

struct Inner {
    lean: Lazy,
    full: Lazy,
    /// Run on each engine as it is made (`serve` starts its epoch there).
    made: fn(&Engine) -> Result<()>,
}

/// An engine's configuration, and the engine once made.
struct Lazy {
    config: Config,
    engine: Mutex<Option<Engine>>,
}

impl Lazy {
    fn new(config: Config) -> Lazy {
        Lazy { config, engine: Mutex::new(None) }
    }

    fn get(&self, made: fn(&Engine) -> Result<()>) -> Result<Engine> {
        let mut engine = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(engine) = &*engine {
            return Ok(engine.clone());
        }
        let new = Engine::new(&self.config).map_err(anyhow::Error::from).context(
            "cannot make a wasmtime engine: with the pooling allocator (serve, dev, bench), lower the instance \
             count (--instances) or the memory limit (--memory-mib), whose address space it reserves",
        )?;
        made(&new)?;
        *engine = Some(new.clone());
        Ok(new)
    }
}

impl Engines {
    /// The engines of `config`: `config` with concurrency support off, and
    /// with the component model's async features on.
    pub fn new(config: &Config) -> Engines {
        Engines::with(config, |_| Ok(()))
    }

    /// [`Engines::new`], running `made` on each engine as it is made (and
    /// failing the compilation that needed it if `made` fails).
    pub fn with(config: &Config, made: fn(&Engine) -> Result<()>) -> Engines {
        let mut lean = config.clone();
        lean.concurrency_support(false);
        let mut full = config.clone();
        full.wasm_component_model_async(true);
        Engines(Arc::new(Inner { lean: Lazy::new(lean), full: Lazy::new(full), made }))
    }

    /// Compiles `bytes` on the full engine if their canonical functions
    /// show they use the component model's async features, else on the lean
    /// one if they validate there, else on the full one, whose error is the
    /// one reported if both refuse them. (Reading the canonical functions
    /// costs a parse; a failed validation on the lean engine cost a 0.3
    /// component a third more compile time.)
    pub fn compile(&self, bytes: impl AsRef<[u8]>) -> Result<Component> {
        let bytes = bytes.as_ref();
        if !uses_async(bytes)
            && let Ok(component) = Component::new(&self.lean()?, bytes)
        {
            return Ok(component);
        }
        Component::new(&self.full()?, bytes).map_err(anyhow::Error::from)
    }

    fn lean(&self) -> Result<Engine> {
        self.0.lean.get(self.0.made)
    }

    fn full(&self) -> Result<Engine> {
        self.0.full.get(self.0.made)
    }
}

/// Whether a component (or one nested in it) has a canonical function that
/// only the component model's async features define, or lifts or lowers a
/// function with the `async` option: what every 0.3 component does. A
/// parse without validation; `false` for bytes it cannot read.
fn uses_async(bytes: &[u8]) -> bool {
    use wasmparser::{CanonicalFunction, CanonicalOption, Parser, Payload};
    let is_async = |options: &[CanonicalOption]| options.contains(&CanonicalOption::Async);
    Parser::new(0).parse_all(bytes).any(|payload| match payload {
        Ok(Payload::ComponentCanonicalSection(functions)) => functions.into_iter().any(|function| match function {
            Ok(CanonicalFunction::Lift { options, .. } | CanonicalFunction::Lower { options, .. }) => {
                is_async(&options)
            }
            Ok(
                CanonicalFunction::ResourceNew { .. }
                | CanonicalFunction::ResourceDrop { .. }
                | CanonicalFunction::ResourceRep { .. },
            ) => false,
            Ok(_) => true,
            Err(_) => false,
        }),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 0.2 component goes to the lean engine and a 0.3 one to the full
    /// one, each read from its canonical functions: the test guests, one
    /// of each line.
    #[test]
    fn a_component_lands_on_the_engine_its_features_need() {
        let engines = Engines::new(wasmtime::Config::new().wasm_component_model(true));
        for (bytes, line) in [(crate::test_guests::traps(), "0.2"), (crate::test_guests::p3::traps(), "0.3")] {
            let bytes = bytes.unwrap();
            let component = engines.compile(&bytes).unwrap();
            let lean = Engine::same(component.engine(), &engines.lean().unwrap());
            assert_eq!((uses_async(&bytes), lean), (line == "0.3", line == "0.2"), "the {line} guest");
        }
    }
}
