//! `cargo xtask publish <component> <registry>/<repo>:<tag>`: pushes one dist
//! artifact to an OCI registry as the Wasm OCI artifact `cargo xtask oci`
//! writes (the same bytes, so the same digest), then asks the registry for the
//! tag's digest and fails unless it is the one pushed.

use anyhow::{Context, Result, bail};
use oci_client::Reference;
use oci_wasm::WASM_MANIFEST_MEDIA_TYPE;
use reqwest::header::HeaderValue;

use crate::oci::{Image, Stamp, dist_entries};
use crate::registry;
use xtask::artifact::sha256_hex;
use xtask::report::group;
use xtask::{flags, workspace};

pub fn run(args: flags::Publish) -> Result<()> {
    let reference = registry::reference(&args.reference)?;
    let image = image(&args.component)?;
    eprintln!("==> publish    {} ({} B layer) to {}", image.name, group(image.layer.len()), reference.whole());
    let digest = publish(&image, &reference)?;
    println!("\n{:<14} {:<40} digest", "component", "reference");
    println!("{:<14} {:<40} {digest}", image.name, reference.whole());
    Ok(())
}

/// The image for one dist component, stamped as `cargo xtask oci` stamps it.
pub fn image(component: &str) -> Result<Image> {
    let root = workspace::root();
    let dist = workspace::dist_dir(&root);
    let stamp = Stamp::from_env(&root)?;
    let entry = dist_entries(&dist, &[component.to_string()])?.remove(0);
    Image::build(&root, &dist, &entry, &stamp)
}

/// Pushes the image under the reference's tag and returns the manifest digest
/// the registry reports for it.
pub fn publish(image: &Image, reference: &Reference) -> Result<String> {
    if reference.tag().is_none() || reference.digest().is_some() {
        bail!("publish to a tag, e.g. {}/{}:{}", reference.registry(), reference.repository(), image.version);
    }
    let what = format!("push {} to {}", image.name, reference.whole());
    registry::block_on(push(image, reference))?.map_err(|e| registry::explain(e, &what, reference))
}

async fn push(image: &Image, reference: &Reference) -> Result<String> {
    let client = registry::client(reference);
    let auth = registry::auth()?;
    client.store_auth_if_needed(reference.resolve_registry(), &auth).await;
    for (what, blob) in [("layer", &image.layer), ("config", &image.config)] {
        let digest = format!("sha256:{}", sha256_hex(blob));
        client
            .push_blob(reference, blob.clone(), &digest)
            .await
            .with_context(|| format!("pushing the {what} blob {digest}"))?;
    }
    client
        .push_manifest_raw(reference, image.manifest.clone(), HeaderValue::from_static(WASM_MANIFEST_MEDIA_TYPE))
        .await
        .context("pushing the manifest")?;
    // Trust the registry's word, not ours: read the tag back.
    let remote = client.fetch_manifest_digest(reference, &auth).await.context("reading the pushed tag back")?;
    if remote != image.digest() {
        bail!("the registry says the tag is {remote}, but the manifest pushed is {}", image.digest());
    }
    Ok(remote)
}
