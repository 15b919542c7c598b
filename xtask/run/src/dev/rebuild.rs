//! One rebuild: `dist`'s pipeline for the component served (or both parts
//! and the composition), the size budgets of `size`, and a handler for the
//! new bytes; only when all of them pass is anything written or swapped in.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use edgekit_host::Engines;
use edgekit_host::http::{Grants, Handler, Limits, TICK};
use edgekit_host::profile::Profile;
use edgekit_host::serve::Log;
use edgekit_host::trap::Names;
use wasmtime::component::Component;
use xshell::Shell;
use xtask::artifact::{self, Artifact};
use xtask::guard::size::{self, Outcome, evaluate};
use xtask::pipeline::{compose, dist};
use xtask::report::group;
use xtask::workspace;

/// What `dev` serves: an artifact, or a composition of the project file,
/// the artifacts a rebuild builds for it, and the crates they are built
/// from (whose sources `dev` watches).
pub struct Target {
    pub name: String,
    pub parts: Vec<String>,
    pub crates: Vec<String>,
}

impl Target {
    /// The artifact (`http-api`, `http-api-p3`) or composition `name` of the
    /// project at `root`.
    pub fn find(root: &Path, name: &str) -> Result<Target> {
        let components = workspace::artifact_names(root)?;
        let compositions = compose::compositions(root)?;
        let parts = match compositions.iter().find(|c| c.name() == name) {
            _ if components.iter().any(|c| c == name) => Some(vec![name.to_string()]),
            Some(c) => Some(vec![c.middleware.clone(), c.handler.clone()]),
            None => None,
        };
        if let Some(parts) = parts {
            let mut crates = Vec::new();
            for part in &parts {
                let component = workspace::component_of(root, part)?
                    .with_context(|| format!("`{name}` names `{part}`, which no component of the project builds"))?;
                if !crates.contains(&component.name) {
                    crates.push(component.name);
                }
            }
            return Ok(Target { name: name.to_string(), parts, crates });
        }
        let names: Vec<String> = compositions.iter().map(|c| c.name()).collect();
        bail!(
            "no component or composition `{name}` under {} or in {}: dev rebuilds from sources, so name one of \
             {} or {}",
            xtask::project::Project::load(root)?.components_dir().display(),
            root.join(xtask::project::FILE).display(),
            components.join(", "),
            if names.is_empty() { "(no compositions)".to_string() } else { names.join(", ") }
        )
    }
}

/// How a request's instances are made: the engines, limits and grants of
/// the server.
pub struct Host<'a> {
    pub engines: &'a Engines,
    pub limits: &'a Limits,
    pub grants: &'a Grants,
    /// Where the component's stdout and stderr lines go.
    pub guest_log: &'a Log,
    /// Whether each version is profiled (`--profile`).
    pub profile: bool,
}

impl Host<'_> {
    /// A handler for `component` (the bytes `bytes`, compiled), named `name`
    /// in errors, whose traps are named with `names`.
    fn handler_of(&self, name: &str, component: &Component, bytes: &[u8], names: &NamesFrom) -> Result<Handler> {
        let names = match names {
            NamesFrom::File(artifact) => Names::beside(component, artifact, bytes),
            NamesFrom::Pipeline(artifact) => Names::from_text(
                component,
                bytes,
                &artifact::Names::of(artifact).to_json(),
                &format!("the rebuild that made it (also written to target/dist/{name}.names.json)"),
            ),
        };
        let handler = Handler::with(component, self.limits.clone(), self.grants.clone()).with_context(|| {
            format!(
                "cannot serve `{name}`: dev serves wasi:http components and the compositions the project file lists"
            )
        })?;
        let handler = handler.named(name).guest_log(self.guest_log.clone()).with_names(names.clone());
        // Each version gets a profile of its own (wasmtime's profiler is
        // made for one component); the one serving at the stop is written.
        Ok(match self.profile {
            true => handler.profiled(Profile::new(name, &names, TICK)),
            false => handler,
        })
    }
}

