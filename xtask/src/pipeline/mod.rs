//! The pipeline wing: `cargo xtask dist` and its stages, one module each,
//! each a function from bytes to bytes (or to a verdict on them).
//!
//! build -> strip -> optimize -> componentize -> drift -> roundtrip, then
//! compose for the compositions of the project file; `dist` runs them all and
//! writes `target/dist/` only when every component passed. `debug` is
//! `dist --debug`: build with DWARF and componentize, nothing else.

pub mod build;
pub mod componentize;
pub mod compose;
pub mod debug;
pub mod dist;
pub mod drift;
pub mod optimize;
pub mod roundtrip;
pub mod strip;

#[cfg(test)]
mod tests;
