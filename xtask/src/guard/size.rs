//! `cargo xtask size`: size budgets and regressions as a CI guard.
//!
//! The project file's `[budgets]` holds, per artifact, a budget (a hard
//! ceiling) and a baseline (the last accepted size). A component over its budget, or grown
//! more than the tolerance over its baseline, fails; one that shrank passes
//! and says so. `--bless` accepts the current sizes as the new baselines.
//! `--explain` attributes an artifact's bytes (see `explain.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use xshell::Shell;

use crate::artifact::{Manifest, write_atomic};
use crate::flags::{self, Format};
use crate::guard::{explain, picture};
use crate::project::{self, Project};
use crate::report::{Table, group};
use crate::{tool, workspace};

pub use crate::project::{Budget, Budgets};

/// The budgets of the project at `root` (`[budgets]` of its project file).
pub fn budgets(root: &Path) -> Result<Budgets> {
    Ok(Project::load(root)?.file.budgets)
}

/// The verdict for one component.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Outcome {
    pub component: String,
    pub baseline: Option<usize>,
    pub now: Option<usize>,
    pub budget: Option<usize>,
    pub delta: Option<i64>,
    pub percent: Option<f64>,
    pub ok: bool,
    pub message: String,
}

/// Compares the sizes in `sizes` (component name to bytes) with `budgets`.
pub fn evaluate(budgets: &Budgets, sizes: &BTreeMap<String, usize>, tolerance: f64) -> Vec<Outcome> {
    let mut names: Vec<&String> = budgets.artifacts.keys().chain(sizes.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let now = sizes.get(name).copied();
            let entry = budgets.artifacts.get(name).copied();
            let mut outcome = Outcome {
                component: name.clone(),
                baseline: entry.map(|e| e.baseline),
                now,
                budget: entry.map(|e| e.budget),
                delta: None,
                percent: None,
                ok: false,
                message: String::new(),
            };
            let (Some(now), Some(entry)) = (now, entry) else {
                outcome.message = if now.is_none() {
                    format!(
                        "{} has an entry for `{name}`, which is not a component in \
                         target/dist: remove [budgets.{name}], or run `{}`",
                        project::FILE,
                        tool::cmd("dist")
                    )
                } else {
                    format!(
                        "`{name}` has no entry in {}: add [budgets.{name}] with a \
                         budget and baseline = 0, then run `{}`",
                        project::FILE,
                        tool::cmd("size --bless")
                    )
                };
                return outcome;
            };
            let delta = now as i64 - entry.baseline as i64;
            let percent = if entry.baseline == 0 { 0.0 } else { 100.0 * delta as f64 / entry.baseline as f64 };
            outcome.delta = Some(delta);
            outcome.percent = Some(percent);
            outcome.message = if now > entry.budget {
                format!(
                    "`{name}` is {} bytes, over its budget of {} in {}: see where the \
                     bytes go with `{}`, or raise the budget on purpose",
                    group(now),
                    group(entry.budget),
                    project::FILE,
                    tool::cmd(&format!("size --explain {name}"))
                )
            } else if entry.baseline > 0 && percent > tolerance {
                format!(
                    "`{name}` grew {percent:.1}% ({delta:+} bytes) over its baseline of {}, more than \
                     the {tolerance}% tolerance: find what grew with `{}`, or accept it with `{}`",
                    group(entry.baseline),
                    tool::cmd(&format!("size --explain {name} --diff <old.wasm>")),
                    tool::cmd("size --bless")
                )
            } else {
                outcome.ok = true;
                if entry.baseline == 0 {
                    format!("no baseline yet: run `{}`", tool::cmd("size --bless"))
                } else if delta < 0 {
                    format!("shrank by {} bytes: run `{}` to lock it in", -delta, tool::cmd("size --bless"))
                } else if delta > 0 {
                    "grew, within tolerance".to_string()
                } else {
                    "unchanged".to_string()
                }
            };
            outcome
        })
        .collect()
}

