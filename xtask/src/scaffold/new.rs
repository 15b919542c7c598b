//! `cargo xtask new <name> --template <template> [--out <dir>]`: a new
//! component copied from a template.
//!
//! The templates are edgekit's own components: read from `components/` in
//! edgekit's repository, and from the files the installed tool carries
//! anywhere else (`tool.rs`), so a team's project needs no checkout. `new`
//! copies the template (crate, WIT, lock file, toolchain file) and renames
//! what names the component: the crate, the WIT world and package, the Rust
//! identifiers made from the name (`http-api`, `http_api`, `HttpApi`) and
//! the string literals that are exactly the name. Comments, docs and other
//! strings are prose and stay as they are, for the person to rewrite. In a
//! project it links the component to the project's guest library
//! (`edgekit/`), adds a budget entry (the template's budget, baseline 0) to
//! the project file, and gives a middleware's copy the template's
//! compositions whose handler the project has; in edgekit's repository it
//! also copies the template's tests (`edgekit-test.rs`) and adds a row to
//! the README's component table. With `--out` it writes a standalone crate
//! with a README of its own instead and touches no project; a template
//! written on the guest library gets a copy of it in `edgekit/` beside its
//! sources, so the crate builds anywhere with the stock toolchain alone.
//! Everything is computed and checked first; a refused name or template
//! writes nothing, and a failed write removes what it wrote.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use heck::{ToSnakeCase, ToUpperCamelCase};
use xshell::Shell;

use crate::artifact::write_atomic;
use crate::bundle::{self, Kind};
use crate::project::{self, Budget, Composition, Project};
use crate::tool;
use crate::workspace;

impl crate::flags::New {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let root = project::find_root();
        if self.out.is_none() && root.is_none() {
            project::root()?;
        }
        let root = root.unwrap_or_else(workspace::root);
        let dir = create(&root, &self.name, &self.template, self.out.as_deref())?;
        let name = &self.name;
        match &self.out {
            None => {
                let project = Project::load(&root)?;
                let test = match project.is_edgekit_source() {
                    true => format!(", `cargo test -p edgekit-host --test components {}::`", name.to_snake_case()),
                    false => String::new(),
                };
                eprintln!(
                    "created {} from the {} template: run `{}`{test} and, once it is as you want it, `{}`",
                    dir.display(),
                    self.template,
                    tool::cmd(&format!("dist {name}")),
                    tool::cmd("size --bless"),
                );
            }
            Some(out) => eprintln!(
                "wrote the standalone crate {} from the {} template: `cargo build --release --target wasm32-wasip2` \
                 there builds a component; its README says how to bring it into an edgekit project",
                out.display(),
                self.template
            ),
        }
        Ok(())
    }
}

/// Words that cannot name a component: Rust keywords (the test module is
/// `mod <name>`) and WIT keywords (the world is `world <name>`).
const KEYWORDS: &[&str] = &[
    "as",
    "async",
    "await",
    "bool",
    "borrow",
    "break",
    "char",
    "const",
    "constructor",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "export",
    "extern",
    "f32",
    "f64",
    "false",
    "flags",
    "fn",
    "for",
    "func",
    "future",
    "if",
    "impl",
    "import",
    "in",
    "include",
    "interface",
    "let",
    "list",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "option",
    "own",
    "package",
    "pub",
    "record",
    "ref",
    "resource",
    "result",
    "return",
    "s16",
    "s32",
    "s64",
    "s8",
    "self",
    "static",
    "stream",
    "string",
    "struct",
    "super",
    "trait",
    "true",
    "tuple",
    "type",
    "u16",
    "u32",
    "u64",
    "u8",
    "union",
    "unsafe",
    "use",
    "variant",
    "where",
    "while",
    "with",
    "world",
    "yield",
];

