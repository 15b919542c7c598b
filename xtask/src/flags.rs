//! The command line: every command and flag is declared here, and `HELP` is
//! the text `cargo xtask help` prints.

use anyhow::{Result, bail};

pub const HELP: &str = "\
cargo xtask <command>

Commands:
  dist [<component>...]   build, strip, wasm-opt -Oz, componentize, validate and
                          round-trip-check every component (or the ones named);
                          writes target/dist/<name>.wasm and target/dist/manifest.json
  oci [<component>...]    write each dist artifact as a Wasm OCI artifact (CNCF TAG
                          Runtime layout) to target/dist/oci/<name>/, an OCI image layout
  publish <component> <registry>/<repo>:<tag>
                          push a dist artifact to an OCI registry (plain HTTP only for
                          127.0.0.1/localhost) and print its digest
  pull <registry>/<repo>:<tag> <out.wasm>
                          fetch a Wasm OCI artifact, check it, write its component
  tidy                    check the workspace's own rules (also runs in `cargo test`)
  help                    print this text
";

pub enum Xtask {
    Help,
    Dist(Dist),
    Tidy(Tidy),
    Oci(Oci),
    Publish(Publish),
    Pull(Pull),
}

/// `cargo xtask dist [<component>...]`
pub struct Dist {
    /// Components to build; all of them when empty.
    pub components: Vec<String>,
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
            "oci" => Xtask::Oci(Oci { components: rest }),
            "publish" => match <[String; 2]>::try_from(rest) {
                Ok([component, reference]) => Xtask::Publish(Publish { component, reference }),
                Err(_) => bail!("usage: cargo xtask publish <component> <registry>/<repo>:<tag>"),
            },
            "pull" => match <[String; 2]>::try_from(rest) {
                Ok([reference, out]) => Xtask::Pull(Pull { reference, out }),
                Err(_) => bail!("usage: cargo xtask pull <registry>/<repo>:<tag> <out.wasm>"),
            },
            other => bail!("unknown command `{other}`; see `cargo xtask help`"),
        })
    }
}
