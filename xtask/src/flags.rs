//! The command line, declared once with clap's derive: each command is a
//! struct here, and its doc comments are the text `--help` prints. The wings
//! (`pipeline`, `guard`, `scaffold`, and the `run` and `deploy` crates) each
//! implement `run` for the commands they own.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// edgekit: turns the guest crates of a project (a directory with an
/// edgekit.toml) into optimized, verified Wasm components in target/dist/,
/// keeps their sizes, serves them and deploys them.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, disable_help_subcommand = true)]
pub struct Xtask {
    #[command(subcommand)]
    pub command: Command,
}

impl Xtask {
    /// Parses the command line `args` (without the program's name) of the
    /// tool a person runs as `command` (`cargo xtask`, `cargo edgekit`):
    /// the same commands and flags, with that name in `--help` and usage
    /// errors; exits on a usage error or `--help`, as clap does.
    pub fn parse_as(command: &'static str, args: impl IntoIterator<Item = std::ffi::OsString>) -> Xtask {
        use clap::{CommandFactory, FromArgMatches};
        let cli = Xtask::command().name(command).bin_name(command);
        let matches = cli.get_matches_from(std::iter::once(std::ffi::OsString::from(command)).chain(args));
        Xtask::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Init(Init),
    Update(Update),
    Dist(Dist),
    Size(Size),
    Wit(Wit),
    Tidy(Tidy),
    New(New),
    Rm(Rm),
    Compose(Compose),
    Serve(Serve),
    Dev(Dev),
    Call(Call),
    Portability(Portability),
    Bench(Bench),
    Oci(Oci),
    Publish(Publish),
    Pull(Pull),
    Deploy(Deploy),
}

impl Command {
    /// The crate that implements this command, when it is not xtask itself:
    /// commands that run artifacts need wasmtime and those that talk to
    /// registries need the OCI client, and neither belongs in the build of
    /// `cargo xtask dist` (see ARCHITECTURE.md, "xtask/").
    pub fn wing_crate(&self) -> Option<&'static str> {
        match self {
            Command::Serve(_) | Command::Dev(_) | Command::Call(_) | Command::Portability(_) | Command::Bench(_) => {
                Some("xtask-run")
            }
            Command::Oci(_) | Command::Publish(_) | Command::Pull(_) | Command::Deploy(_) => Some("xtask-deploy"),
            _ => None,
        }
    }

    /// Whether the command works on a project, and so refuses to run
    /// outside one: all but `init`, `pull`, and `serve` or `call` given the
    /// path of a `.wasm` file.
    pub fn needs_project(&self) -> bool {
        let path = |component: &str| component.ends_with(".wasm") || component.contains('/');
        match self {
            Command::Init(_) | Command::Pull(_) => false,
            Command::Serve(serve) => serve.component.as_deref().is_none_or(|c| !path(c)),
            Command::Call(call) => !path(&call.component),
            Command::New(new) => new.out.is_none(),
            _ => true,
        }
    }
}

/// Make the current directory an edgekit project (an existing Cargo
/// workspace or an empty directory): edgekit.toml, the guest library and the
/// pinned WASI in .edgekit/, components/, and a CI workflow that builds and
/// checks the components. Adds files, never overwrites one.
#[derive(clap::Args, Debug)]
pub struct Init {
    /// Also add edgekit's example app: edge-fn, http-api behind middleware,
    /// and kv-api, made from their templates, and the routes that put them
    /// on one address (`/`, `/api/...`, `/kv/...`) for `serve` and `dev`.
    #[arg(long)]
    pub example_app: bool,
}

/// Bring this project's guest library and pinned WASI (.edgekit/) to the
/// installed cargo-edgekit's, record its versions in edgekit.toml, and
/// print what changed.
#[derive(clap::Args, Debug)]
pub struct Update {
    /// Change nothing; fail if the project is not up to date (for CI).
    #[arg(long)]
    pub check: bool,
}

