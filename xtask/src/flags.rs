//! The command line: every command and flag is declared here, and `HELP` is
//! the text `cargo xtask help` prints.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

pub const HELP: &str = "\
cargo xtask <command>

Commands:
  dist [<component>...]      build, strip, wasm-opt -Oz, componentize, validate and
                             check every component (or the ones named); writes
                             target/dist/<name>.wasm and target/dist/manifest.json
  size                       check target/dist against size-budgets.toml (runs dist
                             first when target/dist is empty)
      --bless                accept the current sizes as the new baselines
      --tolerance <percent>  allowed growth over the baseline (default: the file's)
      --format <f>           table (default), markdown or json
      --explain <component>  attribute the artifact's bytes instead
      --diff <old.wasm>      with --explain: what changed since an older build
      --top <n>              with --explain: how many functions to list (default 15)
  wit --bump <0.2.N>         re-vendor wit/deps at another WASI 0.2.x version
  compose <middleware> <handler>
                             plug a middleware component in front of an http
                             component (both in target/dist); writes
                             target/dist/<middleware>+<handler>.wasm (`dist` also
                             builds those listed in compose.toml)
  tidy                       check the workspace's own rules (also runs in `cargo test`)
  new <name> --template <c>  create components/<name> from component <c>: renamed crate,
                             WIT package and world, a test module, a README row and
                             a size budget
  help                       print this text
";

pub enum Xtask {
    Help,
    Dist(Dist),
    Size(Size),
    Wit(Wit),
    Tidy(Tidy),
    New(New),
    Compose(Compose),
}

/// `cargo xtask dist [<component>...]`
pub struct Dist {
    /// Components to build; all of them when empty.
    pub components: Vec<String>,
}

/// Output formats for reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Table,
    Markdown,
    Json,
}

/// `cargo xtask size`
pub struct Size {
    pub bless: bool,
    pub tolerance: Option<f64>,
    pub format: Format,
    pub explain: Option<String>,
    pub diff: Option<PathBuf>,
    pub top: usize,
}

/// `cargo xtask wit --bump <version>`
pub struct Wit {
    pub bump: String,
}

/// `cargo xtask tidy`
pub struct Tidy;

/// `cargo xtask compose <middleware> <handler>`
pub struct Compose {
    pub middleware: String,
    pub handler: String,
}

/// `cargo xtask new <name> --template <component>`
pub struct New {
    pub name: String,
    pub template: String,
}

/// The arguments after the command name, consumed flag by flag.
struct Args {
    command: String,
    rest: Vec<String>,
}

impl Args {
    fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        self.rest.len() != before
    }

    fn value(&mut self, name: &str) -> Result<Option<String>> {
        let Some(i) = self.rest.iter().position(|a| a == name) else { return Ok(None) };
        if i + 1 >= self.rest.len() {
            bail!("`{name}` needs a value; see `cargo xtask help`");
        }
        let value = self.rest.remove(i + 1);
        self.rest.remove(i);
        Ok(Some(value))
    }

    /// The remaining arguments, which must not look like flags.
    fn positional(self) -> Result<Vec<String>> {
        if let Some(flag) = self.rest.iter().find(|a| a.starts_with('-')) {
            bail!("unknown flag `{flag}` for `cargo xtask {}`; see `cargo xtask help`", self.command);
        }
        Ok(self.rest)
    }

    fn finish(self) -> Result<()> {
        let command = self.command.clone();
        let rest = self.positional()?;
        if let Some(extra) = rest.first() {
            bail!("unexpected argument `{extra}` for `cargo xtask {command}`; see `cargo xtask help`");
        }
        Ok(())
    }
}

impl Xtask {
    pub fn from_env() -> Result<Xtask> {
        Xtask::parse(std::env::args().skip(1).collect())
    }

    pub fn parse(args: Vec<String>) -> Result<Xtask> {
        let mut args = args.into_iter();
        let Some(command) = args.next() else {
            return Ok(Xtask::Help);
        };
        let mut args = Args { command: command.clone(), rest: args.collect() };
        Ok(match command.as_str() {
            "help" | "-h" | "--help" => Xtask::Help,
            "dist" => Xtask::Dist(Dist { components: args.positional()? }),
            "size" => {
                let bless = args.flag("--bless");
                let tolerance = match args.value("--tolerance")? {
                    Some(t) => Some(t.parse().with_context(|| format!("--tolerance `{t}` is not a number"))?),
                    None => None,
                };
                let format = match args.value("--format")?.as_deref() {
                    None | Some("table") => Format::Table,
                    Some("markdown") => Format::Markdown,
                    Some("json") => Format::Json,
                    Some(other) => bail!("--format `{other}`: use table, markdown or json"),
                };
                let explain = args.value("--explain")?;
                let diff = args.value("--diff")?.map(PathBuf::from);
                let top = match args.value("--top")? {
                    Some(n) => n.parse().with_context(|| format!("--top `{n}` is not a count"))?,
                    None => 15,
                };
                args.finish()?;
                if diff.is_some() && explain.is_none() {
                    bail!("--diff goes with --explain <component>");
                }
                Xtask::Size(Size { bless, tolerance, format, explain, diff, top })
            }
            "wit" => {
                let bump = args.value("--bump")?.context("`cargo xtask wit` needs --bump <0.2.N>")?;
                args.finish()?;
                Xtask::Wit(Wit { bump })
            }
            "tidy" => {
                args.finish()?;
                Xtask::Tidy(Tidy)
            }
            "new" => {
                let template = args
                    .value("--template")?
                    .context("`cargo xtask new <name>` needs --template <component>, e.g. --template http-api")?;
                let mut names = args.positional()?;
                if names.len() != 1 {
                    bail!("`cargo xtask new` takes one name: cargo xtask new <name> --template <component>");
                }
                Xtask::New(New { name: names.remove(0), template })
            }
            "compose" => match <[String; 2]>::try_from(args.positional()?) {
                Ok([middleware, handler]) => Xtask::Compose(Compose { middleware, handler }),
                Err(_) => bail!("`cargo xtask compose` takes two components: <middleware> <handler>"),
            },
            other => bail!("unknown command `{other}`; see `cargo xtask help`"),
        })
    }
}
