//! `cargo xtask new <name> --template <template> [--lines p2,p3] [--out
//! <dir>]`: a new component copied from a template.
//!
//! The templates are edgekit's own components: read from `components/` in
//! edgekit's repository, and from the files the installed tool carries
//! anywhere else (`tool.rs`), so a team's project needs no checkout. `new`
//! copies the template (crate, world files, lock file, toolchain file) and
//! renames what names the component or one of its artifacts: the crate,
//! the WIT worlds and package, the Rust identifiers made from the names
//! (`http-api`, `http_api`, `HttpApi`; `http-api-p3` becomes `<name>-p3`)
//! and the string literals that are exactly one of them. Comments, docs and
//! other strings are prose and stay as they are, for the person to rewrite.
//! A template built for both WASI lines gives a component built for both,
//! or with `--lines` for the ones named: the other line's world file, its
//! feature and entry in the lines table, and its test module stay behind.
//! In a project it makes the template's links anew to the project's own
//! library and pins (`edgekit/`, and `wit/deps` where a crate generates its
//! own bindings), adds a budget entry per artifact (the template's, baseline
//! 0) to the project file, and gives a middleware's copy the template's
//! compositions whose handler the project has; in edgekit's repository it
//! also copies the template's tests (`edgekit-test.rs`) and adds a README
//! row per artifact. With `--out` it writes a standalone crate with a
//! README of its own instead and touches no project: what the template's
//! links reach (the guest library, the pins) is copied in, links followed,
//! so the crate builds anywhere with the stock toolchain alone. Everything
//! is computed and checked first; a refused name, template or line writes
//! nothing, and a failed write removes what it wrote.

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
        let dir = create_with(&root, &self.name, &self.template, self.out.as_deref(), &self.lines)?;
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
                 there (with `--features p2` or `p3` for a crate of WASI lines) builds a component; its README says \
                 how, and how to bring it into an edgekit project",
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

/// A string literal's contents, renamed only when it names the component
/// or one of its artifacts (`names`, pairs of the template's and the new
/// one's): exactly one of their spellings, a composition with one in
/// front (`middleware-p3+http-api-p3`, which a middleware's tests run), or a
/// WIT name in its package (`edgekit:greeter/api@0.1.0`). Any other string
/// is prose.
fn rename_literal(text: &str, names: &[(Spellings, Spellings)]) -> String {
    for (from, to) in names {
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
    }
    match text.strip_prefix("edgekit:") {
        Some(rest) => {
            let renamed = names
                .iter()
                .fold(rest.to_string(), |rest, (from, to)| rename_words(&rest, &from.kebab, |_, _| &to.kebab));
            format!("edgekit:{renamed}")
        }
        None => text.to_string(),
    }
}

/// Renames a file's text line by line: comment lines (`//`, `///`, `//!`,
/// `#`) are prose and stay; in the others, code is renamed by
/// [`rename_code`] for each pair of `names` (the crate's, then each
/// artifact's: whole words only, so `edge-fn` never matches inside
/// `edge-fn-p3`) and string literals by [`rename_literal`].
fn rename(text: &str, names: &[(Spellings, Spellings)], camel: bool) -> String {
    let code = |code: &str| names.iter().fold(code.to_string(), |code, (from, to)| rename_code(&code, from, to, camel));
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") || trimmed.starts_with('#') && !trimmed.starts_with("#[") {
            out.push_str(line);
            continue;
        }
        // Alternate code and string literals; a `"` after a backslash, or in
        // a char literal (`b'"'`), does not open or close one.
        let mut pending = String::new();
        let mut literal = String::new();
        let mut in_string = false;
        let mut previous = '\0';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            let quote = c == '"' && previous != '\\' && !(previous == '\'' && chars.peek() == Some(&'\''));
            if quote && !in_string {
                out.push_str(&code(&pending));
                pending.clear();
                out.push('"');
                in_string = true;
            } else if quote {
                out.push_str(&rename_literal(&literal, names));
                literal.clear();
                out.push('"');
                in_string = false;
            } else if in_string {
                literal.push(c);
            } else {
                pending.push(c);
            }
            previous = if previous == '\\' && c == '\\' { '\0' } else { c };
        }
        out.push_str(&code(&pending));
        out.push_str(&literal);
    }
    out
}

