//! Stage 5, WASI drift (runs just before the round-trip). The project pins
//! two WASI lines, 0.2 in `wit/deps/` and 0.3 in `wit/p3/deps/`, which every
//! component's worlds resolve against (no component holds a copy). Every
//! WASI interface an artifact uses is at one of the pinned versions, all at
//! the same one: an artifact targets one line, never both ([`check_pinned`]).
//! The proposals with their own version line that edge hosts offer beside
//! either line's http world (`wit::EXTENSIONS`: `wasi:config`,
//! `wasi:keyvalue`) are allowed beside it. Then, for that
//! line ([`check`]), a wasi:http component fits the world edge hosts offer:
//! `wasi:http/proxy` on 0.2 (`wasmtime serve` without `-Scli`, most edge
//! platforms), `wasi:http/service` on 0.3; a 0.3 middleware fits
//! `wasi:http/middleware`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::wit::{self, Pins, Surface, Wit};

/// The wasi:http names of one WASI line.
struct HttpLine {
    /// The interface an http component exports (and a middleware imports).
    handler: &'static str,
    /// The world a self-contained http component must fit.
    service: &'static str,
    /// The world a middleware must fit, where the line has one.
    middleware: Option<&'static str>,
}

fn http_line(version: &str) -> HttpLine {
    if version.starts_with("0.2.") {
        HttpLine { handler: "wasi:http/incoming-handler", service: "wasi:http/proxy", middleware: None }
    } else {
        HttpLine {
            handler: "wasi:http/handler",
            service: "wasi:http/service",
            middleware: Some("wasi:http/middleware"),
        }
    }
}

/// The WASI versions `surface` uses, extensions left out.
fn versions_used(surface: &Surface) -> BTreeSet<String> {
    surface
        .imports
        .iter()
        .chain(&surface.exports)
        .filter(|n| n.starts_with("wasi:") && !wit::is_extension(n))
        .filter_map(|n| n.rsplit_once('@').map(|(_, v)| v.to_string()))
        .collect()
}

/// The line an artifact targets, or why it fits none: an artifact uses one
/// pinned WASI version (or none: a pure function), then [`check`] for it.
pub fn check_pinned(pins: &Pins, artifact: &Path, component: &[u8], surface: &Surface) -> Result<()> {
    let used = versions_used(surface);
    let pinned = pins.versions()?;
    let lines = pins.lines.iter().map(|l| l.dir.join("deps").display().to_string()).collect::<Vec<_>>();
    let lines: Vec<String> = pinned.iter().zip(&lines).map(|(v, d)| format!("{v} in {d}")).collect();
    let on_lines: Vec<&String> = used.iter().filter(|v| pinned.contains(v)).collect();
    if on_lines.len() > 1 {
        let by_version = |v: &String| {
            surface
                .imports
                .iter()
                .chain(&surface.exports)
                .filter(|n| n.ends_with(&format!("@{v}")))
                .cloned()
                .collect::<Vec<_>>()
        };
        let mixed: Vec<String> = on_lines.iter().map(|v| format!("{v}: {:?}", by_version(v))).collect();
        bail!(
            "{} mixes WASI lines ({}): an artifact targets one line, never both, since a host \
             serves a component as 0.2 or as 0.3; move every `wasi:*` reference in the world file \
             (<components>/<name>/wit/) to one line and rebuild with `{}`",
            artifact.display(),
            mixed.join("; "),
            crate::tool::cmd("dist"),
        );
    }
    let line = match on_lines.first() {
        Some(version) => pins.line(version).expect("a pinned version has its line"),
        None if used.is_empty() => return Ok(()),
        // At no pinned version: the 0.2 line names the drift, as it did
        // before there were two (a 0.3.x not pinned here is drift too).
        None => {
            let version = used.iter().next().unwrap();
            let nearest = pins
                .lines
                .iter()
                .find(|l| l.wasi_version().is_ok_and(|p| p.split('.').take(2).eq(version.split('.').take(2))))
                .unwrap_or(pins.first());
            return check(nearest, artifact, component, surface).with_context(|| {
                format!("the workspace pins WASI {}; an artifact uses exactly one of them", lines.join(" and "))
            });
        }
    };
    check(line, artifact, component, surface)
}

/// The checks for one line, `wit` (the line's pins): every WASI name at its
/// version, and an http component fitting its service (or middleware) world.
pub fn check(wit: &Wit, artifact: &Path, component: &[u8], surface: &Surface) -> Result<()> {
    let pinned = wit.wasi_version()?;
    let drifted: Vec<&String> = surface
        .imports
        .iter()
        .chain(&surface.exports)
        .filter(|n| n.starts_with("wasi:") && !n.ends_with(&format!("@{pinned}")) && !wit::is_extension(n))
        .collect();
    if !drifted.is_empty() {
        bail!(
            "{} uses {drifted:?}, but the workspace pins WASI {pinned} in {}/deps: the component \
             was left behind by a WASI bump; move the versions in its world file \
             (<components>/<name>/wit/) to {pinned} and rebuild with `{}`",
            artifact.display(),
            wit.dir.display(),
            crate::tool::cmd("dist"),
        );
    }
    let http = http_line(&pinned);
    if !surface.exports.iter().any(|e| e.starts_with(http.handler)) {
        return Ok(());
    }
    let service_name = format!("{}@{pinned}", http.service);
    // Middleware imports the next handler, which the service world does not
    // offer: it fits once composed in front of one, and the composition is
    // checked here in full (compose.rs).
    let middleware = surface.imports.iter().any(|i| i.starts_with(http.handler));
    let world = |name: &str| {
        wit.resolve
            .select_world(&[wit.package], Some(name))
            .with_context(|| format!("{}/deps has no world {name}", wit.dir.display()))
    };
    let service = world(&service_name)?;
    let offered = Surface::of(&wit.resolve, service);
    let extra: Vec<&String> = surface
        .imports
        .difference(&offered.imports)
        .filter(|i| !(middleware && i.starts_with(http.handler)))
        .filter(|i| !wit::is_extension(i))
        .collect();
    if !extra.is_empty() {
        bail!(
            "{} imports {extra:?}, which the {service_name} world does not offer: hosts that serve \
             only that world refuse the component; remove the code that needs it",
            artifact.display(),
        );
    }
    // The structural check is against the service world alone, which an
    // extension import cannot fit; the names were checked above and the
    // round-trip checks the types against the component's own world.
    if surface.imports.iter().any(|i| wit::is_extension(i)) {
        return Ok(());
    }
    let target = match (middleware, http.middleware) {
        (false, _) => service_name,
        (true, Some(middleware)) => format!("{middleware}@{pinned}"),
        // 0.2 has no middleware world: the composition is checked instead.
        (true, None) => return Ok(()),
    };
    wit_component::targets(&wit.resolve, world(&target)?, component, true)
        .with_context(|| format!("{} does not fit the {target} world", artifact.display()))
}
