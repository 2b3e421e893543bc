//! Which mount points are a container runtime's per-container paths. Pure.
//!
//! Paths are recognised relative to the runtimes' own roots (Docker's data root such as
//! `/var/lib/docker` and exec root such as `/run/docker`, Podman's graph root, containerd's
//! root and state, the `/run/netns` directory, kubelet's root) and also under any prefix
//! (`/rootfs/var/lib/docker/...`): a monitoring container that bind-mounted the host
//! rprivate is a classic leaker. Only the layouts differ per runtime: what a path means
//! (kind, owner) is the same for all of them.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Rootfs,
    Shm,
    Netns,
    Volume,
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rootfs => "rootfs",
            Kind::Shm => "shm",
            Kind::Netns => "netns",
            Kind::Volume => "volume",
            Kind::Other => "other",
        }
    }
}

/// The container engines whose paths are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeKind {
    Docker,
    Podman,
    Containerd,
    /// CRI-O, through the Kubernetes CRI API (`cri-o`).
    #[serde(rename = "cri-o")]
    CriO,
}

impl RuntimeKind {
    pub const ALL: [RuntimeKind; 4] = [
        RuntimeKind::Docker,
        RuntimeKind::Podman,
        RuntimeKind::Containerd,
        RuntimeKind::CriO,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Podman => "podman",
            RuntimeKind::Containerd => "containerd",
            RuntimeKind::CriO => "cri-o",
        }
    }
}

/// What in the path identifies whose it is; the runtime view maps it to a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathId {
    /// A graph-driver layer directory (not a container id: map it via inspect's MergedDir).
    Layer(String),
    /// A container id spelled in the path (`containers/<id>/...`).
    Container(String),
    /// A containerd container: its namespace and id (`<ns>/<id>/rootfs`, CRI sandboxes).
    Task {
        namespace: String,
        id: String,
    },
    Volume(String),
    /// A network sandbox (`<exec-root>/netns/<sandbox>`, inspect's SandboxKey).
    Sandbox(String),
    /// A kubelet pod volume (`pods/<uid>/volumes/<plugin>/<name>`).
    PodVolume {
        pod_uid: String,
        volume: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPath {
    pub kind: Kind,
    pub id: PathId,
    /// The path as the daemon sees it: prefix stripped, `/var/run` spelled `/run`.
    pub canonical: String,
    /// The runtime the path belongs to; `None` for kubelet's pod volumes, whose runtime is
    /// the one running the pod.
    pub runtime: Option<RuntimeKind>,
}

/// What a root directory is, which decides the paths recognised under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RootKind {
    /// Docker's `DockerRootDir` (`/var/lib/docker`).
    DockerData,
    /// Docker's exec root (`/run/docker`): `netns/<sandbox>`.
    DockerExec,
    /// Podman's (containers/storage) graph root (`/var/lib/containers/storage`).
    PodmanGraph,
    /// The `ip netns` directory (`/run/netns`): Podman's `netns-<uuid>`, CRI's `cni-<uuid>`.
    /// Other names there are not containers'.
    NetnsDir,
    /// containerd's state (`/run/containerd`): task rootfs, CRI sandbox shm. Nothing
    /// per-container lives under its root (`/var/lib/containerd`): content and snapshots.
    ContainerdState,
    /// kubelet's root directory (`/var/lib/kubelet`): pod volumes.
    KubeletRoot,
    /// CRI-O's containers/storage run root (`/run/containers/storage`): a sandbox's shm at
    /// `overlay-containers/<id>/userdata/shm` (cri-o internal/storage: the container's
    /// run directory is the run root's `overlay-containers/<id>/userdata`, and the sandbox's
    /// shm is mounted there, server/sandbox_run_linux.go `setupShm`).
    CrioRunRoot,
}