/// A template: its files (relative to its directory, links left out), its
/// links (each by where it is in the template and what it reaches inside
/// the edgekit directory: `edgekit` to `guest`, `command`'s `wit/deps` to
/// `wit/deps`; `create` makes them anew in a project, or copies what they
/// reach into a crate made with `--out`), and the project file it came with
/// (its budgets and compositions).
struct Template {
    files: Vec<(PathBuf, Vec<u8>)>,
    links: Vec<(PathBuf, PathBuf)>,
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
    let component = format!("components/{name}");
    // What a link in the template reaches: its target read from the link's
    // directory, relative to the edgekit directory (the checkout's root).
    let reach = |link: &Path, target: &str| -> Result<PathBuf> {
        let parent = Path::new(&component).join(link.parent().unwrap_or(Path::new("")));
        bundle::join_lexically(&parent.to_string_lossy(), target)
            .map(PathBuf::from)
            .with_context(|| format!("{component}/{} links outside edgekit's files, to {target}", link.display()))
    };
    if let Some(project) = project.filter(|p| p.is_edgekit_source()) {
        let dir = project.components_dir().join(name);
        if !dir.join("Cargo.toml").is_file() {
            let known = workspace::component_names(&project.root).unwrap_or_default();
            bail!("no template `{name}`: the templates are the components under components/ ({})", known.join(", "));
        }
        let (mut paths, mut link_paths) = (Vec::new(), Vec::new());
        files(&dir, &mut paths, &mut link_paths)?;
        let mut files = Vec::new();
        for path in paths {
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            files.push((path.strip_prefix(&dir)?.to_path_buf(), bytes));
        }
        let mut links = Vec::new();
        for path in link_paths {
            let target =
                std::fs::read_link(&path).with_context(|| format!("cannot read the link {}", path.display()))?;
            let relative = path.strip_prefix(&dir)?.to_path_buf();
            let reached = reach(&relative, &target.to_string_lossy())?;
            links.push((relative, reached));
        }
        let origin =
            ProjectOrigin { budgets: project.file.budgets.clone(), compositions: project.file.composition.clone() };
        return Ok(Template { files, links, origin });
    }
    let bundle = bundle::get()?;
    let templates = bundle.templates();
    if !templates.iter().any(|t| t == name) {
        bail!("no template `{name}`: the templates are {}", templates.join(", "));
    }
    let (mut files, mut links) = (Vec::new(), Vec::new());
    for (path, entry) in bundle.under(&component) {
        match &entry.kind {
            Kind::Link(target) => links.push((PathBuf::from(path), reach(Path::new(path), target)?)),
            kind => files.push((PathBuf::from(path), kind.bytes().unwrap_or_default().to_vec())),
        }
    }
    let text = std::str::from_utf8(bundle.file(project::FILE)?).context("edgekit's project file is not UTF-8")?;
    let file = project::parse(Path::new(project::FILE), text)?;
    Ok(Template { files, links, origin: ProjectOrigin { budgets: file.budgets, compositions: file.composition } })
}

