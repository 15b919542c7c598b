//! `cargo xtask new <name> --template <component> [--out <dir>]`: a new
//! component copied from an existing one.
//!
//! It copies `components/<template>/` (crate, WIT, tests, lock file,
//! toolchain file) and renames what names the component: the crate, the WIT
//! world and package, the Rust identifiers made from the name (`http-api`,
//! `http_api`, `HttpApi`) and the string literals that are exactly the name.
//! Comments, docs and other strings are prose and stay as they are, for the
//! person to rewrite. Inside the workspace it also adds a row to the README's
//! component table and a budget entry (the template's budget, baseline 0) to
//! `size-budgets.toml`, and a middleware's copy gets the template's
//! compositions in `compose.toml`. With `--out` it writes a standalone crate
//! with a README of its own instead and touches nothing in the workspace; a
//! template written on the guest library gets a copy of it in `edgekit/`
//! beside its sources, and its dependency points there, so the crate builds
//! anywhere with the stock toolchain alone.
//! Everything is computed and checked first; a refused name or template
//! writes nothing, and a failed write removes what it wrote.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use heck::{ToSnakeCase, ToUpperCamelCase};
use xshell::Shell;

use crate::artifact::write_atomic;
use crate::guard::size::{self, Budget, Budgets};
use crate::pipeline::compose::{self, Composition};
use crate::workspace;

impl crate::flags::New {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let root = workspace::root();
        let module = self.name.to_snake_case();
        match &self.out {
            None => {
                create(&root, &self.name, &self.template, None)?;
                eprintln!(
                    "created components/{name} from {template}: run `cargo xtask dist {name}`, \
                     `cargo test -p edgekit-host --test components {module}::` and, once it is as you want it, \
                     `cargo xtask size --bless`",
                    name = self.name,
                    template = self.template,
                );
            }
            Some(out) => {
                create(&root, &self.name, &self.template, Some(out))?;
                eprintln!(
                    "wrote the standalone crate {} from {}: `cargo build --release --target wasm32-wasip2` \
                     there builds a component; its README says how to bring it back into edgekit",
                    out.display(),
                    self.template
                );
            }
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
/// on, at the version it was tested with, where the link was in the
/// template. Not its lock file: inside the crate the library is a member of
/// the crate's workspace, whose `Cargo.lock` is the crate's.
fn vendor_guest(root: &Path, to: &Path, writes: &mut Vec<(PathBuf, String)>) -> Result<()> {
    let guest = root.join(workspace::GUEST);
    let mut library = Vec::new();
    files(&guest, &mut library)?;
    for path in library {
        let relative = path.strip_prefix(&guest)?;
        if relative == Path::new("Cargo.lock") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: the guest library holds only text files", path.display()))?;
        writes.push((to.join(relative), text));
    }
    Ok(())
}

/// `components/<name>/edgekit`, the link to the guest library that a
/// component under `components/` builds against (see
/// [`workspace::GUEST_DEPENDENCY`] for why a link and not `../../guest`).
pub fn link_guest(component_dir: &Path) -> Result<()> {
    let link = component_dir.join(workspace::GUEST_DIR);
    #[cfg(unix)]
    std::os::unix::fs::symlink(workspace::GUEST_LINK, &link)
        .with_context(|| format!("cannot create the link {} -> {}", link.display(), workspace::GUEST_LINK))?;
    #[cfg(not(unix))]
    bail!(
        "{}: a component on the guest library needs a symbolic link to {}; create it by hand",
        link.display(),
        workspace::GUEST_LINK
    );
    Ok(())
}

/// The README a standalone crate made by `new --out` starts with.
fn standalone_readme(name: &str, template: &str, world: &str) -> String {
    format!(
        "# {name}\n\n\
         A WebAssembly component, made from edgekit's `{template}` template by\n\
         `cargo xtask new {name} --template {template} --out <dir>`. It is a standalone\n\
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
         Put this directory under `components/` of an edgekit checkout and run\n\
         `cargo xtask dist {name}`: a core module for `wasm32-unknown-unknown`, stripped,\n\
         `wasm-opt -Oz`, componentized and checked against `wit/`, importing only what\n\
         the code calls. `edgekit-test.rs` holds the tests edgekit runs against that\n\
         artifact in wasmtime (`cargo test` there picks it up); add a row for `{name}`\n\
         to the README's component table and a budget to `size-budgets.toml`, as\n\
         `cargo xtask tidy` and `cargo xtask size` will tell you.\n",
        snake = name.to_snake_case(),
    )
}

/// Creates `components/<name>` from `components/<template>` in the workspace
/// at `root`, or with `out` a standalone crate there; see the module header.
pub fn create(root: &Path, name: &str, template: &str, out: Option<&Path>) -> Result<()> {
    check_name(name)?;
    let components = root.join("components");
    let template_dir = components.join(template);
    if !template_dir.join("Cargo.toml").is_file() {
        let known = workspace::component_names(root).unwrap_or_default();
        bail!("no template `{template}`: the templates are the components under components/ ({})", known.join(", "));
    }
    let dir = match out {
        Some(out) => {
            if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
                bail!("{} already exists and is not empty: name a new directory with --out", out.display());
            }
            out.to_path_buf()
        }
        None => components.join(name),
    };
    if out.is_none() && dir.exists() {
        bail!("{} already exists: pick another name, or remove that directory first", dir.display());
    }
    let source = workspace::load(&template_dir)?;
    let (from, to) = (Spellings::of(template), Spellings::of(name));

    // Everything to write, computed before anything is written.
    let mut writes: Vec<(PathBuf, String)> = Vec::new();
    let mut template_files = Vec::new();
    files(&template_dir, &mut template_files)?;
    for path in template_files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: templates hold only text files", path.display()))?;
        let relative = path.strip_prefix(&template_dir)?;
        // The copies of the pinned WASI are not the template's to rename.
        if relative.starts_with("wit/deps") {
            writes.push((dir.join(relative), text));
            continue;
        }
        let relative = relative.to_string_lossy().replace(template, name);
        // The host tests call the host's `Greeter`, not the guest's type.
        let camel = !relative.ends_with("edgekit-test.rs");
        writes.push((dir.join(relative), rename(&text, &from, &to, camel)));
    }
    if out.is_some() && source.uses_guest() {
        vendor_guest(root, &dir.join(workspace::GUEST_DIR), &mut writes)?;
    }
    let world = rename(&source.world, &from, &to, false);
    if out.is_some() {
        writes.push((dir.join("README.md"), standalone_readme(name, template, &world)));
    } else {
        workspace_entries(root, name, template, &mut writes)?;
    }

