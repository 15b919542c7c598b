//! Tests for the OCI side: the layout `cargo xtask oci` writes, and `publish`
//! and `pull` against a real registry (Debian's `docker-registry`, the CNCF
//! distribution registry) that the tests start on 127.0.0.1, with `skopeo` as
//! the independent client. They read `target/dist` (run `cargo xtask dist`
//! first). When the registry or skopeo is missing they install both with
//! apt-get if they can (root, on Debian or Ubuntu: CI's case and a fresh
//! machine's), and otherwise fail with one line saying what to install; they
//! never skip.

use std::path::{Path, PathBuf};

use chrono::DateTime;
use oci_client::manifest::{OciImageIndex, OciImageManifest};
use oci_wasm::{WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_CONFIG_MEDIA_TYPE, WASM_MANIFEST_MEDIA_TYPE, WasmConfig};
use xshell::{Shell, cmd};

use xtask::artifact::{Entry, sha256_hex};
use xtask::{flags, workspace};
use xtask_deploy::oci::{Image, Stamp, check_artifact, crate_version, dist_entries, git_revision};
use xtask_deploy::{apt, publish, pull, registry};

const REVISION: &str = "0123456789abcdef0123456789abcdef01234567";

fn stamp(secs: i64) -> Stamp {
    Stamp { created: DateTime::from_timestamp(secs, 0).unwrap(), revision: Some(REVISION.to_string()) }
}

/// The dist directory and its entries; fails with one line when absent.
fn dist() -> (PathBuf, Vec<Entry>) {
    let dist = workspace::dist_dir(&workspace::root());
    match dist_entries(&dist, &[]) {
        Ok(entries) if !entries.is_empty() => (dist, entries),
        Ok(_) => panic!("target/dist/manifest.json lists no components: run `cargo xtask dist`"),
        Err(e) => panic!("{e:#}"),
    }
}

