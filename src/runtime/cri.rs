//! CRI-O (and any runtime serving the Kubernetes CRI API), asked over that API
//! (k8s.io/cri-api pkg/apis/runtime/v1/api.proto, service `runtime.v1.RuntimeService`).
//!
//! Only read-only calls are made: Version, ListPodSandbox, ListContainers, and the verbose
//! PodSandboxStatus and ContainerStatus, whose `info["info"]` holds the OCI runtime spec
//! (cri-o server/container_status.go and server/sandbox_status.go put `runtimeSpec` there;
//! containerd's CRI plugin does too). The spec gives a container's rootfs mount point
//! (`root.path`, `<graph root>/overlay/<layer>/merged` on CRI-O) and a sandbox's netns
//! (`/var/run/netns/<uuid>` on CRI-O). CRI-O mounts a sandbox's shm under its run root
//! ([`RootKind::CrioRunRoot`]). Pods come from the sandbox's own metadata, containers'
//! from kubelet's labels. The API has no event stream every runtime serves: the watch
//! loop's periodic resync keeps the view fresh.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::containerd::{Client, network_namespace_path};
use super::watch::{Connected, Engine, Event, Listed, RuntimeError};
use super::{ContainerInfo, PodRef, RuntimeKind, pod_from_labels};
use crate::config::Config;
use crate::layout::{Layout, NETNS_DIR, RootKind};

const VERSION: &str = "/runtime.v1.RuntimeService/Version";
const LIST_SANDBOXES: &str = "/runtime.v1.RuntimeService/ListPodSandbox";
const LIST_CONTAINERS: &str = "/runtime.v1.RuntimeService/ListContainers";
const SANDBOX_STATUS: &str = "/runtime.v1.RuntimeService/PodSandboxStatus";
const CONTAINER_STATUS: &str = "/runtime.v1.RuntimeService/ContainerStatus";

/// The CRI messages read, by field number, with only the fields used.
pub mod api {
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionRequest {
        #[prost(string, tag = "1")]
        pub version: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionResponse {
        #[prost(string, tag = "2")]
        pub runtime_name: String,
        #[prost(string, tag = "3")]
        pub runtime_version: String,
    }

    /// ListPodSandboxRequest and ListContainersRequest: no filter.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListRequest {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub uid: String,
        #[prost(string, tag = "3")]
        pub namespace: String,
    }

    /// A listed sandbox (`PodSandbox`); `PodSandboxStatus` has the same first three fields.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandbox {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(message, optional, tag = "2")]
        pub metadata: Option<PodSandboxMetadata>,
        /// SANDBOX_READY = 0, SANDBOX_NOTREADY = 1.
        #[prost(int32, tag = "3")]
        pub state: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListPodSandboxResponse {
        #[prost(message, repeated, tag = "1")]
        pub items: Vec<PodSandbox>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
    }

    /// A listed container (`Container`).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Container {
        #[prost(string, tag = "1")]
        pub id: String,
        /// CONTAINER_CREATED = 0, RUNNING = 1, EXITED = 2, UNKNOWN = 3.
        #[prost(int32, tag = "6")]
        pub state: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListContainersResponse {
        #[prost(message, repeated, tag = "1")]
        pub containers: Vec<Container>,
    }

    /// PodSandboxStatusRequest (`pod_sandbox_id`) and ContainerStatusRequest
    /// (`container_id`): the id, and `verbose` for the runtime's `info`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StatusRequest {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(bool, tag = "2")]
        pub verbose: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxStatusResponse {
        #[prost(message, optional, tag = "1")]
        pub status: Option<PodSandbox>,
        #[prost(map = "string, string", tag = "2")]
        pub info: HashMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerStatus {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(message, optional, tag = "2")]
        pub metadata: Option<ContainerMetadata>,
        #[prost(int32, tag = "3")]
        pub state: i32,
        #[prost(map = "string, string", tag = "12")]
        pub labels: HashMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerStatusResponse {
        #[prost(message, optional, tag = "1")]
        pub status: Option<ContainerStatus>,
        #[prost(map = "string, string", tag = "2")]
        pub info: HashMap<String, String>,
    }
}

/// A CRI runtime's API.
#[derive(Debug, Clone)]
pub struct CriApi {
    address: String,
    timeout: Duration,
    layout: Layout,
}

/// CRI-O, as the flags describe it: its graph root is containers/storage's, shared with
/// Podman (`--podman.root`), its run root holds sandbox shm.
pub fn from_config(config: &Config) -> CriApi {
    CriApi {
        address: config.crio_address.clone(),
        timeout: config.runtime_timeout(),
        layout: Layout::default()
            .with(RootKind::PodmanGraph, [&config.podman_root])
            .with(RootKind::CrioRunRoot, [&config.crio_run_root])
            .with(RootKind::NetnsDir, [NETNS_DIR])
            .with(RootKind::KubeletRoot, [&config.kubelet_root_dir]),
    }
}

fn sandbox_state(state: i32) -> &'static str {
    match state {
        0 => "ready",
        _ => "notready",
    }
}

