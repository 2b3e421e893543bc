//! Which mount points are a container runtime's per-container paths. Pure.
//!
//! Paths are recognised relative to the daemon's own roots (data root such as
//! `/var/lib/docker`, exec root such as `/run/docker`) and also under any prefix
//! (`/rootfs/var/lib/docker/...`): a monitoring container that bind-mounted the host
//! rprivate is a classic leaker.

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

/// What in the path identifies the owner; the runtime view maps it to a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A graph-driver layer directory (not a container id: map it via inspect's MergedDir).
    Layer(String),
    /// A container id spelled in the path (`containers/<id>/...`).
    Container(String),
    Volume(String),
    /// A network sandbox (`<exec-root>/netns/<sandbox>`, inspect's SandboxKey).
    Sandbox(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPath {
    pub kind: Kind,
    pub owner: Owner,
    /// The path as the daemon sees it: prefix stripped, `/var/run` spelled `/run`.
    pub canonical: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    data_roots: Vec<String>,
    exec_roots: Vec<String>,
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
    pub fn new<D, E>(data_roots: D, exec_roots: E) -> Layout
    where
        D: IntoIterator,
        D::Item: AsRef<str>,
        E: IntoIterator,
        E::Item: AsRef<str>,
    {
        let norm = |it: &mut dyn Iterator<Item = String>| {
            let mut v: Vec<String> = it.filter(|r| r.len() > 1 && r.starts_with('/')).collect();
            v.sort();
            v.dedup();
            v
        };
        Layout {
            data_roots: norm(&mut data_roots.into_iter().map(|r| normalize_root(r.as_ref()))),
            exec_roots: norm(&mut exec_roots.into_iter().map(|r| normalize_root(r.as_ref()))),
        }
    }

    pub fn data_roots(&self) -> &[String] {
        &self.data_roots
    }

    pub fn exec_roots(&self) -> &[String] {
        &self.exec_roots
    }

    /// Classifies a mount point (as seen from `/` of its namespace).
    pub fn classify(&self, mount_point: &str) -> Option<ContainerPath> {
        for root in &self.data_roots {
            for rest in after_root(mount_point, root) {
                if let Some((kind, owner)) = data_path(rest) {
                    let canonical = format!("{root}/{rest}");
                    return Some(ContainerPath {
                        kind,
                        owner,
                        canonical,
                    });
                }
            }
        }
        for root in &self.exec_roots {
            for rest in after_root(mount_point, root) {
                let mut parts = rest.split('/');
                // `netns/default` is dockerd's own handle on the host network namespace
                // (made for --network=host), held for the daemon's lifetime: not a container's.
                if let (Some("netns"), Some(id), None) = (parts.next(), parts.next(), parts.next())
                    && !id.is_empty()
                    && id != "default"
                {
                    return Some(ContainerPath {
                        kind: Kind::Netns,
                        owner: Owner::Sandbox(id.to_string()),
                        canonical: format!("{root}/{rest}"),
                    });
                }
            }
        }
        None
    }
}

/// Every `rest` such that `mount_point == prefix + root + "/" + rest`.
fn after_root<'a>(mount_point: &'a str, root: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    mount_point.match_indices(root).filter_map(move |(i, _)| {
        // Roots are absolute, so a match always starts at a component boundary.
        mount_point[i + root.len()..].strip_prefix('/')
    })
}

fn data_path(rest: &str) -> Option<(Kind, Owner)> {
    let p: Vec<&str> = rest.split('/').collect();
    if p.iter().any(|c| c.is_empty()) {
        return None;
    }
    let layer = |id: &str| Some((Kind::Rootfs, Owner::Layer(id.to_string())));
    match p.as_slice() {
        ["overlay2" | "overlay", id, "merged"] => layer(id),
        ["aufs", "mnt", id] | ["devicemapper", "mnt", id] => layer(id),
        ["btrfs", "subvolumes", id] | ["zfs", "graph", id] => layer(id),
        ["containers", id, "shm"] | ["containers", id, "mounts", "shm"] => {
            Some((Kind::Shm, Owner::Container(id.to_string())))
        }
        ["containers", id, _, ..] => Some((Kind::Other, Owner::Container(id.to_string()))),
        ["volumes", name, "_data"] => Some((Kind::Volume, Owner::Volume(name.to_string()))),
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
        let c = |s: &str| Owner::Container(s.to_string());
        let l = |s: &str| Owner::Layer(s.to_string());
        type Case = (String, Option<(Kind, Owner, String)>);
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
                    Owner::Volume("data".into()),
                    "/var/lib/docker/volumes/data/_data".into(),
                )),
            ),
            (
                "/run/docker/netns/1f2e3d".into(),
                Some((
                    Kind::Netns,
                    Owner::Sandbox("1f2e3d".into()),
                    "/run/docker/netns/1f2e3d".into(),
                )),
            ),
            (
                "/var/run/docker/netns/1f2e3d".into(),
                Some((
                    Kind::Netns,
                    Owner::Sandbox("1f2e3d".into()),
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
                    Owner::Sandbox("x".into()),
                    "/run/docker/netns/x".into(),
                )),
            ),
            // not per-container paths
            ("/var/lib/docker".into(), None),
            ("/var/lib/docker/overlay2".into(), None),
            ("/var/lib/docker/overlay2/abc/diff".into(), None),
            ("/var/lib/docker/overlay2/abc/merged/proc".into(), None),
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
            let got = layout.classify(&mp).map(|p| (p.kind, p.owner, p.canonical));
            assert_eq!(got, want, "{mp}");
        }
    }

    #[test]
    fn custom_roots_are_used_not_assumed() {
        let layout = Layout::new(["/srv/docker/"], ["/run/mountleak-test/exec"]);
        assert!(
            layout
                .classify("/var/lib/docker/overlay2/a/merged")
                .is_none()
        );
        assert_eq!(
            layout
                .classify("/srv/docker/overlay2/a/merged")
                .unwrap()
                .kind,
            Kind::Rootfs
        );
        assert_eq!(
            layout
                .classify("/run/mountleak-test/exec/netns/a")
                .unwrap()
                .kind,
            Kind::Netns
        );
    }

    #[test]
    fn roots_are_normalized() {
        assert_eq!(normalize_root("/var/run/docker/"), "/run/docker");
        assert_eq!(normalize_root("/var/run"), "/run");
        assert_eq!(normalize_root("/var/lib/docker"), "/var/lib/docker");
    }
}