/// A handler for each of `hosts` (the routes serving one artifact; one for
/// a component named) from the component `bytes`, compiled once.
pub fn handlers(hosts: &[&Host], name: &str, bytes: &[u8], names: NamesFrom) -> Result<Vec<Handler>> {
    let engines = hosts.first().context("no route serves it")?.engines;
    let component = engines.compile(bytes).with_context(|| format!("wasmtime cannot compile {name}"))?;
    hosts.iter().map(|host| host.handler_of(name, &component, bytes, &names)).collect()
}

/// Where the names of a served component's functions come from, for its
/// traps: the names file beside a dist artifact (used only if it matches the
/// bytes), or the pipeline run that just built the bytes.
pub enum NamesFrom<'a> {
    File(&'a Path),
    Pipeline(&'a Artifact),
}

/// A rebuild that passed: the handlers to swap in (one per host asked),
/// and its line.
pub struct Rebuilt {
    pub handlers: Vec<Handler>,
    pub bytes: usize,
    pub outcome: Option<Outcome>,
}

/// Runs the pipeline for `target` at `root`, checks the budgets, makes a
/// handler for each of `hosts`, then writes `target/dist/` as `dist` does.
/// `stopping` is asked before anything is written: a stopped `dev` writes
/// nothing more.
pub fn rebuild(
    sh: &Shell,
    root: &Path,
    target: &Target,
    hosts: &[&Host],
    stopping: impl Fn() -> bool,
) -> Result<Rebuilt> {
    // The artifacts served, each alone (not every line of its crate).
    let (pins, artifacts) = dist::produce_builds(sh, root, &workspace::artifacts(root, &target.parts)?, true)?;
    let served = artifacts
        .iter()
        .map(|(artifact, _)| artifact)
        .find(|a| a.name == target.name)
        .with_context(|| format!("the pipeline made no `{}`: check {}", target.name, xtask::project::FILE))?;
    let budgets = size::budgets(root)?;
    let sizes: BTreeMap<String, usize> = artifacts.iter().map(|(a, _)| (a.name.clone(), a.bytes.len())).collect();
    let outcomes: Vec<Outcome> = evaluate(&budgets, &sizes, budgets.tolerance_percent)
        .into_iter()
        .filter(|o| sizes.contains_key(&o.component))
        .collect();
    if let Some(over) = outcomes.iter().find(|o| o.now.zip(o.budget).is_some_and(|(now, budget)| now > budget)) {
        bail!("size check failed: {}", over.message);
    }
    let handlers = handlers(hosts, &target.name, &served.bytes, NamesFrom::Pipeline(served))?;
    if stopping() {
        bail!("stopped before writing target/dist");
    }
    dist::write(root, &pins, &artifacts)?;
    let outcome = outcomes.into_iter().find(|o| o.component == target.name);
    Ok(Rebuilt { handlers, bytes: served.bytes.len(), outcome })
}

/// The line printed after a rebuild that passed: the component, its new
/// size, the change against the baseline and the budget, and the time.
pub fn line(name: &str, rebuilt: &Rebuilt, took: Duration) -> String {
    let size = format!("{} B", group(rebuilt.bytes));
    let against = match &rebuilt.outcome {
        Some(Outcome { baseline: Some(baseline), budget: Some(budget), delta: Some(delta), percent, ok, .. }) => {
            let percent = percent.unwrap_or(0.0);
            let left = budget.saturating_sub(rebuilt.bytes);
            let mut text = format!(
                "{delta:+} B ({percent:+.1}%) against the baseline {}, {} B under the budget {}",
                group(*baseline),
                group(left),
                group(*budget)
            );
            if !ok {
                text.push_str(&format!(
                    " [over the tolerance of {}: `{}` will fail until you shrink it or run `{}`]",
                    xtask::project::FILE,
                    xtask::tool::cmd("size"),
                    xtask::tool::cmd("size --bless")
                ));
            }
            text
        }
        _ => format!("no budget in {} (add one as `{}` asks)", xtask::project::FILE, xtask::tool::cmd("size")),
    };
    format!("dev: {name} {size}, {against}; rebuilt in {:.1} s, now serving", took.as_secs_f64())
}
