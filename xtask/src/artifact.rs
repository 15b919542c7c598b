//! The artifact, the noun every wing shares: a finished component in memory
//! ([`Artifact`]), its entry in `target/dist/manifest.json` ([`Entry`]), and
//! the names file `size --explain` reads ([`Names`]).
//!
//! `manifest.json` has one writer ([`Manifest::update`], called by `dist`)
//! and one reader ([`Manifest::read`]); `size`, `oci`, `portability` and the
//! tests all go through them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::wit::Surface;

/// A component (or composition) that went through every stage of the
/// pipeline, not yet written to disk.
pub struct Artifact {
    pub name: String,
    /// The world it was written against, fully qualified; for a composition,
    /// the world it was checked to fit (`wasi:http/proxy@0.2.12`).
    pub world: String,
    /// For a composition, the middleware and the handler it was made of.
    pub parts: Vec<String>,
    /// The size of the component made from the unoptimized build.
    pub before: usize,
    pub bytes: Vec<u8>,
    pub surface: Surface,
    /// Function names of the shipped core module, set aside before stripping.
    pub names: BTreeMap<u32, String>,
    /// For a composition, the names of each part's main core module
    /// (`names` is then empty).
    pub part_names: Vec<PartNames>,
    /// The tools that produced it: rustc from the built core module's
    /// `producers` section, wit-component from the component's, binaryen, and
    /// the crate's direct dependencies as Cargo.lock pins them.
    pub built_with: BTreeMap<String, String>,
}

/// `target/dist/manifest.json`.
#[derive(Serialize, Deserialize, Debug)]
pub struct Manifest {
    /// The pinned WASI lines: the version vendored in `wit/deps/` (0.2)
    /// and in `wit/p3/deps/` (0.3).
    #[serde(deserialize_with = "lines")]
    pub wasi: Vec<String>,
    pub components: Vec<Entry>,
}

/// Interfaces the `wasi:http/proxy` world (0.2) and the `wasi:http/service`
/// world (0.3) offer: the whole of what `wasmtime serve`, `jco serve` and
/// wasmCloud's built-in HTTP server give a component without extra flags.
pub const WORLD_IMPORTS: [&str; 16] = [
    "wasi:http/types@",
    "wasi:http/outgoing-handler@",
    "wasi:http/client@",
    "wasi:io/",
    "wasi:clocks/monotonic-clock@",
    "wasi:clocks/wall-clock@",
    "wasi:clocks/types@",
    "wasi:clocks/system-clock@",
    "wasi:clocks/timezone@",
    "wasi:random/random@",
    "wasi:random/insecure@",
    "wasi:random/insecure-seed@",
    "wasi:cli/stdout@",
    "wasi:cli/stderr@",
    "wasi:cli/stdin@",
    "wasi:cli/types@",
];

/// What one artifact is, for CI, deploy tooling and people.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub name: String,
    /// The file, relative to the manifest.
    pub file: String,
    pub bytes: usize,
    pub sha256: String,
    /// The world the component was written against, fully qualified; for a
    /// composition, the world it fits.
    pub world: String,
    /// For a composition: the middleware and the handler it was made of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// The WASI line the artifact targets: the one WASI version it imports
    /// and exports (`0.2.12`, `0.3.0`), or `none` for a component that uses
    /// no WASI at all (the drift check refuses an artifact using two).
    #[serde(deserialize_with = "line")]
    pub wasi: String,
    /// The files and directories the artifact was built from, relative to
    /// the workspace root; the tests refuse an artifact older than any of
    /// them (see `edgekit_host::artifact`).
    pub sources: Vec<String>,
    /// Tool name to version, for every tool that processed the artifact.
    pub built_with: BTreeMap<String, String>,
}

/// A `wasi` field as a manifest written before the second line had it
/// (`"wasi": "0.2.12"` at the top, `"wasi": ["0.2.12"]` in an entry) or as
/// it is now, so `dist <name>` after an upgrade keeps the other entries.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn lines<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(version) => vec![version],
        OneOrMany::Many(versions) => versions,
    })
}

fn line<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(line) => line,
        OneOrMany::Many(versions) if versions.is_empty() => "none".to_string(),
        OneOrMany::Many(versions) => versions.join("+"),
    })
}

