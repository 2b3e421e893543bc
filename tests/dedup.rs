//! The scan reads each mount namespace's table once; the naive scan reads every process's.
//! On a real host built here (real namespaces, real mounts, chrooted processes, peers,
//! stale and live copies) both must find exactly the same copies in the same processes.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{poll_until, require_tool};
use mountleak_exporter::classify::{self, Status};
use mountleak_exporter::host::{self, HostSnapshot};
use mountleak_exporter::layout::Layout;
use mountleak_exporter::runtime::RuntimeView;

/// Container-shaped tmpfs mounts made in the reference namespace.
const M: usize = 24;

/// Mounts, in the reference namespace whose process is named `dockerd` (so it is the
/// reference on a host whose PID 1 is unreadable, as on these machines, and an ordinary
/// reference everywhere else), M container-shaped tmpfs mounts under scratch dir `$1`;
/// every 4th is made shared before the holders copy it.
const REFERENCE: &str = r#"
set -eu
S=$1 M=$2
mount -t tmpfs scratch "$S"
mkdir -p "$S/run/docker/netns"
i=0
while [ "$i" -lt "$M" ]; do
	id=$(printf '%064x' "$i")
	case $((i % 4)) in
	0) d="$S/var/lib/docker/overlay2/layer$i/merged" ;;
	1) d="$S/var/lib/docker/containers/$id/mounts/shm" ;;
	2) d="$S/var/lib/docker/volumes/vol$i/_data" ;;
	3) d="$S/var/lib/docker/containers/$id/shm" ;;
	esac
	mkdir -p "$d"
	mount -t tmpfs "t$i" "$d"
	[ $((i % 4)) -ne 0 ] || mount --make-shared "$d"
	i=$((i + 1))
done
cp "$(command -v busybox)" "$S/busybox"
# The chrooted shell starts background jobs with stdin from /dev/null.
mkdir "$S/dev" && mknod -m 666 "$S/dev/null" c 1 3
ln -s "$(command -v sleep)" "$S/dockerd"
echo ready > "$S/ready"
exec "$S/dockerd" 1000000
"#;

/// Kills the whole scene (each piece is its own process group) when the test ends.
struct Scene(Vec<Child>);

impl Scene {
    fn spawn(&mut self, cmd: &mut Command) -> u32 {
        use std::os::unix::process::CommandExt;
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn");
        let pid = child.id();
        self.0.push(child);
        pid
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        for c in &mut self.0 {
            unsafe_kill_group(c.id());
            let _ = c.wait();
        }
    }
}

fn unsafe_kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status();
}

fn ns_of(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
}

fn children_in(ns: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| ns_of(p).as_deref() == Some(ns))
        .count()
}

/// (pid, canonical path, device, status) for every process holding every leak.
type Copies = BTreeSet<(u32, String, String, Status)>;

fn copies(snapshot: &HostSnapshot, namespaces: &BTreeSet<u64>) -> Copies {
    let c = classify::classify(
        snapshot.clone(),
        &RuntimeView::default(),
        &mut Default::default(),
    );
    let mut out = Copies::new();
    for l in &c.leaks {
        let h = &c.holders[l.namespace as usize];
        if !namespaces.contains(&h.key.inode) {
            continue;
        }
        for p in h.processes.iter() {
            out.insert((
                p.pid,
                l.target.path.canonical.clone(),
                l.target.device(),
                l.status,
            ));
        }
    }
    out
}

