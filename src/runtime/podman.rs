//! Podman, through the Docker-compatible API of its service (`podman system service`).
//!
//! The same engine as Docker's ([`DockerApi`]) with Podman's layout: the API's
//! `DockerRootDir` is containers/storage's graph root, under which rootfs mounts are
//! `overlay/<layer>/merged` and shm mounts `overlay-containers/<id>/userdata/shm`; a
//! container's `SandboxKey` is its netns bind mount, `/run/netns/netns-<uuid>`.

use super::RuntimeKind;
use super::docker::DockerApi;
use crate::config::Config;
use crate::layout::{Layout, NETNS_DIR, RootKind};

/// Podman, as the flags describe it.
pub fn from_config(config: &Config) -> DockerApi {
    DockerApi {
        kind: RuntimeKind::Podman,
        host: config.podman_host.clone(),
        timeout: config.runtime_timeout(),
        layout: Layout::default()
            .with(RootKind::PodmanGraph, [&config.podman_root])
            .with(RootKind::NetnsDir, [NETNS_DIR]),
    }
}