/// Checks that `name` is both a crate name and a WIT identifier: lower-case
/// words of letters and digits, each starting with a letter, joined by `-`.
pub fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.split('-').all(|word| {
            word.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !valid {
        bail!(
            "`{name}` is not a valid component name: use lower-case words of letters and digits \
             joined by `-`, each word starting with a letter (it must be a crate name and a WIT \
             identifier), e.g. `orders-api`"
        );
    }
    if KEYWORDS.contains(&name) {
        bail!("`{name}` is a Rust or WIT keyword and cannot name a component: pick another name");
    }
    Ok(())
}

/// The spellings of a component name that appear in its files.
struct Spellings {
    kebab: String,
    snake: String,
    camel: String,
}

impl Spellings {
    fn of(name: &str) -> Spellings {
        Spellings { kebab: name.to_string(), snake: name.to_snake_case(), camel: name.to_upper_camel_case() }
    }
}

/// Whether `c` continues an identifier (`-` does, in WIT and crate names).
fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Renames whole-word occurrences of `from` in one piece of code (outside
/// string literals) to what `to` picks from the text before and after. An
/// occurrence after `wasi:` or `/` (a WASI name) or after `edgekit_host::`
/// (the host crate's own module) is left alone.
fn rename_words<'a>(text: &str, from: &str, to: impl Fn(&str, &str) -> &'a str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut done = 0;
    while let Some(i) = rest.find(from) {
        let before = &text[..done + i];
        let after = &rest[i + from.len()..];
        let whole = !before.chars().next_back().is_some_and(is_ident) && !after.chars().next().is_some_and(is_ident);
        let foreign = before.ends_with('/') || before.ends_with("wasi:") || before.ends_with("edgekit_host::");
        out.push_str(&rest[..i]);
        out.push_str(if whole && !foreign { to(before, after) } else { from });
        done += i + from.len();
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Renames the template's spellings in code: identifiers, and in WIT and
/// TOML the world, package and crate names. `camel` is false for the host
/// tests, where `Greeter` is the host's type, not the guest's. A one-word
/// template name is spelled the same in WIT and Rust, so there the context
/// decides: next to `::` it is a Rust path.
fn rename_code(text: &str, from: &Spellings, to: &Spellings, camel: bool) -> String {
    let text = if from.kebab == from.snake {
        rename_words(text, &from.kebab, |before, after| {
            if before.ends_with("::") || after.starts_with("::") || before.ends_with("mod ") {
                &to.snake
            } else {
                &to.kebab
            }
        })
    } else {
        let text = rename_words(text, &from.kebab, |_, _| &to.kebab);
        rename_words(&text, &from.snake, |_, _| &to.snake)
    };
    if camel { rename_words(&text, &from.camel, |_, _| &to.camel) } else { text }
}

/// A string literal's contents, renamed only when it names the component:
/// exactly one of its spellings, a composition with it in front
/// (`middleware+http-api`, which a middleware's tests run), or a WIT name in
/// its package (`edgekit:greeter/api@0.1.0`). Any other string is prose.
fn rename_literal(text: &str, from: &Spellings, to: &Spellings) -> String {
    if text == from.kebab {
        return to.kebab.clone();
    }
    if text == from.snake {
        return to.snake.clone();
    }
    if let Some(handler) = text.strip_prefix(&format!("{}+", from.kebab))
        && !handler.is_empty()
        && handler.chars().all(is_ident)
    {
        return format!("{}+{handler}", to.kebab);
    }
    match text.strip_prefix("edgekit:") {
        Some(rest) => format!("edgekit:{}", rename_words(rest, &from.kebab, |_, _| &to.kebab)),
        None => text.to_string(),
    }
}

/// Renames a file's text line by line: comment lines (`//`, `///`, `//!`,
/// `#`) are prose and stay; in the others, code is renamed by
/// [`rename_code`] and string literals by [`rename_literal`].
fn rename(text: &str, from: &Spellings, to: &Spellings, camel: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") || trimmed.starts_with('#') && !trimmed.starts_with("#[") {
            out.push_str(line);
            continue;
        }
        // Alternate code and string literals; a `"` after a backslash, or in
        // a char literal (`b'"'`), does not open or close one.
        let mut code = String::new();
        let mut literal = String::new();
        let mut in_string = false;
        let mut previous = '\0';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            let quote = c == '"' && previous != '\\' && !(previous == '\'' && chars.peek() == Some(&'\''));
            if quote && !in_string {
                out.push_str(&rename_code(&code, from, to, camel));
                code.clear();
                out.push('"');
                in_string = true;
            } else if quote {
                out.push_str(&rename_literal(&literal, from, to));
                literal.clear();
                out.push('"');
                in_string = false;
            } else if in_string {
                literal.push(c);
            } else {
                code.push(c);
            }
            previous = if previous == '\\' && c == '\\' { '\0' } else { c };
        }
        out.push_str(&rename_code(&code, from, to, camel));
        out.push_str(&literal);
    }
    out
}