/// The naive scan, written here independently of the library's: every process's own
/// table, parsed and classified one by one, each process its own "namespace". What
/// `grep <id> /proc/*/mountinfo` does, in the exporter's terms: the oracle the
/// namespace-deduplicating `host::scan` must agree with, copy for copy.
fn scan_per_process(procfs: &Path, layout: &Layout) -> HostSnapshot {
    let link = |pid: u32, what: &str| {
        std::fs::read_link(procfs.join(pid.to_string()).join(what))
            .ok()
            .map(|l| l.to_string_lossy().into_owned())
    };
    // The host's processes: PID 1, and kthreadd (PID 2), which lives in the initial
    // namespaces even where PID 1 does not (or cannot be read, as on these machines).
    let kthreadd = std::fs::read(procfs.join("2/comm")).is_ok_and(|c| c == b"kthreadd\n");
    let is_host = |pid: u32| pid == 1 || (pid == 2 && kthreadd);
    let host_userns = link(1, "ns/user").or_else(|| link(2, "ns/user").filter(|_| kthreadd));
    let mut pids: Vec<u32> = std::fs::read_dir(procfs)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut namespaces = Vec::new();
    for &pid in &pids {
        let dir = procfs.join(pid.to_string());
        let (Some(ns), Some(root), Ok(text)) = (
            link(pid, "ns/mnt"),
            link(pid, "root"),
            std::fs::read(dir.join("mountinfo")),
        ) else {
            continue; // gone, or not ours to read
        };
        let inode: u64 = ns
            .trim_start_matches("mnt:[")
            .trim_end_matches(']')
            .parse()
            .expect("an mnt:[inode] link");
        let container_mounts: Vec<host::ContainerMount> = host::mountinfo::parse(&text)
            .filter_map(Result::ok)
            .filter_map(|m| {
                let full = format!("{}{}", root.trim_end_matches('/'), m.mount_point);
                let path = layout.recognise(&full)?;
                Some(host::ContainerMount::new(m, path))
            })
            .collect();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        namespaces.push(host::MountNamespace {
            key: host::NamespaceKey {
                device: 0,
                inode,
                root,
            },
            host: is_host(pid),
            pids: vec![pid],
            processes: vec![host::ProcessInfo {
                pid,
                comm: comm.trim_end().to_string(),
                unit: None,
                container_id: None,
                container_engine: None,
                start_time: None,
            }]
            .into(),
            container_mounts: container_mounts.into(),
            host_userns: !is_host(pid) && link(pid, "ns/user") == host_userns,
        });
    }
    HostSnapshot {
        namespaces,
        processes_scanned: pids.len() as u64,
        ..Default::default()
    }
}

