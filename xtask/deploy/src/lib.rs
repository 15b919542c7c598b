//! The deploy wing of `cargo xtask`: each dist artifact as a Wasm OCI
//! artifact (`oci`), pushed to a registry (`publish`) and fetched back and
//! checked (`pull`).
//!
//! It links the OCI client and its TLS stack, which `cargo xtask dist` must
//! not have to compile, so it is a crate of its own: `cargo xtask` parses the
//! command line and hands these commands over with
//! `cargo run --package xtask-deploy`, which builds this crate the first
//! time. A library too, so the registry tests in `tests/` reach its parts.

pub mod apt;
pub mod oci;
pub mod publish;
pub mod pull;
pub mod registry;
pub mod wasmcloud;
