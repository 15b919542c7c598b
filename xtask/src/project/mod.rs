//! The project: a directory holding an `edgekit.toml`, the one file that
//! says where a project's components live, which guest library and pinned
//! WASI they build on, their size budgets and compositions, and the routes
//! of its app. `cargo edgekit` (and, in edgekit's own repository, `cargo
//! xtask`) finds it at or above the current directory.
//!
//! The file's whole format is declared here ([`ProjectFile`]), parsed
//! strictly (an unknown key is an error naming the file, line and what was
//! expected), and written by one writer ([`edit`]), which keeps every
//! comment and the layout (toml_edit). The wings own what the sections
//! mean: `guard/size.rs` the budgets, `pipeline/compose.rs` the
//! compositions, `routes.rs` the app's routes (declared and checked there,
//! served by the run wing, deployed by the deploy wing).
//!
//! Two kinds of project, told apart by `[edgekit] version`:
//! - edgekit's own repository, whose guest library (`guest/`) and pins
//!   (`wit/`) are sources at the root (`dir = "."`, no version);
//! - a team's project made by `cargo edgekit init`, which holds a copy of
//!   both under `.edgekit/`, recorded with the versions of the edgekit that
//!   wrote it, so a newer tool can say so and `update` can move it on.

pub mod routes;

use std::collections::BTreeMap;
use std::path::{Component as PathPart, Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The project file's name.
pub const FILE: &str = "edgekit.toml";

/// Where `cargo edgekit init` puts the guest library and the pins in a
/// team's project.
pub const VENDORED_DIR: &str = ".edgekit";

/// `edgekit.toml`, as parsed.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProjectFile {
    #[serde(default)]
    pub project: Layout,
    #[serde(default)]
    pub edgekit: Edgekit,
    #[serde(default)]
    pub budgets: Budgets,
    #[serde(default)]
    pub composition: Vec<Composition>,
    /// The app: `[[route]]`s to components (`routes.rs`).
    #[serde(default)]
    pub route: Vec<routes::Route>,
}

/// `[project]`: where things live, relative to the project's root.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Layout {
    /// The directory of the components, one guest crate each.
    #[serde(default = "default_components")]
    pub components: String,
}

fn default_components() -> String {
    "components".into()
}

impl Default for Layout {
    fn default() -> Layout {
        Layout { components: default_components() }
    }
}

/// `[edgekit]`: the guest library and pins this project builds on.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Edgekit {
    /// The directory holding `guest/` (the library) and `wit/` (the pins).
    #[serde(default = "default_dir")]
    pub dir: String,
    /// The cargo-edgekit that wrote them; absent in edgekit's own
    /// repository, where they are the sources.
    pub version: Option<String>,
    /// The guest library's version (crate `edgekit`) written there.
    pub library: Option<String>,
    /// The pinned WASI releases written there, one per line.
    #[serde(default)]
    pub wasi: Vec<String>,
}

fn default_dir() -> String {
    ".".into()
}

impl Default for Edgekit {
    fn default() -> Edgekit {
        Edgekit { dir: default_dir(), version: None, library: None, wasi: Vec::new() }
    }
}

/// `[budgets]`: size budgets for `target/dist/*.wasm`, in bytes, checked by
/// `size`: `tolerance-percent` and one `[budgets.<artifact>]` table each.
#[derive(Debug, Clone)]
pub struct Budgets {
    /// How much an artifact may grow over its baseline, in percent.
    pub tolerance_percent: f64,
    pub artifacts: BTreeMap<String, Budget>,
}

/// By hand, so that a key that is no budget is named in the error (serde's
/// `flatten` would say only what it expected).
impl<'de> Deserialize<'de> for Budgets {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Budgets, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Budgets;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`tolerance-percent` and a table of `budget` and `baseline` per artifact")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Budgets, A::Error> {
                let mut budgets = Budgets::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "tolerance-percent" {
                        budgets.tolerance_percent = map.next_value()?;
                        continue;
                    }
                    let budget = map.next_value::<Budget>().map_err(|e| {
                        serde::de::Error::custom(format!(
                            "[budgets] `{key}`: {e}; each artifact's entry is a table, \
                             [budgets.{key}] with `budget` and `baseline` in bytes"
                        ))
                    })?;
                    budgets.artifacts.insert(key, budget);
                }
                Ok(budgets)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

fn default_tolerance() -> f64 {
    1.0
}

impl Default for Budgets {
    fn default() -> Budgets {
        Budgets { tolerance_percent: default_tolerance(), artifacts: BTreeMap::new() }
    }
}

/// One artifact's budget (the hard ceiling) and baseline (the last accepted
/// size; 0 before the first `size --bless`).
#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub budget: usize,
    pub baseline: usize,
}

/// One `[[composition]]`: a middleware component in front of an http one,
/// shipped as `<middleware>+<handler>.wasm`.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Composition {
    pub middleware: String,
    pub handler: String,
}

