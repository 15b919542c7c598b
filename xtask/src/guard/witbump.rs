//! `cargo xtask wit --bump <0.2.N>`: moves the whole workspace to another
//! WASI 0.2.x release in one step.
//!
//! The WIT comes from the `wasip2` crate, which ships each release's WIT
//! files: cargo fetches it into a scratch project, the files replace
//! `wit/deps/`, every `wasi:*@0.2.x` reference in the world files (the
//! workspace's and every component's own) moves to the new version, and each
//! component's copies of the pinned WASI are refreshed. Everything must
//! resolve, keeping every world, before anything is replaced. Components are
//! then rebuilt by `cargo xtask dist`, whose drift check fails any artifact
//! still at the old version.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::artifact::write_atomic;
use crate::flags;
use crate::wit::{self, Wit};
use crate::workspace;

/// WASI 0.2.x releases and the `wasip2` crate release that ships each one's
/// WIT. Add a row when a new release appears on crates.io.
pub const WIT_SOURCES: &[(&str, &str)] = &[("0.2.4", "1.0.1"), ("0.2.9", "1.0.3"), ("0.2.12", "2.0.1")];

impl flags::Wit {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let root = workspace::root();
        bump(sh, &root, &self.bump)?;
        eprintln!("wit/ is now at WASI {}: run `cargo xtask dist` to rebuild every component against it", self.bump);
        Ok(())
    }
}

/// Re-vendors `<root>/wit` at WASI `version`.
pub fn bump(sh: &Shell, root: &Path, version: &str) -> Result<()> {
    let Some((_, crate_version)) = WIT_SOURCES.iter().find(|(wasi, _)| *wasi == version) else {
        let known: Vec<&str> = WIT_SOURCES.iter().map(|(w, _)| *w).collect();
        bail!(
            "no known source for WASI {version} (known: {}); add the wasip2 release that ships it \
             to WIT_SOURCES in xtask/src/guard/witbump.rs",
            known.join(", ")
        );
    };
    let wit_dir = root.join("wit");
    let old = Wit::load(&wit_dir)?;
    let old_version = old.wasi_version()?;

    let deps = fetch(sh, root, crate_version)?;
    let staging = root.join("target/xtask/wit-bump/wit");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("deps"))?;
    for entry in std::fs::read_dir(&deps).with_context(|| format!("cannot read {}", deps.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wit") {
            std::fs::copy(&path, staging.join("deps").join(path.file_name().unwrap()))?;
        }
    }
    // Every world file, moved, with where it goes.
    let mut worlds: Vec<(PathBuf, String)> = Vec::new();
    for path in wit::wit_files(&wit_dir)? {
        let text = std::fs::read_to_string(&path)?;
        let moved = move_wasi_refs(&text, &old_version, version);
        std::fs::write(staging.join(path.file_name().unwrap()), &moved)?;
        worlds.push((path, moved));
    }
    let new = Wit::load(&staging).context("the bumped WIT does not resolve; wit/ is unchanged")?;
    for name in old.world_names() {
        if !new.world_names().contains(&name) {
            bail!("world `{name}` does not survive the bump; wit/ is unchanged");
        }
    }
    let components = workspace::components(root, &[])?;
    for component in &components {
        let own = root.join("target/xtask/wit-bump/components").join(&component.name);
        let _ = std::fs::remove_dir_all(&own);
        std::fs::create_dir_all(&own)?;
        for path in wit::wit_files(&component.wit_dir())? {
            let moved = move_wasi_refs(&std::fs::read_to_string(&path)?, &old_version, version);
            std::fs::write(own.join(path.file_name().unwrap()), &moved)?;
            worlds.push((path, moved));
        }
        wit::sync(&staging, &own)?;
        Wit::load(&own).and_then(|w| w.world(&component.world, &component.manifest)).with_context(|| {
            format!("{} does not resolve at WASI {version}; nothing changed", component.wit_dir().display())
        })?;
    }
    // Everything resolved: replace the vendored packages, then the worlds,
    // then every component's copies.
    for entry in std::fs::read_dir(wit_dir.join("deps"))? {
        std::fs::remove_file(entry?.path())?;
    }
    for entry in std::fs::read_dir(staging.join("deps"))? {
        let path = entry?.path();
        std::fs::copy(&path, wit_dir.join("deps").join(path.file_name().unwrap()))?;
    }
    for (path, text) in worlds {
        write_atomic(&path, text.as_bytes())?;
    }
    for component in &components {
        wit::sync(&wit_dir, &component.wit_dir())?;
    }
    Ok(())
}

/// `wasi:<pkg>/...@<old>` becomes `@<new>` wherever a world file names WASI.
fn move_wasi_refs(text: &str, old: &str, new: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("wasi:") {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, ';' | ',' | '{' | '}' | '>' | ')'))
            .unwrap_or(after.len());
        let reference = &after[..end];
        out.push_str(&reference.replace(&format!("@{old}"), &format!("@{new}")));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Fetches `wasip2` at `crate_version` with cargo and returns its `wit/deps`.
fn fetch(sh: &Shell, root: &Path, crate_version: &str) -> Result<PathBuf> {
    let scratch = root.join("target/xtask/wit-bump/fetch");
    std::fs::create_dir_all(scratch.join("src"))?;
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"wit-bump\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nwasip2 = \"={crate_version}\"\n\n[workspace]\n"
        ),
    )?;
    std::fs::write(scratch.join("src/lib.rs"), "")?;
    let manifest = scratch.join("Cargo.toml");
    let json = cmd!(sh, "cargo metadata --format-version 1 --manifest-path {manifest}")
        .quiet()
        .read()
        .with_context(|| format!("cargo could not fetch wasip2 {crate_version}: check the network or the version"))?;
    let meta: serde_json::Value = serde_json::from_str(&json)?;
    let wasip2 = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "wasip2")
        .and_then(|p| p["manifest_path"].as_str())
        .context("cargo metadata lists no wasip2 package")?;
    Ok(Path::new(wasip2).parent().unwrap().join("wit/deps"))
}
