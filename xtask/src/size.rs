//! `cargo xtask size`: size budgets and regressions as a CI guard.
//!
//! `size-budgets.toml` holds, per component, a budget (a hard ceiling) and a
//! baseline (the last accepted size). A component over its budget, or grown
//! more than the tolerance over its baseline, fails; one that shrank passes
//! and says so. `--bless` accepts the current sizes as the new baselines.
//! `--explain` attributes an artifact's bytes (see `explain.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use xshell::Shell;

use crate::dist::group;
use crate::flags::{self, Format};
use crate::{explain, project};

pub const BUDGETS_FILE: &str = "size-budgets.toml";

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// How much a component may grow over its baseline, in percent.
    pub tolerance_percent: f64,
    #[serde(default)]
    pub components: BTreeMap<String, Budget>,
}

#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub budget: usize,
    pub baseline: usize,
}

impl Budgets {
    pub fn load(root: &Path) -> Result<Budgets> {
        let path = root.join(BUDGETS_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}: it holds the size budgets", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is malformed", path.display()))
    }

    /// The file's text, written by `--bless` (and by `cargo xtask new`).
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Size budgets for target/dist/*.wasm, in bytes; checked by `cargo xtask size`.\n\
             # budget:   the hard ceiling; raise it only on purpose, in review.\n\
             # baseline: the last accepted size; `cargo xtask size --bless` rewrites it.\n\
             # A component fails when it grows more than tolerance_percent over its baseline.\n",
        );
        let _ = writeln!(out, "tolerance_percent = {:?}", self.tolerance_percent);
        for (name, b) in &self.components {
            // A composition's name (`middleware+http-api`) is not a bare key.
            let key = if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                name.clone()
            } else {
                format!("\"{name}\"")
            };
            let _ = writeln!(out, "\n[components.{key}]\nbudget = {}\nbaseline = {}", b.budget, b.baseline);
        }
        out
    }
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
    let mut names: Vec<&String> = budgets.components.keys().chain(sizes.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let now = sizes.get(name).copied();
            let entry = budgets.components.get(name).copied();
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
                        "{BUDGETS_FILE} has an entry for `{name}`, which is not a component in \
                         target/dist: remove [components.{name}], or run `cargo xtask dist`"
                    )
                } else {
                    format!(
                        "`{name}` has no entry in {BUDGETS_FILE}: add [components.{name}] with a \
                         budget and baseline = 0, then run `cargo xtask size --bless`"
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
                    "`{name}` is {} bytes, over its budget of {} in {BUDGETS_FILE}: see where the \
                     bytes go with `cargo xtask size --explain {name}`, or raise the budget on purpose",
                    group(now),
                    group(entry.budget)
                )
            } else if entry.baseline > 0 && percent > tolerance {
                format!(
                    "`{name}` grew {percent:.1}% ({delta:+} bytes) over its baseline of {}, more than \
                     the {tolerance}% tolerance: find what grew with `cargo xtask size --explain {name} \
                     --diff <old.wasm>`, or accept it with `cargo xtask size --bless`",
                    group(entry.baseline)
                )
            } else {
                outcome.ok = true;
                if entry.baseline == 0 {
                    "no baseline yet: run `cargo xtask size --bless`".to_string()
                } else if delta < 0 {
                    format!("shrank by {} bytes: run `cargo xtask size --bless` to lock it in", -delta)
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
    let mut sizes = BTreeMap::new();
    for c in crate::manifest::read_entries(root)? {
        let name = c["name"].as_str().context("manifest entry without a name")?;
        let bytes = c["bytes"].as_u64().context("manifest entry without bytes")?;
        sizes.insert(name.to_string(), bytes as usize);
    }
    Ok(sizes)
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
    let header = ["component", "baseline", "now", "delta", "percent", "budget", "status"];
    match format {
        Format::Json => {
            let ok = outcomes.iter().all(|o| o.ok);
            out = serde_json::to_string_pretty(&serde_json::json!({ "ok": ok, "components": outcomes }))
                .unwrap();
            out.push('\n');
        }
        Format::Markdown => {
            let _ = writeln!(out, "| {} |", header.join(" | "));
            let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
            for o in outcomes {
                let _ = writeln!(out, "| {} |", cells(o).join(" | "));
            }
            for o in outcomes.iter().filter(|o| !o.ok || o.delta.is_some_and(|d| d < 0)) {
                let _ = writeln!(out, "\n- {}", o.message);
            }
        }
        Format::Table => {
            let _ = writeln!(
                out,
                "{:<14} {:>10} {:>10} {:>8} {:>8} {:>10}  {}",
                header[0], header[1], header[2], header[3], header[4], header[5], header[6]
            );
            for o in outcomes {
                let c = cells(o);
                let _ = writeln!(
                    out,
                    "{:<14} {:>10} {:>10} {:>8} {:>8} {:>10}  {}",
                    c[0], c[1], c[2], c[3], c[4], c[5], c[6]
                );
            }
        }
    }
    out
}

impl flags::Size {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let root = project::root();
        if !project::dist_dir(&root).join("manifest.json").exists() {
            flags::Dist { components: Vec::new() }.run(sh)?;
        }
        if let Some(name) = &self.explain {
            let artifact = project::dist_dir(&root).join(format!("{name}.wasm"));
            let new = explain::load(&artifact)?;
            match &self.diff {
                Some(old) => print!("{}", explain::render_diff(name, &explain::load(old)?, &new, self.top)),
                None => print!("{}", explain::render(name, &new, self.top)),
            }
            return Ok(());
        }
        let mut budgets = Budgets::load(&root)?;
        let tolerance = self.tolerance.unwrap_or(budgets.tolerance_percent);
        let sizes = dist_sizes(&root)?;
        if self.bless {
            let outcomes = evaluate(&budgets, &sizes, f64::INFINITY);
            if let Some(bad) = outcomes.iter().find(|o| o.baseline.is_none() || o.now.is_none()) {
                bail!("{}", bad.message);
            }
            for (name, bytes) in &sizes {
                budgets.components.get_mut(name).unwrap().baseline = *bytes;
            }
            let path = root.join(BUDGETS_FILE);
            crate::dist::write_atomic(&path, budgets.to_toml().as_bytes())?;
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