fn container_state(state: i32) -> &'static str {
    match state {
        0 => "created",
        1 => "running",
        2 => "exited",
        _ => "unknown",
    }
}

/// The OCI spec in a verbose status's `info["info"]` (JSON), as bytes.
fn runtime_spec(info: &HashMap<String, String>) -> Option<Vec<u8>> {
    let info: serde_json::Value = serde_json::from_str(info.get("info")?).ok()?;
    serde_json::to_vec(info.get("runtimeSpec")?).ok()
}

/// `root.path` of an OCI spec, when absolute (containerd's is relative to its bundle).
fn root_path(spec: &[u8]) -> Option<String> {
    let spec: serde_json::Value = serde_json::from_slice(spec).ok()?;
    let path = spec.get("root")?.get("path")?.as_str()?;
    path.starts_with('/').then(|| path.to_string())
}

fn sandbox_info(resp: api::PodSandboxStatusResponse) -> Option<ContainerInfo> {
    let status = resp.status?;
    let meta = status.metadata.unwrap_or_default();
    let spec = runtime_spec(&resp.info);
    Some(ContainerInfo {
        runtime: RuntimeKind::CriO,
        namespace: None,
        name: meta.name.clone(),
        state: sandbox_state(status.state).to_string(),
        merged_dir: spec.as_deref().and_then(root_path),
        sandbox_key: spec.as_deref().and_then(network_namespace_path),
        volumes: Vec::new(),
        pod: (!meta.uid.is_empty()).then_some(PodRef {
            uid: meta.uid,
            name: meta.name,
            namespace: meta.namespace,
        }),
        id: status.id,
    })
}

fn container_info(resp: api::ContainerStatusResponse) -> Option<ContainerInfo> {
    let status = resp.status?;
    let spec = runtime_spec(&resp.info);
    Some(ContainerInfo {
        runtime: RuntimeKind::CriO,
        namespace: None,
        name: status.metadata.map(|m| m.name).unwrap_or_default(),
        state: container_state(status.state).to_string(),
        merged_dir: spec.as_deref().and_then(root_path),
        sandbox_key: None,
        volumes: Vec::new(),
        pod: pod_from_labels(&status.labels),
        id: status.id,
    })
}

/// Whether the runtime answered that it has no such sandbox or container.
fn not_found(e: &RuntimeError) -> bool {
    match e {
        RuntimeError::Api { source, .. } => source
            .downcast_ref::<tonic::Status>()
            .is_some_and(|s| s.code() == tonic::Code::NotFound),
        _ => false,
    }
}

impl Engine for CriApi {
    type Client = Client;