/// Build, strip, wasm-opt -Oz, componentize, validate and check every
/// component (or the ones named) for each WASI line it is built for; writes
/// target/dist/<artifact>.wasm and updates target/dist/manifest.json.
#[derive(clap::Args, Debug)]
pub struct Dist {
    /// Components to build (every line of each), or artifacts (that line
    /// alone: http-api-p3); all of them when none is named.
    pub components: Vec<String>,
    /// Build a variant to debug instead: with DWARF, not stripped, not run
    /// through wasm-opt, written to target/dist/debug/<name>.wasm; never in
    /// the manifest, checked against budgets or published.
    #[arg(long)]
    pub debug: bool,
}

/// Output formats for reports.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Json,
}

/// Check target/dist against the budgets in edgekit.toml (runs dist first
/// when target/dist is empty), or explain where an artifact's bytes go.
#[derive(clap::Args, Debug)]
pub struct Size {
    /// Accept the current sizes as the new baselines.
    #[arg(long)]
    pub bless: bool,
    /// Allowed growth over the baseline, in percent (default: the file's).
    #[arg(long, value_name = "PERCENT")]
    pub tolerance: Option<f64>,
    /// How to print the report.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Attribute this artifact's bytes instead of checking budgets.
    #[arg(long, value_name = "COMPONENT")]
    pub explain: Option<String>,
    /// With --explain: what changed since an older build of the artifact.
    #[arg(long, value_name = "OLD_WASM", requires = "explain")]
    pub diff: Option<PathBuf>,
    /// With --explain: how many functions to list.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// With --explain: also draw where the bytes go into this SVG file
    /// (sections, core modules, crates, functions; open it in a browser).
    #[arg(long, value_name = "FILE", requires = "explain", conflicts_with = "diff")]
    pub svg: Option<PathBuf>,
}

/// Move one pinned WASI line to another release of it: re-vendor its deps
/// (wit/deps for 0.2.x, wit/p3/deps for 0.3.x) and move its worlds and every
/// component on that line to it. The other line stays as it is.
#[derive(clap::Args, Debug)]
pub struct Wit {
    /// The WASI version to move to, e.g. 0.2.9 or 0.3.0; its major and minor
    /// pick the line.
    #[arg(long, value_name = "0.2.N|0.3.N")]
    pub bump: String,
}

/// Check the workspace's own rules (also runs in `cargo test`).
#[derive(clap::Args, Debug)]
pub struct Tidy {}

/// Create a component from a template: in this project's components
/// directory, or with --out as a standalone crate anywhere.
#[derive(clap::Args, Debug)]
pub struct New {
    /// The new component's name: lower-case words joined by `-`, e.g. orders-api.
    pub name: String,
    /// The template to copy, e.g. http-api (`new --help` cannot list them;
    /// a wrong name gets the list).
    #[arg(long)]
    pub template: String,
    /// Write a standalone crate (its own [workspace], WIT and README) into
    /// this directory instead of adding it to this project.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The WASI lines to build it for, of the template's: p2 (WASI 0.2,
    /// artifact <name>), p3 (WASI 0.3, artifact <name>-p3), or both, the
    /// default (`--lines p2,p3`).
    #[arg(long, value_name = "p2|p3", value_delimiter = ',')]
    pub lines: Vec<String>,
}

/// Remove a component: its crate, its world files, its tests, its budgets,
/// its compositions, its README rows and its dist artifacts (every line's).
#[derive(clap::Args, Debug)]
pub struct Rm {
    /// The component to remove.
    pub name: String,
}

/// Plug a middleware component in front of an http component (both in
/// target/dist); writes target/dist/<middleware>+<handler>.wasm.
#[derive(clap::Args, Debug)]
pub struct Compose {
    pub middleware: String,
    pub handler: String,
}

