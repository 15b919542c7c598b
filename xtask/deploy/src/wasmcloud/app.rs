//! The project's app (its `[[route]]`s) as one wadm application: every
//! artifact the routes serve, spread over the hosts, and the built-in HTTP
//! server in path mode (`routing_mode: path` in its own config, the address
//! as `default_address`), linked to each route's component with the route's
//! path in the link's config (`path`), one link name per route.
//!
//! What wasmCloud 1.x's server can route, read from its source
//! (wasmcloud-host 0.27.1, `wasmbus/providers/http_server/path.rs`): a
//! request goes to the link whose `path` equals the request's path, and
//! the component gets the whole path; any other path gets a 404 with no
//! body. So a route goes to wasmCloud when it is an exact path, to a WASI
//! 0.2 artifact that imports nothing the manifest leaves unlinked; a prefix
//! route (`/api/...`), a 0.3 component, or a `wasi:keyvalue` or
//! `wasi:config` import is named as the reason the app cannot go, route by
//! route, never skipped.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, bail};
use xtask::artifact::{Entry, Manifest};
use xtask::project::routes::{Route, RoutePath};
use xtask::project::{self, Project};

use super::manifest::{Listener, app_name, component, spread_to};
use super::why_not;

/// The app, ready to write as a manifest.
pub struct RoutedApp {
    pub name: String,
    pub description: String,
    /// Each artifact the routes serve, once: its name in the manifest, its
    /// dist entry, and its image.
    pub parts: Vec<Part>,
    /// (exact path, the manifest name of its component), in the file's order.
    pub routes: Vec<(String, String)>,
    pub replicas: usize,
    pub hosts: usize,
    pub listeners: Vec<Listener>,
}

pub struct Part {
    pub name: String,
    pub entry: Entry,
    pub image: String,
}

/// What of an app goes to wasmCloud: each artifact once, and each route as
/// (exact path, the manifest name of its component).
pub struct Deployable {
    pub entries: Vec<Entry>,
    pub paths: Vec<(String, String)>,
}

/// `routes` (of `project`'s components) checked for wasmCloud 1.x: every
/// reason one cannot go, or what of them goes.
pub fn plan(project: &Project, routes: &[Route]) -> Result<Deployable> {
    let file = project.root.join(project::FILE);
    if routes.is_empty() {
        bail!(
            "{} has no [[route]]s, so there is no app to deploy: name the components to deploy each as an \
             application of its own, or add routes (docs/project.md, \"Routes\")",
            file.display()
        );
    }
    let dist = xtask::workspace::dist_dir(&project.root);
    let manifest = Manifest::read(&dist)?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut paths = Vec::new();
    let mut reasons = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        let place = format!("[[route]] {} (path = \"{}\")", i + 1, route.path);
        let artifact = route.artifact();
        let entry = manifest.entry(&dist, &artifact).with_context(|| format!("{}: {place}", file.display()))?.clone();
        let mut why = Vec::new();
        if let RoutePath::Prefix(_) = route.path {
            why.push(
                "a prefix route: wasmCloud 1.x's built-in HTTP server in path mode sends a request only to the \
                 link whose path equals the request's whole path (wasmcloud-host 0.27.1), so only exact paths \
                 (`/x`) can go"
                    .to_string(),
            );
        }
        if let Some(reason) = why_not(&entry) {
            why.push(format!("{artifact}: {reason}"));
        }
        if why.is_empty() {
            paths.push((route.path.to_string(), app_name(&artifact)));
            if !entries.iter().any(|e| e.name == entry.name) {
                entries.push(entry);
            }
        } else {
            reasons.push(format!("  {place}: {}", why.join("; ")));
        }
    }
    if !reasons.is_empty() {
        bail!(
            "the app of {} cannot go to wasmCloud 1.x:\n{}\nchange or remove those routes, or deploy components \
             one by one by naming them (`{}`)",
            file.display(),
            reasons.join("\n"),
            xtask::tool::cmd("deploy wasmcloud <component>...")
        );
    }
    Ok(Deployable { entries, paths })
}

/// The application's name: the project directory's, as wadm takes it.
pub fn name(root: &Path) -> String {
    let dir = root.file_name().map_or("app".into(), |n| n.to_string_lossy().into_owned());
    format!("{}-app", app_name(&dir))
}