#[test]
fn the_namespace_scan_finds_exactly_what_a_per_process_scan_finds() {
    for tool in ["unshare", "nsenter", "chroot", "busybox", "sleep"] {
        require_tool(tool);
    }
    let scratch = tempfile::Builder::new()
        .prefix("mldedup.")
        .tempdir_in("/tmp")
        .unwrap();
    let s = scratch.path().to_str().unwrap().to_string();
    let mut scene = Scene(Vec::new());
    let reference = scene.spawn(
        Command::new("unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                REFERENCE,
                "sh",
            ])
            .args([&s, &M.to_string()]),
    );
    let ref_ns = poll_until(
        "the reference namespace with its mounts",
        Duration::from_secs(20),
        || {
            let comm = std::fs::read_to_string(format!("/proc/{reference}/comm"))
                .map_err(|e| e.to_string())?;
            if comm.trim() != "dockerd" {
                return Err(format!("comm is {comm:?}"));
            }
            ns_of(reference).ok_or("no ns".to_string())
        },
    );

    let inside = |propagation: &str, script: &str| {
        let mut c = Command::new("nsenter");
        c.args(["-t", &reference.to_string(), "-m", "--"])
            .args(["unshare", "-m", "--propagation", propagation])
            .args(["sh", "-c", script, "sh", &s]);
        c
    };
    // A private holder with two plain processes and a chrooted one; one seen only through
    // chroots; one whose copies of the shared mounts stay peers of the reference's.
    let holders = [
        (
            scene.spawn(&mut inside(
                "private",
                "sleep 1000000 & sleep 1000000 & chroot \"$1\" /busybox sleep 1000000 & wait",
            )),
            4,
        ),
        (
            scene.spawn(&mut inside(
                "private",
                "exec chroot \"$1\" /busybox sh -c '/busybox sleep 1000000 & /busybox sleep 1000000 & wait'",
            )),
            3,
        ),
        (
            scene.spawn(&mut inside(
                "unchanged",
                "sleep 1000000 & exec sleep 1000000",
            )),
            2,
        ),
    ];
    let own_ns = ns_of(std::process::id()).expect("our own mount namespace");
    let mut inodes = BTreeSet::new();
    for (pid, want) in holders {
        let ns = poll_until(
            &format!("holder {pid} with {want} processes in its own namespace"),
            Duration::from_secs(20),
            || {
                let ns = ns_of(pid).ok_or("gone")?;
                // Until nsenter and unshare have run, the pid is still in ours.
                if ns == own_ns || ns == ref_ns {
                    return Err(format!("not yet in its own namespace ({ns})"));
                }
                let n = children_in(&ns);
                if n == want {
                    Ok(ns)
                } else {
                    Err(format!("{n} processes in {ns}"))
                }
            },
        );
        inodes.insert(
            ns.trim_start_matches("mnt:[")
                .trim_end_matches(']')
                .parse::<u64>()
                .unwrap(),
        );
    }
    // The daemon unmounts every third container mount: those copies go stale.
    for i in (0..M).step_by(3) {
        let id = format!("{i:064x}");
        let d = match i % 4 {
            0 => format!("{s}/var/lib/docker/overlay2/layer{i}/merged"),
            1 => format!("{s}/var/lib/docker/containers/{id}/mounts/shm"),
            2 => format!("{s}/var/lib/docker/volumes/vol{i}/_data"),
            _ => format!("{s}/var/lib/docker/containers/{id}/shm"),
        };
        let st = Command::new("nsenter")
            .args(["-t", &reference.to_string(), "-m", "umount", &d])
            .status()
            .unwrap();
        assert!(st.success(), "umount {d} in the reference");
    }

    let layout = Layout::new([format!("{s}/var/lib/docker")], [format!("{s}/run/docker")]);
    let procfs = Path::new("/proc");
    let dedup = copies(
        // Every process's details, as the oracle reads them.
        &host::scan(
            procfs,
            &layout,
            &host::ScanOptions {
                processes_per_namespace: 0,
            },
        )
        .unwrap(),
        &inodes,
    );
    let naive = copies(&scan_per_process(procfs, &layout), &inodes);
    assert_eq!(
        dedup.symmetric_difference(&naive).collect::<Vec<_>>(),
        Vec::<&(u32, String, String, Status)>::new(),
        "the two scans disagree"
    );

    // And they found what was made: 9 processes hold copies (4, 3 and 2 per holder). A
    // third of the mounts were unmounted: stale everywhere, the peer holder's too (an
    // unmount propagates through the parent's peer group, and the scratch parent is
    // private). Of the live ones, the peer holder's shared copies are tied to the
    // reference (not leaks), the rest are at risk.
    let stale = (0..M).filter(|i| i % 3 == 0).count();
    let live_private = (0..M).filter(|i| i % 3 != 0 && i % 4 != 0).count();
    let per_pid = |status: Status| {
        let mut n = std::collections::BTreeMap::<u32, usize>::new();
        for c in dedup.iter().filter(|c| c.3 == status) {
            *n.entry(c.0).or_default() += 1;
        }
        let mut v: Vec<usize> = n.into_values().collect();
        v.sort();
        v
    };
    assert_eq!(
        per_pid(Status::Stale),
        vec![stale; 9],
        "stale copies per process"
    );
    let mut want_live = vec![M - stale; 7];
    want_live.extend([live_private; 2]);
    want_live.sort();
    assert_eq!(
        per_pid(Status::AtRisk),
        want_live,
        "at_risk copies per process"
    );
    drop(scene);
}
