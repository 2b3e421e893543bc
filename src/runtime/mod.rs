//! The only code that talks to container engines. The classifier sees a plain
//! [`RuntimeView`]; a [`Runtime`] keeps one fresh. Several runtimes on one host (Docker and
//! Podman, say) are merged into one view by [`Runtimes`]: only their path layouts and APIs
//! differ, never what a leak is.
//!
//! Every engine plugs into one watch loop ([`watch::Watch`]) through a small trait
//! ([`watch::Engine`]: connect, list, inspect, events, ping, layout roots), and is built from
//! the flags by its module's `from_config`. [`enabled`] is what the flags turn on.

pub mod containerd;
pub mod cri;
pub mod docker;
mod node;
pub mod podman;
pub mod watch;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::config::{Config, Toggle, unix_socket_path};
pub use crate::layout::RuntimeKind;
use crate::layout::{Layout, RootKind, normalize_root};
pub use watch::{RuntimeError, Watched};

/// A Kubernetes pod, from the `io.kubernetes.pod.*` labels of its containers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PodRef {
    pub uid: String,
    pub name: String,
    pub namespace: String,
}

/// What the runtime last told us about one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    pub runtime: RuntimeKind,
    /// The containerd namespace (`k8s.io`, `moby`, `default`); `None` for Docker and Podman.
    pub namespace: Option<String>,
    pub id: String,
    pub name: String,
    /// The engine's state (`running`, `exited`, ...), or `removed` once it stopped listing it.
    pub state: String,
    /// Where its root filesystem is mounted (`GraphDriver.Data.MergedDir`).
    pub merged_dir: Option<String>,
    /// Its network namespace bind mount (`NetworkSettings.SandboxKey`).
    pub sandbox_key: Option<String>,
    /// Named volumes it mounts.
    pub volumes: Vec<String>,
    /// The pod it belongs to, when it runs under kubelet.
    pub pod: Option<PodRef>,
}

impl ContainerInfo {
    /// A Docker container with only its identity set.
    pub fn docker(id: &str, name: &str, state: &str) -> ContainerInfo {
        ContainerInfo {
            runtime: RuntimeKind::Docker,
            namespace: None,
            id: id.into(),
            name: name.into(),
            state: state.into(),
            merged_dir: None,
            sandbox_key: None,
            volumes: Vec::new(),
            pod: None,
        }
    }

    pub fn key(&self) -> String {
        container_key(self.runtime, self.namespace.as_deref(), &self.id)
    }
}

/// The pod of a container that kubelet runs (cri-dockerd or CRI labels), if it is one.
pub fn pod_from_labels(labels: &HashMap<String, String>) -> Option<PodRef> {
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    let uid = get("io.kubernetes.pod.uid");
    (!uid.is_empty()).then(|| PodRef {
        uid,
        name: get("io.kubernetes.pod.name"),
        namespace: get("io.kubernetes.pod.namespace"),
    })
}

/// Identity of a container across runtimes: ids are only unique within one engine (and, for
/// containerd, within one namespace).
pub fn container_key(runtime: RuntimeKind, namespace: Option<&str>, id: &str) -> String {
    match namespace {
        Some(ns) => format!("{}/{ns}/{id}", runtime.as_str()),
        None => format!("{}/{id}", runtime.as_str()),
    }
}

pub const STATE_REMOVED: &str = "removed";

pub const STATE_UNKNOWN: &str = "unknown";

/// A snapshot of the runtimes' world, with the path indexes the classifier needs.
#[derive(Debug, Clone, Default)]
pub struct RuntimeView {
    /// Each runtime in the view: whether its last API call succeeded.
    pub runtimes: BTreeMap<RuntimeKind, bool>,
    /// Where the runtimes keep per-container mounts.
    pub layout: Layout,
    /// Known containers by [`container_key`], including remembered removed ones.
    pub containers: HashMap<String, ContainerInfo>,
    /// Canonical mount path (merged dir, sandbox key) -> container key.
    pub by_path: HashMap<String, String>,
    /// (runtime, volume name) -> key of a container that uses it (a live one preferred).
    pub volume_users: HashMap<(RuntimeKind, String), String>,
    /// Pod uid -> key of one of its containers (a live one preferred).
    pub pod_users: HashMap<String, String>,
    /// Pids of the processes serving the runtimes' API sockets, as this process sees them
    /// (SO_PEERCRED): their mount namespaces are references, however far down their
    /// namespace's process list they are; each for its own runtime's paths.
    pub daemon_pids: Vec<(RuntimeKind, u32)>,
}