/// Serve a wasi:http component over HTTP: a fresh instance per request,
/// with a per-request deadline and memory limit, outbound requests only to
/// the hosts allowed and only the wasi:config variables given. With no
/// component named, serve the project's app: each [[route]] of
/// edgekit.toml to its component, on one address, with the limits and
/// grants below except where the route sets its own.
#[derive(clap::Args, Debug)]
pub struct Serve {
    /// A dist artifact's name, or a path to a `.wasm` component; none: the
    /// app of edgekit.toml's [[route]]s.
    pub component: Option<String>,
    #[command(flatten)]
    pub options: ServeOptions,
}

/// Serve a component and rebuild it on every change: edit, save, and the
/// next request gets the new version, checked like `dist` and `size` check
/// it; a change that fails keeps the old version serving. With no component
/// named, serve the project's app (edgekit.toml's [[route]]s) and rebuild
/// only the components whose sources changed; the other routes go on
/// serving as they were.
#[derive(clap::Args, Debug)]
pub struct Dev {
    /// A component of this project, or a composition its edgekit.toml lists
    /// (`middleware+http-api`); none: the app of its [[route]]s.
    pub component: Option<String>,
    #[command(flatten)]
    pub options: ServeOptions,
}

/// Where and under which limits and grants `serve` and `dev` serve.
#[derive(clap::Args, Debug)]
pub struct ServeOptions {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Per-request deadline; a request past it gets 504.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub deadline_ms: u64,
    /// Linear memory per instance; a guest growing past it gets 500.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_mib: u64,
    /// Instances alive at once; a request when all are busy gets 503.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub instances: u64,
    /// Requests one WASI 0.3 instance serves before it is retired (a 0.2
    /// instance serves one).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    pub reuse: u64,
    /// Requests one WASI 0.3 instance serves at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrent: u64,
    /// Time from a request's first byte to the end of its head; a slower
    /// client is disconnected.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// Time a connection may sit with no request in flight before it is closed.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: u64,
    /// Connections open at once; a newcomer at the cap closes the one that
    /// has waited longest for a request head (or idled longest), and gets a
    /// 503 only when every one is serving a request. Default: the file
    /// limit (raised to its hard limit) less 128.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Serving threads, each with its own event loop, connections and 0.3
    /// instances. Default: one per core.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: Option<u16>,
    /// A host the component may send outbound requests to (repeatable).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// A wasi:config variable the component may read (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
    pub config: Vec<(String, String)>,
    /// Link all of WASI beside wasi:http (wasi:cli, filesystem, sockets),
    /// with nothing granted through it but --env: what a component built
    /// the stock way (`cargo build --target wasm32-wasip2`) imports from
    /// std. stdin is empty, stdout and stderr go to the guest log, and
    /// `exit` fails the request with 500.
    #[arg(long)]
    pub cli: bool,
    /// An environment variable the component reads through wasi:cli
    /// (repeatable; needs --cli).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = key_value, requires = "cli")]
    pub env: Vec<(String, String)>,
    /// The store behind wasi:keyvalue: a database file, created if absent
    /// and kept across restarts (every write is on disk before the
    /// component gets its answer), or `memory`. Without it, a component
    /// importing wasi:keyvalue is refused.
    #[arg(long, value_name = "FILE|memory")]
    pub kv: Option<String>,
    /// A wasi:keyvalue bucket the component may open besides `default`
    /// (repeatable; needs --kv); other names get `no-such-store`.
    #[arg(long = "kv-bucket", value_name = "NAME", requires = "kv")]
    pub kv_buckets: Vec<String>,
    /// Drop what the component writes to stdout and stderr, instead of
    /// printing each line tagged with the component and the request.
    #[arg(long)]
    pub no_guest_log: bool,
    /// Sample the component with wasmtime's guest profiler while serving,
    /// and when stopped (Ctrl-C, once) write DIR/profile.json (Firefox
    /// Profiler: open it at profiler.firefox.com) and DIR/flamegraph.svg
    /// (open it in a browser), named from the names file.
    #[arg(long, value_name = "DIR")]
    pub profile: Option<PathBuf>,
}