/// A template: its files (relative to its directory, links left out:
/// `create` makes the library link anew or puts a copy in its place), and
/// the project file it came with (its budgets and compositions).
struct Template {
    files: Vec<(PathBuf, Vec<u8>)>,
    origin: ProjectOrigin,
}

/// The project file a template's budget and compositions are read from.
struct ProjectOrigin {
    budgets: project::Budgets,
    compositions: Vec<Composition>,
}

/// The template `name`: from the components of edgekit's repository when
/// `project` is it, else from the files the tool carries. An unknown name
/// is an error listing the templates.
fn template(project: Option<&Project>, name: &str) -> Result<Template> {
    if let Some(project) = project.filter(|p| p.is_edgekit_source()) {
        let dir = project.components_dir().join(name);
        if !dir.join("Cargo.toml").is_file() {
            let known = workspace::component_names(&project.root).unwrap_or_default();
            bail!("no template `{name}`: the templates are the components under components/ ({})", known.join(", "));
        }
        let mut paths = Vec::new();
        files(&dir, &mut paths)?;
        let mut files = Vec::new();
        for path in paths {
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            files.push((path.strip_prefix(&dir)?.to_path_buf(), bytes));
        }
        let origin =
            ProjectOrigin { budgets: project.file.budgets.clone(), compositions: project.file.composition.clone() };
        return Ok(Template { files, origin });
    }
    let bundle = bundle::get()?;
    let templates = bundle.templates();
    if !templates.iter().any(|t| t == name) {
        bail!("no template `{name}`: the templates are {}", templates.join(", "));
    }
    let prefix = format!("components/{name}");
    let files = bundle
        .under(&prefix)
        .filter_map(|(path, entry)| match &entry.kind {
            Kind::Link(_) => None,
            kind => Some((PathBuf::from(path), kind.bytes().unwrap_or_default().to_vec())),
        })
        .collect();
    let text = std::str::from_utf8(bundle.file(project::FILE)?).context("edgekit's project file is not UTF-8")?;
    let file = project::parse(Path::new(project::FILE), text)?;
    Ok(Template { files, origin: ProjectOrigin { budgets: file.budgets, compositions: file.composition } })
}

