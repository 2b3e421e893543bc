//! containerd, asked over its gRPC API (the socket of `containerd`, `/run/containerd/containerd.sock`).
//!
//! Per configured namespace (`k8s.io` for kubelet's CRI containers, `moby` for Docker's,
//! `default` for `ctr`'s): containers (id, labels) and tasks (status). A task's rootfs is
//! mounted by its shim at `<state>/io.containerd.runtime.v2.task/<ns>/<id>/rootfs`, so the
//! path itself names the container; a CRI sandbox's network namespace (its spec's netns path,
//! `/var/run/netns/cni-<uuid>`) and shm (`<root>/io.containerd.grpc.v1.cri/sandboxes/<id>/shm`)
//! belong to the sandbox container; kubelet's pod volumes to the pod its labels name.
//!
//! The messages are declared here with only the fields we read (protobuf skips the rest):
//! the `containerd-client` crate generates its bindings at build time with `protoc`, which a
//! plain `cargo build` on a fresh machine does not have. Only read-only calls are made
//! (Version, Containers.List, Tasks.List, Events.Subscribe).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use super::node::{daemon_state, kubelet_roots, split_cmdline};
use super::watch::{Connected, Engine, Event, Listed, RuntimeError, bounded};
use super::{ContainerInfo, RuntimeKind, pod_from_labels};
use crate::config::{Config, unix_socket_path};
use crate::layout::{Layout, NETNS_DIR, RootKind};

/// Where CRI writes the sandbox's kind among a container's labels.
const CRI_KIND_LABEL: &str = "io.cri-containerd.kind";

