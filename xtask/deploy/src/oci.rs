//! `cargo xtask oci`: every dist artifact as a Wasm OCI artifact, written as
//! an OCI image layout under `target/dist/oci/<name>/`.
//!
//! The format is the CNCF TAG Runtime Wasm OCI artifact layout: an OCI image
//! manifest whose config is `application/vnd.wasm.config.v0+json` (built with
//! the Bytecode Alliance `oci-wasm` crate from the component's own bytes) and
//! whose one layer, `application/wasm`, is the dist artifact byte for byte.
//! The image is a pure function of the artifact, its crate version, the git
//! revision and a fixed creation time (`SOURCE_DATE_EPOCH`, else the Unix
//! epoch), so two runs on the same commit write identical bytes and
//! `publish` pushes exactly the manifest the layout holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use oci_client::client::Config;
use oci_client::manifest::{ImageIndexEntry, OCI_IMAGE_INDEX_MEDIA_TYPE, OciImageIndex, OciImageManifest};
use oci_wasm::{
    ToConfig, WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_CONFIG_MEDIA_TYPE, WASM_MANIFEST_MEDIA_TYPE, WasmConfig,
};
use serde::Serialize;

use xtask::artifact::{Entry, Manifest, sha256_hex};
use xtask::report::group;
use xtask::{flags, workspace};

/// The `imageLayoutVersion` of OCI image-spec v1.1.
const LAYOUT_VERSION: &str = "1.0.0";

pub fn run(args: flags::Oci) -> Result<()> {
    let root = workspace::root();
    let dist = workspace::dist_dir(&root);
    let stamp = Stamp::from_env(&root)?;
    let entries = dist_entries(&dist, &args.components)?;
    // All in memory first: a bad artifact leaves the old layouts alone.
    let images = entries.iter().map(|entry| Image::build(&root, &dist, entry, &stamp)).collect::<Result<Vec<_>>>()?;
    let oci = dist.join("oci");
    for image in &images {
        image.write_layout(&oci.join(&image.name))?;
        eprintln!("    {:<12} oci layout   {}", image.name, oci.join(&image.name).display());
    }
    print!("{}", table(&images, &stamp));
    Ok(())
}

/// What every image is stamped with, besides the artifact itself.
#[derive(Clone, Debug)]
pub struct Stamp {
    /// `org.opencontainers.image.created` and the config's `created`.
    pub created: DateTime<Utc>,
    /// `org.opencontainers.image.revision`: the commit the tree is at, if any.
    pub revision: Option<String>,
}