impl RuntimeView {
    /// A Docker view: data roots, exec roots and containers (others: [`RuntimeView::build`]).
    pub fn docker(
        up: bool,
        data_roots: Vec<String>,
        exec_roots: Vec<String>,
        containers: impl IntoIterator<Item = ContainerInfo>,
    ) -> RuntimeView {
        RuntimeView::build(
            RuntimeKind::Docker,
            up,
            Layout::new(data_roots, exec_roots),
            containers,
        )
    }

    /// One runtime's view. Roots seen in the containers' sandbox keys are added to `layout`.
    pub fn build(
        runtime: RuntimeKind,
        up: bool,
        mut layout: Layout,
        containers: impl IntoIterator<Item = ContainerInfo>,
    ) -> RuntimeView {
        let mut view = RuntimeView {
            runtimes: BTreeMap::from([(runtime, up)]),
            ..Default::default()
        };
        let mut netns_roots = Vec::new();
        for c in containers {
            let key = c.key();
            for path in c.merged_dir.iter().chain(&c.sandbox_key) {
                view.by_path.insert(normalize_root(path), key.clone());
            }
            if let Some(sandbox) = &c.sandbox_key {
                netns_roots.extend(netns_root(c.runtime, sandbox));
            }
            view.containers.insert(key, c);
        }
        for (kind, root) in netns_roots {
            layout = layout.with(kind, [root]);
        }
        view.layout = layout;
        view.index_users();
        view
    }

    /// The union of several runtimes' views.
    pub fn merge<'a>(views: impl IntoIterator<Item = &'a RuntimeView>) -> RuntimeView {
        let mut out = RuntimeView::default();
        for v in views {
            out.runtimes
                .extend(v.runtimes.iter().map(|(k, up)| (*k, *up)));
            out.layout = std::mem::take(&mut out.layout).merge(&v.layout);
            out.containers
                .extend(v.containers.iter().map(|(k, c)| (k.clone(), c.clone())));
            out.by_path
                .extend(v.by_path.iter().map(|(k, c)| (k.clone(), c.clone())));
            out.daemon_pids.extend(&v.daemon_pids);
        }
        out.index_users();
        out
    }

    fn index_users(&mut self) {
        self.volume_users.clear();
        self.pod_users.clear();
        let mut users: Vec<&ContainerInfo> = self.containers.values().collect();
        // Removed containers first, so a live user overwrites them.
        users.sort_by_key(|c| (c.state != STATE_REMOVED, c.key()));
        for c in users {
            for v in &c.volumes {
                self.volume_users.insert((c.runtime, v.clone()), c.key());
            }
            if let Some(pod) = &c.pod {
                self.pod_users.insert(pod.uid.clone(), c.key());
            }
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout.clone()
    }

    /// Whether the runtime is in the view and its last API call succeeded.
    pub fn is_up(&self, runtime: RuntimeKind) -> bool {
        self.runtimes.get(&runtime).copied().unwrap_or(false)
    }
}

/// The pid of the process serving a unix socket, as this process sees it: `None` when it
/// cannot connect in `timeout`, or when the server lives in a pid namespace this process
/// cannot see (the kernel then says 0). One extra connection per (re)sync.
pub async fn socket_peer_pid(path: &str, timeout: std::time::Duration) -> Option<u32> {
    let stream = tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path))
        .await
        .ok()?
        .ok()?;
    let pid = stream.peer_cred().ok()?.pid()?;
    let pid = u32::try_from(pid).ok().filter(|&p| p > 0);
    tracing::debug!(socket = path, ?pid, "socket served by");
    pid
}