/// Lists the files of a template directory into `out`, and its symbolic
/// links into `links` (not followed), leaving out build output and the
/// bindings cargo-component writes.
fn files(dir: &Path, out: &mut Vec<PathBuf>, links: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_symlink() {
            links.push(path);
        } else if path.is_dir() {
            if !path.ends_with("target") {
                files(&path, out, links)?;
            }
        } else if !path.ends_with("src/bindings.rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The files of a directory, links followed (as `cp -rL` copies them),
/// leaving out build output: paths relative to `dir`.
fn files_following_links(dir: &Path, under: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let relative = under.join(path.file_name().unwrap());
        if path.is_dir() {
            if !path.ends_with("target") {
                files_following_links(&path, &relative, out)?;
            }
        } else {
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            out.push((relative, bytes));
        }
    }
    Ok(())
}

/// What a template's link reaches (`reached`, inside the edgekit
/// directory: `guest`, `wit/deps`), copied into `to` with every link
/// followed: from the project's edgekit directory when there is a project,
/// else from the files the tool carries. Not the library's lock file:
/// inside the crate the library is a member of the crate's workspace, whose
/// `Cargo.lock` is the crate's.
fn vendor(project: Option<&Project>, reached: &Path, to: &Path, writes: &mut Vec<(PathBuf, Vec<u8>)>) -> Result<()> {
    let mut copied: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    match project {
        Some(project) => files_following_links(&project.edgekit_dir().join(reached), Path::new(""), &mut copied)?,
        None => {
            let reached = reached.to_string_lossy().replace('\\', "/");
            for (path, bytes) in bundle::get()?.files_following_links(&reached)? {
                copied.push((PathBuf::from(path), bytes.to_vec()));
            }
        }
    }
    for (relative, bytes) in copied {
        if !(reached == Path::new("guest") && relative == Path::new("Cargo.lock")) {
            writes.push((to.join(relative), bytes));
        }
    }
    Ok(())
}

/// The README a standalone crate made by `new --out` starts with.
fn standalone_readme(name: &str, template: &str, worlds: &[(Option<String>, String)]) -> String {
    let snake = name.to_snake_case();
    let world_list = worlds.iter().map(|(_, world)| format!("`{world}`")).collect::<Vec<_>>().join(" and ");
    let builds: String = match worlds.iter().any(|(line, _)| line.is_some()) {
        true => worlds
            .iter()
            .filter_map(|(line, world)| {
                let line = line.as_ref()?;
                Some(format!("cargo build --release --target wasm32-wasip2 --features {line}   # world {world}\n"))
            })
            .collect(),
        false => "cargo build --release --target wasm32-wasip2\n".to_string(),
    };
    format!(
        "# {name}\n\n\
         A WebAssembly component, made from edgekit's `{template}` template by\n\
         `cargo edgekit new {name} --template {template} --out <dir>`. It is a standalone\n\
         crate: its own `[workspace]`, pinned versions (`Cargo.lock`), toolchain\n\
         (`rust-toolchain.toml`) and WIT (`wit/`: {world_list}). A template\n\
         written on edgekit's guest library brings a copy of it in `edgekit/`,\n\
         which its `Cargo.toml` depends on by path, and the library brings the\n\
         WASI packages its bindings are generated from.\n\n\
         ## Build it here\n\n\
         ```sh\n\
         {builds}\
         ```\n\n\
         gives `target/wasm32-wasip2/release/{snake}.wasm`, a component (a crate\n\
         built for several WASI lines is built once per line, with the feature\n\
         of that line, `p2` for WASI 0.2 or `p3` for 0.3). Built this way, std\n\
         brings its own WASI imports (`wasi:cli/*`), so it is bigger than\n\
         edgekit's build and needs a host that offers them.\n\n\
         ## Build it with edgekit\n\n\
         In an edgekit project (`cargo edgekit init` makes one), `cargo edgekit new\n\
         {name} --template {template}` makes the same component inside it, and\n\
         `cargo edgekit dist {name}` builds it: a core module for\n\
         `wasm32-unknown-unknown` per line, stripped, `wasm-opt -Oz`, componentized\n\
         and checked against its world in `wit/`, importing only what the code\n\
         calls, with a size budget `cargo edgekit size` keeps.\n",
    )
}

/// The lines of the manifest text of the crate `name` (a template's, or
/// its copy's), read by `workspace::builds_of`: `(line, world)` in order,
/// or `(None, world)` for a crate of one world.
fn lines_of(manifest: &str, name: &str) -> Result<Vec<(Option<String>, String)>> {
    let path = Path::new(name).join("Cargo.toml");
    let toml: toml::Table = manifest.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
    Ok(workspace::builds_of(&path, name, &toml)?.into_iter().map(|b| (b.line, b.world)).collect())
}

/// `manifest` without the lines in `dropped`: their features and their
/// entries in the lines table (comments and layout kept).
fn drop_lines(manifest: &str, dropped: &[String]) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = manifest.parse().context("the template's Cargo.toml is not valid TOML")?;
    for line in dropped {
        if let Some(features) = doc.get_mut("features").and_then(|f| f.as_table_like_mut()) {
            features.remove(line);
        }
        let lines = doc
            .get_mut("package")
            .and_then(|p| p.get_mut("metadata"))
            .and_then(|m| m.get_mut("edgekit"))
            .and_then(|e| e.get_mut("lines"))
            .and_then(|l| l.as_table_like_mut());
        if let Some(lines) = lines {
            lines.remove(line);
        }
    }
    Ok(doc.to_string())
}