/// `ip netns`'s directory of network namespace bind mounts (iproute2's `NETNS_RUN_DIR`,
/// `/var/run/netns`; `/var/run` links to `/run`), shared by the runtimes: rootful Podman's
/// `netns-<uuid>` and CRI's `cni-<uuid>` live there.
pub const NETNS_DIR: &str = "/run/netns";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// (kind, normalized absolute path), sorted and deduplicated.
    roots: Vec<(RootKind, String)>,
}

/// `/var/run` is a symlink to `/run`; the kernel reports `/run`.
pub fn normalize_root(root: &str) -> String {
    let trimmed = root.trim_end_matches('/');
    match trimmed.strip_prefix("/var/run/") {
        Some(rest) => format!("/run/{rest}"),
        None if trimmed == "/var/run" => "/run".to_string(),
        None => trimmed.to_string(),
    }
}

impl Layout {
    /// Docker's layout: data roots and exec roots.
    pub fn new<D, E>(data_roots: D, exec_roots: E) -> Layout
    where
        D: IntoIterator,
        D::Item: AsRef<str>,
        E: IntoIterator,
        E::Item: AsRef<str>,
    {
        Layout::default()
            .with(RootKind::DockerData, data_roots)
            .with(RootKind::DockerExec, exec_roots)
    }

    /// Adds roots of one kind (relative or empty roots are ignored).
    pub fn with<R>(mut self, kind: RootKind, roots: R) -> Layout
    where
        R: IntoIterator,
        R::Item: AsRef<str>,
    {
        for r in roots {
            let r = normalize_root(r.as_ref());
            if r.len() > 1 && r.starts_with('/') {
                self.roots.push((kind, r));
            }
        }
        self.roots.sort();
        self.roots.dedup();
        self
    }

    /// The union of two layouts (several runtimes on one host).
    pub fn merge(mut self, other: &Layout) -> Layout {
        self.roots.extend(other.roots.iter().cloned());
        self.roots.sort();
        self.roots.dedup();
        self
    }

    /// Roots of one kind.
    pub fn roots(&self, kind: RootKind) -> impl Iterator<Item = &str> {
        self.roots
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, r)| r.as_str())
    }

    /// Every root, whatever its kind (a container path contains one of them).
    pub fn all_roots(&self) -> impl Iterator<Item = &str> {
        self.roots.iter().map(|(_, r)| r.as_str())
    }

    /// Recognises a container mount point (as seen from `/` of its namespace): what it is and
    /// whose. Deciding whether a copy is a leak is `classify`'s.
    pub fn recognise(&self, mount_point: &str) -> Option<ContainerPath> {
        // A rest with an empty component (`a//b`, a trailing `/`) is no container's path.
        // Where the last one is, found once, rules out the rests that hold one without
        // splitting each: a mount point repeating a root thousands of times stays linear.
        let clean_from = if mount_point.ends_with('/') {
            usize::MAX
        } else {
            mount_point.rfind("//").map_or(0, |i| i + 2)
        };
        for (kind, root) in &self.roots {
            for rest in after_root(mount_point, root) {
                if mount_point.len() - rest.len() < clean_from {
                    continue;
                }
                if let Some((k, id, runtime)) = classify_rest(*kind, rest) {
                    return Some(ContainerPath {
                        kind: k,
                        id,
                        canonical: format!("{root}/{rest}"),
                        runtime,
                    });
                }
            }
        }
        None
    }
}

/// Every `rest` such that `mount_point == prefix + root + "/" + rest`, overlapping matches
/// included (`/a/a` is in `/a/a/a` twice), which `match_indices` would skip.
fn after_root<'a>(mount_point: &'a str, root: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        loop {
            let i = from + mount_point.get(from..)?.find(root)?;
            // Roots are absolute: a match starts at a component boundary, on an ASCII `/`.
            from = i + 1;
            if let Some(rest) = mount_point[i + root.len()..].strip_prefix('/') {
                return Some(rest);
            }
        }
    })
}

/// The most components a per-container path has (`pods/<uid>/volume-subpaths/<n>/<c>/<i>`).
const MAX_COMPONENTS: usize = 6;