/// Lists the files of a template directory, leaving out build output, the
/// bindings cargo-component writes and symbolic links (the link to the
/// guest library, which `create` makes anew or replaces by a copy).
fn files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            if !path.ends_with("target") {
                files(&path, out)?;
            }
        } else if !path.ends_with("src/bindings.rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The guest library's files (sources, WIT, manifest, README), to be
/// copied into `to`: a standalone crate carries the library it is written
/// on, where the link was in the template: the project's library when
/// there is a project, else the one the tool carries. Not its lock file:
/// inside the crate the library is a member of the crate's workspace,
/// whose `Cargo.lock` is the crate's.
fn vendor_guest(project: Option<&Project>, to: &Path, writes: &mut Vec<(PathBuf, Vec<u8>)>) -> Result<()> {
    let mut library: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    match project {
        Some(project) => {
            let guest = project.library_dir();
            let mut paths = Vec::new();
            files(&guest, &mut paths)?;
            for path in paths {
                let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                library.push((path.strip_prefix(&guest)?.to_path_buf(), bytes));
            }
        }
        None => {
            for (path, entry) in bundle::get()?.under("guest") {
                if let Some(bytes) = entry.kind.bytes() {
                    library.push((PathBuf::from(path), bytes.to_vec()));
                }
            }
        }
    }
    for (relative, bytes) in library {
        if relative != Path::new("Cargo.lock") {
            writes.push((to.join(relative), bytes));
        }
    }
    Ok(())
}

/// `<components>/<name>/edgekit`, the link to the project's guest library
/// that a component builds against (see [`workspace::GUEST_DEPENDENCY`] for
/// why a link and not a path out of the component).
pub fn link_guest(project: &Project, component_dir: &Path) -> Result<()> {
    bundle::symlink(&project.guest_link(), &component_dir.join(workspace::GUEST_DIR))
}

/// The README a standalone crate made by `new --out` starts with.
fn standalone_readme(name: &str, template: &str, world: &str) -> String {
    format!(
        "# {name}\n\n\
         A WebAssembly component, made from edgekit's `{template}` template by\n\
         `cargo edgekit new {name} --template {template} --out <dir>`. It is a standalone\n\
         crate: its own `[workspace]`, pinned versions (`Cargo.lock`), toolchain\n\
         (`rust-toolchain.toml`) and WIT (`wit/`: the world `{world}` and the WASI\n\
         packages it uses). A template written on edgekit's guest library brings\n\
         a copy of it in `edgekit/`, which its `Cargo.toml` depends on by path.\n\n\
         ## Build it here\n\n\
         ```sh\n\
         cargo build --release --target wasm32-wasip2\n\
         ```\n\n\
         gives `target/wasm32-wasip2/release/{snake}.wasm`, a component. Built this\n\
         way, std brings its own WASI imports (`wasi:cli/*`), so it is bigger than\n\
         edgekit's build and needs a host that offers them.\n\n\
         ## Build it with edgekit\n\n\
         In an edgekit project (`cargo edgekit init` makes one), `cargo edgekit new\n\
         {name} --template {template}` makes the same component inside it, and\n\
         `cargo edgekit dist {name}` builds it: a core module for\n\
         `wasm32-unknown-unknown`, stripped, `wasm-opt -Oz`, componentized and checked\n\
         against `wit/`, importing only what the code calls, with a size budget\n\
         `cargo edgekit size` keeps.\n",
        snake = name.to_snake_case(),
    )
}

/// Creates the component `name` from `template` in the project at `root`,
/// or with `out` a standalone crate there (`root` then need not be a
/// project); returns the directory written. See the module header.
pub fn create(root: &Path, name: &str, template: &str, out: Option<&Path>) -> Result<PathBuf> {
    check_name(name)?;
    let project = match out {
        Some(_) if !root.join(project::FILE).is_file() => None,
        _ => Some(Project::load(root)?),
    };
    let source = self::template(project.as_ref(), template)?;
    let dir = match (out, &project) {
        (Some(out), _) => {
            if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
                bail!("{} already exists and is not empty: name a new directory with --out", out.display());
            }
            out.to_path_buf()
        }
        (None, Some(project)) => project.components_dir().join(name),
        (None, None) => unreachable!("loaded above"),
    };
    if out.is_none() && dir.exists() {
        bail!("{} already exists: pick another name, or remove that directory first", dir.display());
    }
    let (from, to) = (Spellings::of(template), Spellings::of(name));
    // Tests and their data belong to edgekit's own test suite (host/tests),
    // which runs every template; elsewhere nothing would run them.
    let ours = out.is_none() && project.as_ref().is_some_and(Project::is_edgekit_source);
    let test_only = |relative: &Path| {
        !ours && (relative == Path::new("edgekit-test.rs") || relative.starts_with("proptest-regressions"))
    };

    // Everything to write, computed before anything is written.
    let mut writes: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut manifest = None;
    for (relative, bytes) in &source.files {
        if test_only(relative) {
            continue;
        }
        let text = String::from_utf8(bytes.clone())
            .with_context(|| format!("{template}/{}: templates hold only text files", relative.display()))?;
        // The copies of the pinned WASI are not the template's to rename.
        if relative.starts_with("wit/deps") {
            writes.push((dir.join(relative), text.into_bytes()));
            continue;
        }
        let renamed_path = relative.to_string_lossy().replace(template, name);
        // The host tests call the host's `Greeter`, not the guest's type.
        let camel = !renamed_path.ends_with("edgekit-test.rs");
        let renamed = rename(&text, &from, &to, camel);
        if relative == Path::new("Cargo.toml") {
            manifest = Some(renamed.clone());
        }
        writes.push((dir.join(renamed_path), renamed.into_bytes()));
    }
    let manifest = manifest.with_context(|| format!("the template `{template}` has no Cargo.toml"))?;
    let uses_guest = manifest.contains(workspace::GUEST_DEPENDENCY);
    if out.is_some() && uses_guest {
        vendor_guest(project.as_ref(), &dir.join(workspace::GUEST_DIR), &mut writes)?;
    }
    match (out, &project) {
        (Some(_), _) => {
            let world = world_of(&manifest).unwrap_or_else(|| name.to_string());
            writes.push((dir.join("README.md"), standalone_readme(name, template, &world).into_bytes()));
        }
        (None, Some(project)) => project_entries(project, &source.origin, name, template, ours, &mut writes)?,
        (None, None) => unreachable!("loaded above"),
    }

    // Write, remembering what to undo if a write fails.
    let originals: Vec<(PathBuf, Option<Vec<u8>>)> =
        writes.iter().map(|(p, _)| (p.clone(), std::fs::read(p).ok())).collect();
    let result = writes.iter().try_for_each(|(path, bytes)| -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        write_atomic(path, bytes)
    });
    let result = result.and_then(|()| match (&project, out.is_none() && uses_guest) {
        (Some(project), true) => link_guest(project, &dir),
        _ => Ok(()),
    });
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&dir);
        for (path, original) in originals {
            match original {
                Some(bytes) => drop(std::fs::write(&path, bytes)),
                None => drop(std::fs::remove_file(&path)),
            }
        }
        return Err(e.context(format!("creating {} failed; nothing was left behind", dir.display())));
    }
    Ok(dir)
}