impl Stamp {
    /// The creation time from `SOURCE_DATE_EPOCH` (seconds since the epoch,
    /// the reproducible-builds convention), else the Unix epoch itself, so the
    /// default is reproducible too; the revision read from `.git` in process.
    pub fn from_env(root: &Path) -> Result<Stamp> {
        let secs = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v.trim().parse::<i64>().with_context(|| {
                format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds; unset it or set it to e.g. `git log -1 --format=%ct`")
            })?,
            Err(_) => 0,
        };
        let created =
            DateTime::from_timestamp(secs, 0).with_context(|| format!("SOURCE_DATE_EPOCH={secs} is out of range"))?;
        Ok(Stamp { created, revision: git_revision(root) })
    }

    pub fn created_rfc3339(&self) -> String {
        self.created.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// The entries of `target/dist/manifest.json`, or just the ones named.
pub fn dist_entries(dist: &Path, only: &[String]) -> Result<Vec<Entry>> {
    Manifest::read(dist)?.select(dist, only)
}

/// One Wasm OCI artifact, in memory: the three blobs and the manifest digest.
pub struct Image {
    pub name: String,
    /// The crate version, also the tag (`org.opencontainers.image.ref.name`)
    /// in the layout's index.
    pub version: String,
    /// The dist artifact, exactly.
    pub layer: Vec<u8>,
    /// `application/vnd.wasm.config.v0+json`.
    pub config: Vec<u8>,
    /// `application/vnd.oci.image.manifest.v1+json`, canonical JSON.
    pub manifest: Vec<u8>,
}

impl Image {
    /// Builds the image for one dist entry, checking first that the artifact
    /// on disk is the one the manifest describes.
    pub fn build(root: &Path, dist: &Path, entry: &Entry, stamp: &Stamp) -> Result<Image> {
        let path = dist.join(&entry.file);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read {}: run `{}` first", path.display(), xtask::tool::cmd("dist")))?;
        if sha256_hex(&bytes) != entry.sha256 {
            bail!(
                "{} does not match the sha256 in {}: run `{}` again",
                path.display(),
                dist.join("manifest.json").display(),
                xtask::tool::cmd("dist")
            );
        }
        let version = crate_version(root, &entry.name)?;
        Image::from_artifact(entry, bytes, &version, stamp)
    }

    /// The pure part: artifact bytes and stamp in, image out.
    pub fn from_artifact(entry: &Entry, bytes: Vec<u8>, version: &str, stamp: &Stamp) -> Result<Image> {
        let name = &entry.name;
        // oci-wasm decodes the component itself to list its imports and exports.
        let (mut config, mut layer) = WasmConfig::from_raw_component(bytes, None).with_context(|| {
            format!("{name}: oci-wasm cannot read the component; run `{}` again", xtask::tool::cmd("dist"))
        })?;
        config.created = stamp.created;
        let component = config.component.as_mut().expect("oci-wasm describes every component");
        component.target = Some(entry.world.clone());
        // Two decoders (wit-component in dist, oci-wasm's here) must agree on
        // what the artifact imports and exports.
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        if sorted(&component.imports) != sorted(&entry.imports) || sorted(&component.exports) != sorted(&entry.exports)
        {
            bail!(
                "{name}: the OCI config would say imports {:?} exports {:?}, but manifest.json says imports {:?} exports {:?}; \
                 run `{}` again",
                component.imports,
                component.exports,
                entry.imports,
                entry.exports,
                xtask::tool::cmd("dist")
            );
        }
        layer.annotations = Some(BTreeMap::from([("org.opencontainers.image.title".to_string(), entry.file.clone())]));
        let config: Config = config.to_config()?;
        let mut annotations = BTreeMap::from([
            ("org.opencontainers.image.created".to_string(), stamp.created_rfc3339()),
            ("org.opencontainers.image.title".to_string(), name.clone()),
            ("org.opencontainers.image.version".to_string(), version.to_string()),
            (
                "org.opencontainers.image.description".to_string(),
                format!("edgekit component `{name}`, world {}", entry.world),
            ),
        ]);
        if let Some(revision) = &stamp.revision {
            annotations.insert("org.opencontainers.image.revision".to_string(), revision.clone());
        }
        let mut manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, Some(annotations));
        manifest.media_type = Some(WASM_MANIFEST_MEDIA_TYPE.to_string());
        Ok(Image {
            name: name.clone(),
            version: version.to_string(),
            layer: layer.data.to_vec(),
            config: config.data.to_vec(),
            manifest: canonical_json(&manifest),
        })
    }

    /// `sha256:<hex>` of the manifest: what a registry names the image by.
    pub fn digest(&self) -> String {
        format!("sha256:{}", sha256_hex(&self.manifest))
    }

    /// Writes the OCI image layout: `oci-layout`, `index.json` naming the
    /// manifest with the version as its tag, and the three blobs. The
    /// directory is built beside its final place and renamed into it.
    pub fn write_layout(&self, dir: &Path) -> Result<()> {
        let tmp = dir.with_extension("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
        }
        let blobs = tmp.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).with_context(|| format!("cannot create {}", blobs.display()))?;
        for blob in [&self.layer, &self.config, &self.manifest] {
            let file = blobs.join(sha256_hex(blob));
            std::fs::write(&file, blob).with_context(|| format!("cannot write {}", file.display()))?;
        }
        let layout = format!("{{\"imageLayoutVersion\":\"{LAYOUT_VERSION}\"}}");
        std::fs::write(tmp.join("oci-layout"), layout)
            .with_context(|| format!("cannot write {}", tmp.join("oci-layout").display()))?;
        let index = OciImageIndex {
            schema_version: 2,
            media_type: Some(OCI_IMAGE_INDEX_MEDIA_TYPE.to_string()),
            manifests: vec![ImageIndexEntry {
                media_type: WASM_MANIFEST_MEDIA_TYPE.to_string(),
                digest: self.digest(),
                size: self.manifest.len() as i64,
                platform: None,
                annotations: Some(BTreeMap::from([(
                    "org.opencontainers.image.ref.name".to_string(),
                    self.version.clone(),
                )])),
                artifact_type: None,
            }],
            artifact_type: None,
            annotations: None,
        };
        std::fs::write(tmp.join("index.json"), canonical_json(&index))
            .with_context(|| format!("cannot write {}", tmp.join("index.json").display()))?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove the old layout {}", dir.display()))?;
        }
        std::fs::rename(&tmp, dir).with_context(|| format!("cannot move {} into place", dir.display()))
    }
}

/// JSON the way oci-client pushes manifests (OLPC canonical JSON: sorted
/// keys, no whitespace), so the layout's digest is the registry's.
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut ser).expect("oci-client's types always serialize");
    out
}

