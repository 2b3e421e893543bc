//! Podman, through the Docker-compatible API of its service (`podman system service`).
//!
//! The same client as Docker's ([`DockerRuntime`]) with Podman's layout: the API's
//! `DockerRootDir` is containers/storage's graph root, under which rootfs mounts are
//! `overlay/<layer>/merged` and shm mounts `overlay-containers/<id>/userdata/shm`; a
//! container's `SandboxKey` is its netns bind mount, `/run/netns/netns-<uuid>`.

use std::sync::Arc;
use std::time::Duration;

use super::RuntimeKind;
use super::docker::{DockerConfig, DockerRuntime};

/// Where rootful Podman (and `ip netns`) keeps network namespace bind mounts.
pub const NETNS_DIR: &str = "/run/netns";

pub fn new(
    host: &str,
    graph_root: &str,
    timeout: Duration,
    resync_interval: Duration,
) -> Arc<DockerRuntime> {
    DockerRuntime::new(DockerConfig {
        runtime: RuntimeKind::Podman,
        host: host.to_string(),
        timeout,
        data_root: graph_root.to_string(),
        exec_root: NETNS_DIR.to_string(),
        resync_interval,
    })
}
