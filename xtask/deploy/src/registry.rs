//! What `publish` and `pull` share about talking to an OCI registry: parsing a
//! reference, an oci-client that speaks plain HTTP to loopback registries only
//! (TLS everywhere else), credentials, the tokio runtime, and turning client
//! errors into messages that say what to do.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// Environment variables holding registry credentials; anonymous without them.
pub const USERNAME_VAR: &str = "EDGEKIT_REGISTRY_USERNAME";
pub const PASSWORD_VAR: &str = "EDGEKIT_REGISTRY_PASSWORD";

/// Parses `<registry>/<repository>:<tag>` or `...@<digest>`. The registry
/// and the tag must be written out: a bare `greeter:1` would silently mean
/// Docker Hub, and a missing tag `latest`, which wasmCloud refuses by default.
pub fn reference(text: &str) -> Result<Reference> {
    let reference: Reference = text.parse().with_context(|| {
        format!("`{text}` is not an image reference; write <registry>/<repository>:<tag>, e.g. 127.0.0.1:5000/edgekit/greeter:0.1.0")
    })?;
    if !text.starts_with(reference.registry()) || !text[reference.registry().len()..].starts_with('/') {
        bail!(
            "`{text}` names no registry; write <registry>/<repository>:<tag>, e.g. 127.0.0.1:5000/edgekit/greeter:0.1.0 \
             or ghcr.io/<org>/greeter:0.1.0"
        );
    }
    let last = text.rsplit('/').next().unwrap_or(text);
    if !last.contains(':') && !last.contains('@') {
        bail!("`{text}` names no tag; write {text}:<tag>, e.g. {text}:0.1.0");
    }
    Ok(reference)
}

/// True for registries on this machine, the only ones reached without TLS.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.split(':').next().unwrap_or(registry),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A client for the reference's registry: plain HTTP for loopback, HTTPS
/// otherwise, and timeouts so a registry that hangs fails the command.
pub fn client(reference: &Reference) -> Client {
    let registry = reference.resolve_registry().to_string();
    let protocol =
        if is_loopback(&registry) { ClientProtocol::HttpsExcept(vec![registry]) } else { ClientProtocol::Https };
    Client::new(ClientConfig {
        protocol,
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(Duration::from_secs(60)),
        // Not needed for a single-manifest artifact; keeps `pull` from
        // depending on the host's platform.
        platform_resolver: None,
        ..ClientConfig::default()
    })
}

/// Basic credentials from the environment, else anonymous.
pub fn auth() -> Result<RegistryAuth> {
    match (std::env::var(USERNAME_VAR), std::env::var(PASSWORD_VAR)) {
        (Ok(user), Ok(password)) => Ok(RegistryAuth::Basic(user, password)),
        (Err(_), Err(_)) => Ok(RegistryAuth::Anonymous),
        _ => bail!("set both {USERNAME_VAR} and {PASSWORD_VAR}, or neither for anonymous access"),
    }
}

/// Runs registry I/O on a current-thread tokio runtime.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the tokio runtime")?;
    Ok(runtime.block_on(future))
}

/// Wraps a client error with what it means for `what` (e.g. "push greeter
/// to 127.0.0.1:5000/edgekit/greeter:1") and what to do about it.
pub fn explain(error: anyhow::Error, what: &str, reference: &Reference) -> anyhow::Error {
    let registry = reference.resolve_registry();
    let unreachable = error.chain().any(|cause| {
        cause.downcast_ref::<reqwest::Error>().is_some_and(|e| e.is_connect() || e.is_timeout())
            || matches!(
                cause.downcast_ref::<OciDistributionError>(),
                Some(OciDistributionError::RequestError(e)) if e.is_connect() || e.is_timeout()
            )
    });
    let unauthorized = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<OciDistributionError>(),
            Some(OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_))
        )
    });
    let unknown = error.chain().any(|cause| match cause.downcast_ref::<OciDistributionError>() {
        Some(OciDistributionError::ImageManifestNotFoundError(_)) => true,
        Some(OciDistributionError::RegistryError { envelope, .. }) => envelope.errors.iter().any(|e| {
            matches!(e.code, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound)
        }),
        _ => false,
    });
    let hint = if unreachable {
        format!("no registry answers at {registry}: start one there or fix the address")
    } else if unknown {
        format!("{registry} has no such repository and tag: check them")
    } else if unauthorized {
        format!("{registry} wants credentials: set {USERNAME_VAR} and {PASSWORD_VAR}")
    } else {
        format!("the registry at {registry} refused it")
    };
    error.context(format!("cannot {what}: {hint}"))
}

/// The Debian packages that provide [`LocalRegistry`]'s server and the
/// registry tests' independent client.
pub const PACKAGES: [&str; 2] = ["docker-registry", "skopeo"];

/// A CNCF distribution registry (Debian's `docker-registry`) on a free port
/// of 127.0.0.1, its storage and log under `dir`; killed when dropped.
pub struct LocalRegistry {
    server: xtask::process::Killed,
    /// `127.0.0.1:<port>`
    pub addr: String,
}

impl LocalRegistry {
    /// Starts the registry, installing it first where it is missing (see
    /// [`crate::apt`]); `read_only` refuses every push.
    pub fn start(dir: &std::path::Path, read_only: bool) -> Result<LocalRegistry> {
        crate::apt::require("docker-registry", &PACKAGES)?;
        let addr = xtask::process::free_addr()?;
        let config = dir.join("registry.yml");
        let read_only = if read_only { "\n  maintenance:\n    readonly:\n      enabled: true" } else { "" };
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}{read_only}\nhttp:\n  addr: {addr}\n",
                dir.join("registry").display()
            ),
        )
        .with_context(|| format!("cannot write {}", config.display()))?;
        let mut command = std::process::Command::new("docker-registry");
        command.arg("serve").arg(&config);
        let log = dir.join("registry.log");
        let server = xtask::process::start_server(command, "docker-registry", &log, addr, Duration::from_secs(20))?;
        Ok(LocalRegistry { server, addr: addr.to_string() })
    }

    /// The registry's process id.
    pub fn pid(&self) -> u32 {
        self.server.0.id()
    }
}