/// Checks that a manifest and config follow the Wasm OCI artifact layout and
/// that the layer is `expected`; `publish`, `pull` and the tests share it.
pub fn check_artifact(manifest: &OciImageManifest, config: &[u8], layer: &[u8]) -> Result<()> {
    if manifest.media_type.as_deref() != Some(WASM_MANIFEST_MEDIA_TYPE) {
        bail!("the manifest's media type is {:?}, not {WASM_MANIFEST_MEDIA_TYPE}", manifest.media_type);
    }
    if manifest.config.media_type != WASM_MANIFEST_CONFIG_MEDIA_TYPE {
        bail!(
            "the config's media type is {}, not {WASM_MANIFEST_CONFIG_MEDIA_TYPE}: this is not a Wasm OCI artifact",
            manifest.config.media_type
        );
    }
    let [descriptor] = manifest.layers.as_slice() else {
        bail!("a Wasm OCI artifact has exactly one layer; this one has {}", manifest.layers.len());
    };
    if descriptor.media_type != WASM_LAYER_MEDIA_TYPE {
        bail!("the layer's media type is {}, not {WASM_LAYER_MEDIA_TYPE}", descriptor.media_type);
    }
    let digest = format!("sha256:{}", sha256_hex(layer));
    if descriptor.digest != digest || descriptor.size != layer.len() as i64 {
        bail!(
            "the layer is {digest} ({} B) but the manifest names {} ({} B)",
            layer.len(),
            descriptor.digest,
            descriptor.size
        );
    }
    let config_digest = format!("sha256:{}", sha256_hex(config));
    if manifest.config.digest != config_digest {
        bail!("the config is {config_digest} but the manifest names {}", manifest.config.digest);
    }
    let config = WasmConfig::try_from(config).context("the config is not a Wasm OCI config")?;
    if config.layer_digests != [digest.clone()] {
        bail!("the config's layerDigests {:?} do not name the layer {digest}", config.layer_digests);
    }
    Ok(())
}

/// The version the crate of an artifact declares (both lines of a crate
/// share it). A composition (`middleware+http-api`) has no crate of its
/// own and takes its handler's.
pub fn crate_version(root: &Path, name: &str) -> Result<String> {
    let handler = name.rsplit('+').next().unwrap_or(name);
    let component = workspace::component_of(root, handler)?.with_context(|| {
        format!(
            "no component of {} builds `{handler}`",
            xtask::project::Project::load(root).map(|p| p.components_dir().display().to_string()).unwrap_or_default()
        )
    })?;
    let text = std::fs::read_to_string(&component.manifest)
        .with_context(|| format!("cannot read {}", component.manifest.display()))?;
    let toml: toml::Table =
        text.parse().with_context(|| format!("{} is not valid TOML", component.manifest.display()))?;
    toml.get("package")
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .with_context(|| format!("`{name}` has no version: set `version` in {}", component.manifest.display()))
}

/// The commit `HEAD` is at, read from `.git` without running git: follows a
/// worktree's `gitdir:` file, a symbolic `HEAD`, loose refs and packed-refs.
/// `None` outside a git checkout.
pub fn git_revision(root: &Path) -> Option<String> {
    let dot_git = root.join(".git");
    let git_dir: PathBuf = if dot_git.is_file() {
        let text = std::fs::read_to_string(&dot_git).ok()?;
        root.join(text.trim().strip_prefix("gitdir:")?.trim())
    } else {
        dot_git
    };
    let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(rel) => git_dir.join(rel.trim()),
        Err(_) => git_dir.clone(),
    };
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:").map(str::trim) else {
        return is_sha(head).then(|| head.to_string());
    };
    for dir in [&git_dir, &common_dir] {
        if let Ok(sha) = std::fs::read_to_string(dir.join(reference)) {
            let sha = sha.trim();
            if is_sha(sha) {
                return Some(sha.to_string());
            }
        }
    }
    let packed = std::fs::read_to_string(common_dir.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (sha, name) = line.split_once(' ')?;
        (name == reference && is_sha(sha)).then(|| sha.to_string())
    })
}

fn is_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn table(images: &[Image], stamp: &Stamp) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\ncreated {}, revision {}",
        stamp.created_rfc3339(),
        stamp.revision.as_deref().unwrap_or("(not a git checkout)")
    );
    let _ = writeln!(out, "{:<14} {:<8} {:>10}  manifest digest", "component", "tag", "layer");
    for image in images {
        let _ = writeln!(
            out,
            "{:<14} {:<8} {:>10}  {}",
            image.name,
            image.version,
            group(image.layer.len()),
            image.digest()
        );
    }
    out
}
