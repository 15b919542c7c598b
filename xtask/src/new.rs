//! `cargo xtask new <name> --template <component>`: a new component copied
//! from an existing one.
//!
//! It copies `components/<template>/` and `wit/<template>.wit`, renaming the
//! crate, the WIT package and world, and the Rust identifiers made from the
//! name (`http-api`, `http_api`, `HttpApi`); appends a copy of the template's
//! test module to `host/tests/components.rs`, a row to the README's component
//! table and a budget entry (the template's budget, baseline 0) to
//! `size-budgets.toml`; a middleware's copy also gets the template's
//! compositions in `compose.toml`. Everything is computed and checked first; a refused
//! name or template writes nothing, and a failed write removes what it wrote.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::Shell;

use crate::compose::{self, Composition};
use crate::project;
use crate::size::{self, Budget, Budgets};

impl crate::flags::New {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let root = project::root();
        create(&root, &self.name, &self.template)?;
        eprintln!(
            "created components/{name} from {template}: run `cargo xtask dist {name}`, \
             `cargo test -p edgekit-host {module}::` and, once it is as you want it, \
             `cargo xtask size --bless`",
            name = self.name,
            template = self.template,
            module = self.name.replace('-', "_"),
        );
        Ok(())
    }
}

/// Words that cannot name a component: Rust keywords (the test module is
/// `mod <name>`) and WIT keywords (the world is `world <name>`).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "bool", "borrow", "break", "char", "const", "constructor", "continue", "crate", "dyn",
    "else", "enum", "export", "extern", "f32", "f64", "false", "flags", "fn", "for", "func", "future", "if",
    "impl", "import", "in", "include", "interface", "let", "list", "loop", "match", "mod", "move", "mut", "option",
    "own", "package", "pub", "record", "ref", "resource", "result", "return", "s16", "s32", "s64", "s8", "self",
    "static", "stream", "string", "struct", "super", "trait", "true", "tuple", "type", "u16", "u32", "u64", "u8",
    "union", "unsafe", "use", "variant", "where", "while", "with", "world", "yield",
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
        let camel = name
            .split('-')
            .map(|w| {
                let mut chars = w.chars();
                chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect();
        Spellings { kebab: name.to_string(), snake: name.replace('-', "_"), camel }
    }
}

/// Replaces whole-word occurrences of `from` with what `to` picks from the
/// text before and after it. A word is bounded by characters that cannot
/// continue an identifier (`-` and `_` continue one). An occurrence that is a
/// WASI name (`wasi:http/proxy`) or the host crate's own module
/// (`edgekit_host::greeter`) is left alone.
fn replace_word<'a>(text: &str, from: &str, to: impl Fn(&str, &str) -> &'a str) -> String {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
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

/// Renames the template's spellings to the new ones; `camel` is false for
/// the host tests, where `Greeter` is the host's type, not the guest's. A
/// one-word template name is spelled the same in WIT and Rust, so there the
/// context decides: after `mod ` or next to `::` it is a Rust path.
fn rename(text: &str, from: &Spellings, to: &Spellings, camel: bool) -> String {
    let text = if from.kebab == from.snake {
        replace_word(text, &from.kebab, |before, after| {
            if before.ends_with("mod ") || before.ends_with("::") || after.starts_with("::") {
                &to.snake
            } else {
                &to.kebab
            }
        })
    } else {
        let text = replace_word(text, &from.kebab, |_, _| &to.kebab);
        replace_word(&text, &from.snake, |_, _| &to.snake)
    };
    if camel { replace_word(&text, &from.camel, |_, _| &to.camel) } else { text }
}

/// A world file without the `package wasi:... { ... }` blocks (and their doc
/// comments) it declares for a WASI proposal (wit/proxy.wit declares
/// `wasi:config`): the template's file still does, and a package may be
/// declared only once.
fn without_wasi_packages(wit: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut inside = false;
    for line in wit.lines() {
        if line.starts_with("package wasi:") && line.trim_end().ends_with('{') {
            inside = true;
            while out.last().is_some_and(|l| l.starts_with("///")) {
                out.pop();
            }
            continue;
        }
        if inside {
            inside = line != "}";
            continue;
        }
        out.push(line);
    }
    let mut text = out.join("\n").trim_end().to_string();
    text.push('\n');
    text
}

/// The test module `mod <module> { ... }` of `tests`, up to its closing brace
/// at the start of a line.
fn test_module<'a>(tests: &'a str, module: &str) -> Option<&'a str> {
    let start = tests.find(&format!("\nmod {module} {{\n"))? + 1;
    let end = start + tests[start..].find("\n}\n")? + 3;
    Some(&tests[start..end])
}

/// Lists the files of a template directory, leaving out build output and the
/// bindings cargo-component writes.
fn files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
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