fn image(entry: &Entry, stamp: &Stamp) -> Image {
    let root = workspace::root();
    Image::build(&root, &workspace::dist_dir(&root), entry, stamp).unwrap()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!("edgekit-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every file under `dir` with its bytes, sorted by relative path.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Reads the manifest tagged `tag` in an OCI image layout, and its config and
/// one layer, checking each blob's digest against its file name.
fn read_layout(dir: &Path, tag: &str) -> (String, OciImageManifest, Vec<u8>, Vec<u8>) {
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let bytes = std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap();
        assert_eq!(sha256_hex(&bytes), hex, "{}: blob {digest} has other content", dir.display());
        bytes
    };
    let index: OciImageIndex = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entry = index
        .manifests
        .iter()
        .find(|m| {
            m.annotations.as_ref().and_then(|a| a.get("org.opencontainers.image.ref.name")).map(String::as_str)
                == Some(tag)
        })
        .unwrap_or_else(|| panic!("{}/index.json has no manifest tagged {tag}", dir.display()));
    assert_eq!(entry.media_type, WASM_MANIFEST_MEDIA_TYPE);
    let manifest_bytes = blob(&entry.digest);
    let manifest: OciImageManifest = serde_json::from_slice(&manifest_bytes).unwrap();
    let config = blob(&manifest.config.digest);
    let layer = blob(&manifest.layers[0].digest);
    (entry.digest.clone(), manifest, config, layer)
}

#[test]
fn oci_layout_is_reproducible_and_follows_the_wasm_artifact_layout() {
    let (dist, entries) = dist();
    let tmp = TempDir::new("oci-layout");
    for entry in &entries {
        let name = &entry.name;
        let artifact = std::fs::read(dist.join(&entry.file)).unwrap();
        let first = image(entry, &stamp(1_700_000_000));
        let second = image(entry, &stamp(1_700_000_000));
        first.write_layout(&tmp.0.join("a").join(name)).unwrap();
        second.write_layout(&tmp.0.join("b").join(name)).unwrap();
        // Written twice, over an old layout too: byte-identical trees.
        second.write_layout(&tmp.0.join("b").join(name)).unwrap();
        let a = tree(&tmp.0.join("a").join(name));
        assert_eq!(a, tree(&tmp.0.join("b").join(name)), "{name}: two layouts of one artifact differ");
        assert_eq!(
            a.len(),
            5,
            "{name}: oci-layout, index.json and three blobs, got {:?}",
            a.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        assert_eq!(
            std::fs::read_to_string(tmp.0.join("a").join(name).join("oci-layout")).unwrap(),
            r#"{"imageLayoutVersion":"1.0.0"}"#
        );

        let (digest, manifest, config, layer) = read_layout(&tmp.0.join("a").join(name), &first.version);
        assert_eq!(digest, first.digest());
        assert_eq!(layer, artifact, "{name}: the layer is not the dist artifact");
        check_artifact(&manifest, &config, &layer).unwrap();
        assert_eq!(manifest.media_type.as_deref(), Some("application/vnd.oci.image.manifest.v1+json"));
        assert_eq!(manifest.config.media_type, "application/vnd.wasm.config.v0+json");
        assert_eq!(manifest.layers[0].media_type, "application/wasm");
        let annotations = manifest.annotations.clone().unwrap();
        assert_eq!(annotations["org.opencontainers.image.created"], "2023-11-14T22:13:20Z");
        assert_eq!(annotations["org.opencontainers.image.revision"], REVISION);
        assert_eq!(annotations["org.opencontainers.image.version"], crate_version(&workspace::root(), name).unwrap());
        assert_eq!(annotations["org.opencontainers.image.title"], *name);

        let config: WasmConfig = serde_json::from_slice(&config).unwrap();
        assert_eq!(config.created.timestamp(), 1_700_000_000);
        assert_eq!((config.architecture.as_str(), config.os.as_str()), ("wasm", "wasip2"));
        let component = config.component.unwrap();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(sorted(component.imports), entry.imports, "{name}: config imports");
        assert_eq!(sorted(component.exports), entry.exports, "{name}: config exports");
        assert_eq!(component.target.as_deref(), Some(entry.world.as_str()));

        // The stamp is what varies, nothing else.
        assert_ne!(image(entry, &stamp(1_700_000_001)).digest(), first.digest(), "{name}: created is not in the image");
        assert_eq!(image(entry, &stamp(1_700_000_001)).layer, first.layer);
    }
}

#[test]
fn check_artifact_rejects_what_is_not_the_layout() {
    let (_, entries) = dist();
    let img = image(&entries[0], &stamp(0));
    let manifest: OciImageManifest = serde_json::from_slice(&img.manifest).unwrap();
    check_artifact(&manifest, &img.config, &img.layer).unwrap();

    let mut tampered = img.layer.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let e = format!("{:#}", check_artifact(&manifest, &img.config, &tampered).unwrap_err());
    assert!(e.contains("but the manifest names"), "{e}");

    let mut wrong = manifest.clone();
    wrong.config.media_type = "application/vnd.oci.image.config.v1+json".to_string();
    let e = format!("{:#}", check_artifact(&wrong, &img.config, &img.layer).unwrap_err());
    assert!(e.contains("not a Wasm OCI artifact"), "{e}");

    let mut wrong = manifest.clone();
    wrong.layers[0].media_type = "application/vnd.wasm.content.layer.v1+wasm".to_string();
    let e = format!("{:#}", check_artifact(&wrong, &img.config, &img.layer).unwrap_err());
    assert!(e.contains(&format!("not {WASM_LAYER_MEDIA_TYPE}")), "{e}");
    assert_eq!(WASM_MANIFEST_CONFIG_MEDIA_TYPE, "application/vnd.wasm.config.v0+json");
}

#[test]
fn references_must_name_a_registry_and_only_loopback_is_plain_http() {
    assert!(registry::reference("127.0.0.1:5000/edgekit/greeter:0.1.0").is_ok());
    assert!(registry::reference("ghcr.io/acme/greeter:0.1.0").is_ok());
    let e = format!("{:#}", registry::reference("greeter:0.1.0").unwrap_err());
    assert!(e.contains("names no registry"), "{e}");
    let e = format!("{:#}", registry::reference("127.0.0.1:5000/edgekit/greeter").unwrap_err());
    assert!(e.contains("names no tag"), "{e}");
    assert!(
        registry::reference(
            "127.0.0.1:5000/edgekit/greeter@sha256:0e38c5ba650f857875ce8aa9652079f964d5fb964da210a9cc7d5bc386110ba0"
        )
        .is_ok()
    );
    for loopback in ["127.0.0.1:5000", "localhost", "localhost:5000", "[::1]:5000", "127.0.0.2"] {
        assert!(registry::is_loopback(loopback), "{loopback}");
    }
    for remote in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com", "docker.io"] {
        assert!(!registry::is_loopback(remote), "{remote}");
    }
}

/// Makes sure `program` is installed (see `xtask_deploy::apt`), failing
/// the test with one line saying what to do where it cannot be.
fn require(program: &str) {
    if let Err(why) = apt::require(program, &registry::PACKAGES) {
        panic!("the registry tests need `{program}`: {why:#}");
    }
}

/// A local registry with storage in a temp dir, both gone when dropped.
struct Registry {
    addr: String,
    _server: registry::LocalRegistry,
    _dir: TempDir,
}

impl Registry {
    fn start(read_only: bool) -> Registry {
        let dir = TempDir::new("registry");
        let server = registry::LocalRegistry::start(&dir.0, read_only).unwrap_or_else(|e| panic!("{e:#}"));
        Registry { addr: server.addr.clone(), _server: server, _dir: dir }
    }
}

#[test]
fn every_dist_component_round_trips_through_a_registry() {
    let (dist, entries) = dist();
    require("skopeo");
    let registry = Registry::start(false);
    let sh = Shell::new().unwrap();
    let tmp = TempDir::new("oci-roundtrip");
    let stamp = Stamp::from_env(&workspace::root()).unwrap();
    for entry in &entries {
        let name = &entry.name;
        let artifact = std::fs::read(dist.join(&entry.file)).unwrap();
        let img = image(entry, &stamp);
        let tag = "roundtrip";
        // OCI repository names allow no `+`: a composition such as
        // `middleware+http-api` is published as `middleware--http-api`.
        let repository = name.replace('+', "--");
        let reference = format!("{}/edgekit/{repository}:{tag}", registry.addr);

        // Publish, as `cargo xtask publish` does: the registry's digest is ours.
        let digest =
            publish::publish(&publish::image(name).unwrap(), &registry::reference(&reference).unwrap()).unwrap();
        assert_eq!(digest, img.digest(), "{name}: the registry names another manifest");

        // skopeo, an independent client, copies it to a local OCI layout.
        let copy = tmp.0.join("skopeo").join(name);
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        let src = format!("docker://{reference}");
        let dst = format!("oci:{}:{tag}", copy.display());
        cmd!(sh, "skopeo --insecure-policy copy --quiet --preserve-digests --src-tls-verify=false {src} {dst}")
            .run()
            .unwrap();
        let (copied, manifest, config, layer) = read_layout(&copy, tag);
        assert_eq!(copied, digest, "{name}: skopeo sees another manifest digest");
        assert_eq!(sha256_hex(&layer), entry.sha256, "{name}: the layer skopeo fetched is not the dist artifact");
        assert_eq!(layer, artifact);
        assert_eq!(manifest.media_type.as_deref(), Some(WASM_MANIFEST_MEDIA_TYPE));
        assert_eq!(manifest.config.media_type, WASM_MANIFEST_CONFIG_MEDIA_TYPE);
        assert_eq!(manifest.layers.len(), 1);
        assert_eq!(manifest.layers[0].media_type, WASM_LAYER_MEDIA_TYPE);
        check_artifact(&manifest, &config, &layer).unwrap();

        // `cargo xtask pull` writes the same bytes back.
        let out = tmp.0.join("pulled").join(format!("{name}.wasm"));
        pull::run(flags::Pull { reference: reference.clone(), out: out.display().to_string() }).unwrap();
        assert_eq!(sha256_hex(&std::fs::read(&out).unwrap()), entry.sha256, "{name}: pull wrote other bytes");

        // The layout `cargo xtask oci` writes is a valid image to skopeo too:
        // copied to the registry as is, it keeps the digest `publish` got.
        let layout = tmp.0.join("layout").join(name);
        img.write_layout(&layout).unwrap();
        let src = format!("oci:{}:{}", layout.display(), img.version);
        let dst = format!("docker://{}/edgekit/{repository}:from-layout", registry.addr);
        cmd!(sh, "skopeo --insecure-policy copy --quiet --preserve-digests --dest-tls-verify=false {src} {dst}")
            .run()
            .unwrap();
        let from_layout =
            pull::pull(&registry::reference(&format!("{}/edgekit/{repository}:from-layout", registry.addr)).unwrap())
                .unwrap();
        assert_eq!(from_layout.digest, digest, "{name}: the layout and publish disagree");
        assert_eq!(from_layout.layer, artifact);
    }
    // A tag that was never pushed is an error, not an empty file.
    let missing = registry::reference(&format!("{}/edgekit/nothing:here", registry.addr)).unwrap();
    let e = format!("{:#}", pull::pull(&missing).err().expect("pulling a missing tag must fail"));
    assert!(
        e.contains(&format!("cannot pull {}: {} has no such repository and tag", missing.whole(), registry.addr)),
        "{e}"
    );
}

#[test]
fn publishing_where_no_registry_listens_fails_clearly() {
    let (_, entries) = dist();
    let addr = xtask::process::free_addr().unwrap().to_string();
    let reference = registry::reference(&format!("{addr}/edgekit/{}:down", entries[0].name)).unwrap();
    let e = format!("{:#}", publish::publish(&publish::image(&entries[0].name).unwrap(), &reference).unwrap_err());
    assert!(e.contains(&format!("no registry answers at {addr}: start one there or fix the address")), "{e}");
}

#[test]
fn a_registry_that_refuses_the_push_fails_the_publish() {
    let (_, entries) = dist();
    let registry = Registry::start(true);
    let name = &entries[0].name;
    let reference = registry::reference(&format!("{}/edgekit/{name}:refused", registry.addr)).unwrap();
    let e = format!("{:#}", publish::publish(&publish::image(name).unwrap(), &reference).unwrap_err());
    assert!(e.contains(&format!("cannot push {name} to")) && e.contains("refused it"), "{e}");
    // And nothing was stored under the tag.
    assert!(pull::pull(&reference).is_err(), "a refused push left a pullable tag");
}

#[test]
fn git_revision_follows_worktrees_symbolic_refs_and_packed_refs() {
    let tmp = TempDir::new("git-revision");
    let sha = "89abcdef0123456789abcdef0123456789abcdef";
    let write = |rel: &str, text: &str| {
        let path = tmp.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    // A worktree: `.git` is a file naming its git dir, whose `commondir`
    // holds the refs, here only in packed-refs.
    write("repo/.git/worktrees/wt/HEAD", "ref: refs/heads/topic\n");
    write("repo/.git/worktrees/wt/commondir", "../..\n");
    write(
        "repo/.git/packed-refs",
        &format!("# pack-refs with: peeled\n{REVISION} refs/heads/main\n{sha} refs/heads/topic\n"),
    );
    write("wt/.git", &format!("gitdir: {}\n", tmp.0.join("repo/.git/worktrees/wt").display()));
    assert_eq!(git_revision(&tmp.0.join("wt")).as_deref(), Some(sha));
    // A loose ref wins over packed-refs; a detached HEAD is the commit.
    write("repo/.git/refs/heads/topic", &format!("{REVISION}\n"));
    assert_eq!(git_revision(&tmp.0.join("wt")).as_deref(), Some(REVISION));
    write("repo/.git/HEAD", &format!("{sha}\n"));
    assert_eq!(git_revision(&tmp.0.join("repo")).as_deref(), Some(sha));
    // Not a checkout: no revision, no error.
    assert_eq!(git_revision(&tmp.0.join("nowhere")), None);
}

#[test]
fn git_revision_of_this_checkout_is_what_git_says() {
    let root = workspace::root();
    let sh = Shell::new().unwrap();
    sh.change_dir(&root);
    match cmd!(sh, "git rev-parse HEAD").quiet().ignore_stderr().read() {
        Ok(head) => assert_eq!(git_revision(&root), Some(head.trim().to_string())),
        Err(_) => assert_eq!(git_revision(&root), None, "git knows no HEAD here"),
    }
}

#[test]
fn a_missing_registry_program_fails_with_one_line_naming_the_packages() {
    // Whether or not apt-get could run here, a program no package provides
    // fails the test with one line naming it and the packages.
    let panic = std::panic::catch_unwind(|| require("edgekit-no-such-program")).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("`edgekit-no-such-program`") && message.contains("docker-registry"), "{message}");
}
