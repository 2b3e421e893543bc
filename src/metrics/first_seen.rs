//! The one series per leaked mount per holding namespace
//! (`mountleak_leak_first_seen_timestamp_seconds`), which a leak storm makes by the million:
//! ordered and cut to the series budget without materialising them all.

use std::collections::HashMap;
use std::sync::Arc;

use crate::classify::Leak;
use crate::report::Report;

fn leak_labels<'a>(r: &'a Report, pids: &'a [String], l: &'a Leak) -> [&'a str; 10] {
    let h = r.holder(l);
    let (cid, cname, cstate) = container_labels(l);
    [
        h.unit.as_deref().unwrap_or(""),
        &pids[l.namespace as usize],
        &h.comm,
        l.runtime().map(|r| r.as_str()).unwrap_or(""),
        cid,
        cname,
        cstate,
        l.kind().as_str(),
        l.status.as_str(),
        l.mount_point(),
    ]
}

/// One series per leak, so a leak storm can make millions: instead of materialising them
/// all, order the leaks by their label values and keep the first `budget` distinct label
/// sets (the same cut `cap` makes), counting the rest as dropped. The value is the earliest
/// first-seen time of the leaks sharing a label set.
pub(super) fn first_seen_series(
    r: &Report,
    budget: &mut usize,
    dropped: &mut usize,
) -> Vec<(Vec<String>, f64)> {
    let pids: Vec<String> = r
        .namespaces
        .iter()
        .map(|n| n.holder.pid.to_string())
        .collect();
    // Label values come in groups shared by many leaks (the holder's, the owner's, the
    // mount's): rank each group once, then sort the leaks by integers. Equal values get
    // equal ranks, so the order is exactly that of the label values.
    let ns_rank = dense_ranks(r.namespaces.iter().enumerate().map(|(i, n)| {
        (
            i,
            (
                n.holder.unit.as_deref().unwrap_or(""),
                pids[i].as_str(),
                n.holder.comm.as_str(),
            ),
        )
    }));
    let owner_rank = dense_ranks(r.leaks.iter().map(|l| {
        let (cid, cname, cstate) = container_labels(l);
        (
            Arc::as_ptr(&l.owner) as usize,
            (
                l.runtime().map(|r| r.as_str()).unwrap_or(""),
                cid,
                cname,
                cstate,
            ),
        )
    }));
    let target_rank = dense_ranks(
        r.leaks
            .iter()
            .map(|l| (Arc::as_ptr(&l.target) as usize, l.mount_point())),
    );
    let kind_rank = dense_ranks(r.leaks.iter().map(|l| (l.kind(), l.kind().as_str())));
    let status_rank = dense_ranks(r.leaks.iter().map(|l| (l.status, l.status.as_str())));
    // The holder's labels lead the order: sort one holder (or the few that share those
    // labels) at a time, not every leak at once (24 bytes per leak made that sort the
    // largest thing a render allocated). Leak indices grouped by namespace, counting sort.
    let mut starts = vec![0u32; r.namespaces.len() + 1];
    for l in &r.leaks {
        starts[l.namespace as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut by_ns = vec![0u32; r.leaks.len()];
    let mut fill = starts.clone();
    for (i, l) in r.leaks.iter().enumerate() {
        let ns = l.namespace as usize;
        by_ns[fill[ns] as usize] = i as u32;
        fill[ns] += 1;
    }
    drop(fill);
    let mut namespaces: Vec<usize> = (0..r.namespaces.len()).collect();
    namespaces.sort_by_key(|i| ns_rank[i]);
    // Already in label order: a Vec, not a map (comparing long label values is the cost).
    let mut out: Vec<(Vec<String>, f64)> = Vec::new();
    let mut last = None;
    let mut distinct = 0;
    let mut order: Vec<([u32; 5], u32)> = Vec::new();
    for group in namespaces.chunk_by(|a, b| ns_rank[a] == ns_rank[b]) {
        order.clear();
        for &ns in group {
            for &i in &by_ns[starts[ns] as usize..starts[ns + 1] as usize] {
                let l = &r.leaks[i as usize];
                let key = [
                    ns_rank[&(l.namespace as usize)],
                    owner_rank[&(Arc::as_ptr(&l.owner) as usize)],
                    kind_rank[&l.kind()],
                    status_rank[&l.status],
                    target_rank[&(Arc::as_ptr(&l.target) as usize)],
                ];
                order.push((key, i));
            }
        }
        order.sort_unstable();
        for &(k, i) in &order {
            let l = &r.leaks[i as usize];
            if last == Some(k) {
                if distinct <= *budget
                    && let Some((_, v)) = out.last_mut()
                {
                    *v = v.min(l.first_seen.into());
                }
                continue;
            }
            last = Some(k);
            distinct += 1;
            if distinct <= *budget {
                out.push((
                    leak_labels(r, &pids, l)
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                    l.first_seen.into(),
                ));
            }
        }
    }
    let keep = out.len();
    *budget -= keep;
    *dropped += distinct - keep;
    out
}

pub(super) fn container_labels(l: &Leak) -> (&str, &str, &str) {
    match l.container() {
        Some(c) => (c.id.as_str(), c.name.as_str(), c.state.as_str()),
        None => Default::default(),
    }
}

/// Dense ranks of values by identity: equal values rank equal, order follows the values.
fn dense_ranks<I: Copy + Eq + std::hash::Hash, V: Ord>(
    items: impl Iterator<Item = (I, V)>,
) -> HashMap<I, u32> {
    let mut distinct: HashMap<I, V> = HashMap::new();
    for (id, v) in items {
        distinct.entry(id).or_insert(v);
    }
    let mut sorted: Vec<(V, I)> = distinct.into_iter().map(|(i, v)| (v, i)).collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut ranks = HashMap::with_capacity(sorted.len());
    let mut rank = 0;
    for (n, (v, id)) in sorted.iter().enumerate() {
        if n > 0 && sorted[n - 1].0 != *v {
            rank += 1;
        }
        ranks.insert(*id, rank);
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RuntimeKind;

    #[test]
    fn first_seen_series_are_the_first_label_sets_in_label_order_whatever_the_budget() {
        use crate::classify::Leak;
        use crate::classify::{ContainerRef, MountOwner, Status};
        use crate::host::MountTarget;
        use crate::layout::{ContainerPath, Kind, PathId};
        use crate::report::{Holder, NamespaceReport};
        use std::collections::BTreeMap;
        let targets: Vec<Arc<MountTarget>> = (0..5)
            .map(|i| {
                let kind = [Kind::Shm, Kind::Rootfs][i % 2];
                Arc::new(MountTarget {
                    major: 0,
                    minor: i as u32,
                    root: "/".into(),
                    mount_point: format!("/var/lib/docker/m{}", 4 - i),
                    fs_type: "tmpfs".into(),
                    source: "tmpfs".into(),
                    path: ContainerPath {
                        kind,
                        id: PathId::Container(format!("c{}", i % 3)),
                        canonical: format!("/var/lib/docker/m{}", 4 - i),
                        runtime: Some(RuntimeKind::Docker),
                    },
                })
            })
            .collect();
        let owners: Vec<Arc<MountOwner>> = (0..3)
            .map(|i| {
                Arc::new(MountOwner {
                    container: (i != 1).then(|| ContainerRef {
                        id: format!("c{i}"),
                        name: ["web", "", "db"][i].into(),
                        state: "exited".into(),
                        runtime: RuntimeKind::Docker,
                    }),
                    volume: None,
                    pod: None,
                    runtime: Some(RuntimeKind::Docker),
                    known: false,
                })
            })
            .collect();
        let ns = |pid: u32, unit: &str| NamespaceReport {
            inode: pid as u64,
            device: 4,
            root: "/".into(),
            holder: Holder {
                pid,
                comm: "sh".into(),
                unit: Some(unit.into()),
                container_id: None,
                container_engine: None,
                process_count: 1,
            },
            leaked_mounts: 0,
            processes: Arc::from([]),
        };
        // Namespaces 1 and 3 carry the same holder labels: their leaks make one set each.
        let namespaces = vec![
            ns(30, "b.service"),
            ns(20, "a.service"),
            ns(40, "c.service"),
            ns(20, "a.service"),
        ];
        let mut leaks = Vec::new();
        for n in 0..60usize {
            leaks.push(Leak {
                // Interleaved, not grouped by namespace.
                namespace: ((n * 7) % 4) as u32,
                mount_id: n as u32,
                target: targets[(n * 3) % 5].clone(),
                status: [Status::Stale, Status::AtRisk][(n / 5) % 2],
                owner: owners[(n * 5) % 3].clone(),
                first_seen: 1000 - n as u32,
            });
        }
        let report = Report {
            scan: Default::default(),
            namespaces,
            leaks,
            leaks_version: 0,
        };
        let pids: Vec<String> = report
            .namespaces
            .iter()
            .map(|n| n.holder.pid.to_string())
            .collect();
        let mut naive: BTreeMap<Vec<String>, f64> = BTreeMap::new();
        for l in &report.leaks {
            let labels = leak_labels(&report, &pids, l)
                .iter()
                .map(|s| s.to_string())
                .collect();
            let v = naive.entry(labels).or_insert(f64::INFINITY);
            *v = v.min(l.first_seen.into());
        }
        for budget in [0, 1, 7, naive.len() - 1, naive.len(), naive.len() + 5] {
            let (mut left, mut dropped) = (budget, 0);
            let got = first_seen_series(&report, &mut left, &mut dropped);
            let want: Vec<(Vec<String>, f64)> = naive
                .iter()
                .take(budget)
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            assert_eq!(got, want, "budget {budget}");
            assert_eq!(
                dropped,
                naive.len().saturating_sub(budget),
                "budget {budget}"
            );
            assert_eq!(left, budget - want.len());
        }
    }
}
