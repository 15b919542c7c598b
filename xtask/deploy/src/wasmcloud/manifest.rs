//! The wadm manifest (`core.oam.dev/v1beta1`) for one http artifact: the
//! component by its OCI reference, spread evenly over hosts labelled
//! `edgekit-host=1..N`, and wasmCloud's built-in HTTP server linked to it.
//!
//! Written as text, not through wadm's types: the main workspace does not
//! build wadm, and the local lattice's `apply` parses every manifest with
//! wadm's own types before deploying it (the test of this file).

use std::fmt::Write as _;
use std::net::SocketAddr;

/// The host label the spreads match.
pub const HOST_LABEL: &str = "edgekit-host";

/// One application: a component and where its HTTP server listens.
pub struct App {
    /// The application's name, also its component's in the manifest
    /// (`middleware+http-api` becomes `middleware-http-api`).
    pub name: String,
    /// What the manifest says the artifact is, for people.
    pub description: String,
    /// `<registry>/<path>/<name>:<version>`
    pub image: String,
    pub replicas: usize,
    pub hosts: usize,
    pub listeners: Vec<Listener>,
}

/// A built-in HTTP server: on every host (`host: None`, the manifest for a
/// lattice of machines, each binding the same address), or on the host
/// labelled `edgekit-host=<n>` (the local lattice, whose hosts share one
/// machine's ports and so each take their own).
pub struct Listener {
    pub host: Option<usize>,
    pub address: SocketAddr,
}

/// An application or component name wadm takes: letters, digits and dashes.
pub fn app_name(artifact: &str) -> String {
    artifact.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

impl App {
    /// The manifest as YAML.
    pub fn manifest(&self) -> String {
        let App { name, description, image, replicas, hosts, .. } = self;
        let mut y = String::new();
        let _ = writeln!(y, "apiVersion: core.oam.dev/v1beta1");
        let _ = writeln!(y, "kind: Application");
        let _ = writeln!(y, "metadata:\n  name: {name}\n  annotations:\n    description: \"{description}\"");
        let _ = writeln!(y, "spec:\n  components:");
        component(&mut y, name, "component", image, "spreadscaler", *replicas);
        let _ = writeln!(y, "            spread:");
        for host in 1..=*hosts {
            spread_to(&mut y, host, Some(100));
        }
        for (i, listener) in self.listeners.iter().enumerate() {
            let server = match listener.host {
                Some(host) => format!("http-server-host-{host}"),
                None => "http-server".to_string(),
            };
            component(&mut y, &server, "capability", "wasmcloud+builtin://http-server", "daemonscaler", 1);
            if let Some(host) = listener.host {
                let _ = writeln!(y, "            spread:");
                spread_to(&mut y, host, None);
            }
            let _ = writeln!(y, "        - type: link\n          properties:");
            let _ = writeln!(
                y,
                "            namespace: wasi\n            package: http\n            interfaces: [incoming-handler]"
            );
            let _ = writeln!(y, "            target:\n              name: {name}");
            let _ = writeln!(
                y,
                "            source:\n              config:\n                - name: {name}-listen-{}",
                i + 1
            );
            let _ = writeln!(y, "                  properties:\n                    address: {}", listener.address);
        }
        y
    }
}

/// One of `spec.components`: its name, type and image, and the first of its
/// traits, a `scaler` of `instances` (the spread, if any, follows).
pub(super) fn component(y: &mut String, name: &str, kind: &str, image: &str, scaler: &str, instances: usize) {
    let _ = writeln!(y, "    - name: {name}\n      type: {kind}\n      properties:\n        image: {image}");
    let _ = writeln!(
        y,
        "      traits:\n        - type: {scaler}\n          properties:\n            instances: {instances}"
    );
}

/// One entry of a scaler's spread: the hosts labelled `edgekit-host=<host>`,
/// with a weight if given.
pub(super) fn spread_to(y: &mut String, host: usize, weight: Option<u32>) {
    let _ = writeln!(y, "              - name: host-{host}");
    if let Some(weight) = weight {
        let _ = writeln!(y, "                weight: {weight}");
    }
    let _ = writeln!(y, "                requirements:\n                  {HOST_LABEL}: \"{host}\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_wadm_takes() {
        assert_eq!(app_name("middleware+http-api"), "middleware-http-api");
        assert_eq!(app_name("edge-fn"), "edge-fn");
    }

    #[test]
    fn a_local_manifest_spreads_the_component_and_puts_a_server_on_each_host() {
        let app = App {
            name: "edge-fn".into(),
            description: "edge-fn".into(),
            image: "127.0.0.1:5000/edgekit/edge-fn:0.1.0".into(),
            replicas: 2,
            hosts: 2,
            listeners: vec![
                Listener { host: Some(1), address: "127.0.0.1:8080".parse().unwrap() },
                Listener { host: Some(2), address: "127.0.0.1:8081".parse().unwrap() },
            ],
        };
        let yaml = app.manifest();
        assert_eq!(yaml.matches("image: wasmcloud+builtin://http-server").count(), 2, "{yaml}");
        assert_eq!(yaml.matches("edgekit-host: \"2\"").count(), 2, "{yaml}");
        assert!(yaml.contains("instances: 2\n            spread:\n              - name: host-1"), "{yaml}");
        assert!(yaml.contains("address: 127.0.0.1:8081\n"), "{yaml}");
    }
}