impl Entry {
    pub fn new(artifact: &Artifact, sources: Vec<String>) -> Entry {
        Entry {
            name: artifact.name.clone(),
            file: format!("{}.wasm", artifact.name),
            bytes: artifact.bytes.len(),
            sha256: sha256_hex(&artifact.bytes),
            world: artifact.world.clone(),
            parts: artifact.parts.clone(),
            imports: artifact.surface.imports.iter().cloned().collect(),
            exports: artifact.surface.exports.iter().cloned().collect(),
            wasi: artifact.surface.wasi_line(),
            sources,
            built_with: artifact.built_with.clone(),
        }
    }

    /// Whether it serves HTTP: it exports `wasi:http/incoming-handler`
    /// (WASI 0.2) or `wasi:http/handler` (0.3).
    pub fn is_http(&self) -> bool {
        self.exports.iter().any(|e| e.starts_with("wasi:http/incoming-handler") || e.starts_with("wasi:http/handler"))
    }

    /// Its imports beyond [`WORLD_IMPORTS`]: what a host serving the plain
    /// http world must also offer (`wasi:keyvalue`, `wasi:config`, the next
    /// handler of a middleware).
    pub fn beyond_world(&self) -> Vec<&String> {
        self.imports.iter().filter(|i| !WORLD_IMPORTS.iter().any(|p| i.starts_with(p))).collect()
    }
}

impl Manifest {
    pub fn path(dist: &Path) -> PathBuf {
        dist.join("manifest.json")
    }

    /// Reads the manifest `dist` wrote into `dist`.
    pub fn read(dist: &Path) -> Result<Manifest> {
        let path = Manifest::path(dist);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}: run `{}` first", path.display(), crate::tool::cmd("dist")))?;
        serde_json::from_str(&text).with_context(|| {
            format!("{} is not a dist manifest: run `{}` again", path.display(), crate::tool::cmd("dist"))
        })
    }

    /// The manifest in `dist`, or an empty one where there is none yet.
    fn read_or_empty(dist: &Path, wasi: &[String]) -> Result<Manifest> {
        if Manifest::path(dist).exists() {
            Manifest::read(dist)
        } else {
            Ok(Manifest { wasi: wasi.to_vec(), components: Vec::new() })
        }
    }

    /// The entry named `name`, or an error listing the ones there are.
    pub fn entry(&self, dist: &Path, name: &str) -> Result<&Entry> {
        self.components.iter().find(|e| e.name == name).with_context(|| {
            let names: Vec<&str> = self.components.iter().map(|e| e.name.as_str()).collect();
            format!(
                "no component `{name}` in {} (it has: {}); run `{}` or fix the name",
                Manifest::path(dist).display(),
                names.join(", "),
                crate::tool::cmd(&format!("dist {name}"))
            )
        })
    }

    /// The entries named in `only`, or all of them when it is empty.
    pub fn select(&self, dist: &Path, only: &[String]) -> Result<Vec<Entry>> {
        if only.is_empty() {
            return Ok(self.components.clone());
        }
        only.iter().map(|name| self.entry(dist, name).cloned()).collect()
    }

    /// Writes `artifacts` into `dist` and updates the manifest there: their
    /// entries replace those of the same name, the others stay, and the
    /// entries (and files) of artifacts that no longer exist (`exists` says
    /// which names still do) are dropped. Every file goes through a
    /// temporary name and a rename, the manifest last.
    pub fn update(
        dist: &Path,
        wasi: &[String],
        artifacts: &[(Artifact, Vec<String>)],
        exists: impl Fn(&str) -> bool,
    ) -> Result<Manifest> {
        std::fs::create_dir_all(dist).with_context(|| format!("cannot create {}", dist.display()))?;
        let mut manifest = Manifest::read_or_empty(dist, wasi)?;
        manifest.wasi = wasi.to_vec();
        for (artifact, sources) in artifacts {
            let path = dist.join(format!("{}.wasm", artifact.name));
            write_atomic(&path, &artifact.bytes)?;
            write_atomic(&Names::path(&path), Names::of(artifact).to_json().as_bytes())?;
            manifest.components.retain(|e| e.name != artifact.name);
            manifest.components.push(Entry::new(artifact, sources.clone()));
        }
        let (kept, gone): (Vec<Entry>, Vec<Entry>) = manifest.components.into_iter().partition(|e| exists(&e.name));
        for entry in gone {
            let path = dist.join(&entry.file);
            for file in [path.clone(), Names::path(&path)] {
                if file.exists() {
                    std::fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
                }
            }
        }
        manifest.components = kept;
        manifest.components.sort_by(|a, b| a.name.cmp(&b.name));
        write_atomic(&Manifest::path(dist), manifest.to_json().as_bytes())?;
        Ok(manifest)
    }

    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a manifest always serializes");
        json.push('\n');
        json
    }
}

