//! Pure: which foreign copies of container mounts are leaks.
//!
//! Reference namespaces are PID 1's and the container daemon's. A container mount seen in any
//! other namespace is a foreign copy, classified from the kernel's own data:
//! - `stale`: no reference namespace has a mount of that device at that path any more;
//! - `at_risk`: the reference still has it and the copy is not tied to it by propagation;
//! - tied copies (a peer or a slave of the reference's peer group) heal themselves and are
//!   only counted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::host::{HostSnapshot, Mount, MountNamespace, NamespaceKey, ProcessInfo};
use crate::layout::{ContainerPath, Kind, Owner};
use crate::runtime::{RuntimeView, STATE_REMOVED, STATE_UNKNOWN};

/// Processes whose namespace is where the daemon mounts containers.
pub const DAEMON_COMMS: &[&str] = &["dockerd"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Stale,
    AtRisk,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stale => "stale",
            Status::AtRisk => "at_risk",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ContainerRef {
    pub id: String,
    pub name: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    pub namespace: NamespaceKey,
    /// The holding namespace's processes, ascending by pid.
    pub holders: Arc<[ProcessInfo]>,
    pub mount: Mount,
    pub path: ContainerPath,
    pub status: Status,
    pub container: Option<ContainerRef>,
    pub volume: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Classified {
    pub leaks: Vec<Leak>,
    /// Foreign copies tied to the reference by propagation: not leaks.
    pub propagated: u64,
}

fn is_reference(ns: &MountNamespace) -> bool {
    ns.pids.first() == Some(&1)
        || ns
            .processes
            .iter()
            .any(|p| DAEMON_COMMS.contains(&p.comm.as_str()))
}

/// The reference's mounts of one path: (major, minor, peer groups it belongs to).
type RefIndex<'a> = HashMap<&'a str, Vec<(u32, u32, Option<u32>)>>;

pub fn classify(snapshot: &HostSnapshot, view: &RuntimeView) -> Classified {
    let mut reference: RefIndex = HashMap::new();
    let mut foreign = Vec::new();
    for ns in &snapshot.namespaces {
        if is_reference(ns) {
            for cm in &ns.container_mounts {
                let m = &cm.mount;
                reference
                    .entry(cm.path.canonical.as_str())
                    .or_default()
                    .push((m.major, m.minor, m.propagation.shared));
            }
        } else if !ns.container_mounts.is_empty() {
            foreign.push(ns);
        }
    }

    let mut out = Classified::default();
    for ns in foreign {
        let mut seen = HashSet::new();
        for cm in &ns.container_mounts {
            let m = &cm.mount;
            let same_device: Vec<_> = reference
                .get(cm.path.canonical.as_str())
                .into_iter()
                .flatten()
                .filter(|(maj, min, _)| (*maj, *min) == (m.major, m.minor))
                .collect();
            let status = if same_device.is_empty() {
                Status::Stale
            } else {
                let groups: Vec<u32> = same_device.iter().filter_map(|r| r.2).collect();
                let tied = [m.propagation.shared, m.propagation.master]
                    .into_iter()
                    .flatten()
                    .any(|g| groups.contains(&g));
                if tied {
                    out.propagated += 1;
                    continue;
                }
                Status::AtRisk
            };
            // A path mounted twice in one namespace (stacked) is one leak to the operator.
            if !seen.insert((cm.path.canonical.as_str(), m.major, m.minor)) {
                continue;
            }
            let (container, volume) = owner(&cm.path, view);
            out.leaks.push(Leak {
                namespace: ns.key.clone(),
                holders: ns.processes.clone(),
                mount: m.clone(),
                path: cm.path.clone(),
                status,
                container,
                volume,
            });
        }
    }
    out.leaks.sort_by(|a, b| {
        (a.holders.first().map(|p| p.pid), &a.path.canonical)
            .cmp(&(b.holders.first().map(|p| p.pid), &b.path.canonical))
    });
    out
}

/// Ties a container path to a container (and volume) through the runtime view.
fn owner(path: &ContainerPath, view: &RuntimeView) -> (Option<ContainerRef>, Option<String>) {
    let (id, volume) = match &path.owner {
        Owner::Container(id) => (Some(id.clone()), None),
        Owner::Layer(_) | Owner::Sandbox(_) => (view.by_path.get(&path.canonical).cloned(), None),
        Owner::Volume(name) => (view.volume_users.get(name).cloned(), Some(name.clone())),
    };
    let container = id.map(|id| match view.containers.get(&id) {
        Some(c) => ContainerRef {
            id: id.clone(),
            name: c.name.clone(),
            state: if view.up || c.state == STATE_REMOVED {
                c.state.clone()
            } else {
                STATE_UNKNOWN.to_string()
            },
        },
        None => ContainerRef {
            id,
            name: String::new(),
            state: if view.up {
                STATE_REMOVED
            } else {
                STATE_UNKNOWN
            }
            .to_string(),
        },
    });
    debug_assert!(path.kind != Kind::Volume || volume.is_some());
    (container, volume)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{ContainerMount, ScanErrors, mountinfo};
    use crate::layout::Layout;
    use crate::runtime::ContainerInfo;

    const ID: &str = "ca74eaa1b342c64a7f6c558299bedf74a5b7016c194e885bf290281161605d58";

    fn ns(inode: u64, root: &str, pids: &[(u32, &str)], lines: &[String]) -> MountNamespace {
        let layout = Layout::new(["/var/lib/docker"], ["/run/docker"]);
        let container_mounts = lines
            .iter()
            .filter_map(|l| {
                let mount = mountinfo::parse_line(l.as_bytes()).unwrap();
                let full = format!("{}{}", root.trim_end_matches('/'), mount.mount_point);
                let path = layout.classify(&full)?;
                Some(ContainerMount { mount, path })
            })
            .collect();
        MountNamespace {
            key: NamespaceKey {
                device: 4,
                inode,
                root: root.into(),
            },
            pids: pids.iter().map(|p| p.0).collect(),
            processes: pids
                .iter()
                .map(|&(pid, comm)| ProcessInfo {
                    pid,
                    comm: comm.into(),
                    unit: None,
                    container_id: None,
                    start_time: None,
                })
                .collect(),
            container_mounts,
        }
    }

    fn shm(dev: &str, opt: &str) -> String {
        format!(
            "596 340 {dev} / /var/lib/docker/containers/{ID}/mounts/shm rw {opt} - tmpfs shm rw"
        )
    }

    fn run(namespaces: Vec<MountNamespace>, view: &RuntimeView) -> Classified {
        classify(
            &HostSnapshot {
                namespaces,
                processes_scanned: 0,
                errors: ScanErrors::default(),
            },
            view,
        )
    }

    fn statuses(c: &Classified) -> Vec<Status> {
        c.leaks.iter().map(|l| l.status).collect()
    }

    #[test]
    fn status_table() {
        // (reference's copy, holder's copy, expected statuses, expected propagated)
        let cases: Vec<(Option<String>, String, Vec<Status>, u64)> = vec![
            (None, shm("0:57", ""), vec![Status::Stale], 0),
            (
                Some(shm("0:57", "shared:5")),
                shm("0:57", ""),
                vec![Status::AtRisk],
                0,
            ),
            (
                Some(shm("0:57", "shared:5")),
                shm("0:57", "master:5"),
                vec![],
                1,
            ),
            (
                Some(shm("0:57", "shared:5")),
                shm("0:57", "shared:5"),
                vec![],
                1,
            ),
            // A slave of some other group is not tied to this mount.
            (
                Some(shm("0:57", "shared:5")),
                shm("0:57", "master:9"),
                vec![Status::AtRisk],
                0,
            ),
            // Both slaves of one master: the daemon's unmount does not propagate sideways.
            (
                Some(shm("0:57", "master:5")),
                shm("0:57", "master:5"),
                vec![Status::AtRisk],
                0,
            ),
            // Container restarted: same path, new device; the old copy is stale.
            (
                Some(shm("0:99", "shared:5")),
                shm("0:57", "master:5"),
                vec![Status::Stale],
                0,
            ),
        ];
        for (reference, holder, want, propagated) in cases {
            let host = ns(
                1,
                "/",
                &[(1, "systemd")],
                &reference.clone().into_iter().collect::<Vec<_>>(),
            );
            let leaker = ns(2, "/", &[(500, "httpd")], std::slice::from_ref(&holder));
            let got = run(vec![host, leaker], &RuntimeView::default());
            assert_eq!(statuses(&got), want, "ref {reference:?} holder {holder}");
            assert_eq!(
                got.propagated, propagated,
                "ref {reference:?} holder {holder}"
            );
        }
    }

    #[test]
    fn dockerd_namespace_is_a_reference_when_pid1_is_not_visible() {
        let daemon = ns(1, "/", &[(300, "dockerd")], &[shm("0:57", "")]);
        let leaker = ns(2, "/", &[(500, "httpd")], &[shm("0:57", "")]);
        let got = run(vec![daemon, leaker], &RuntimeView::default());
        assert_eq!(statuses(&got), vec![Status::AtRisk]);
        assert_eq!(got.leaks[0].holders[0].pid, 500);
    }

    #[test]
    fn chrooted_and_prefixed_copies_compare_with_the_daemon_path() {
        let host = ns(1, "/", &[(1, "systemd")], &[shm("0:57", "shared:5")]);
        let prefixed = format!(
            "700 1 0:57 / /rootfs/var/lib/docker/containers/{ID}/mounts/shm rw - tmpfs shm rw"
        );
        let monitor = ns(2, "/", &[(600, "cadvisor")], &[prefixed]);
        let chrooted_line =
            format!("800 1 0:57 / /lib/docker/containers/{ID}/mounts/shm rw - tmpfs shm rw");
        let chrooted = ns(3, "/var", &[(700, "jail")], &[chrooted_line]);
        let got = run(vec![host, monitor, chrooted], &RuntimeView::default());
        assert_eq!(statuses(&got), vec![Status::AtRisk, Status::AtRisk]);
        assert!(
            got.leaks
                .iter()
                .all(|l| l.path.canonical.starts_with("/var/lib/docker/containers/"))
        );
    }

    #[test]
    fn stacked_mounts_of_one_path_are_one_leak() {
        let leaker = ns(
            2,
            "/",
            &[(500, "httpd")],
            &[shm("0:57", ""), shm("0:57", "")],
        );
        assert_eq!(run(vec![leaker], &RuntimeView::default()).leaks.len(), 1);
    }

    #[test]
    fn container_state_comes_from_the_view() {
        let info = |state: &str| ContainerInfo {
            id: ID.into(),
            name: "etcd1".into(),
            state: state.into(),
            merged_dir: None,
            sandbox_key: None,
            volumes: vec![],
        };
        let cases = [
            (true, Some(info("exited")), "etcd1", "exited"),
            (true, Some(info(STATE_REMOVED)), "etcd1", "removed"),
            (false, Some(info("running")), "etcd1", "unknown"),
            (false, Some(info(STATE_REMOVED)), "etcd1", "removed"),
            (true, None, "", "removed"),
            (false, None, "", "unknown"),
        ];
        for (up, known, name, state) in cases {
            let view = RuntimeView::new(up, vec![], vec![], known);
            let leaker = ns(2, "/", &[(500, "httpd")], &[shm("0:57", "")]);
            let got = run(vec![leaker], &view);
            let c = got.leaks[0].container.clone().unwrap();
            assert_eq!(
                (c.id.as_str(), c.name.as_str(), c.state.as_str()),
                (ID, name, state),
                "up={up}"
            );
        }
    }

    #[test]
    fn containers_own_namespaces_hold_nothing() {
        let line = "700 650 0:60 / / rw - overlay overlay rw".to_string();
        let own = ns(2, "/", &[(500, "nginx")], &[line]);
        assert!(own.container_mounts.is_empty());
        assert!(run(vec![own], &RuntimeView::default()).leaks.is_empty());
    }
}
