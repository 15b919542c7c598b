//! Which program is running the commands: `cargo xtask` in edgekit's own
//! repository, or the installed `cargo edgekit` in any project. One
//! implementation has two entry points; they differ only in the name the
//! messages tell you to type, and in where the templates, the guest
//! library, the pins and the wasmCloud lattice's sources come from
//! (`bundle.rs`): read from the checkout `cargo xtask` runs in, or carried
//! inside the installed binary, so that it needs no checkout at all.
//!
//! The entry point sets it once ([`set`]) before running a command. The
//! lowest of the shared nouns: it imports none of them.

use std::sync::OnceLock;

/// The running tool.
#[derive(Debug)]
pub struct Tool {
    /// What a person types to run it: `cargo xtask` or `cargo edgekit`.
    pub command: &'static str,
    /// Its version (cargo-edgekit's, which the projects it makes record).
    pub version: &'static str,
    /// What it carries.
    pub bundle: Source,
}

/// Where the tool's files come from.
#[derive(Debug)]
pub enum Source {
    /// Read, when first needed, from the edgekit checkout `cargo xtask`
    /// runs in (the project's root).
    Checkout,
    /// Inside the binary (`edgekit_bundle::encode`'s format).
    Embedded(&'static [u8]),
}

static TOOL: OnceLock<Tool> = OnceLock::new();

/// Declares the running tool; the first call wins.
pub fn set(tool: Tool) {
    let _ = TOOL.set(tool);
}

/// The running tool: as [`set`], else `cargo xtask` over the checkout the
/// project is in (the tests, and the wings' own binaries).
pub fn get() -> &'static Tool {
    TOOL.get_or_init(|| Tool { command: "cargo xtask", version: env!("CARGO_PKG_VERSION"), bundle: Source::Checkout })
}

/// What to type for `command` (`dist`, `size --bless`): `cargo xtask dist`
/// or `cargo edgekit dist`.
pub fn cmd(command: &str) -> String {
    format!("{} {command}", get().command)
}

/// What to type to make a project: always the installed tool's `init`, the
/// one way a directory becomes a project.
pub const INIT: &str = "cargo edgekit init";

/// Whether the running tool reads its files from a checkout (`cargo xtask`
/// and its tests), where cargo's `CARGO_MANIFEST_DIR` names the checkout.
pub fn in_checkout() -> bool {
    matches!(get().bundle, Source::Checkout)
}