/// The directory a sandbox key lives in, as a root of the layout: Docker's
/// `<exec-root>/netns/<sandbox>` gives the exec root; Podman's `<dir>/netns-<uuid>` gives
/// the netns directory.
fn netns_root(runtime: RuntimeKind, sandbox_key: &str) -> Option<(RootKind, String)> {
    let (dir, _) = sandbox_key.rsplit_once('/')?;
    match runtime {
        RuntimeKind::Docker => {
            let root = dir.strip_suffix("/netns").filter(|r| !r.is_empty())?;
            Some((RootKind::DockerExec, normalize_root(root)))
        }
        RuntimeKind::Podman | RuntimeKind::Containerd | RuntimeKind::CriO => {
            (!dir.is_empty()).then(|| (RootKind::NetnsDir, normalize_root(dir)))
        }
    }
}

/// The runtimes the flags enable, each built from the flags and not yet started, in
/// [`RuntimeKind::ALL`]'s order. `auto` is resolved against the file system now, once.
pub fn enabled(config: &Config) -> Vec<Arc<dyn Watched>> {
    let resync = config.runtime_resync_interval();
    let out: Vec<Arc<dyn Watched>> = RuntimeKind::ALL
        .into_iter()
        .filter(|&kind| wanted(config, kind))
        .map(|kind| -> Arc<dyn Watched> {
            match kind {
                RuntimeKind::Docker => watch::Watch::new(docker::from_config(config), resync),
                RuntimeKind::Podman => watch::Watch::new(podman::from_config(config), resync),
                RuntimeKind::Containerd => {
                    watch::Watch::new(containerd::from_config(config), resync)
                }
                RuntimeKind::CriO => watch::Watch::new(cri::from_config(config), resync),
            }
        })
        .collect();
    if out.is_empty() {
        tracing::warn!(
            "no runtime enabled (none by the flags, or no socket found for `auto`): no container path is known, no leak can be found"
        );
    }
    out
}

/// Whether the flags watch a runtime; `auto` is logged with its answer.
fn wanted(config: &Config, kind: RuntimeKind) -> bool {
    let (toggle, address) = match kind {
        RuntimeKind::Docker => (config.runtime_docker, config.docker_host.clone()),
        RuntimeKind::Podman => (config.runtime_podman, config.podman_host.clone()),
        RuntimeKind::Containerd => (config.runtime_containerd, containerd::address(config)),
        RuntimeKind::CriO => (config.runtime_crio, config.crio_address.clone()),
    };
    let address = &address;
    let wanted = toggle.wanted(address, socket_exists);
    if toggle == Toggle::Auto {
        tracing::info!(
            flag = format!("runtime.{}", kind.as_str()),
            socket = unix_socket_path(address),
            watched = wanted,
            "runtime chosen by whether its socket exists"
        );
    }
    wanted
}

/// A socket file (symlinks followed: /var/run is one); an unreadable path counts as absent,
/// since nothing could connect through it either.
pub(crate) fn socket_exists(path: &str) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// A container engine kept warm in the background. `view` must be cheap: it is called on
/// the scrape path and must never wait for the engine.
pub trait Runtime: Send + Sync {
    fn name(&self) -> &'static str;
    fn view(&self) -> Arc<RuntimeView>;
}

/// A runtime that never changes: for tests and for running without any engine.
pub struct StaticRuntime(pub Arc<RuntimeView>);

impl Runtime for StaticRuntime {
    fn name(&self) -> &'static str {
        "static"
    }
    fn view(&self) -> Arc<RuntimeView> {
        self.0.clone()
    }
}

/// Every runtime enabled on this host, seen as one.
pub struct Runtimes(pub Vec<Arc<dyn Runtime>>);

