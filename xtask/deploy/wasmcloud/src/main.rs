//! `edgekit-wasmcloud`: the parts of a wasmCloud 1.x lattice that are not on
//! a package registry as programs, built from the libraries that are.
//!
//! - `host`: a wasmCloud host (`wasmcloud-host`, the library behind
//!   wasmCloud 1.x's `wasmcloud` binary) joined to a lattice over NATS, with
//!   the built-in HTTP server provider (`wasmcloud+builtin://http-server`).
//! - `wadm`: the scheduler (`wadm::start_wadm`), which places an
//!   application's replicas on the lattice's hosts and replaces lost ones.
//! - `apply`: puts wadm manifests and deploys them, the way `wash app
//!   deploy` does, then waits until wadm reports each one deployed.
//!
//! `cargo xtask deploy wasmcloud --local` builds this once and starts one
//! process per part; nothing here knows about edgekit's artifacts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};
use url::Url;

#[derive(Parser)]
#[command(
    name = "edgekit-wasmcloud",
    about = "A wasmCloud 1.x host, wadm and a manifest client, for edgekit's local lattice"
)]
struct Cli {
    #[command(subcommand)]
    command: Part,
}

#[derive(Subcommand)]
enum Part {
    /// A wasmCloud host joined to the lattice, with the built-in HTTP server.
    Host {
        /// The lattice's NATS server.
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats: Url,
        /// The lattice's name.
        #[arg(long, default_value = "default")]
        lattice: String,
        /// A label `key=value` wadm's spread requirements match (repeatable).
        #[arg(long = "label", value_parser = label)]
        labels: Vec<(String, String)>,
        /// A registry `host:port` the host may pull from over plain HTTP
        /// (repeatable); every other registry needs TLS.
        #[arg(long)]
        insecure_registry: Vec<String>,
    },
    /// wadm, the lattice's scheduler.
    Wadm {
        /// The lattice's NATS server, `host:port`.
        #[arg(long, default_value = "127.0.0.1:4222")]
        nats: String,
    },
    /// Puts each wadm manifest, deploys it, and waits until wadm reports it deployed.
    Apply {
        /// The lattice's NATS server.
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats: String,
        /// The lattice's name.
        #[arg(long, default_value = "default")]
        lattice: String,
        /// How long to wait for each application to be deployed, in seconds.
        #[arg(long, default_value_t = 120)]
        wait: u64,
        /// The manifests (`<name>.wadm.yaml`).
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
    },
}

fn label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not a label: write key=value")),
    }
}

fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,cranelift_codegen=warn,wasmtime=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Cli::parse().command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(part: Part) -> Result<()> {
    match part {
        Part::Host { nats, lattice, labels, insecure_registry } => host(nats, lattice, labels, insecure_registry).await,
        Part::Wadm { nats } => wadm(nats).await,
        Part::Apply { nats, lattice, wait, manifests } => {
            let client = async_nats::connect(&nats)
                .await
                .with_context(|| format!("cannot reach the lattice's NATS server at {nats}: is the lattice up?"))?;
            for manifest in &manifests {
                apply(&client, &lattice, manifest, Duration::from_secs(wait))
                    .await
                    .with_context(|| format!("applying {}", manifest.display()))?;
            }
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, the two ways the lattice's parts are stopped.
async fn stop_signal() -> Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        sig = tokio::signal::ctrl_c() => sig.context("cannot listen for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}

async fn host(nats: Url, lattice: String, labels: Vec<(String, String)>, insecure: Vec<String>) -> Result<()> {
    use wasmcloud_host::wasmbus::{Features, Host};
    let config = wasmcloud_host::WasmbusHostConfig {
        ctl_nats_url: nats.clone(),
        rpc_nats_url: nats.clone(),
        lattice: lattice.into(),
        labels: labels.into_iter().collect::<HashMap<_, _>>(),
        oci_opts: wasmcloud_host::OciConfig { allowed_insecure: insecure, ..Default::default() },
        experimental_features: Features::new().enable_builtin_http_server(),
        ..Default::default()
    };
    let (host, shutdown) = Box::pin(Host::new(config))
        .await
        .with_context(|| format!("the wasmCloud host could not start on the lattice at {nats}"))?;
    tokio::select! {
        stop = stop_signal() => stop?,
        stopped = host.stopped() => { stopped?; }
    }
    drop(host);
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .context("the host did not shut down within 10 s")?
        .context("the host failed to shut down")
}

async fn wadm(nats: String) -> Result<()> {
    let config = wadm::config::WadmConfig { nats_server: nats.clone(), ..Default::default() };
    let mut tasks =
        wadm::start_wadm(config).await.with_context(|| format!("wadm could not start on the lattice at {nats}"))?;
    tokio::select! {
        stop = stop_signal() => stop,
        done = tasks.join_next() => match done {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(e))) => Err(e.context("wadm stopped")),
            Some(Err(e)) => Err(anyhow::Error::from(e).context("wadm stopped")),
        },
    }
}

/// Sends a request to wadm's API and parses its JSON answer.
async fn ask<T: serde::de::DeserializeOwned>(
    client: &async_nats::Client,
    subject: String,
    payload: Vec<u8>,
) -> Result<T> {
    let reply = tokio::time::timeout(Duration::from_secs(10), client.request(subject.clone(), payload.into()))
        .await
        .with_context(|| format!("wadm did not answer `{subject}` within 10 s: is wadm running on this lattice?"))?
        .with_context(|| format!("no answer on `{subject}`: is wadm running on this lattice?"))?;
    serde_json::from_slice(&reply.payload)
        .with_context(|| format!("wadm's answer to `{subject}` is not what wadm 0.21 sends"))
}

async fn apply(client: &async_nats::Client, lattice: &str, path: &PathBuf, wait: Duration) -> Result<()> {
    use wadm_types::api::{
        DeployModelRequest, DeployModelResponse, DeployResult, PutModelResponse, PutResult, StatusResponse,
        StatusResult, StatusType,
    };
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: wadm_types::Manifest =
        serde_yaml::from_slice(&bytes).context("not a wadm manifest (apiVersion core.oam.dev/v1beta1)")?;
    let name = manifest.metadata.name;
    let api = format!("wadm.api.{lattice}.model");

    let put: PutModelResponse = ask(client, format!("{api}.put"), bytes).await?;
    if put.result == PutResult::Error {
        bail!("wadm refused the manifest: {}", put.message);
    }
    let request = serde_json::to_vec(&DeployModelRequest { version: None })?;
    let deploy: DeployModelResponse = ask(client, format!("{api}.deploy.{name}"), request).await?;
    if deploy.result != DeployResult::Acknowledged {
        bail!("wadm did not deploy `{name}`: {}", deploy.message);
    }
    eprintln!("applied {name} ({})", path.display());

    let deadline = Instant::now() + wait;
    let mut last: String;
    loop {
        let status: StatusResponse = ask(client, format!("{api}.status.{name}"), Vec::new()).await?;
        if status.result != StatusResult::Ok {
            bail!("wadm has no status for `{name}`: {}", status.message);
        }
        let info = status.status.map(|s| s.info).unwrap_or_default();
        match info.status_type {
            StatusType::Deployed => {
                eprintln!("deployed {name}");
                return Ok(());
            }
            StatusType::Failed => bail!("wadm says `{name}` failed: {}", info.message),
            other => last = format!("{other:?}: {}", info.message),
        }
        if Instant::now() > deadline {
            bail!("`{name}` was not deployed within {} s; wadm's last word: {last}", wait.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