/// `<artifact>.names.json`: the function names of an artifact's core module,
/// kept aside so the shipped bytes carry no name section. A composition's
/// has no `functions` of its own but the names of each part (`parts`).
#[derive(Serialize, Deserialize)]
pub struct Names {
    pub artifact_sha256: String,
    pub functions: BTreeMap<u32, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartNames>,
}

/// The names of one part of a composition: its main core module (its
/// largest), told apart from the composition's other core modules by its
/// export names and its imports (`<module>#<name>`), both sorted, which
/// composing leaves as they were.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PartNames {
    pub component: String,
    pub exports: Vec<String>,
    pub imports: Vec<String>,
    pub functions: BTreeMap<u32, String>,
}

impl PartNames {
    /// The part `component`, whose artifact is `bytes` and whose names file
    /// holds `functions`.
    pub fn of(component: &str, bytes: &[u8], functions: &BTreeMap<u32, String>) -> Result<PartNames> {
        let modules = module_signatures(bytes).with_context(|| format!("{component}: the artifact does not parse"))?;
        let (_, exports, imports) = modules
            .into_iter()
            .max_by_key(|(size, _, _)| *size)
            .with_context(|| format!("{component}: the artifact holds no core module"))?;
        Ok(PartNames { component: component.to_string(), exports, imports, functions: functions.clone() })
    }
}

/// A core module's size, its sorted export names and its sorted imports
/// (`<module>#<name>`).
pub type ModuleSignature = (u64, Vec<String>, Vec<String>);

/// The [`ModuleSignature`] of each core module of the component `bytes`, at
/// any depth, in order.
pub fn module_signatures(bytes: &[u8]) -> Result<Vec<ModuleSignature>> {
    use wasmparser::{Parser, Payload};
    let mut modules: Vec<ModuleSignature> = Vec::new();
    let mut open: Vec<Option<usize>> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection { unchecked_range, .. } => {
                modules.push((unchecked_range.end - unchecked_range.start, Vec::new(), Vec::new()));
                open.push(Some(modules.len() - 1));
            }
            Payload::ComponentSection { .. } => open.push(None),
            Payload::End(_) => {
                open.pop();
            }
            Payload::ExportSection(reader) => {
                if let Some(Some(m)) = open.last() {
                    for export in reader {
                        modules[*m].1.push(export?.name.to_string());
                    }
                }
            }
            Payload::ImportSection(reader) => {
                if let Some(Some(m)) = open.last() {
                    for import in reader.into_imports() {
                        let import = import?;
                        modules[*m].2.push(format!("{}#{}", import.module, import.name));
                    }
                }
            }
            _ => {}
        }
    }
    for (_, exports, imports) in &mut modules {
        exports.sort();
        imports.sort();
    }
    Ok(modules)
}

impl Names {
    /// The names file of `artifact`.
    pub fn of(artifact: &Artifact) -> Names {
        Names {
            artifact_sha256: sha256_hex(&artifact.bytes),
            functions: artifact.names.clone(),
            parts: artifact.part_names.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a names file always serializes")
    }

    /// `<artifact>.names.json` beside the artifact.
    pub fn path(artifact: &Path) -> PathBuf {
        artifact.with_extension("names.json")
    }

    /// The names for `bytes`, if a names file for exactly these bytes exists.
    pub fn load(artifact: &Path, bytes: &[u8]) -> Option<BTreeMap<u32, String>> {
        Names::load_file(artifact, bytes).map(|names| names.functions)
    }

    /// The names file for `bytes`, if one for exactly these bytes exists.
    pub fn load_file(artifact: &Path, bytes: &[u8]) -> Option<Names> {
        let text = std::fs::read_to_string(Names::path(artifact)).ok()?;
        let names: Names = serde_json::from_str(&text).ok()?;
        (names.artifact_sha256 == sha256_hex(bytes)).then_some(names)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so
/// no reader ever sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let Some(name) = path.file_name() else { bail!("{} names no file", path.display()) };
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))
}