type Classified = (Kind, PathId, Option<RuntimeKind>);

fn classify_rest(root: RootKind, rest: &str) -> Option<Classified> {
    // Only the first components decide, so only they are split (bounded work per root
    // occurrence); anything after them stays in a last item: longer patterns end in `..`.
    // The caller has ruled out empty components in that last item.
    let p: Vec<&str> = rest.splitn(MAX_COMPONENTS + 1, '/').collect();
    if p.iter().any(|c| c.is_empty()) {
        return None;
    }
    let s = |id: &str| id.to_string();
    let (kind, owner, runtime) = match root {
        RootKind::DockerData => {
            let (kind, owner) = docker_data_path(&p)?;
            (kind, owner, RuntimeKind::Docker)
        }
        RootKind::DockerExec => match p.as_slice() {
            // `netns/default` is dockerd's own handle on the host network namespace (made
            // for --network=host), held for the daemon's lifetime: not a container's.
            ["netns", id] if *id != "default" => {
                (Kind::Netns, PathId::Sandbox(s(id)), RuntimeKind::Docker)
            }
            _ => return None,
        },
        RootKind::PodmanGraph => {
            let (kind, owner) = match p.as_slice() {
                ["overlay", id, "merged"] => (Kind::Rootfs, PathId::Layer(s(id))),
                ["overlay-containers", id, "userdata", "shm"] => {
                    (Kind::Shm, PathId::Container(s(id)))
                }
                ["overlay-containers", id, "userdata", _, ..] => {
                    (Kind::Other, PathId::Container(s(id)))
                }
                ["volumes", name, "_data"] => (Kind::Volume, PathId::Volume(s(name))),
                _ => return None,
            };
            (kind, owner, RuntimeKind::Podman)
        }
        RootKind::NetnsDir => match p.as_slice() {
            [name] if name.len() > 6 && name.starts_with("netns-") => {
                (Kind::Netns, PathId::Sandbox(s(name)), RuntimeKind::Podman)
            }
            [name] if name.len() > 4 && name.starts_with("cni-") => (
                Kind::Netns,
                PathId::Sandbox(s(name)),
                RuntimeKind::Containerd,
            ),
            // CRI-O pins a sandbox's netns as a bare UUID (cri-o pkg/config `NamespacesDir`,
            // internal/config/nsmgr: `uuid.New().String()` under /var/run/netns).
            [name] if is_uuid(name) => (Kind::Netns, PathId::Sandbox(s(name)), RuntimeKind::CriO),
            _ => return None,
        },
        RootKind::CrioRunRoot => match p.as_slice() {
            ["overlay-containers", id, "userdata", "shm"] => {
                (Kind::Shm, PathId::Container(s(id)), RuntimeKind::CriO)
            }
            _ => return None,
        },
        RootKind::ContainerdState => match p.as_slice() {
            ["io.containerd.runtime.v2.task", ns, id, "rootfs"] => (
                Kind::Rootfs,
                PathId::Task {
                    namespace: s(ns),
                    id: s(id),
                },
                RuntimeKind::Containerd,
            ),
            // The CRI plugin's volatile sandbox directory is under the state directory
            // (containerd internal/cri/server/podsandbox/helpers.go: getSandboxDevShm is
            // getVolatileSandboxRootDir(id)/shm, in <state>/io.containerd.grpc.v1.cri; the
            // same in 1.6 and 1.7's pkg/cri/server). Its sandboxes live in namespace k8s.io.
            ["io.containerd.grpc.v1.cri", "sandboxes", id, "shm"] => (
                Kind::Shm,
                PathId::Task {
                    namespace: s(CRI_NAMESPACE),
                    id: s(id),
                },
                RuntimeKind::Containerd,
            ),
            _ => return None,
        },
        RootKind::KubeletRoot => {
            let (uid, volume) = match p.as_slice() {
                ["pods", uid, "volumes", plugin, name]
                | ["pods", uid, "volumes", plugin, name, "mount"] => {
                    (uid, format!("{plugin}/{name}"))
                }
                ["pods", uid, "volume-subpaths", name, _container, _index] => {
                    (uid, name.to_string())
                }
                _ => return None,
            };
            return Some((
                Kind::Volume,
                PathId::PodVolume {
                    pod_uid: s(uid),
                    volume,
                },
                None,
            ));
        }
    };
    Some((kind, owner, Some(runtime)))
}