fn key_value(pair: &str) -> Result<(String, String), String> {
    pair.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{pair}`: write it as key=value"))
}

/// Call an export of a non-http component, arguments and result in WAVE:
/// call greeter 'greet({first: "Ada", last: "Lovelace"})'.
#[derive(clap::Args, Debug)]
pub struct Call {
    /// A dist artifact's name, or a path to a `.wasm` component.
    pub component: String,
    /// A WAVE function call.
    pub expr: String,
}

/// Run every self-contained wasi:http artifact under `wasmtime serve` and
/// jco (installed into ~/.cache/edgekit/tools on first use) and print
/// a component x host matrix.
#[derive(clap::Args, Debug)]
pub struct Portability {}

/// Cold start (compile, load, instantiate, first call) and throughput
/// against `wasmtime serve`; medians, no assertions.
#[derive(clap::Args, Debug)]
pub struct Bench {
    /// Measure only an app's routing: requests per second through an app's
    /// routes against the same component served alone.
    #[arg(long, conflicts_with = "cold")]
    pub app: bool,
    /// Measure only cold start: compile, load, instantiate, and instantiate
    /// plus the first request, for every dist artifact.
    #[arg(long)]
    pub cold: bool,
}

/// Write each dist artifact as a Wasm OCI artifact (CNCF TAG Runtime layout)
/// to target/dist/oci/<name>/, an OCI image layout.
#[derive(clap::Args, Debug)]
pub struct Oci {
    /// Components to package; every one in target/dist/manifest.json when none is named.
    pub components: Vec<String>,
}

/// Push a dist artifact to an OCI registry (plain HTTP only for
/// 127.0.0.1/localhost) and print its digest.
#[derive(clap::Args, Debug)]
pub struct Publish {
    pub component: String,
    /// <registry>/<repo>:<tag>
    pub reference: String,
}

/// Fetch a Wasm OCI artifact, check it, write its component.
#[derive(clap::Args, Debug)]
pub struct Pull {
    /// <registry>/<repo>:<tag>
    pub reference: String,
    pub out: String,
}

/// Deploy dist artifacts to an engine that spans machines.
#[derive(clap::Args, Debug)]
pub struct Deploy {
    #[command(subcommand)]
    pub engine: Engine,
}

#[derive(Subcommand, Debug)]
pub enum Engine {
    Wasmcloud(Wasmcloud),
}

/// Write a wadm manifest for each WASI 0.2 http artifact to
/// target/dist/deploy/<name>.wadm.yaml, to apply to a wasmCloud 1.x lattice
/// with `wash app deploy`; with no components named in a project with
/// [[route]]s, one manifest for its app (every route's component, the
/// built-in HTTP server in path mode, a link per route; a route wasmCloud
/// 1.x cannot serve is named with the reason, and nothing is written). With --local, also start a lattice on this
/// machine (NATS with JetStream, wadm, --hosts wasmCloud hosts and a
/// registry, all on 127.0.0.1; built and installed into
/// ~/.cache/edgekit/tools on first use), publish the artifacts, deploy
/// them, print their URLs, and stop everything on Ctrl-C.
#[derive(clap::Args, Debug)]
pub struct Wasmcloud {
    /// Components to deploy, each as an application of its own; when none
    /// is named, the project's app, or without [[route]]s every
    /// self-contained WASI 0.2 http artifact.
    pub components: Vec<String>,
    /// Start a lattice on this machine and deploy to it.
    #[arg(long)]
    pub local: bool,
    /// How many hosts the replicas are spread over (labelled
    /// edgekit-host=1..N).
    #[arg(long, default_value_t = 2)]
    pub hosts: usize,
    /// Replicas of each component, spread evenly over the hosts.
    #[arg(long, default_value_t = 2)]
    pub replicas: usize,
    /// Where the images are, <registry>/<path> (e.g. ghcr.io/<org>/edgekit);
    /// the manifests name <registry>/<path>/<name>:<version>. Needed
    /// without --local; with it, the local registry is used.
    #[arg(long)]
    pub registry: Option<String>,
    /// The address the first application listens on; each next one takes
    /// the next port (with --local, each host its own port too).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
}