/// The sizes recorded in `target/dist/manifest.json`.
pub fn dist_sizes(root: &Path) -> Result<BTreeMap<String, usize>> {
    let manifest = Manifest::read(&workspace::dist_dir(root))?;
    Ok(manifest.components.into_iter().map(|e| (e.name, e.bytes)).collect())
}

fn opt(n: Option<usize>) -> String {
    n.map(group).unwrap_or_else(|| "-".into())
}

pub fn render(outcomes: &[Outcome], format: Format) -> String {
    let mut out = String::new();
    let cells = |o: &Outcome| {
        [
            o.component.clone(),
            opt(o.baseline),
            opt(o.now),
            o.delta.map(|d| format!("{d:+}")).unwrap_or_else(|| "-".into()),
            o.percent.map(|p| format!("{p:+.1}%")).unwrap_or_else(|| "-".into()),
            opt(o.budget),
            if o.ok { "ok".into() } else { "FAIL".into() },
        ]
    };
    let mut table = Table::new(["component", "baseline", "now", "delta", "percent", "budget", "status"]).left(&[6]);
    for o in outcomes {
        table.row(cells(o));
    }
    match format {
        Format::Json => {
            let ok = outcomes.iter().all(|o| o.ok);
            out = serde_json::to_string_pretty(&serde_json::json!({ "ok": ok, "components": outcomes }))
                .expect("outcomes serialize");
            out.push('\n');
        }
        Format::Markdown => {
            out.push_str(&table.markdown());
            for o in outcomes.iter().filter(|o| !o.ok || o.delta.is_some_and(|d| d < 0)) {
                let _ = writeln!(out, "\n- {}", o.message);
            }
        }
        Format::Table => out.push_str(&table.text()),
    }
    out
}

impl flags::Size {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let root = workspace::root();
        if !Manifest::path(&workspace::dist_dir(&root)).exists() {
            flags::Dist { components: Vec::new(), debug: false }.run(sh)?;
        }
        if let Some(name) = &self.explain {
            let artifact = workspace::dist_dir(&root).join(format!("{name}.wasm"));
            let new = explain::load(&artifact)?;
            match &self.diff {
                Some(old) => print!("{}", explain::render_diff(name, &explain::load(old)?, &new, self.top)),
                None => print!("{}", explain::render(name, &new, self.top)),
            }
            if let Some(file) = &self.svg {
                let svg = picture::svg(&picture::tree(name, &new));
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                }
                write_atomic(file, svg.as_bytes())
                    .with_context(|| format!("cannot write the picture of {name}: check that --svg names a file"))?;
                eprintln!("drew {name} into {}: open it in a browser", file.display());
            }
            return Ok(());
        }
        let mut budgets = budgets(&root)?;
        let tolerance = self.tolerance.unwrap_or(budgets.tolerance_percent);
        let sizes = dist_sizes(&root)?;
        if self.bless {
            let outcomes = evaluate(&budgets, &sizes, f64::INFINITY);
            if let Some(bad) = outcomes.iter().find(|o| o.baseline.is_none() || o.now.is_none()) {
                bail!("{}", bad.message);
            }
            let text = project::edit(&root, |doc| {
                sizes.iter().try_for_each(|(name, bytes)| project::set_baseline(doc, name, *bytes))
            })?;
            let path = root.join(project::FILE);
            write_atomic(&path, text.as_bytes())?;
            budgets = self::budgets(&root)?;
            eprintln!("blessed: baselines in {} are now the sizes in target/dist", path.display());
        }
        let outcomes = evaluate(&budgets, &sizes, tolerance);
        print!("{}", render(&outcomes, self.format));
        let failures: Vec<&str> = outcomes.iter().filter(|o| !o.ok).map(|o| o.message.as_str()).collect();
        if !failures.is_empty() {
            bail!("size check failed:\n  {}", failures.join("\n  "));
        }
        for o in outcomes.iter().filter(|o| o.delta.is_some_and(|d| d < 0)) {
            eprintln!("{}: {}", o.component, o.message);
        }
        Ok(())
    }
}
