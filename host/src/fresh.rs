//! Refuses a dist artifact older than its sources, so no test (and no
//! `serve`) runs bytes that no longer match the code.
//!
//! `cargo xtask dist` records, for each artifact in `target/dist/manifest.json`,
//! the files and directories it was built from (`sources`, relative to the
//! workspace root). An artifact is stale when any file under them changed
//! after the artifact was written.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

/// Fails when `artifact` (the dist artifact `name`) is older than a file
/// under one of its recorded sources, naming the newest such file and the
/// command that rebuilds it.
pub fn check(root: &Path, name: &str, artifact: &Path) -> Result<()> {
    let manifest = artifact.with_file_name("manifest.json");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}: run `{}`", manifest.display(), crate::tool("dist")))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is malformed: run `{}`", manifest.display(), crate::tool("dist")))?;
    let entry = json["components"].as_array().into_iter().flatten().find(|e| e["name"] == name).with_context(|| {
        format!("{} has no entry for `{name}`: run `{}`", manifest.display(), crate::tool(&format!("dist {name}")))
    })?;
    let built = modified(artifact)?;
    let sources: Vec<&str> = entry["sources"].as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect();
    if sources.is_empty() {
        bail!("{} records no sources for `{name}`: run `{}`", manifest.display(), crate::tool(&format!("dist {name}")));
    }
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for source in sources {
        newest_under(&root.join(source), &mut newest)?;
    }
    if let Some((time, path)) = newest
        && time > built
    {
        let component = name.split('+').collect::<Vec<_>>().join(" ");
        bail!(
            "{} is stale: {} changed after it was built; run `{}`",
            artifact.display(),
            path.strip_prefix(root).unwrap_or(&path).display(),
            crate::tool(&format!("dist {component}"))
        );
    }
    Ok(())
}

fn modified(path: &Path) -> Result<SystemTime> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .with_context(|| format!("cannot read the modification time of {}", path.display()))
}

/// Files under a component's directory that are not sources of its
/// artifact: the tests edgekit runs against it.
const NOT_SOURCES: &[&str] = &["edgekit-test.rs"];

/// The newest file under `path` (itself, if it is a file), leaving out build
/// output (`target/`) and [`NOT_SOURCES`], into `newest`.
fn newest_under(path: &Path, newest: &mut Option<(SystemTime, PathBuf)>) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    if path.is_dir() {
        if path.file_name().is_some_and(|n| n == "target") {
            return Ok(());
        }
        for entry in std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))? {
            newest_under(&entry?.path(), newest)?;
        }
        return Ok(());
    }
    if path.file_name().is_some_and(|n| NOT_SOURCES.iter().any(|s| n == *s)) {
        return Ok(());
    }
    let time = modified(path)?;
    if newest.as_ref().is_none_or(|(t, _)| time > *t) {
        *newest = Some((time, path.to_path_buf()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake workspace: one component's sources, its artifact and a
    /// manifest naming them; then a source edited after the build.
    #[test]
    fn an_artifact_older_than_its_sources_is_refused_naming_the_file() {
        let root = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = root.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        };
        write("components/demo/src/lib.rs", "// v1\n");
        write("components/demo/edgekit-test.rs", "// tests\n");
        write("components/demo/target/debug/junk", "build output\n");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let artifact = write("target/dist/demo.wasm", "\0asm");
        write(
            "target/dist/manifest.json",
            r#"{"components": [{"name": "demo", "sources": ["components/demo", "wit"]}]}"#,
        );
        check(root.path(), "demo", &artifact).unwrap();

        std::thread::sleep(std::time::Duration::from_millis(20));
        write("components/demo/target/debug/junk", "newer build output is not a source\n");
        write("components/demo/edgekit-test.rs", "// more tests are not a source either\n");
        check(root.path(), "demo", &artifact).unwrap();
        write("components/demo/src/lib.rs", "// v2\n");
        let error = format!("{:#}", check(root.path(), "demo", &artifact).unwrap_err());
        assert!(error.contains("components/demo/src/lib.rs changed"), "{error}");
        assert!(error.contains("run `cargo xtask dist demo`"), "{error}");
        assert!(format!("{:#}", check(root.path(), "other", &artifact).unwrap_err()).contains("no entry for `other`"));
    }
}