impl Composition {
    /// `middleware+http-api`: the artifact's name.
    pub fn name(&self) -> String {
        format!("{}+{}", self.middleware, self.handler)
    }
}

/// A project: its root and its parsed file.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub file: ProjectFile,
}

impl Project {
    /// Reads `<root>/edgekit.toml`. A file that does not parse, or names a
    /// directory outside the project, is an error naming the file, the line
    /// and what was expected.
    pub fn load(root: &Path) -> Result<Project> {
        let path = root.join(FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("cannot read {}: run `{}` to make this directory a project", path.display(), crate::tool::INIT)
        })?;
        let file = parse(&path, &text)?;
        Ok(Project { root: root.to_path_buf(), file })
    }

    /// The directory of the components.
    pub fn components_dir(&self) -> PathBuf {
        self.root.join(&self.file.project.components)
    }

    /// The directory holding `guest/` and `wit/` (the root itself in
    /// edgekit's repository, `.edgekit/` in a team's project).
    pub fn edgekit_dir(&self) -> PathBuf {
        normal(&self.root.join(&self.file.edgekit.dir))
    }

    /// The guest library, crate `edgekit`.
    pub fn library_dir(&self) -> PathBuf {
        self.edgekit_dir().join("guest")
    }

    /// The pinned WASI lines: `wit/` (0.2) with `wit/deps/`, `wit/p3/` with
    /// `wit/p3/deps/`.
    pub fn pins_dir(&self) -> PathBuf {
        self.edgekit_dir().join("wit")
    }

    /// Whether this is edgekit's own repository: its library and pins are
    /// sources, not a copy an edgekit wrote (no `[edgekit] version`).
    pub fn is_edgekit_source(&self) -> bool {
        self.file.edgekit.version.is_none()
    }

    /// `path` (under the root) relative to the root, `/`-separated, as the
    /// manifest records sources.
    pub fn relative(&self, path: &Path) -> String {
        let path = path.strip_prefix(&self.root).unwrap_or(path);
        let text = path.to_string_lossy().replace('\\', "/");
        if text.is_empty() { ".".into() } else { text }
    }

    /// Where a component's `edgekit` link points: from `<components>/<name>/`
    /// to the library, e.g. `../../guest` or `../../.edgekit/guest`.
    pub fn guest_link(&self) -> PathBuf {
        self.link(Path::new(crate::workspace::GUEST_DIR), Path::new("guest"))
    }

    /// Where a link at `from` inside a component directory (`edgekit`,
    /// `wit/deps`) points to reach `to` inside the edgekit directory
    /// (`guest`, `wit/deps`): `../../../wit/deps` here,
    /// `../../../.edgekit/wit/deps` in a team's project.
    pub fn link(&self, from: &Path, to: &Path) -> PathBuf {
        let depth = Path::new(&self.file.project.components).components().count() + from.components().count();
        let mut link = PathBuf::new();
        for _ in 0..depth {
            link.push("..");
        }
        link.join(normal(Path::new(&self.file.edgekit.dir))).join(to)
    }
}

/// Parses a project file's text; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<ProjectFile> {
    let file: ProjectFile = toml::from_str(text).map_err(|e| {
        // toml's message names the line and column, quotes the line and
        // says what it expected.
        anyhow::anyhow!("{} is not a valid project file: {e}fix it (docs/project.md lists every key)", path.display())
    })?;
    for (key, dir) in [("[project] components", &file.project.components), ("[edgekit] dir", &file.edgekit.dir)] {
        let inside = Path::new(dir).components().all(|c| matches!(c, PathPart::Normal(_) | PathPart::CurDir));
        if !inside {
            bail!(
                "{}: {key} = {dir:?} leaves the project: name a directory inside it, relative to {}",
                path.display(),
                path.parent().map(|p| p.display().to_string()).unwrap_or_default()
            );
        }
    }
    if file.budgets.tolerance_percent.is_nan() || file.budgets.tolerance_percent < 0.0 {
        bail!("{}: [budgets] tolerance-percent must be a number of percent, 0 or more", path.display());
    }
    routes::check_syntax(path, &file.route)?;
    Ok(file)
}

/// `path` without `.` parts (`./wit` is `wit`, `.` is empty).
fn normal(path: &Path) -> PathBuf {
    path.components().filter(|c| !matches!(c, PathPart::CurDir)).collect()
}

/// The nearest directory at or above `dir` holding an `edgekit.toml`.
pub fn root_above(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|dir| dir.join(FILE).is_file()).map(Path::to_path_buf)
}