/// The world a component's Cargo.toml names (`[package.metadata.component.target] world`).
fn world_of(manifest: &str) -> Option<String> {
    let toml: toml::Table = manifest.parse().ok()?;
    let world = toml.get("package")?.get("metadata")?.get("component")?.get("target")?.get("world")?;
    world.as_str().map(str::to_string)
}

/// The project files a new component adds itself to: a budget (the
/// template's, baseline 0) in the project file, and for a middleware the
/// template's compositions with handlers the project has; in edgekit's
/// repository (`ours`) a README row too.
fn project_entries(
    project: &Project,
    origin: &ProjectOrigin,
    name: &str,
    template: &str,
    ours: bool,
    writes: &mut Vec<(PathBuf, Vec<u8>)>,
) -> Result<()> {
    let root = &project.root;
    if ours {
        let readme_path = root.join("README.md");
        let readme =
            std::fs::read_to_string(&readme_path).with_context(|| format!("cannot read {}", readme_path.display()))?;
        let row_start = format!("| `{template}` |");
        let row = readme
            .lines()
            .find(|l| l.starts_with(&row_start))
            .with_context(|| format!("README.md has no component-table row for `{template}`"))?;
        // The WASI and imports columns are the template's; size is filled in by
        // hand after `dist`.
        let wasi = row.split(" | ").nth(1).unwrap_or("none");
        let imports = row.split(" | ").nth(3).unwrap_or("nothing");
        let new_row = format!("| `{name}` | {wasi} | made from the `{template}` template | {imports} | |");
        let at = readme.find(row).unwrap_or(0) + row.len();
        let mut new_readme = readme.clone();
        new_readme.insert_str(at, &format!("\n{new_row}"));
        writes.push((readme_path, new_readme.into_bytes()));
    }

    let budget_of = |key: &str| {
        origin
            .budgets
            .artifacts
            .get(key)
            .map(|b| b.budget)
            .with_context(|| format!("edgekit's {} has no budget for the template `{key}`", project::FILE))
    };
    let mut entries = vec![(name.to_string(), budget_of(template)?)];

    // A middleware template's tests run its compositions: the copy gets the
    // same ones, in front of the same handlers, where the project has them.
    let handlers = workspace::component_names(root)?;
    let copied: Vec<Composition> = origin
        .compositions
        .iter()
        .filter(|c| c.middleware == template && handlers.contains(&c.handler))
        .map(|c| Composition { middleware: name.to_string(), handler: c.handler.clone() })
        .collect();
    for composition in &copied {
        entries.push((composition.name(), budget_of(&format!("{template}+{}", composition.handler))?));
    }
    let mut compositions = project.file.composition.clone();
    compositions.extend(copied);
    let text = project::edit(root, |doc| {
        project::set_compositions(doc, &compositions)?;
        entries
            .iter()
            .try_for_each(|(key, budget)| project::set_budget(doc, key, Budget { budget: *budget, baseline: 0 }))
    })?;
    writes.push((root.join(project::FILE), text.into_bytes()));
    Ok(())
}