/// `tests` (an `edgekit-test.rs`) without the top-level `mod <line> { .. }`
/// of each line in `dropped`, with the doc comment and attributes above it.
/// Tests written once (`for line in lines(..)`) need nothing: they run on
/// the lines the copy's lines table keeps.
fn drop_test_modules(tests: &str, dropped: &[String]) -> String {
    let mut lines: Vec<&str> = tests.split_inclusive('\n').collect();
    for line in dropped {
        let opening = format!("mod {line} {{");
        let Some(start) = lines.iter().position(|l| l.trim_end() == opening) else { continue };
        let Some(end) = lines[start..].iter().position(|l| l.trim_end() == "}").map(|i| start + i) else { continue };
        let mut from = start;
        while from > 0 && (lines[from - 1].starts_with("///") || lines[from - 1].starts_with("#[")) {
            from -= 1;
        }
        if from > 0 && lines[from - 1].trim().is_empty() {
            from -= 1;
        }
        lines.drain(from..=end);
    }
    lines.concat()
}

/// A `Cargo.lock` whose root package was renamed, with its packages back
/// in the order cargo writes them (by name, then version): otherwise the
/// first build rewrites it, and `dev` sees a change it did not make. A
/// file of another shape is left as it is.
fn sort_lock(lock: &str) -> String {
    const PACKAGE: &str = "[[package]]\n";
    let Some(first) = lock.find(PACKAGE) else { return lock.to_string() };
    let (head, packages) = lock.split_at(first);
    let mut blocks: Vec<&str> = packages.split(PACKAGE).skip(1).map(str::trim_end).collect();
    let field = |block: &str, key: &str| {
        block.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(" = \"")?.strip_suffix('"')).map(str::to_string)
    };
    if blocks.iter().any(|b| b.lines().any(|l| l.starts_with('[') && l.ends_with(']')) || field(b, "name").is_none()) {
        return lock.to_string();
    }
    blocks.sort_by_key(|b| (field(b, "name"), field(b, "version")));
    let body: Vec<String> = blocks.iter().map(|b| format!("{PACKAGE}{b}\n")).collect();
    format!("{head}{}", body.join("\n"))
}

/// The name `artifact` (one of the template's, built for `line`) takes in
/// a copy named `name`: the template's name replaced by the copy's
/// (`http-api-p3` becomes `orders-p3`).
fn renamed_artifact(artifact: &str, template: &str, name: &str, line: Option<&str>) -> String {
    match artifact.strip_prefix(template) {
        Some(rest) if rest.is_empty() || rest.starts_with('-') => format!("{name}{rest}"),
        _ => match line {
            Some(line) => format!("{name}-{line}"),
            None => name.to_string(),
        },
    }
}

/// Creates the component `name` from `template` in the project at `root`,
/// or with `out` a standalone crate there (`root` then need not be a
/// project), built for every WASI line the template is; returns the
/// directory written. See [`create_with`].
pub fn create(root: &Path, name: &str, template: &str, out: Option<&Path>) -> Result<PathBuf> {
    create_with(root, name, template, out, &[])
}