/// The project's root, found at run time and never from a path compiled
/// into the binary (a binary reused from a shared target directory serves
/// the checkout it runs in): the nearest directory with an `edgekit.toml`
/// at or above the current directory; for `cargo xtask` and its tests, at
/// or above `CARGO_MANIFEST_DIR` first when cargo set it (`cargo run`,
/// `cargo test` in edgekit's repository). The installed tool never looks
/// there: that variable names whatever crate cargo last ran, not the
/// project a person is in.
pub fn find_root() -> Option<PathBuf> {
    let from_cargo = match crate::tool::in_checkout() {
        true => std::env::var_os("CARGO_MANIFEST_DIR").and_then(|dir| root_above(Path::new(&dir))),
        false => None,
    };
    from_cargo.or_else(|| root_above(&std::env::current_dir().ok()?))
}

/// [`find_root`], or an error saying how to make a project here.
pub fn root() -> Result<PathBuf> {
    find_root().with_context(|| {
        let here = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_else(|_| ".".into());
        format!(
            "no {FILE} in {here} or any directory above it: this is not an edgekit project; \
             run `{}` here to make it one",
            crate::tool::INIT
        )
    })
}

/// The text of `<root>/edgekit.toml` after `edit` changed it, keeping every
/// comment and the layout; the one way the file is changed (`size --bless`,
/// `new`, `rm`, `init`, `update`). The caller writes it, so that several
/// files can be computed before any is written. The result must still be a
/// valid project file.
pub fn edit(root: &Path, edit: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<()>) -> Result<String> {
    let path = root.join(FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| {
        anyhow::anyhow!("{} is not a valid project file: {e}fix it (docs/project.md lists every key)", path.display())
    })?;
    edit(&mut doc)?;
    let text = doc.to_string();
    parse(&path, &text).context("the edited project file would not be valid (a bug in edgekit: please report it)")?;
    Ok(text)
}

/// The `[budgets]` table of a project file, made if absent.
fn budgets_table(doc: &mut toml_edit::DocumentMut) -> Result<&mut toml_edit::Table> {
    doc.entry("budgets")
        .or_insert_with(|| {
            let mut table = toml_edit::Table::new();
            table["tolerance-percent"] = toml_edit::value(default_tolerance());
            toml_edit::Item::Table(table)
        })
        .as_table_mut()
        .context("`budgets` must be a table")
}

/// Sets `artifact`'s budget and baseline, adding the entry at the end of
/// `[budgets]` when it is new.
pub fn set_budget(doc: &mut toml_edit::DocumentMut, artifact: &str, budget: Budget) -> Result<()> {
    let budgets = budgets_table(doc)?;
    let entry = budgets.entry(artifact).or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    entry["budget"] = toml_edit::value(budget.budget as i64);
    entry["baseline"] = toml_edit::value(budget.baseline as i64);
    Ok(())
}

/// Sets only `artifact`'s baseline (`size --bless`).
pub fn set_baseline(doc: &mut toml_edit::DocumentMut, artifact: &str, baseline: usize) -> Result<()> {
    let budgets = budgets_table(doc)?;
    let entry = budgets.get_mut(artifact).with_context(|| format!("[budgets] has no entry for `{artifact}`"))?;
    entry["baseline"] = toml_edit::value(baseline as i64);
    Ok(())
}

/// Removes `artifact`'s budget, if it has one.
pub fn remove_budget(doc: &mut toml_edit::DocumentMut, artifact: &str) -> Result<()> {
    budgets_table(doc)?.remove(artifact);
    Ok(())
}

/// Removes the `[[route]]`s for which `gone` says so, keeping the others
/// and their comments as they were; returns how many went.
pub fn remove_routes(doc: &mut toml_edit::DocumentMut, gone: impl Fn(&routes::Route) -> bool) -> Result<usize> {
    let Some(list) = doc.get_mut("route") else { return Ok(0) };
    let list = list.as_array_of_tables_mut().context("`route` must be an array of tables ([[route]])")?;
    let before = list.len();
    list.retain(|table| {
        let route: Option<routes::Route> = toml::from_str(&table.to_string()).ok();
        !route.is_some_and(|route| gone(&route))
    });
    Ok(before - list.len())
}

/// Makes the `[[composition]]` list `after`: removed ones are taken out and
/// new ones appended, the others and their comments kept as they were.
pub fn set_compositions(doc: &mut toml_edit::DocumentMut, after: &[Composition]) -> Result<()> {
    let list = doc
        .entry("composition")
        .or_insert_with(|| toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .context("`composition` must be an array of tables ([[composition]])")?;
    let of = |t: &toml_edit::Table| Composition {
        middleware: t.get("middleware").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
        handler: t.get("handler").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
    };
    let before: Vec<Composition> = list.iter().map(of).collect();
    list.retain(|t| after.contains(&of(t)));
    for composition in after.iter().filter(|c| !before.contains(c)) {
        let mut table = toml_edit::Table::new();
        table["middleware"] = toml_edit::value(composition.middleware.clone());
        table["handler"] = toml_edit::value(composition.handler.clone());
        list.push(table);
    }
    Ok(())
}