    // Write, remembering what to undo if a write fails.
    let originals: Vec<(PathBuf, Option<String>)> =
        writes.iter().map(|(p, _)| (p.clone(), std::fs::read_to_string(p).ok())).collect();
    let result = writes.iter().try_for_each(|(path, text)| -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        write_atomic(path, text.as_bytes())
    });
    let result = result.and_then(|()| match out.is_none() && source.uses_guest() {
        true => link_guest(&dir),
        false => Ok(()),
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

/// The workspace files a new component adds itself to: a README row, a
/// budget, and for a middleware the template's compositions.
fn workspace_entries(root: &Path, name: &str, template: &str, writes: &mut Vec<(PathBuf, String)>) -> Result<()> {
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
    writes.push((readme_path, new_readme));

    let budgets = Budgets::load(root)?;
    let budget_of = |key: &str| {
        budgets
            .components
            .get(key)
            .map(|b| b.budget)
            .with_context(|| format!("{} has no entry for `{key}`", size::BUDGETS_FILE))
    };
    let mut entries = vec![(name.to_string(), budget_of(template)?)];

    // A middleware template's tests run its compositions: the copy gets the
    // same ones, in front of the same handlers.
    let copied: Vec<Composition> = compose::compositions(root)?
        .into_iter()
        .filter(|c| c.middleware == template)
        .map(|c| Composition { middleware: name.to_string(), handler: c.handler })
        .collect();
    for composition in &copied {
        entries.push((composition.name(), budget_of(&format!("{template}+{}", composition.handler))?));
    }
    if !copied.is_empty() {
        writes.push((root.join(compose::COMPOSE_FILE), compose::edit(root, |list| list.extend(copied.clone()))?));
    }
    let text = Budgets::edit(root, |components| {
        for (key, budget) in &entries {
            size::set(components, key, Budget { budget: *budget, baseline: 0 });
        }
    })?;
    writes.push((root.join(size::BUDGETS_FILE), text));
    Ok(())
}