    fn kind(&self) -> RuntimeKind {
        RuntimeKind::CriO
    }
    fn address(&self) -> &str {
        &self.address
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
    fn namespaces(&self) -> Vec<Option<String>> {
        vec![None]
    }
    fn replays_events(&self) -> bool {
        false
    }
    fn layout(&self) -> Layout {
        self.layout.clone()
    }

    async fn connect(&self) -> Result<Connected<Client>, RuntimeError> {
        let client = Client::connect_to(&self.address, self.timeout).await?;
        let version: api::VersionResponse = client
            .unary(VERSION, None, api::VersionRequest::default())
            .await?;
        tracing::info!(
            runtime = version.runtime_name,
            version = version.runtime_version,
            "CRI runtime answers"
        );
        Ok(Connected {
            client,
            roots: Layout::default(),
        })
    }

    async fn ping(&self, client: &Client) -> Result<(), RuntimeError> {
        client
            .unary::<_, api::VersionResponse>(VERSION, None, api::VersionRequest::default())
            .await
            .map(drop)
    }

    /// Sandboxes and containers share one id space: each is inspected when its state is new.
    async fn list(&self, client: &Client, _: Option<&str>) -> Result<Vec<Listed>, RuntimeError> {
        let sandboxes: api::ListPodSandboxResponse = client
            .unary(LIST_SANDBOXES, None, api::ListRequest {})
            .await?;
        let containers: api::ListContainersResponse = client
            .unary(LIST_CONTAINERS, None, api::ListRequest {})
            .await?;
        let sandboxes = sandboxes.items.into_iter().map(|s| Listed::Summary {
            id: s.id,
            state: sandbox_state(s.state).to_string(),
        });
        let containers = containers.containers.into_iter().map(|c| Listed::Summary {
            id: c.id,
            state: container_state(c.state).to_string(),
        });
        Ok(sandboxes.chain(containers).collect())
    }

    async fn inspect(
        &self,
        client: &Client,
        _: Option<&str>,
        id: &str,
    ) -> Result<Option<ContainerInfo>, RuntimeError> {
        let req = api::StatusRequest {
            id: id.to_string(),
            verbose: true,
        };
        match client
            .unary::<_, api::ContainerStatusResponse>(CONTAINER_STATUS, None, req.clone())
            .await
        {
            Ok(resp) => return Ok(container_info(resp)),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e),
        }
        match client
            .unary::<_, api::PodSandboxStatusResponse>(SANDBOX_STATUS, None, req)
            .await
        {
            Ok(resp) => Ok(sandbox_info(resp)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// None: the resync lists again (GetContainerEvents is optional in CRI).
    fn events(&self, _: &Client, _since: u64) -> BoxStream<'static, Result<Event, RuntimeError>> {
        futures_util::stream::pending().boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SANDBOX: &str = "8e1f7c7a4b7d5a0f3a1c9b2d6e4f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f";
    const LAYER: &str = "4a9d2f0c1b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817065f4e";
    const NETNS: &str = "/var/run/netns/0b6ad3f0-9c4e-4f21-8d7a-3e5b6c7d8e9f";

    /// `info["info"]` as CRI-O's verbose statuses carry it (cri-o server/container_status.go
    /// `createContainerInfo`: sandboxID, pid, runtimeSpec, privileged; server/sandbox_status.go
    /// likewise with the sandbox's spec), trimmed to the spec fields read.
    fn crio_info(root: &str) -> HashMap<String, String> {
        let info = serde_json::json!({
            "sandboxID": SANDBOX,
            "pid": 4242,
            "privileged": false,
            "runtimeSpec": {
                "ociVersion": "1.0.2-dev",
                "root": {"path": root},
                "linux": {"namespaces": [
                    {"type": "pid"},
                    {"type": "network", "path": NETNS},
                    {"type": "ipc", "path": "/var/run/ipcns/0b6ad3f0"},
                ]},
            },
        });
        HashMap::from([("info".to_string(), info.to_string())])
    }

    #[test]
    fn a_crio_container_is_named_tied_to_its_pod_and_its_rootfs() {
        let merged = format!("/var/lib/containers/storage/overlay/{LAYER}/merged");
        let resp = api::ContainerStatusResponse {
            status: Some(api::ContainerStatus {
                id: "c0ffee".into(),
                metadata: Some(api::ContainerMetadata { name: "app".into() }),
                state: 1,
                labels: HashMap::from([
                    ("io.kubernetes.pod.uid".to_string(), "u-1".to_string()),
                    ("io.kubernetes.pod.name".to_string(), "web-0".to_string()),
                    (
                        "io.kubernetes.pod.namespace".to_string(),
                        "shop".to_string(),
                    ),
                ]),
            }),
            info: crio_info(&merged),
        };
        let c = container_info(resp).unwrap();
        assert_eq!(
            (c.runtime, c.id.as_str(), c.name.as_str(), c.state.as_str()),
            (RuntimeKind::CriO, "c0ffee", "app", "running")
        );
        assert_eq!(c.merged_dir.as_deref(), Some(merged.as_str()));
        assert_eq!(c.sandbox_key, None, "a container's netns is its sandbox's");
        assert_eq!(c.pod.unwrap().name, "web-0");
    }

    #[test]
    fn a_crio_sandbox_names_its_pod_and_netns() {
        let resp = api::PodSandboxStatusResponse {
            status: Some(api::PodSandbox {
                id: SANDBOX.into(),
                metadata: Some(api::PodSandboxMetadata {
                    name: "web-0".into(),
                    uid: "u-1".into(),
                    namespace: "shop".into(),
                }),
                state: 1,
            }),
            info: crio_info("/var/lib/containers/storage/overlay/pause/merged"),
        };
        let s = sandbox_info(resp).unwrap();
        assert_eq!((s.name.as_str(), s.state.as_str()), ("web-0", "notready"));
        assert_eq!(s.sandbox_key.as_deref(), Some(NETNS));
        let pod = s.pod.unwrap();
        assert_eq!((pod.uid.as_str(), pod.namespace.as_str()), ("u-1", "shop"));
    }

    #[test]
    fn what_the_info_lacks_is_left_unknown() {
        // containerd's spec root is relative to its bundle; a runtime may give no info.
        let relative = api::ContainerStatusResponse {
            status: Some(api::ContainerStatus {
                id: "c1".into(),
                ..Default::default()
            }),
            info: crio_info("rootfs"),
        };
        assert_eq!(container_info(relative).unwrap().merged_dir, None);
        let bare = api::ContainerStatusResponse {
            status: Some(api::ContainerStatus {
                id: "c2".into(),
                state: 9,
                ..Default::default()
            }),
            info: HashMap::from([("info".to_string(), "not json".to_string())]),
        };
        let c = container_info(bare).unwrap();
        assert_eq!((c.merged_dir, c.state.as_str()), (None, "unknown"));
        assert!(container_info(api::ContainerStatusResponse::default()).is_none());
    }
}
