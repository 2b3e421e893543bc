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