impl Runtime for Runtimes {
    fn name(&self) -> &'static str {
        "runtimes"
    }
    fn view(&self) -> Arc<RuntimeView> {
        match self.0.as_slice() {
            [one] => one.view(),
            many => {
                let views: Vec<Arc<RuntimeView>> = many.iter().map(|r| r.view()).collect();
                Arc::new(RuntimeView::merge(views.iter().map(Arc::as_ref)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, state: &str, sandbox: Option<&str>, volumes: &[&str]) -> ContainerInfo {
        ContainerInfo {
            merged_dir: Some(format!("/var/lib/docker/overlay2/{id}l/merged")),
            sandbox_key: sandbox.map(str::to_string),
            volumes: volumes.iter().map(|v| v.to_string()).collect(),
            ..ContainerInfo::docker(id, &format!("n-{id}"), state)
        }
    }

    #[test]
    fn indexes_paths_exec_roots_and_volume_users() {
        let view = RuntimeView::docker(
            true,
            vec!["/var/lib/docker".into()],
            vec!["/run/docker".into()],
            [
                c("a", "running", Some("/var/run/docker/netns/s1"), &["v"]),
                c("b", STATE_REMOVED, Some("/srv/exec/netns/s2"), &["v", "w"]),
            ],
        );
        assert_eq!(view.by_path["/run/docker/netns/s1"], "docker/a");
        assert_eq!(
            view.by_path["/var/lib/docker/overlay2/bl/merged"],
            "docker/b"
        );
        assert_eq!(
            view.layout.roots(RootKind::DockerExec).collect::<Vec<_>>(),
            vec!["/run/docker", "/srv/exec"]
        );
        let users = |v: &str| view.volume_users[&(RuntimeKind::Docker, v.to_string())].clone();
        assert_eq!(
            users("v"),
            "docker/a",
            "a live user wins over a removed one"
        );
        assert_eq!(users("w"), "docker/b");
        assert!(view.is_up(RuntimeKind::Docker));
        assert!(!view.is_up(RuntimeKind::Podman));
    }

    #[tokio::test]
    async fn a_sockets_server_is_named_by_its_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let _listener = tokio::net::UnixListener::bind(&path).unwrap();
        let path = path.to_str().unwrap();
        let timeout = std::time::Duration::from_secs(5);
        assert_eq!(
            socket_peer_pid(path, timeout).await,
            Some(std::process::id())
        );
        let gone = dir.path().join("gone.sock");
        assert_eq!(socket_peer_pid(gone.to_str().unwrap(), timeout).await, None);
    }

    #[test]
    fn merged_views_keep_each_runtime_apart() {
        let docker = RuntimeView::docker(
            false,
            vec!["/var/lib/docker".into()],
            vec!["/run/docker".into()],
            [c("a", "running", None, &["data"])],
        );
        let podman_c = ContainerInfo {
            runtime: RuntimeKind::Podman,
            merged_dir: Some("/var/lib/containers/storage/overlay/p1/merged".into()),
            sandbox_key: Some("/run/netns/netns-1234".into()),
            volumes: vec!["data".into()],
            ..ContainerInfo::docker("a", "web", "exited")
        };
        let podman = RuntimeView::build(
            RuntimeKind::Podman,
            true,
            Layout::default().with(RootKind::PodmanGraph, ["/var/lib/containers/storage"]),
            [podman_c],
        );
        let m = RuntimeView::merge([&docker, &podman]);
        assert_eq!(
            m.runtimes,
            BTreeMap::from([(RuntimeKind::Docker, false), (RuntimeKind::Podman, true)])
        );
        // The same id in two engines is two containers.
        assert_eq!(m.containers.len(), 2);
        assert_eq!(m.containers["podman/a"].name, "web");
        assert_eq!(m.containers["docker/a"].name, "n-a");
        assert_eq!(m.by_path["/run/netns/netns-1234"], "podman/a");
        assert_eq!(
            m.volume_users[&(RuntimeKind::Podman, "data".to_string())],
            "podman/a"
        );
        assert_eq!(
            m.volume_users[&(RuntimeKind::Docker, "data".to_string())],
            "docker/a"
        );
        // Podman's sandbox key taught the layout its netns directory, not a docker exec root.
        assert_eq!(
            m.layout.roots(RootKind::NetnsDir).collect::<Vec<_>>(),
            vec!["/run/netns"]
        );
        assert_eq!(
            m.layout.recognise("/run/netns/netns-1234").unwrap().runtime,
            Some(RuntimeKind::Podman)
        );
        assert!(m.layout.recognise("/run/netns/mine").is_none());
    }

    #[test]
    fn containerd_keys_carry_the_namespace() {
        let mut c = ContainerInfo::docker("web", "web", "running");
        c.runtime = RuntimeKind::Containerd;
        c.namespace = Some("default".into());
        assert_eq!(c.key(), "containerd/default/web");
    }
}