impl RoutedApp {
    /// The manifest as YAML.
    pub fn manifest(&self) -> String {
        self.write(true)
    }

    /// The same without the links: its components and servers alone, the
    /// first of `--local`'s two steps (see `Local::deploy_app`).
    pub fn servers_only(&self) -> String {
        self.write(false)
    }

    fn write(&self, links: bool) -> String {
        let RoutedApp { name, description, replicas, hosts, .. } = self;
        let mut y = String::new();
        let _ = writeln!(y, "apiVersion: core.oam.dev/v1beta1");
        let _ = writeln!(y, "kind: Application");
        let _ = writeln!(y, "metadata:\n  name: {name}\n  annotations:\n    description: \"{description}\"");
        let _ = writeln!(y, "spec:\n  components:");
        for part in &self.parts {
            component(&mut y, &part.name, "component", &part.image, "spreadscaler", *replicas);
            let _ = writeln!(y, "            spread:");
            for host in 1..=*hosts {
                spread_to(&mut y, host, Some(100));
            }
        }
        for listener in &self.listeners {
            let server = match listener.host {
                Some(host) => format!("http-server-host-{host}"),
                None => "http-server".to_string(),
            };
            // The server's own config: path mode, on this address; then each
            // route's link config, which the links below name again. Listed
            // here, wadm puts them with the server, before any link: a link
            // whose config is not in yet waits for an event to be put, and
            // one that comes before the config (a component already pulled
            // starting at once) leaves the route unlinked, seen here.
            let _ = writeln!(
                y,
                "    - name: {server}\n      type: capability\n      properties:\n        \
                 image: wasmcloud+builtin://http-server\n        config:\n          - name: {name}-{server}\n            \
                 properties:\n              routing_mode: path\n              default_address: {}",
                listener.address
            );
            for (i, (path, _)) in self.routes.iter().enumerate() {
                let _ = writeln!(
                    y,
                    "          - name: {name}-{server}-route-{}\n            properties:\n              path: {path}",
                    i + 1
                );
            }
            let _ = writeln!(
                y,
                "      traits:\n        - type: daemonscaler\n          properties:\n            instances: 1"
            );
            if let Some(host) = listener.host {
                let _ = writeln!(y, "            spread:");
                spread_to(&mut y, host, None);
            }
            for (i, (path, target)) in self.routes.iter().enumerate().filter(|_| links) {
                let _ = writeln!(y, "        - type: link\n          properties:\n            name: route-{}", i + 1);
                let _ = writeln!(
                    y,
                    "            namespace: wasi\n            package: http\n            interfaces: [incoming-handler]"
                );
                let _ = writeln!(y, "            target:\n              name: {target}");
                let _ = writeln!(
                    y,
                    "            source:\n              config:\n                - name: {name}-{server}-route-{}\n                  \
                     properties:\n                    path: {path}",
                    i + 1
                );
            }
        }
        y
    }

    /// Where its servers listen: (host, address), host 0 for every host.
    pub fn addrs(&self) -> Vec<(usize, SocketAddr)> {
        self.listeners.iter().map(|l| (l.host.unwrap_or(0), l.address)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_links_each_route_to_its_component_on_a_server_in_path_mode() {
        let app = RoutedApp {
            name: "shop-app".into(),
            description: "shop".into(),
            parts: Vec::new(),
            routes: vec![("/".into(), "edge-fn".into()), ("/items".into(), "middleware-http-api".into())],
            replicas: 2,
            hosts: 2,
            listeners: vec![Listener { host: None, address: "0.0.0.0:8080".parse().unwrap() }],
        };
        let yaml = app.manifest();
        assert_eq!(yaml.matches("routing_mode: path").count(), 1, "{yaml}");
        assert!(yaml.contains("default_address: 0.0.0.0:8080\n"), "{yaml}");
        assert!(yaml.contains("name: route-2\n"), "{yaml}");
        assert!(yaml.contains("target:\n              name: middleware-http-api\n"), "{yaml}");
        assert!(yaml.contains("properties:\n                    path: /items\n"), "{yaml}");
    }
}
