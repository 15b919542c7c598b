//! The command line: every command and flag is declared here, and `HELP` is
//! the text `cargo xtask help` prints.

use anyhow::{Result, bail};

pub const HELP: &str = "\
cargo xtask <command>

Commands:
  dist [<component>...]   build, strip, wasm-opt -Oz, componentize, validate and
                          round-trip-check every component (or the ones named);
                          writes target/dist/<name>.wasm and target/dist/manifest.json
  tidy                    check the workspace's own rules (also runs in `cargo test`)
  help                    print this text
";

pub enum Xtask {
    Help,
    Dist(Dist),
    Tidy(Tidy),
}

/// `cargo xtask dist [<component>...]`
pub struct Dist {
    /// Components to build; all of them when empty.
    pub components: Vec<String>,
}

/// `cargo xtask tidy`
pub struct Tidy;

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
        if let Some(flag) = rest.iter().find(|a| a.starts_with('-')) {
            bail!("unknown flag `{flag}` for `cargo xtask {command}`; see `cargo xtask help`");
        }
        Ok(match command.as_str() {
            "help" | "-h" | "--help" => Xtask::Help,
            "dist" => Xtask::Dist(Dist { components: rest }),
            "tidy" if rest.is_empty() => Xtask::Tidy(Tidy),
            "tidy" => bail!("`cargo xtask tidy` takes no arguments"),
            other => bail!("unknown command `{other}`; see `cargo xtask help`"),
        })
    }
}
