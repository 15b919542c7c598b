//! The files the installed `cargo edgekit` carries, so that it needs no
//! edgekit checkout: every template (`components/`), the guest library
//! (`guest/`), the pinned WASI lines (`wit/`), edgekit's own project file
//! (the templates' budgets and compositions) and the sources of the
//! wasmCloud lattice it builds on first use (`xtask/deploy/wasmcloud/`).
//!
//! [`collect`] reads them from a checkout; [`encode`] packs them into one
//! archive, which cargo-edgekit's build script writes and the binary
//! includes; [`decode`] unpacks it. `cargo xtask` reads the same selection
//! straight from its checkout, so both tools see the same files.
//!
//! The archive: `EKB1`, an entry count, then per entry a kind byte (0 a
//! file, 1 an executable file, 2 a symbolic link), the path and the
//! contents (the link's target for a link), each behind a little-endian
//! `u32` length. Paths are relative to the checkout's root, `/`-separated,
//! sorted.

use std::borrow::Cow;
use std::io;
use std::path::Path;

/// What the tool carries: directories (everything under them but build
/// output) and single files, relative to the checkout's root.
pub const PARTS: &[&str] = &[
    "edgekit.toml",
    "components",
    "guest",
    "wit",
    "xtask/deploy/wasmcloud/Cargo.toml",
    "xtask/deploy/wasmcloud/Cargo.lock",
    "xtask/deploy/wasmcloud/rustc-wrapper.sh",
    "xtask/deploy/wasmcloud/src",
];

/// Names never carried, wherever they are: build output, and the bindings
/// `cargo component build` writes into a crate that does not use them.
const SKIPPED: &[&str] = &["target", "bindings.rs"];

/// One carried file or link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the checkout's root, `/`-separated.
    pub path: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File(Cow<'static, [u8]>),
    /// A file with its executable bit set (a script the tool runs).
    Executable(Cow<'static, [u8]>),
    /// A symbolic link, and its target as written.
    Link(String),
}

impl Kind {
    /// A file's contents; `None` for a link.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Kind::File(bytes) | Kind::Executable(bytes) => Some(bytes),
            Kind::Link(_) => None,
        }
    }
}

/// Reads [`PARTS`] from the checkout at `root`, sorted by path.
pub fn collect(root: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for part in PARTS {
        walk(root, &root.join(part), &mut entries)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", root.join(part).display())))?;
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

fn walk(root: &Path, path: &Path, entries: &mut Vec<Entry>) -> io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if SKIPPED.contains(&name.as_str()) {
        return Ok(());
    }
    let relative = path.strip_prefix(root).expect("under the root").to_string_lossy().replace('\\', "/");
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path)?.to_string_lossy().replace('\\', "/");
        entries.push(Entry { path: relative, kind: Kind::Link(target) });
    } else if meta.is_dir() {
        for child in std::fs::read_dir(path)? {
            walk(root, &child?.path(), entries)?;
        }
    } else {
        let bytes = Cow::Owned(std::fs::read(path)?);
        let kind = if executable(&meta) { Kind::Executable(bytes) } else { Kind::File(bytes) };
        entries.push(Entry { path: relative, kind });
    }
    Ok(())
}

#[cfg(unix)]
fn executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &std::fs::Metadata) -> bool {
    false
}

const MAGIC: &[u8; 4] = b"EKB1";

/// Packs `entries` into one archive.
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend((entries.len() as u32).to_le_bytes());
    for entry in entries {
        let (kind, data): (u8, &[u8]) = match &entry.kind {
            Kind::File(bytes) => (0, bytes),
            Kind::Executable(bytes) => (1, bytes),
            Kind::Link(target) => (2, target.as_bytes()),
        };
        out.push(kind);
        for field in [entry.path.as_bytes(), data] {
            out.extend((field.len() as u32).to_le_bytes());
            out.extend(field);
        }
    }
    out
}

/// Unpacks an archive [`encode`] made; the contents stay borrowed.
pub fn decode(archive: &'static [u8]) -> io::Result<Vec<Entry>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("not an edgekit archive: {what}"));
    let mut rest = archive.strip_prefix(MAGIC.as_slice()).ok_or_else(|| bad("no magic"))?;
    let mut take = |n: usize| -> io::Result<&'static [u8]> {
        if rest.len() < n {
            return Err(bad("cut short"));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let u32_at = |bytes: &[u8]| u32::from_le_bytes(bytes.try_into().expect("four bytes")) as usize;
    let count = u32_at(take(4)?);
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = take(1)?[0];
        let path_len = u32_at(take(4)?);
        let path = std::str::from_utf8(take(path_len)?).map_err(|_| bad("a path is not UTF-8"))?.to_string();
        let data_len = u32_at(take(4)?);
        let data = take(data_len)?;
        let kind = match kind {
            0 => Kind::File(Cow::Borrowed(data)),
            1 => Kind::Executable(Cow::Borrowed(data)),
            2 => Kind::Link(std::str::from_utf8(data).map_err(|_| bad("a link is not UTF-8"))?.to_string()),
            _ => return Err(bad("unknown entry kind")),
        };
        entries.push(Entry { path, kind });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_decodes_to_what_was_encoded() {
        let entries = vec![
            Entry { path: "components/a/Cargo.toml".into(), kind: Kind::File(Cow::Owned(b"[package]".to_vec())) },
            Entry { path: "components/a/edgekit".into(), kind: Kind::Link("../../guest".into()) },
            Entry { path: "x/run.sh".into(), kind: Kind::Executable(Cow::Owned(b"#!/bin/sh\n".to_vec())) },
            Entry { path: "empty".into(), kind: Kind::File(Cow::Owned(Vec::new())) },
        ];
        let archive: &'static [u8] = Box::leak(encode(&entries).into_boxed_slice());
        assert_eq!(decode(archive).unwrap(), entries);
        let cut: &'static [u8] = &archive[..archive.len() - 1];
        assert!(decode(cut).unwrap_err().to_string().contains("cut short"));
        assert!(decode(b"nope").is_err());
    }

    #[test]
    fn the_checkout_gives_templates_library_pins_and_the_lattice() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let entries = collect(&root).unwrap();
        let has = |path: &str| entries.iter().any(|e| e.path == path);
        for path in [
            "edgekit.toml",
            "components/edge-fn/Cargo.toml",
            "components/edge-fn/src/lib.rs",
            "guest/Cargo.toml",
            "guest/src/lib.rs",
            "wit/deps/http.wit",
            "xtask/deploy/wasmcloud/src/main.rs",
        ] {
            assert!(has(path), "{path} is not carried");
        }
        let link = entries.iter().find(|e| e.path == "components/edge-fn/edgekit").unwrap();
        assert_eq!(link.kind, Kind::Link("../../guest".into()));
        let wrapper = entries.iter().find(|e| e.path == "xtask/deploy/wasmcloud/rustc-wrapper.sh").unwrap();
        assert!(matches!(wrapper.kind, Kind::Executable(_)), "the wrapper must stay executable");
        assert!(!entries.iter().any(|e| e.path.split('/').any(|p| p == "target")), "build output is carried");
    }
}
