//! `target/dist/manifest.json`: what each artifact is, for CI, deploy tooling
//! and people. One entry per component, sorted by name.

use serde::Serialize;

#[derive(Serialize)]
pub struct Manifest {
    /// The WASI 0.2.x version vendored in `wit/deps/`.
    pub wasi: String,
    pub components: Vec<Entry>,
}

#[derive(Serialize)]
pub struct Entry {
    pub name: String,
    /// The file, relative to the manifest.
    pub file: String,
    pub bytes: usize,
    pub sha256: String,
    /// The world the component was written against, fully qualified.
    pub world: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// WASI versions the artifact imports or exports (empty for a component
    /// that uses no WASI at all).
    pub wasi: Vec<String>,
    /// Tool name to version, for every tool that processed the artifact.
    pub built_with: std::collections::BTreeMap<String, String>,
}

impl Manifest {
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a manifest always serializes");
        json.push('\n');
        json
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The component entries of `target/dist/manifest.json` under `root`, as
/// JSON, for commands that read what `dist` wrote.
pub fn read_entries(root: &std::path::Path) -> anyhow::Result<Vec<serde_json::Value>> {
    use anyhow::Context;
    let path = crate::project::dist_dir(root).join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}: run `cargo xtask dist` first", path.display()))?;
    let mut manifest: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is malformed: run `cargo xtask dist`", path.display()))?;
    match manifest["components"].take() {
        serde_json::Value::Array(entries) => Ok(entries),
        _ => anyhow::bail!("{} lists no components: run `cargo xtask dist`", path.display()),
    }
}
