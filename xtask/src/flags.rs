//! The command line: every command and flag is declared here, and `HELP` is
//! the text `cargo xtask help` prints.

use anyhow::{Context, Result, bail};

pub const HELP: &str = "\
cargo xtask <command>

Commands:
  dist [<component>...]   build, strip, wasm-opt -Oz, componentize, validate and
                          round-trip-check every component (or the ones named);
                          writes target/dist/<name>.wasm and target/dist/manifest.json
  tidy                    check the workspace's own rules (also runs in `cargo test`)
  serve <component> [--addr 127.0.0.1:8080] [--deadline-ms 10000] [--memory-mib 128]
        [--instances 100] [--allow-host <host>]...
                          serve a wasi:http component over HTTP, a fresh instance
                          per request, with a per-request deadline and memory limit;
                          outbound requests only to the hosts allowed
  call <component> '<expr>'
                          call an export of a non-http component, arguments and
                          result in WAVE: call greeter 'greet({first: \"Ada\", last: \"Lovelace\"})'
  portability             run every wasi:http artifact under `wasmtime serve` and
                          `jco serve` (installed into ~/.cache/edgekit/tools on
                          first use) and print a component x host matrix
  bench                   cold start (compile, load, instantiate, first call) and
                          throughput against `wasmtime serve`; medians, no assertions
  help                    print this text
";

pub enum Xtask {
    Help,
    Dist(Dist),
    Tidy(Tidy),
    Serve(Serve),
    Call(Call),
    Portability(Portability),
    Bench(Bench),
}

/// `cargo xtask dist [<component>...]`
pub struct Dist {
    /// Components to build; all of them when empty.
    pub components: Vec<String>,
}

/// `cargo xtask tidy`
pub struct Tidy;

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

impl Xtask {
    pub fn from_env() -> Result<Xtask> {
        Xtask::parse(std::env::args().skip(1).collect())
    }

    fn parse(args: Vec<String>) -> Result<Xtask> {
        let mut args = args.into_iter();
        let Some(command) = args.next() else {
            return Ok(Xtask::Help);
        };
        let rest: Vec<String> = args.collect();
        if command == "serve" {
            return Ok(Xtask::Serve(Serve::parse(rest)?));
        }
        if let Some(flag) = rest.iter().find(|a| a.starts_with('-')) {
            bail!("unknown flag `{flag}` for `cargo xtask {command}`; see `cargo xtask help`");
        }
        Ok(match command.as_str() {
            "help" | "-h" | "--help" => Xtask::Help,
            "dist" => Xtask::Dist(Dist { components: rest }),
            "tidy" if rest.is_empty() => Xtask::Tidy(Tidy),
            "tidy" => bail!("`cargo xtask tidy` takes no arguments"),
            "call" => match <[String; 2]>::try_from(rest) {
                Ok([component, expr]) => Xtask::Call(Call { component, expr }),
                Err(_) => bail!(
                    "usage: cargo xtask call <component> '<expr>', \
                     e.g. cargo xtask call greeter 'greet({{first: \"Ada\", last: \"Lovelace\"}})'"
                ),
            },
            "portability" if rest.is_empty() => Xtask::Portability(Portability),
            "portability" => bail!("`cargo xtask portability` takes no arguments"),
            "bench" if rest.is_empty() => Xtask::Bench(Bench),
            "bench" => bail!("`cargo xtask bench` takes no arguments"),
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