/// The protobuf messages of containerd's API that are used, by field number.
pub mod api {
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Empty {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionResponse {
        #[prost(string, tag = "1")]
        pub version: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Any {
        #[prost(string, tag = "1")]
        pub type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListContainersRequest {
        #[prost(string, repeated, tag = "1")]
        pub filters: Vec<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListContainersResponse {
        #[prost(message, repeated, tag = "1")]
        pub containers: Vec<Container>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Container {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(map = "string, string", tag = "2")]
        pub labels: HashMap<String, String>,
        /// The OCI runtime spec, JSON in `value`.
        #[prost(message, optional, tag = "5")]
        pub spec: Option<Any>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListTasksRequest {
        #[prost(string, tag = "1")]
        pub filter: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListTasksResponse {
        #[prost(message, repeated, tag = "1")]
        pub tasks: Vec<Process>,
    }

    /// `containerd.v1.types.Process`; `status` is the `Status` enum. Tasks.List fills `id`
    /// (a task's id is its container's) and, before containerd 1.7, not `container_id`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Process {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(string, tag = "2")]
        pub id: String,
        #[prost(int32, tag = "4")]
        pub status: i32,
    }

    impl Process {
        pub fn container(&self) -> &str {
            if self.container_id.is_empty() {
                &self.id
            } else {
                &self.container_id
            }
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SubscribeRequest {
        #[prost(string, repeated, tag = "1")]
        pub filters: Vec<String>,
    }

    /// `containerd.types.Envelope`, without its payload.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Envelope {
        #[prost(string, tag = "2")]
        pub namespace: String,
        #[prost(string, tag = "3")]
        pub topic: String,
    }
}

const VERSION: &str = "/containerd.services.version.v1.Version/Version";
const CONTAINERS: &str = "/containerd.services.containers.v1.Containers/List";
const TASKS: &str = "/containerd.services.tasks.v1.Tasks/List";
const SUBSCRIBE: &str = "/containerd.services.events.v1.Events/Subscribe";

/// containerd's gRPC API.
#[derive(Debug, Clone)]
pub struct ContainerdApi {
    /// The gRPC socket (a path, or `unix://<path>`).
    address: String,
    namespaces: Vec<String>,
    timeout: Duration,
    /// containerd's state (and the socket's directory), the netns directory, kubelet's root.
    layout: Layout,
    /// Where the daemon's command line and configuration are read (`<procfs>/<pid>/...`).
    procfs: PathBuf,
    /// `--kubelet.root-dir`.
    kubelet_root: String,
}

/// Where the Kubernetes distributions put containerd's socket: containerd's own default
/// (kubeadm, the managed clouds); k3s and RKE2 (state `/run/k3s/containerd`, k3s
/// pkg/agent/config); k0s (`/run/k0s/containerd.sock`, k0s pkg/constant); microk8s (its
/// snap's `common/run`).
pub const KNOWN_SOCKETS: [&str; 4] = [
    "/run/containerd/containerd.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/k0s/containerd.sock",
    "/var/snap/microk8s/common/run/containerd.sock",
];

/// The socket to watch: the flag's, else the first of [`KNOWN_SOCKETS`] that exists (else
/// containerd's default, for `auto` to find absent).
pub fn address(config: &Config) -> String {
    config.containerd_address.clone().unwrap_or_else(|| {
        KNOWN_SOCKETS
            .into_iter()
            .find(|s| super::socket_exists(s))
            .unwrap_or(KNOWN_SOCKETS[0])
            .to_string()
    })
}

/// containerd, as the flags describe it.
pub fn from_config(config: &Config) -> ContainerdApi {
    let address = address(config);
    let mut states = vec![config.containerd_state.clone()];
    // The socket usually sits in the state directory (/run/containerd/containerd.sock).
    if let Some((dir, _)) = socket_path(&address).rsplit_once('/') {
        states.push(dir.to_string());
    }
    ContainerdApi {
        address,
        namespaces: config.containerd_namespaces.clone(),
        timeout: config.runtime_timeout(),
        layout: Layout::default()
            .with(RootKind::ContainerdState, states)
            .with(RootKind::NetnsDir, [NETNS_DIR])
            .with(RootKind::KubeletRoot, [&config.kubelet_root_dir]),
        procfs: config.procfs.clone(),
        kubelet_root: config.kubelet_root_dir.clone(),
    }
}

impl ContainerdApi {
    /// The state directory of the daemon serving the socket ([`daemon_state`]), read from its
    /// `/proc` entry: the flags' and the socket's directory need not be it (k0s's socket
    /// sits beside its state, not in it).
    async fn daemon_roots(&self) -> Layout {
        let Some(pid) = super::socket_peer_pid(socket_path(&self.address), self.timeout).await
        else {
            return Layout::default();
        };
        let proc = self.procfs.join(pid.to_string());
        let Ok(cmdline) = std::fs::read(proc.join("cmdline")) else {
            return Layout::default();
        };
        let args = split_cmdline(&cmdline);
        // Paths as the daemon sees them: through its root, relative ones from its cwd.
        let read_file = |path: &str| {
            let base = if path.starts_with('/') { "root" } else { "cwd" };
            std::fs::read_to_string(proc.join(base).join(path.trim_start_matches('/'))).ok()
        };
        match daemon_state(&args, read_file) {
            Some(state) => {
                tracing::info!(
                    pid,
                    state,
                    "containerd's state directory, as its daemon was told"
                );
                Layout::default().with(RootKind::ContainerdState, [state])
            }
            None => Layout::default(),
        }
    }
}

/// The socket's file: containerd's address is a path, `unix://` optional.
fn socket_path(address: &str) -> &str {
    unix_socket_path(address).unwrap_or(address)
}

/// One gRPC connection over a unix socket: containerd's API, or any CRI runtime's.
#[derive(Clone)]
pub struct Client {
    grpc: tonic::client::Grpc<Channel>,
    timeout: Duration,
}

impl Client {
    async fn connect(api: &ContainerdApi) -> Result<Client, RuntimeError> {
        Client::connect_to(&api.address, api.timeout).await
    }

    /// Dials `address` (a path, `unix://` optional); each call is bounded by `timeout`.
    pub(crate) async fn connect_to(
        address: &str,
        timeout: Duration,
    ) -> Result<Client, RuntimeError> {
        let path = socket_path(address).to_string();
        // The URI is required but unused: the connector dials the socket.
        let channel = Endpoint::from_static("http://containerd")
            .connect_timeout(timeout)
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|source| RuntimeError::Connect {
                address: address.to_string(),
                source: Box::new(source),
            })?;
        Ok(Client {
            grpc: tonic::client::Grpc::new(channel),
            timeout,
        })
    }

    fn request<T>(message: T, namespace: Option<&str>) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        if let Some(ns) = namespace
            && let Ok(v) = MetadataValue::try_from(ns)
        {
            req.metadata_mut().insert("containerd-namespace", v);
        }
        req
    }

    pub(crate) async fn unary<Req, Resp>(
        &self,
        path: &'static str,
        namespace: Option<&str>,
        message: Req,
    ) -> Result<Resp, RuntimeError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = self.grpc.clone();
        let req = Client::request(message, namespace);
        bounded(path, self.timeout, async move {
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
            grpc.unary(req, PathAndQuery::from_static(path), codec)
                .await
                .map(tonic::Response::into_inner)
        })
        .await
    }

    /// Subscribes to every event. containerd sends the response headers with the first
    /// event, so this completes only then: it is not bounded by the call timeout (the pings
    /// are what notice a dead daemon).
    fn subscribe(&self) -> Subscription {
        let mut grpc = self.grpc.clone();
        let req = Client::request(api::SubscribeRequest::default(), None);
        Subscription::Pending(Box::pin(async move {
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let codec = tonic_prost::ProstCodec::<api::SubscribeRequest, api::Envelope>::default();
            grpc.server_streaming(req, PathAndQuery::from_static(SUBSCRIBE), codec)
                .await
                .map(tonic::Response::into_inner)
        }))
    }
}

type Opening = std::pin::Pin<
    Box<dyn Future<Output = Result<tonic::Streaming<api::Envelope>, tonic::Status>> + Send>,
>;

/// An events subscription, opened lazily by the first [`Subscription::next`].
enum Subscription {
    Pending(Opening),
    Open(Box<tonic::Streaming<api::Envelope>>),
}

impl Subscription {
    /// The next event. Cancel-safe: the opening future is kept across calls.
    async fn next(&mut self) -> Result<Option<api::Envelope>, tonic::Status> {
        if let Subscription::Pending(opening) = self {
            let stream = opening.as_mut().await?;
            *self = Subscription::Open(Box::new(stream));
        }
        match self {
            Subscription::Open(stream) => stream.message().await,
            Subscription::Pending(_) => Ok(None),
        }
    }
}

impl Engine for ContainerdApi {
    type Client = Client;

    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Containerd
    }
    fn address(&self) -> &str {
        &self.address
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
    fn namespaces(&self) -> Vec<Option<String>> {
        self.namespaces.iter().cloned().map(Some).collect()
    }
    /// Events.Subscribe has no `since`.
    fn replays_events(&self) -> bool {
        false
    }
    fn layout(&self) -> Layout {
        self.layout.clone()
    }

    async fn connect(&self) -> Result<Connected<Client>, RuntimeError> {
        let client = Client::connect(self).await?;
        self.ping(&client).await?;
        Ok(Connected {
            client,
            roots: self
                .daemon_roots()
                .await
                .merge(&kubelet_roots(&self.procfs, &self.kubelet_root)),
        })
    }

    async fn ping(&self, client: &Client) -> Result<(), RuntimeError> {
        client
            .unary::<_, api::VersionResponse>(VERSION, None, api::Empty {})
            .await
            .map(drop)
    }

    /// One namespace's containers, with their tasks' states: all that is needed, no inspect.
    async fn list(&self, client: &Client, ns: Option<&str>) -> Result<Vec<Listed>, RuntimeError> {
        let containers: api::ListContainersResponse = client
            .unary(CONTAINERS, ns, api::ListContainersRequest::default())
            .await?;
        let tasks: api::ListTasksResponse = client
            .unary(TASKS, ns, api::ListTasksRequest::default())
            .await?;
        let status: HashMap<&str, i32> = tasks
            .tasks
            .iter()
            .map(|t| (t.container(), t.status))
            .collect();
        let ns = ns.unwrap_or_default();
        Ok(containers
            .containers
            .into_iter()
            .map(|c| {
                let state = status.get(c.id.as_str()).copied();
                Listed::Whole(container_info(ns, c, state))
            })
            .collect())
    }

    /// Never asked: the listing is whole.
    async fn inspect(
        &self,
        _: &Client,
        _: Option<&str>,
        _: &str,
    ) -> Result<Option<ContainerInfo>, RuntimeError> {
        Ok(None)
    }

    /// Every event of a watched namespace that changes containers or tasks asks for that
    /// namespace to be listed again.
    fn events(
        &self,
        client: &Client,
        _since: u64,
    ) -> BoxStream<'static, Result<Event, RuntimeError>> {
        let namespaces = self.namespaces.clone();
        futures_util::stream::unfold(client.subscribe(), |mut sub| async move {
            let next = sub.next().await.transpose()?;
            Some((next, sub))
        })
        .filter_map(move |env| {
            std::future::ready(match env {
                Ok(env) => (namespaces.contains(&env.namespace) && relevant(&env.topic)).then(|| {
                    tracing::debug!(runtime = "containerd", namespace = %env.namespace, topic = %env.topic, "event");
                    Ok(Event::Relist(Some(env.namespace)))
                }),
                Err(source) => Some(Err(RuntimeError::Api {
                    call: SUBSCRIBE,
                    source: Box::new(source),
                })),
            })
        })
        .boxed()
    }
}

/// Topics that change containers or task states (not exec, images, snapshots, content).
fn relevant(topic: &str) -> bool {
    topic.starts_with("/containers/")
        || (topic.starts_with("/tasks/") && !topic.starts_with("/tasks/exec-"))
}

/// containerd's task status, by its `Status` enum; `stopped` for a container without a task.
fn task_state(status: Option<i32>) -> &'static str {
    match status {
        None | Some(3) => "stopped",
        Some(1) => "created",
        Some(2) => "running",
        Some(4) => "paused",
        Some(5) => "pausing",
        Some(_) => "unknown",
    }
}

/// Keeps what leaks are matched on: id, a name from the labels, state, pod, and for a CRI
/// sandbox the netns path of its spec. The rest of the spec (environment) is dropped here.
fn container_info(ns: &str, c: api::Container, status: Option<i32>) -> ContainerInfo {
    let label = |k: &str| c.labels.get(k).filter(|v| !v.is_empty()).cloned();
    let sandbox = c.labels.get(CRI_KIND_LABEL).map(String::as_str) == Some("sandbox");
    let name = if sandbox {
        label("io.kubernetes.pod.name")
    } else {
        label("io.kubernetes.container.name")
    }
    .or_else(|| label("nerdctl/name"))
    .unwrap_or_else(|| c.id.clone());
    let sandbox_key = if sandbox {
        c.spec
            .as_ref()
            .and_then(|s| network_namespace_path(&s.value))
    } else {
        None
    };
    ContainerInfo {
        runtime: RuntimeKind::Containerd,
        namespace: Some(ns.to_string()),
        name,
        state: task_state(status).to_string(),
        merged_dir: None,
        sandbox_key,
        volumes: Vec::new(),
        pod: pod_from_labels(&c.labels),
        id: c.id,
    }
}

/// The `path` of the network namespace in an OCI spec (JSON), when it names a file.
pub(crate) fn network_namespace_path(spec_json: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Spec {
        linux: Option<Linux>,
    }
    #[derive(serde::Deserialize)]
    struct Linux {
        #[serde(default)]
        namespaces: Vec<Namespace>,
    }
    #[derive(serde::Deserialize)]
    struct Namespace {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        path: String,
    }
    let spec: Spec = serde_json::from_slice(spec_json).ok()?;
    spec.linux?
        .namespaces
        .into_iter()
        .find(|n| n.kind == "network" && n.path.starts_with('/') && !n.path.starts_with("/proc/"))
        .map(|n| n.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn the_flag_wins_over_the_known_sockets() {
        use clap::Parser as _;
        let c = Config::try_parse_from(["x", "--containerd.address=/run/mine.sock"]).unwrap();
        assert_eq!(address(&c), "/run/mine.sock");
    }

    #[test]
    fn task_states() {
        let cases = [
            (None, "stopped"),
            (Some(1), "created"),
            (Some(2), "running"),
            (Some(3), "stopped"),
            (Some(4), "paused"),
            (Some(5), "pausing"),
            (Some(0), "unknown"),
        ];
        for (status, want) in cases {
            assert_eq!(task_state(status), want, "{status:?}");
        }
    }

    #[test]
    fn cri_sandboxes_and_containers_are_named_and_tied_to_their_pod() {
        let labels = |kind: &str| -> HashMap<String, String> {
            [
                (CRI_KIND_LABEL, kind),
                ("io.kubernetes.pod.name", "web-7d9f"),
                ("io.kubernetes.pod.namespace", "shop"),
                ("io.kubernetes.pod.uid", "6f1e0c9a"),
                ("io.kubernetes.container.name", "nginx"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };
        let spec = br#"{"ociVersion":"1.0.2","process":{"env":["SECRET=x"]},"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/cni-0b3c"}]}}"#;
        let sandbox = container_info(
            "k8s.io",
            api::Container {
                id: "s1".into(),
                labels: labels("sandbox"),
                spec: Some(api::Any {
                    type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
                    value: spec.to_vec(),
                }),
            },
            Some(2),
        );
        assert_eq!(sandbox.name, "web-7d9f");
        assert_eq!(sandbox.state, "running");
        assert_eq!(
            sandbox.sandbox_key.as_deref(),
            Some("/var/run/netns/cni-0b3c")
        );
        assert_eq!(sandbox.key(), "containerd/k8s.io/s1");
        let pod = sandbox.pod.clone().unwrap();
        assert_eq!(
            (pod.uid.as_str(), pod.name.as_str(), pod.namespace.as_str()),
            ("6f1e0c9a", "web-7d9f", "shop")
        );
        // A workload container joins the sandbox's netns through /proc: no file of its own.
        let joined = br#"{"linux":{"namespaces":[{"type":"network","path":"/proc/42/ns/net"}]}}"#;
        let container = container_info(
            "k8s.io",
            api::Container {
                id: "c1".into(),
                labels: labels("container"),
                spec: Some(api::Any {
                    type_url: String::new(),
                    value: joined.to_vec(),
                }),
            },
            None,
        );
        assert_eq!(container.name, "nginx");
        assert_eq!(container.state, "stopped");
        assert_eq!(container.sandbox_key, None);
        let plain = container_info(
            "default",
            api::Container {
                id: "web".into(),
                ..Default::default()
            },
            Some(2),
        );
        assert_eq!((plain.name.as_str(), plain.pod.is_none()), ("web", true));
    }

    #[test]
    fn only_the_fields_read_are_decoded_and_unknown_ones_are_skipped() {
        // A Container as containerd encodes it, with fields we do not declare (image = 3,
        // snapshotter = 6): they must be skipped, not fail the decode.
        let mut buf = Vec::new();
        prost::encoding::string::encode(1, &"web".to_string(), &mut buf);
        prost::encoding::string::encode(
            3,
            &"docker.io/library/busybox:latest".to_string(),
            &mut buf,
        );
        prost::encoding::string::encode(6, &"overlayfs".to_string(), &mut buf);
        let c = api::Container::decode(buf.as_slice()).unwrap();
        assert_eq!(c.id, "web");
        assert!(c.labels.is_empty() && c.spec.is_none());
    }

    #[test]
    fn relevant_topics() {
        for t in [
            "/containers/create",
            "/containers/delete",
            "/tasks/start",
            "/tasks/exit",
            "/tasks/delete",
        ] {
            assert!(relevant(t), "{t}");
        }
        for t in [
            "/tasks/exec-added",
            "/tasks/exec-started",
            "/images/create",
            "/snapshot/prepare",
        ] {
            assert!(!relevant(t), "{t}");
        }
    }
}