/// A lowercase hyphenated UUID (8-4-4-4-12 hex digits).
fn is_uuid(name: &str) -> bool {
    let groups: Vec<&str> = name.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// The containerd namespace CRI (kubelet's runtime service) keeps its containers in.
pub const CRI_NAMESPACE: &str = "k8s.io";

fn docker_data_path(p: &[&str]) -> Option<(Kind, PathId)> {
    let layer = |id: &str| Some((Kind::Rootfs, PathId::Layer(id.to_string())));
    match p {
        // fuse-overlayfs (rootless Docker's driver where overlay is not allowed) lays its
        // layers out as overlay2 does: moby daemon/graphdriver/fuse-overlayfs/fuseoverlayfs.go.
        ["overlay2" | "overlay" | "fuse-overlayfs", id, "merged"] => layer(id),
        // The containerd image store mounts a container's rootfs at
        // `<root>/rootfs/<snapshotter>/<container id>` (moby daemon/snapshotter/mount.go,
        // `filepath.Join(home, "rootfs", snapshotter, containerID)`): the id is the container's.
        ["rootfs", _snapshotter, id] => Some((Kind::Rootfs, PathId::Container(id.to_string()))),
        ["aufs", "mnt", id] | ["devicemapper", "mnt", id] => layer(id),
        ["btrfs", "subvolumes", id] | ["zfs", "graph", id] => layer(id),
        ["containers", id, "shm"] | ["containers", id, "mounts", "shm"] => {
            Some((Kind::Shm, PathId::Container(id.to_string())))
        }
        ["containers", id, _, ..] => Some((Kind::Other, PathId::Container(id.to_string()))),
        ["volumes", name, "_data"] => Some((Kind::Volume, PathId::Volume(name.to_string()))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker() -> Layout {
        Layout::new(["/var/lib/docker"], ["/var/run/docker"])
    }

    #[test]
    fn classify_table() {
        let id = "ca74eaa1b342c64a7f6c558299bedf74a5b7016c194e885bf290281161605d58";
        let c = |s: &str| PathId::Container(s.to_string());
        let l = |s: &str| PathId::Layer(s.to_string());
        type Case = (String, Option<(Kind, PathId, String)>);
        let cases: Vec<Case> = vec![
            (
                format!("/var/lib/docker/containers/{id}/shm"),
                Some((
                    Kind::Shm,
                    c(id),
                    format!("/var/lib/docker/containers/{id}/shm"),
                )),
            ),
            (
                format!("/var/lib/docker/containers/{id}/mounts/shm"),
                Some((
                    Kind::Shm,
                    c(id),
                    format!("/var/lib/docker/containers/{id}/mounts/shm"),
                )),
            ),
            (
                format!("/var/lib/docker/containers/{id}/mounts/secrets"),
                Some((
                    Kind::Other,
                    c(id),
                    format!("/var/lib/docker/containers/{id}/mounts/secrets"),
                )),
            ),
            (
                "/var/lib/docker/overlay2/abc/merged".into(),
                Some((
                    Kind::Rootfs,
                    l("abc"),
                    "/var/lib/docker/overlay2/abc/merged".into(),
                )),
            ),
            (
                "/var/lib/docker/overlay2/abc-init/merged".into(),
                Some((
                    Kind::Rootfs,
                    l("abc-init"),
                    "/var/lib/docker/overlay2/abc-init/merged".into(),
                )),
            ),
            (
                "/var/lib/docker/overlay/abc/merged".into(),
                Some((
                    Kind::Rootfs,
                    l("abc"),
                    "/var/lib/docker/overlay/abc/merged".into(),
                )),
            ),
            (
                "/var/lib/docker/fuse-overlayfs/abc/merged".into(),
                Some((
                    Kind::Rootfs,
                    l("abc"),
                    "/var/lib/docker/fuse-overlayfs/abc/merged".into(),
                )),
            ),
            // the containerd image store: the container's own id, whatever the snapshotter
            (
                format!("/var/lib/docker/rootfs/overlayfs/{id}"),
                Some((
                    Kind::Rootfs,
                    c(id),
                    format!("/var/lib/docker/rootfs/overlayfs/{id}"),
                )),
            ),
            (
                format!("/var/lib/docker/rootfs/stargz/{id}"),
                Some((
                    Kind::Rootfs,
                    c(id),
                    format!("/var/lib/docker/rootfs/stargz/{id}"),
                )),
            ),
            (
                format!("/rootfs/var/lib/docker/rootfs/overlayfs/{id}"),
                Some((
                    Kind::Rootfs,
                    c(id),
                    format!("/var/lib/docker/rootfs/overlayfs/{id}"),
                )),
            ),
            (
                "/var/lib/docker/aufs/mnt/abc".into(),
                Some((
                    Kind::Rootfs,
                    l("abc"),
                    "/var/lib/docker/aufs/mnt/abc".into(),
                )),
            ),
            (
                "/var/lib/docker/devicemapper/mnt/abc".into(),
                Some((
                    Kind::Rootfs,
                    l("abc"),
                    "/var/lib/docker/devicemapper/mnt/abc".into(),
                )),
            ),
            (
                "/var/lib/docker/btrfs/subvolumes/abc".into(),
                Some((
                    Kind::Rootfs,
                    l("abc"),
                    "/var/lib/docker/btrfs/subvolumes/abc".into(),
                )),
            ),
            (
                "/var/lib/docker/zfs/graph/abc".into(),
                Some((
                    Kind::Rootfs,
                    l("abc"),
                    "/var/lib/docker/zfs/graph/abc".into(),
                )),
            ),
            (
                "/var/lib/docker/volumes/data/_data".into(),
                Some((
                    Kind::Volume,
                    PathId::Volume("data".into()),
                    "/var/lib/docker/volumes/data/_data".into(),
                )),
            ),
            (
                "/run/docker/netns/1f2e3d".into(),
                Some((
                    Kind::Netns,
                    PathId::Sandbox("1f2e3d".into()),
                    "/run/docker/netns/1f2e3d".into(),
                )),
            ),
            (
                "/var/run/docker/netns/1f2e3d".into(),
                Some((
                    Kind::Netns,
                    PathId::Sandbox("1f2e3d".into()),
                    "/run/docker/netns/1f2e3d".into(),
                )),
            ),
            // under a prefix: a monitoring container's rprivate bind of the host
            (
                "/rootfs/var/lib/docker/overlay2/abc/merged".into(),
                Some((
                    Kind::Rootfs,
                    l("abc"),
                    "/var/lib/docker/overlay2/abc/merged".into(),
                )),
            ),
            (
                "/host/run/docker/netns/x".into(),
                Some((
                    Kind::Netns,
                    PathId::Sandbox("x".into()),
                    "/run/docker/netns/x".into(),
                )),
            ),
            // not per-container paths
            ("/var/lib/docker".into(), None),
            ("/var/lib/docker/overlay2".into(), None),
            ("/var/lib/docker/overlay2/abc/diff".into(), None),
            ("/var/lib/docker/overlay2/abc/merged/proc".into(), None),
            ("/var/lib/docker/fuse-overlayfs/abc/diff".into(), None),
            ("/var/lib/docker/rootfs".into(), None),
            ("/var/lib/docker/rootfs/overlayfs".into(), None),
            (format!("/var/lib/docker/rootfs/overlayfs/{id}/proc"), None),
            (format!("/var/lib/docker/rootfs//{id}"), None),
            ("/var/lib/docker/volumes/data/_data/sub".into(), None),
            ("/var/lib/dockerx/overlay2/abc/merged".into(), None),
            ("/run/docker/netns".into(), None),
            ("/run/docker/netns/default".into(), None),
            ("/run/docker/netns/a/b".into(), None),
            ("/run/dockerd/netns/a".into(), None),
            ("/".into(), None),
            ("/var/lib/docker/containers//shm".into(), None),
        ];
        let layout = docker();
        for (mp, want) in cases {
            let got = layout.recognise(&mp).map(|p| (p.kind, p.id, p.canonical));
            assert_eq!(got, want, "{mp}");
        }
    }

    #[test]
    fn custom_roots_are_used_not_assumed() {
        let layout = Layout::new(["/srv/docker/"], ["/run/mountleak-test/exec"]);
        assert!(
            layout
                .recognise("/var/lib/docker/overlay2/a/merged")
                .is_none()
        );
        assert_eq!(
            layout
                .recognise("/srv/docker/overlay2/a/merged")
                .unwrap()
                .kind,
            Kind::Rootfs
        );
        assert_eq!(
            layout
                .recognise("/run/mountleak-test/exec/netns/a")
                .unwrap()
                .kind,
            Kind::Netns
        );
    }

    #[test]
    fn podman_containerd_and_kubelet_table() {
        let layout = Layout::default()
            .with(RootKind::PodmanGraph, ["/var/lib/containers/storage"])
            .with(RootKind::NetnsDir, ["/var/run/netns"])
            .with(RootKind::ContainerdState, ["/run/containerd"])
            .with(RootKind::KubeletRoot, ["/var/lib/kubelet"])
            .with(RootKind::CrioRunRoot, ["/run/containers/storage"]);
        let id = "2cca1d7e22633a4ec426115333d8918b59253843c396163ab535797f295bcb88";
        let uid = "6f1e0c9a-2b5d-4c1e-9a53-2f0e6b7c8d90";
        let task = |ns: &str, id: &str| PathId::Task {
            namespace: ns.into(),
            id: id.into(),
        };
        let pod = |v: &str| PathId::PodVolume {
            pod_uid: uid.into(),
            volume: v.into(),
        };
        let podman = Some(RuntimeKind::Podman);
        let containerd = Some(RuntimeKind::Containerd);
        let crio = Some(RuntimeKind::CriO);
        type Case = (
            String,
            Option<(Kind, PathId, &'static str, Option<RuntimeKind>)>,
        );
        let cases: Vec<Case> = vec![
            (
                "/var/lib/containers/storage/overlay/ee7c/merged".into(),
                Some((
                    Kind::Rootfs,
                    PathId::Layer("ee7c".into()),
                    "/var/lib/containers/storage/overlay/ee7c/merged",
                    podman,
                )),
            ),
            (
                format!("/var/lib/containers/storage/overlay-containers/{id}/userdata/shm"),
                Some((Kind::Shm, PathId::Container(id.into()), "", podman)),
            ),
            (
                "/var/lib/containers/storage/volumes/pgdata/_data".into(),
                Some((
                    Kind::Volume,
                    PathId::Volume("pgdata".into()),
                    "/var/lib/containers/storage/volumes/pgdata/_data",
                    podman,
                )),
            ),
            (
                "/run/netns/netns-92fb495a-2373-2e14-fe86-97e4ba8cd22c".into(),
                Some((
                    Kind::Netns,
                    PathId::Sandbox("netns-92fb495a-2373-2e14-fe86-97e4ba8cd22c".into()),
                    "/run/netns/netns-92fb495a-2373-2e14-fe86-97e4ba8cd22c",
                    podman,
                )),
            ),
            (
                "/var/run/netns/cni-0b3c".into(),
                Some((
                    Kind::Netns,
                    PathId::Sandbox("cni-0b3c".into()),
                    "/run/netns/cni-0b3c",
                    containerd,
                )),
            ),
            (
                "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs".into(),
                Some((
                    Kind::Rootfs,
                    task("k8s.io", "abc"),
                    "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs",
                    containerd,
                )),
            ),
            (
                "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/s1/shm".into(),
                Some((
                    Kind::Shm,
                    task("k8s.io", "s1"),
                    "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/s1/shm",
                    containerd,
                )),
            ),
            // CRI-O: a sandbox's shm under the run root, its netns pinned by bare UUID.
            (
                format!("/run/containers/storage/overlay-containers/{id}/userdata/shm"),
                Some((Kind::Shm, PathId::Container(id.into()), "", crio)),
            ),
            (
                "/var/run/netns/0b6ad3f0-9c4e-4f21-8d7a-3e5b6c7d8e9f".into(),
                Some((
                    Kind::Netns,
                    PathId::Sandbox("0b6ad3f0-9c4e-4f21-8d7a-3e5b6c7d8e9f".into()),
                    "/run/netns/0b6ad3f0-9c4e-4f21-8d7a-3e5b6c7d8e9f",
                    crio,
                )),
            ),
            (
                "/run/netns/0B6AD3F0-9C4E-4F21-8D7A-3E5B6C7D8E9F".into(),
                None,
            ),
            (
                "/run/netns/0b6ad3f0-9c4e-4f21-8d7a-3e5b6c7d8e9".into(),
                None,
            ),
            ("/run/netns/0b6ad3f09c4e4f218d7a3e5b6c7d8e9f".into(), None),
            (
                format!("/run/containers/storage/overlay-containers/{id}/userdata"),
                None,
            ),
            // Never there: the root holds content and snapshots only.
            (
                "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/s1/shm".into(),
                None,
            ),
            (
                format!("/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~secret/token"),
                Some((Kind::Volume, pod("kubernetes.io~secret/token"), "", None)),
            ),
            (
                format!("/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~csi/pvc-1/mount"),
                Some((Kind::Volume, pod("kubernetes.io~csi/pvc-1"), "", None)),
            ),
            (
                format!("/var/lib/kubelet/pods/{uid}/volume-subpaths/cfg/app/0"),
                Some((Kind::Volume, pod("cfg"), "", None)),
            ),
            // under a prefix
            (
                "/host/run/containerd/io.containerd.runtime.v2.task/default/web/rootfs".into(),
                Some((
                    Kind::Rootfs,
                    task("default", "web"),
                    "/run/containerd/io.containerd.runtime.v2.task/default/web/rootfs",
                    containerd,
                )),
            ),
            // not per-container paths
            ("/run/netns/mynet".into(), None),
            ("/run/netns/netns-".into(), None),
            ("/run/netns".into(), None),
            ("/var/lib/containers/storage/overlay".into(), None),
            ("/var/lib/containers/storage/overlay/l/ABC".into(), None),
            ("/var/lib/containers/storage/overlay2/a/merged".into(), None),
            (
                "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc".into(),
                None,
            ),
            (
                "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs".into(),
                None,
            ),
            (format!("/var/lib/kubelet/pods/{uid}/volumes"), None),
            (
                "/var/lib/kubelet/plugins/kubernetes.io/csi/x/globalmount".into(),
                None,
            ),
        ];
        for (mp, want) in cases {
            let got = layout
                .recognise(&mp)
                .map(|p| (p.kind, p.id, p.canonical, p.runtime));
            // An empty expected canonical path means "the mount point itself".
            let want = want
                .map(|(k, o, c, r)| (k, o, if c.is_empty() { mp.clone() } else { c.into() }, r));
            assert_eq!(got, want, "{mp}");
        }
        assert_eq!(
            layout.recognise("/var/lib/docker/overlay2/a/merged"),
            None,
            "docker's paths are not known without a docker root"
        );
    }

    #[test]
    fn layouts_merge() {
        let a = Layout::new(["/var/lib/docker"], ["/run/docker"]);
        let b = Layout::default().with(RootKind::PodmanGraph, ["/var/lib/containers/storage/"]);
        let m = a.clone().merge(&b).merge(&a);
        assert_eq!(
            m.all_roots().collect::<Vec<_>>(),
            vec![
                "/var/lib/docker",
                "/run/docker",
                "/var/lib/containers/storage"
            ]
        );
        assert_eq!(
            m.recognise("/var/lib/docker/overlay2/x/merged")
                .unwrap()
                .runtime,
            Some(RuntimeKind::Docker)
        );
        assert_eq!(
            m.recognise("/var/lib/containers/storage/overlay/x/merged")
                .unwrap()
                .runtime,
            Some(RuntimeKind::Podman)
        );
    }

    #[test]
    fn overlapping_root_matches_are_all_tried() {
        // Fuzz find (fuzz/regressions/classify/overlapping-root-match): with the data root
        // `/a/a` and the host's tree under `/a`, the first match's rest is `a/overlay2/...`
        // and the second, overlapping it, was never tried.
        let layout = Layout::new(["/a/a"], ["/x"]);
        let got = layout.recognise("/a/a/a/overlay2/l/merged").unwrap();
        assert_eq!(got.kind, Kind::Rootfs);
        assert_eq!(got.id, PathId::Layer("l".into()));
        assert_eq!(got.canonical, "/a/a/overlay2/l/merged");
        let got = layout.recognise("/a/a/a/a/containers/c/shm").unwrap();
        assert_eq!(got.canonical, "/a/a/containers/c/shm");
        assert_eq!(layout.recognise("/a/a/a/a"), None);
    }

    #[test]
    fn empty_components_are_ruled_out_wherever_they_are() {
        let layout = docker();
        for mp in [
            "/var/lib/docker/containers/c/mounts//shm",
            "/var/lib/docker/containers/c/a/b/c/d/e/f//g",
            "/var/lib/docker/containers/c/a/b/c/d/e/f/",
            "/var/lib/docker//overlay2/l/merged",
            "/var/lib/docker/overlay2/l/merged/",
        ] {
            assert_eq!(layout.recognise(mp), None, "{mp}");
        }
        // An empty component before the root (in the prefix) does not matter.
        assert_eq!(
            layout
                .recognise("/x//var/lib/docker/containers/c/a/b/c/d/e/f/g")
                .map(|p| (p.kind, p.canonical)),
            Some((
                Kind::Other,
                "/var/lib/docker/containers/c/a/b/c/d/e/f/g".into()
            ))
        );
    }

    #[test]
    fn a_root_repeated_many_times_is_classified_in_linear_time() {
        // Fuzz find: each root occurrence split the whole rest of the path, so a deep mount
        // point (longer than PATH_MAX is possible: chdir down, mount on `.`) repeating a root
        // took quadratic time; 40,000 repeats (600 KB) took minutes.
        let mut mp = "/var/lib/docker".repeat(40_000);
        mp.push_str("/overlay2/x/merged");
        let layout = docker();
        let start = std::time::Instant::now();
        let got = layout.recognise(&mp).unwrap();
        let took = start.elapsed();
        assert_eq!(got.canonical, "/var/lib/docker/overlay2/x/merged");
        let mut other = "/var/lib/docker".repeat(40_000);
        other.push_str("/containers/c/config");
        assert_eq!(layout.recognise(&other).unwrap().kind, Kind::Other);
        assert!(
            took < std::time::Duration::from_secs(2),
            "classifying a 600 KB mount point took {took:?}"
        );
    }

    #[test]
    fn roots_are_normalized() {
        assert_eq!(normalize_root("/var/run/docker/"), "/run/docker");
        assert_eq!(normalize_root("/var/run"), "/run");
        assert_eq!(normalize_root("/var/lib/docker"), "/var/lib/docker");
    }
}
