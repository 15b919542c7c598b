//! `cargo xtask pull <registry>/<repo>:<tag> <out.wasm>`: fetches a Wasm OCI
//! artifact, checks it against the layout (media types, one `application/wasm`
//! layer, digests, the config's `layerDigests`) and that the layer is a valid
//! Wasm binary, then writes the layer to `out.wasm`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_client::Reference;
use oci_client::manifest::OciImageManifest;
use oci_wasm::WasmClient;

use crate::{oci, registry};
use xtask::artifact::sha256_hex;
use xtask::artifact::write_atomic;
use xtask::flags;
use xtask::report::group;

pub fn run(args: flags::Pull) -> Result<()> {
    let reference = registry::reference(&args.reference)?;
    eprintln!("==> pull       {}", reference.whole());
    let pulled = pull(&reference)?;
    let out = PathBuf::from(&args.out);
    write(&out, &pulled.layer)?;
    println!("\n{:<40} {:>10}  {:<71}  file", "reference", "bytes", "digest");
    println!("{:<40} {:>10}  {:<71}  {}", reference.whole(), group(pulled.layer.len()), pulled.digest, out.display());
    println!("layer sha256:{}", sha256_hex(&pulled.layer));
    Ok(())
}

/// A fetched and checked Wasm OCI artifact.
pub struct Pulled {
    /// The manifest digest the registry served.
    pub digest: String,
    pub manifest: OciImageManifest,
    pub config: Vec<u8>,
    /// The component.
    pub layer: Vec<u8>,
}

pub fn pull(reference: &Reference) -> Result<Pulled> {
    let what = format!("pull {}", reference.whole());
    let pulled = registry::block_on(fetch(reference))?.map_err(|e| registry::explain(e, &what, reference))?;
    oci::check_artifact(&pulled.manifest, &pulled.config, &pulled.layer)
        .with_context(|| format!("{} is not a Wasm OCI artifact edgekit can use", reference.whole()))?;
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&pulled.layer)
        .with_context(|| format!("the layer of {} is not a valid Wasm binary", reference.whole()))?;
    Ok(pulled)
}

async fn fetch(reference: &Reference) -> Result<Pulled> {
    let client = WasmClient::new(registry::client(reference));
    let data = client.pull(reference, &registry::auth()?).await?;
    let manifest = data.manifest.context("the registry sent no manifest")?;
    let digest = data.digest.context("the registry sent no manifest digest")?;
    let layer = data.layers.into_iter().next().context("the artifact has no layer")?;
    Ok(Pulled { digest, manifest, config: data.config.data.to_vec(), layer: layer.data.to_vec() })
}

fn write(out: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_atomic(out, bytes)
}
