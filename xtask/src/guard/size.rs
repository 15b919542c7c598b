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

use crate::artifact::{Manifest, write_atomic};
use crate::flags::{self, Format};
use crate::guard::{explain, picture};
use crate::report::{Table, group};
use crate::workspace;

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

    /// The budget file's text with `edit` applied to its `[components]`
    /// table, keeping every comment and the layout (toml_edit): how
    /// `--bless`, `new` and `rm` change the file.
    pub fn edit(root: &Path, edit: impl FnOnce(&mut toml_edit::Table)) -> Result<String> {
        let path = root.join(BUDGETS_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}: it holds the size budgets", path.display()))?;
        let mut doc: toml_edit::DocumentMut =
            text.parse().with_context(|| format!("{} is malformed", path.display()))?;
        let components = doc
            .entry("components")
            .or_insert_with(|| {
                let mut table = toml_edit::Table::new();
                table.set_implicit(true);
                toml_edit::Item::Table(table)
            })
            .as_table_mut()
            .with_context(|| format!("{}: `components` must be a table", path.display()))?;
        edit(components);
        Ok(doc.to_string())
    }
}

/// Sets `name`'s budget and baseline in a `[components]` table, adding the
/// entry at the end when it is new.
pub fn set(components: &mut toml_edit::Table, name: &str, budget: Budget) {
    let entry = components.entry(name).or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    entry["budget"] = toml_edit::value(budget.budget as i64);
    entry["baseline"] = toml_edit::value(budget.baseline as i64);
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
        let mut budgets = Budgets::load(&root)?;
        let tolerance = self.tolerance.unwrap_or(budgets.tolerance_percent);
        let sizes = dist_sizes(&root)?;
        if self.bless {
            let outcomes = evaluate(&budgets, &sizes, f64::INFINITY);
            if let Some(bad) = outcomes.iter().find(|o| o.baseline.is_none() || o.now.is_none()) {
                bail!("{}", bad.message);
            }
            let text = Budgets::edit(&root, |components| {
                for (name, bytes) in &sizes {
                    components[name.as_str()]["baseline"] = toml_edit::value(*bytes as i64);
                }
            })?;
            let path = root.join(BUDGETS_FILE);
            write_atomic(&path, text.as_bytes())?;
            budgets = Budgets::load(&root)?;
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
