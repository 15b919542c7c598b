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
  oci [<component>...]       write each dist artifact as a Wasm OCI artifact (CNCF TAG
                             Runtime layout) to target/dist/oci/<name>/, an OCI image layout
  publish <component> <registry>/<repo>:<tag>
                             push a dist artifact to an OCI registry (plain HTTP only for
                             127.0.0.1/localhost) and print its digest
  pull <registry>/<repo>:<tag> <out.wasm>
                             fetch a Wasm OCI artifact, check it, write its component
  wit --bump <0.2.N>         re-vendor wit/deps at another WASI 0.2.x version
  serve <component> [--addr 127.0.0.1:8080] [--deadline-ms 10000] [--memory-mib 128]
        [--instances 100] [--allow-host <host>]... [--config <key>=<value>]...
                             serve a wasi:http component over HTTP, a fresh instance
                             per request, with a per-request deadline and memory limit;
                             outbound requests only to the hosts allowed, and
                             only the wasi:config variables given
  call <component> '<expr>'  call an export of a non-http component, arguments and
                             result in WAVE: call greeter 'greet({first: \"Ada\", last: \"Lovelace\"})'
  portability                run every wasi:http artifact under `wasmtime serve` and
                             `jco serve` (installed into ~/.cache/edgekit/tools on
                             first use) and print a component x host matrix
  bench                      cold start (compile, load, instantiate, first call) and
                             throughput against `wasmtime serve`; medians, no assertions
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
    Oci(Oci),
    Publish(Publish),
    Pull(Pull),
    Serve(Serve),
    Call(Call),
    Portability(Portability),
    Bench(Bench),
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

/// `cargo xtask oci [<component>...]`
pub struct Oci {
    /// Components to package; every one in `target/dist/manifest.json` when empty.
    pub components: Vec<String>,
}

/// `cargo xtask publish <component> <registry>/<repo>:<tag>`
pub struct Publish {
    pub component: String,
    pub reference: String,
}

/// `cargo xtask pull <registry>/<repo>:<tag> <out.wasm>`
pub struct Pull {
    pub reference: String,
    pub out: String,
}

/// `cargo xtask serve <component> [--addr A] [--deadline-ms N] [--memory-mib N]`
pub struct Serve {
    /// A dist artifact's name, or a path to a `.wasm` component.
    pub component: String,
    pub addr: String,
    pub deadline_ms: u64,
    pub memory_mib: u64,
    pub instances: u64,
    /// Hosts the component may send outbound requests to.
    pub allow_hosts: Vec<String>,
    /// `wasi:config` variables the component may read (`--config key=value`).
    pub config: Vec<(String, String)>,
}

/// `cargo xtask call <component> '<expr>'`
pub struct Call {
    pub component: String,
    /// A WAVE function call: `greet({first: "Ada", last: "Lovelace"})`.
    pub expr: String,
}

/// `cargo xtask portability`
pub struct Portability;

/// `cargo xtask bench`
pub struct Bench;

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
        let rest: Vec<String> = args.collect();
        if command == "serve" {
            return Ok(Xtask::Serve(Serve::parse(rest)?));
        }
        let mut args = Args { command: command.clone(), rest };
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
            "oci" => Xtask::Oci(Oci { components: args.positional()? }),
            "publish" => match <[String; 2]>::try_from(args.positional()?) {
                Ok([component, reference]) => Xtask::Publish(Publish { component, reference }),
                Err(_) => bail!("usage: cargo xtask publish <component> <registry>/<repo>:<tag>"),
            },
            "pull" => match <[String; 2]>::try_from(args.positional()?) {
                Ok([reference, out]) => Xtask::Pull(Pull { reference, out }),
                Err(_) => bail!("usage: cargo xtask pull <registry>/<repo>:<tag> <out.wasm>"),
            },
            "call" => match <[String; 2]>::try_from(args.rest) {
                Ok([component, expr]) => Xtask::Call(Call { component, expr }),
                Err(_) => bail!(
                    "usage: cargo xtask call <component> '<expr>', \
                     e.g. cargo xtask call greeter 'greet({{first: \"Ada\", last: \"Lovelace\"}})'"
                ),
            },
            "portability" => {
                args.finish()?;
                Xtask::Portability(Portability)
            }
            "bench" => {
                args.finish()?;
                Xtask::Bench(Bench)
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

impl Serve {
    fn parse(args: Vec<String>) -> Result<Serve> {
        let mut component = None;
        let mut serve = Serve {
            component: String::new(),
            addr: "127.0.0.1:8080".into(),
            deadline_ms: 10_000,
            memory_mib: 128,
            instances: 100,
            allow_hosts: Vec::new(),
            config: Vec::new(),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next().with_context(|| format!("`{flag}` needs a value; see `cargo xtask help`"))
            };
            match arg.as_str() {
                "--addr" => serve.addr = value("--addr")?,
                "--deadline-ms" => serve.deadline_ms = number("--deadline-ms", &value("--deadline-ms")?)?,
                "--memory-mib" => serve.memory_mib = number("--memory-mib", &value("--memory-mib")?)?,
                "--instances" => serve.instances = number("--instances", &value("--instances")?)?,
                "--allow-host" => serve.allow_hosts.push(value("--allow-host")?),
                "--config" => {
                    let pair = value("--config")?;
                    let (key, value) = pair
                        .split_once('=')
                        .with_context(|| format!("`--config {pair}`: write it as key=value"))?;
                    serve.config.push((key.to_string(), value.to_string()));
                }
                flag if flag.starts_with('-') => {
                    bail!("unknown flag `{flag}` for `cargo xtask serve`; see `cargo xtask help`")
                }
                _ if component.is_some() => bail!("`cargo xtask serve` serves one component; see `cargo xtask help`"),
                _ => component = Some(arg),
            }
        }
        serve.component = component.context("usage: cargo xtask serve <component> [--addr 127.0.0.1:8080]")?;
        Ok(serve)
    }
}

fn number(flag: &str, value: &str) -> Result<u64> {
    match value.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("`{flag}` takes a positive whole number, not `{value}`"),
    }
}