/// [`create`], for the WASI lines `lines` (`p2`, `p3`) of the template's
/// only, or all of them when empty. See the module header.
pub fn create_with(root: &Path, name: &str, template: &str, out: Option<&Path>, lines: &[String]) -> Result<PathBuf> {
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
    let template_manifest = source
        .files
        .iter()
        .find(|(path, _)| path == Path::new("Cargo.toml"))
        .and_then(|(_, bytes)| String::from_utf8(bytes.clone()).ok())
        .with_context(|| format!("the template `{template}` has no Cargo.toml"))?;
    // The template's lines, and those the copy is made for.
    let template_lines = lines_of(&template_manifest, template)?;
    let offered: Vec<&String> = template_lines.iter().filter_map(|(line, _)| line.as_ref()).collect();
    if let Some(unknown) = lines.iter().find(|line| !offered.contains(line)) {
        match offered.is_empty() {
            true => bail!(
                "the `{template}` template has one world, not a choice of WASI lines: leave out --lines \
                 (asked for {unknown})"
            ),
            false => bail!(
                "the `{template}` template is built for {}; --lines names {unknown}: pick from those",
                offered.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    let kept = |line: &Option<String>| lines.is_empty() || line.as_ref().is_some_and(|l| lines.contains(l));
    let dropped: Vec<String> = template_lines.iter().filter(|(l, _)| !kept(l)).filter_map(|(l, _)| l.clone()).collect();
    // Each artifact of the template kept, and the name it takes in the copy.
    let artifacts: Vec<(Option<String>, String, String)> = template_lines
        .iter()
        .filter(|(line, _)| kept(line))
        .map(|(line, world)| {
            let artifact = if line.is_some() { world.clone() } else { template.to_string() };
            let renamed = renamed_artifact(&artifact, template, name, line.as_deref());
            (line.clone(), artifact, renamed)
        })
        .collect();
    if let Some(project) = &project
        && out.is_none()
    {
        let existing = workspace::artifact_names(&project.root)?;
        for (_, _, renamed) in &artifacts {
            if existing.contains(renamed) {
                bail!(
                    "`{renamed}` is already the name of an artifact of this project: pick another name for the component"
                );
            }
        }
    }
    // The names to rename, longest first, so that a name never matches
    // inside a longer one renamed after it.
    let mut names: Vec<(Spellings, Spellings)> = vec![(Spellings::of(template), Spellings::of(name))];
    for (line, artifact, renamed) in &artifacts {
        if line.is_some() && artifact != template {
            names.push((Spellings::of(artifact), Spellings::of(renamed)));
        }
    }
    names.sort_by_key(|(from, _)| std::cmp::Reverse(from.kebab.len()));
    // The world files of the lines left out stay behind.
    let dropped_worlds: Vec<PathBuf> = template_lines
        .iter()
        .filter(|(line, _)| !kept(line))
        .map(|(_, world)| PathBuf::from("wit").join(format!("{world}.wit")))
        .collect();
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
        if test_only(relative) || dropped_worlds.contains(relative) {
            continue;
        }
        let text = String::from_utf8(bytes.clone())
            .with_context(|| format!("{template}/{}: templates hold only text files", relative.display()))?;
        // A world file is named after its world: a kept artifact's takes
        // the artifact's new name; any other path, the component's.
        let path = relative.to_string_lossy().into_owned();
        let world_file =
            artifacts.iter().find(|(line, artifact, _)| line.is_some() && path == format!("wit/{artifact}.wit"));
        let renamed_path = match world_file {
            Some((_, _, renamed)) => format!("wit/{renamed}.wit"),
            None => path.replace(template, name),
        };
        // The host tests call the host's `Greeter`, not the guest's type.
        let camel = !renamed_path.ends_with("edgekit-test.rs");
        let mut renamed = rename(&text, &names, camel);
        if relative == Path::new("Cargo.toml") {
            renamed = drop_lines(&renamed, &dropped)?;
            manifest = Some(renamed.clone());
        }
        if relative == Path::new("edgekit-test.rs") {
            renamed = drop_test_modules(&renamed, &dropped);
        }
        if relative == Path::new("Cargo.lock") {
            renamed = sort_lock(&renamed);
        }
        writes.push((dir.join(renamed_path), renamed.into_bytes()));
    }
    let manifest = manifest.with_context(|| format!("the template `{template}` has no Cargo.toml"))?;
    // A standalone crate gets what the template's links reach, copied.
    if out.is_some() {
        for (link, reached) in &source.links {
            vendor(project.as_ref(), reached, &dir.join(link), &mut writes)?;
        }
    }
    match (out, &project) {
        (Some(_), _) => {
            let worlds = lines_of(&manifest, name)?;
            writes.push((dir.join("README.md"), standalone_readme(name, template, &worlds).into_bytes()));
        }
        (None, Some(project)) => project_entries(project, &source.origin, template, &artifacts, ours, &mut writes)?,
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
    // In a project, the template's links made anew to the project's own
    // library and pins.
    let result = result.and_then(|()| match (&project, out) {
        (Some(project), None) => source.links.iter().try_for_each(|(link, reached)| {
            let at = dir.join(link);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            bundle::symlink(&project.link(link, reached), &at)
        }),
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

/// The project files a new component adds itself to: a budget per
/// artifact (the template artifact's, baseline 0) in the project file, and
/// for a middleware the template's compositions, in front of the handlers
/// the project has, of each of its artifacts; in edgekit's repository
/// (`ours`) a README row per artifact too. `artifacts` holds each of the
/// copy's: its line, the template's artifact and its new name.
fn project_entries(
    project: &Project,
    origin: &ProjectOrigin,
    template: &str,
    artifacts: &[(Option<String>, String, String)],
    ours: bool,
    writes: &mut Vec<(PathBuf, Vec<u8>)>,
) -> Result<()> {
    let root = &project.root;
    if ours {
        let readme_path = root.join("README.md");
        let mut readme =
            std::fs::read_to_string(&readme_path).with_context(|| format!("cannot read {}", readme_path.display()))?;
        for (_, artifact, renamed) in artifacts {
            let row_start = format!("| `{artifact}` |");
            let row = readme
                .lines()
                .find(|l| l.starts_with(&row_start))
                .with_context(|| format!("README.md has no component-table row for `{artifact}`"))?
                .to_string();
            // The WASI and imports columns are the template's; size is
            // filled in by hand after `dist`.
            let wasi = row.split(" | ").nth(1).unwrap_or("none");
            let imports = row.split(" | ").nth(3).unwrap_or("nothing");
            let made = match artifact == template {
                true => format!("made from the `{template}` template"),
                false => format!("made from the `{template}` template (its `{artifact}`)"),
            };
            let new_row = format!("| `{renamed}` | {wasi} | {made} | {imports} | |");
            let at = readme.find(&row).unwrap_or(0) + row.len();
            readme.insert_str(at, &format!("\n{new_row}"));
        }
        writes.push((readme_path, readme.into_bytes()));
    }

    let budget_of = |key: &str| {
        origin
            .budgets
            .artifacts
            .get(key)
            .map(|b| b.budget)
            .with_context(|| format!("edgekit's {} has no budget for the template's `{key}`", project::FILE))
    };
    let mut entries = Vec::new();
    for (_, artifact, renamed) in artifacts {
        entries.push((renamed.clone(), budget_of(artifact)?));
    }

    // A middleware template's tests run its compositions: the copy gets the
    // same ones, for each of its artifacts, in front of the same handlers,
    // where the project has them.
    let handlers = workspace::artifact_names(root)?;
    let mut copied: Vec<(Composition, String)> = Vec::new();
    for composition in &origin.compositions {
        let Some((_, artifact, renamed)) = artifacts.iter().find(|(_, a, _)| *a == composition.middleware) else {
            continue;
        };
        if handlers.contains(&composition.handler) {
            let new = Composition { middleware: renamed.clone(), handler: composition.handler.clone() };
            copied.push((new, format!("{artifact}+{}", composition.handler)));
        }
    }
    for (composition, template_key) in &copied {
        entries.push((composition.name(), budget_of(template_key)?));
    }
    let mut compositions = project.file.composition.clone();
    compositions.extend(copied.into_iter().map(|(c, _)| c));
    let text = project::edit(root, |doc| {
        project::set_compositions(doc, &compositions)?;
        entries
            .iter()
            .try_for_each(|(key, budget)| project::set_budget(doc, key, Budget { budget: *budget, baseline: 0 }))
    })?;
    writes.push((root.join(project::FILE), text.into_bytes()));
    Ok(())
}