/// Creates `components/<name>` from `components/<template>` in the workspace
/// at `root`; see the module header.
pub fn create(root: &Path, name: &str, template: &str) -> Result<()> {
    check_name(name)?;
    let components = root.join("components");
    let template_dir = components.join(template);
    if !template_dir.join("Cargo.toml").is_file() {
        let known: Vec<String> =
            project::components(root, &[]).map(|cs| cs.into_iter().map(|c| c.name).collect()).unwrap_or_default();
        bail!("no template `{template}`: the templates are the components under components/ ({})", known.join(", "));
    }
    let dir = components.join(name);
    if dir.exists() {
        bail!("{} already exists: pick another name, or remove that directory first", dir.display());
    }
    let source = project::load(&template_dir)?;
    let world_file = root.join("wit").join(format!("{name}.wit"));
    if world_file.exists() {
        bail!("{} already exists: another component uses the world `{name}`; pick another name", world_file.display());
    }
    let (from, to) = (Spellings::of(template), Spellings::of(name));

    // Everything to write, computed before anything is written.
    let mut writes: Vec<(PathBuf, String)> = Vec::new();
    let mut template_files = Vec::new();
    files(&template_dir, &mut template_files)?;
    for path in template_files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: templates hold only text files", path.display()))?;
        let relative = path.strip_prefix(&template_dir)?;
        writes.push((dir.join(relative), rename(&text, &from, &to, true)));
    }
    let template_world = root.join("wit").join(format!("{}.wit", source.world));
    let wit = std::fs::read_to_string(&template_world)
        .with_context(|| format!("cannot read {}, the template's world", template_world.display()))?;
    let from_world = Spellings::of(&source.world);
    let wit = without_wasi_packages(&wit);
    writes.push((world_file.clone(), rename(&rename(&wit, &from, &to, true), &from_world, &to, true)));

    let tests_path = root.join("host/tests/components.rs");
    let tests = std::fs::read_to_string(&tests_path).with_context(|| format!("cannot read {}", tests_path.display()))?;
    let module = test_module(&tests, &from.snake).with_context(|| {
        format!("{} has no `mod {} {{ ... }}` to copy for the template", tests_path.display(), from.snake)
    })?;
    let mut new_tests = tests.trim_end().to_string();
    new_tests.push_str("\n\n");
    new_tests.push_str(&rename(module, &from, &to, false));
    writes.push((tests_path, new_tests));

    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).with_context(|| format!("cannot read {}", readme_path.display()))?;
    let row_start = format!("| `{template}` |");
    let row = readme
        .lines()
        .find(|l| l.starts_with(&row_start))
        .with_context(|| format!("README.md has no component-table row for `{template}`"))?;
    // The imports column is the template's; size is filled in by hand after `dist`.
    let imports = row.split(" | ").nth(2).unwrap_or("nothing");
    let new_row = format!("| `{name}` | made from the `{template}` template | {imports} | |");
    let at = readme.find(row).unwrap_or(0) + row.len();
    let mut new_readme = readme.clone();
    new_readme.insert_str(at, &format!("\n{new_row}"));
    writes.push((readme_path, new_readme));

    let mut budgets = Budgets::load(root)?;
    let budget = budgets
        .components
        .get(template)
        .map(|b| b.budget)
        .with_context(|| format!("{} has no entry for the template `{template}`", size::BUDGETS_FILE))?;
    budgets.components.insert(name.to_string(), Budget { budget, baseline: 0 });

    // A middleware template's tests run its compositions: the copy gets the
    // same ones, in front of the same handlers.
    let compose_path = root.join(compose::COMPOSE_FILE);
    let mut compose_text = std::fs::read_to_string(&compose_path).unwrap_or_default();
    let copied: Vec<Composition> = compose::compositions(root)?
        .into_iter()
        .filter(|c| c.middleware == template)
        .map(|c| Composition { middleware: name.to_string(), handler: c.handler })
        .collect();
    for composition in &copied {
        let template_name = format!("{template}+{}", composition.handler);
        let budget = budgets.components.get(&template_name).map(|b| b.budget).with_context(|| {
            format!("{} has no entry for the composition `{template_name}`", size::BUDGETS_FILE)
        })?;
        budgets.components.insert(composition.name(), Budget { budget, baseline: 0 });
        compose_text.push_str(&format!(
            "\n[[composition]]\nmiddleware = \"{}\"\nhandler = \"{}\"\n",
            composition.middleware, composition.handler
        ));
    }
    if !copied.is_empty() {
        writes.push((compose_path, compose_text));
    }
    writes.push((root.join(size::BUDGETS_FILE), budgets.to_toml()));

    // Write, remembering what to undo if a write fails.
    let originals: Vec<(PathBuf, Option<String>)> =
        writes.iter().map(|(p, _)| (p.clone(), std::fs::read_to_string(p).ok())).collect();
    let result = writes.iter().try_for_each(|(path, text)| -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        crate::dist::write_atomic(path, text.as_bytes())
    });
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&dir);
        for (path, original) in originals {
            match original {
                Some(text) => drop(std::fs::write(&path, text)),
                None => drop(std::fs::remove_file(&path)),
            }
        }
        return Err(e.context(format!("creating {} failed; nothing was left behind", dir.display())));
    }
    Ok(())
}
