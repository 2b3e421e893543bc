//! Issue 17: an incremental scan (tables remembered between scans, re-read when listmount(2)
//! says they changed) must report exactly what a full scan reports, leak for leak. Real
//! namespaces and mounts, changed at random between scrapes: container mounts made and
//! unmounted by a "daemon", holders (private, slave and shared copies of its namespace)
//! started and killed, their copies made private, slave or shared, mounts made, bound
//! (joining a shared mount's peer group) and removed inside holders and the daemon. After
//! every change one scan of a long-lived incremental memory and one full scan; over 1,000
//! scrapes. Each incremental report is also rendered as `/metrics` does, reusing the last
//! render's owner families when its leaks are the last report's, and must equal a fresh
//! render. Everything lives in namespaces of the test's own (the daemon's is made from the
//! host's): nothing is mounted on the host, and another test's `unshare` copies none of it.
//! The seed is printed; `MOUNTLEAK_CHURN_SEED=<n>` replays a run.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{poll_until, require_tool, unmount_all_but};
use mountleak_exporter::host::{self, ContainerMount, HostSnapshot, ScanMode, ScanOptions, Tables};
use mountleak_exporter::metrics::{self, LeakText, RenderOptions};
use mountleak_exporter::report::Report;
use mountleak_exporter::runtime::{RuntimeKind, RuntimeView, StaticRuntime};
use mountleak_exporter::scanner::{self, Memory};

const SCRAPES: usize = 1000;
const MAX_HOLDERS: usize = 6;

/// xorshift64*: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        (!v.is_empty()).then(|| &v[self.below(v.len())])
    }
}

/// A process in a namespace of its own, killed (with its group) on drop.
struct Proc {
    child: Child,
    what: String,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: kill(2) of the process group this test made.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str], what: String) -> Proc {
    let child = Command::new(args[0])
        .args(&args[1..])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
    Proc { child, what }
}

/// Runs `script` inside `pid`'s mount namespace; failures are part of the churn (a copy
/// already gone by propagation), so only the exit status is returned.
fn sh_in(pid: u32, script: &str) -> bool {
    Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "--", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// In a namespace of its own and set up: unshare(1) sets the propagation after unshare(2),
/// then execs `sleep`.
fn ready_in_own_namespace(pid: u32, parent: u32) -> bool {
    let link = |p: u32| std::fs::read_link(format!("/proc/{p}/ns/mnt")).ok();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    comm == "sleep\n" && matches!((link(pid), link(parent)), (Some(a), Some(b)) if a != b)
}

struct World {
    root: String,
    daemon: Proc,
    holders: Vec<Proc>,
    paths: Vec<String>,
    made: usize,
}

impl World {
    /// The daemon: a private namespace with a shared scratch tmpfs for its mounts. It first
    /// lets go of the host's other mounts (all but `/`, `/proc`, `/dev`, `/sys` and the
    /// scratch directory's ancestors): its namespace and its holders' live for the whole run,
    /// and a copy of another test's container mount would keep that mount (say a removed
    /// container's network namespace) alive, the very leak that test checks is freed.
    fn new(root: &Path) -> World {
        let root = root.to_str().unwrap().to_string();
        let script = format!(
            r#"{}
               mount -t tmpfs scratch {root} && mount --make-shared {root} && touch {root}/ready && exec sleep 1000000"#,
            unmount_all_but(&format!("'/proc /dev /sys {root}'"))
        );
        let daemon = spawn(
            &[
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ],
            "daemon".into(),
        );
        let pid = daemon.pid();
        poll_until(
            "the daemon's scratch tmpfs",
            Duration::from_secs(10),
            || match sh_in(pid, &format!("test -e {root}/ready")) {
                true => Ok(()),
                false => Err("not ready".into()),
            },
        );
        World {
            root,
            daemon,
            holders: Vec::new(),
            paths: Vec::new(),
            made: 0,
        }
    }

    fn new_path(&mut self) -> String {
        self.made += 1;
        let n = self.made;
        let id = format!("{n:064x}");
        // Paths are quoted in single quotes where they are used; one in four has a space
        // and a backslash (mountinfo escapes them, statmount(2) does not).
        match n % 4 {
            0 => format!("{}/var/lib/docker/containers/{id}/mounts/shm", self.root),
            1 => format!("{}/var/lib/docker/volumes/vol{n}/_data", self.root),
            2 => format!("{}/var/lib/docker/volumes/v {n}\\040x/_data", self.root),
            _ => format!("{}/var/lib/docker/overlay2/{id}/merged", self.root),
        }
    }

    fn holder(&mut self, rng: &mut Rng) -> Option<u32> {
        rng.pick(&self.holders).map(Proc::pid)
    }

    /// One random change; says what it did.
    fn churn(&mut self, rng: &mut Rng) -> String {
        let d = self.daemon.pid();
        let flag = ["private", "slave", "shared"][rng.below(3)];
        let path = rng.pick(&self.paths).cloned();
        match rng.below(12) {
            0 | 1 => {
                let p = self.new_path();
                sh_in(d, &format!("mkdir -p '{p}' && mount -t tmpfs c '{p}'"));
                self.paths.push(p.clone());
                format!("daemon mounts {p}")
            }
            2 => match path {
                Some(p) => format!(
                    "daemon unmounts {p}: {}",
                    sh_in(d, &format!("umount '{p}'"))
                ),
                None => "nothing".into(),
            },
            3 if self.holders.len() < MAX_HOLDERS => self.spawn_holder(rng),
            4 if !self.holders.is_empty() => {
                let h = self.holders.swap_remove(rng.below(self.holders.len()));
                format!("kill {}", h.what)
            }
            5 | 6 => match (self.holder(rng), path) {
                (Some(h), Some(p)) => {
                    let ok = sh_in(h, &format!("mount --make-{flag} '{p}'"));
                    format!("holder {h} makes {p} {flag}: {ok}")
                }
                _ => "nothing".into(),
            },
            7 => match path {
                Some(p) => format!(
                    "daemon makes {p} {flag}: {}",
                    sh_in(d, &format!("mount --make-{flag} '{p}'"))
                ),
                None => "nothing".into(),
            },
            8 => match self.holder(rng) {
                Some(h) => {
                    let p = self.new_path();
                    let ok = sh_in(h, &format!("mkdir -p '{p}' && mount -t tmpfs 'h x' '{p}'"));
                    self.paths.push(p.clone());
                    format!("holder {h} mounts {p}: {ok}")
                }
                None => "nothing".into(),
            },
            9 => match (self.holder(rng), path) {
                (Some(h), Some(p)) => format!(
                    "holder {h} unmounts {p}: {}",
                    sh_in(h, &format!("umount '{p}'"))
                ),
                _ => "nothing".into(),
            },
            // A bind joins the peer group of a shared mount: after a remembered private
            // mount was made shared (5-7), its first peer (the peer-group rule).
            10 => {
                let who = if rng.below(2) == 0 {
                    Some(d)
                } else {
                    self.holder(rng)
                };
                match (who, path) {
                    (Some(w), Some(p)) => {
                        let q = self.new_path();
                        let ok = sh_in(w, &format!("mkdir -p '{q}' && mount --bind '{p}' '{q}'"));
                        self.paths.push(q.clone());
                        format!("{w} binds {p} at {q}: {ok}")
                    }
                    _ => "nothing".into(),
                }
            }
            _ => "nothing (steady state)".into(),
        }
    }

    fn spawn_holder(&mut self, rng: &mut Rng) -> String {
        let flag = ["private", "slave", "unchanged"][rng.below(3)];
        let d = self.daemon.pid().to_string();
        let args = [
            "nsenter",
            "-t",
            &d,
            "-m",
            "--",
            "unshare",
            "-m",
            "--propagation",
            flag,
            "sleep",
            "1000000",
        ];
        let h = spawn(&args, format!("holder ({flag})"));
        let (pid, parent) = (h.pid(), self.daemon.pid());
        poll_until(
            "the holder in its own namespace",
            Duration::from_secs(10),
            || match ready_in_own_namespace(pid, parent) {
                true => Ok(()),
                false => Err("not yet".into()),
            },
        );
        let what = format!("spawn holder {pid} ({flag})");
        self.holders.push(h);
        what
    }
}

/// What the user sees of the scratch mounts: every leak (holder, mount, status, owner) and
/// the copies that are not leaks.
fn seen(r: &Report, root: &str) -> (BTreeSet<String>, u64, u64) {
    let leaks = r
        .leaks
        .iter()
        .filter(|l| l.mount_point().starts_with(root))
        .map(|l| {
            let ns = &r.namespaces[l.namespace as usize];
            format!(
                "ns {} ({}) holder {} ({}, {} processes) {} id {} dev {} root {} {} {} {:?} {:?} first_seen {}",
                ns.inode,
                ns.root,
                ns.holder.pid,
                ns.holder.comm,
                ns.holder.process_count,
                l.mount_point(),
                l.mount_id,
                l.target.device(),
                l.target.root,
                l.target.fs_type,
                l.target.source,
                l.status,
                l.kind(),
                l.first_seen > 0,
            )
        })
        .collect();
    (leaks, r.scan.propagated_copies, r.scan.unverified_copies)
}

/// Renders `r` as `/metrics` does, reusing the leak families' text of the last render when
/// `r` has the last report's leaks, and checks the body is a fresh render's. Returns whether
/// the text was reused.
fn render_reusing_is_fresh(r: &Report, text: &LeakText, last_version: &mut u64) -> bool {
    let reused = r.leaks_version != 0 && r.leaks_version == *last_version;
    *last_version = r.leaks_version;
    let options = RenderOptions::default();
    let got = metrics::render_reusing(r, options, text).unwrap();
    let fresh = metrics::render(Arc::new(r.clone()), options).unwrap();
    assert!(
        got == fresh,
        "the render reusing the last leak text (version {}) is not a fresh render's",
        r.leaks_version
    );
    reused
}

/// Fails with what is missing unless the test can make namespaces and mounts.
fn require_root_and_mount_tools() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "this test needs root (mount namespaces and mounts)"
    );
    for tool in ["unshare", "nsenter", "mount", "umount"] {
        require_tool(tool);
    }
}

#[test]
fn every_incremental_report_is_a_full_scans_over_a_thousand_random_scrapes() {
    require_root_and_mount_tools();
    let seed = std::env::var("MOUNTLEAK_CHURN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("[figures] seed {seed} (MOUNTLEAK_CHURN_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let dir = tempfile::Builder::new()
        .prefix("mlchurn.")
        .tempdir()
        .unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let mut world = World::new(dir.path());
    let mut view = RuntimeView::docker(
        false,
        vec![format!("{root}/var/lib/docker")],
        vec![format!("{root}/run/docker")],
        [],
    );
    // The daemon's namespace is the reference, as dockerd's is.
    view.daemon_pids = vec![(RuntimeKind::Docker, world.daemon.pid())];
    let runtime = StaticRuntime(Arc::new(view));
    let procfs = Path::new("/proc");
    let options = ScanOptions::default();
    let mut incremental = Memory::incremental();
    let mut full = Memory::default();
    let (mut reread, mut covered, mut retried, mut leaks_seen) = (0, 0, 0, 0);
    // Every incremental report is also rendered reusing the last render's leak text; every
    // tenth scrape is scanned once more with nothing changed (by this test), which should
    // find the same leaks and reuse their text.
    let (text, mut last_version, mut quiet, mut reused) = (LeakText::default(), 0, 0, 0);
    let mut history: Vec<String> = Vec::new();
    let started = Instant::now();
    for step in 0..SCRAPES {
        history.push(world.churn(&mut rng));
        let mut tries = 0;
        loop {
            let inc = scanner::scan_once(procfs, &runtime, &options, &mut incremental);
            let all = scanner::scan_once(procfs, &runtime, &options, &mut full);
            assert_eq!(
                inc.scan.scan_mode,
                ScanMode::Listmount,
                "needs Linux 6.8+ listmount(2) naming other namespaces (6.18+, or CAP_SYS_ADMIN)"
            );
            assert_eq!(all.scan.scan_mode, ScanMode::Full);
            let (a, b) = (seen(&inc, &root), seen(&all, &root));
            assert!(
                a.0 == b.0,
                "scrape {step} (seed {seed}): the incremental report differs from the full scan's\n\
                 incremental only: {:#?}\nfull only: {:#?}\nlast changes: {:#?}",
                a.0.difference(&b.0).collect::<Vec<_>>(),
                b.0.difference(&a.0).collect::<Vec<_>>(),
                &history[history.len().saturating_sub(8)..],
            );
            render_reusing_is_fresh(&inc, &text, &mut last_version);
            if (a.1, a.2) == (b.1, b.2) {
                reread += inc.scan.namespaces_reread;
                covered += inc.scan.mount_namespaces_scanned;
                leaks_seen += a.0.len();
                if step % 10 == 0 {
                    let again = scanner::scan_once(procfs, &runtime, &options, &mut incremental);
                    quiet += 1;
                    reused += render_reusing_is_fresh(&again, &text, &mut last_version) as usize;
                }
                break;
            }
            // The counts of copies that are not leaks are host-wide: another test's process
            // may have come or gone between the two scans. One more pair; a wrong remembered
            // table stays wrong.
            tries += 1;
            retried += 1;
            assert!(
                tries < 3,
                "scrape {step} (seed {seed}): (propagated, unverified) copies {:?} incremental, {:?} full; last changes: {:#?}",
                (a.1, a.2),
                (b.1, b.2),
                &history[history.len().saturating_sub(8)..],
            );
        }
    }
    eprintln!(
        "[figures] {SCRAPES} scrapes in {:.1?}: {leaks_seen} leaks compared in all, \
         {reread} tables read of {covered} covered by the incremental scans, {retried} retried pairs",
        started.elapsed()
    );
    assert!(
        leaks_seen > SCRAPES,
        "the churn made too few leaks to compare ({leaks_seen})"
    );
    assert!(
        reread * 2 < covered,
        "the incremental scans read {reread} of {covered} tables: they do not remember"
    );
    // Only another test's leak (under its own root) changing in between can stop a quiet
    // scrape's reuse.
    eprintln!("[figures] {reused} of {quiet} renders after a quiet rescan reused the leak text");
    assert!(
        reused * 2 > quiet,
        "only {reused} of {quiet} renders after a rescan with nothing changed reused the leak text"
    );
}

/// Issue 17: a namespace whose mount ids changed by a few is brought up to date by reading
/// the new mounts one by one (statmount(2)): the mounts it already had keep their parse;
/// when only mounts the exporter ignores changed, its table is the very same; many changes
/// read the table again; a new peer group re-checks the private mounts, and reads the table
/// again only when one of them was made shared; a shared mount that goes is dropped. At
/// every step its container mounts are a full scan's.
#[test]
fn a_few_new_mounts_are_read_one_by_one_and_many_read_the_table_again() {
    require_root_and_mount_tools();
    let dir = tempfile::Builder::new()
        .prefix("mldelta.")
        .tempdir()
        .unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let world = World::new(dir.path());
    let d = world.daemon.pid();
    let view = RuntimeView::docker(
        false,
        vec![format!("{root}/var/lib/docker")],
        vec![format!("{root}/run/docker")],
        [],
    );
    let layout = view.layout();
    let inode = std::fs::metadata(format!("/proc/{d}/ns/mnt"))
        .unwrap()
        .ino();
    let procfs = Path::new("/proc");
    let options = ScanOptions::default();
    let mut tables = Tables::incremental();
    // The daemon's container mounts, as the incremental scan and a full scan see them.
    let mut scan = || {
        let ours = |s: HostSnapshot| {
            s.namespaces
                .into_iter()
                .find(|n| n.key.inode == inode)
                .map(|n| n.container_mounts)
                .unwrap_or_else(|| Arc::from([]))
        };
        let got = ours(host::scan_with(procfs, &layout, &options, &mut tables).unwrap());
        let full = ours(host::scan(procfs, &layout, &options).unwrap());
        let points = |m: &[ContainerMount]| -> Vec<String> {
            m.iter().map(|c| c.target.mount_point.clone()).collect()
        };
        assert_eq!(
            points(&got),
            points(&full),
            "the incremental scan's table is not a full scan's"
        );
        assert_eq!(got.len(), full.len());
        for (a, b) in got.iter().zip(full.iter()) {
            assert_eq!(
                (a.mount_id, a.propagation, &*a.target),
                (b.mount_id, b.propagation, &*b.target)
            );
        }
        got
    };
    let shm = |n: u32| format!("{root}/var/lib/docker/containers/{n:064x}/mounts/shm");
    let mount = |paths: &[String]| {
        let script: Vec<String> = paths
            .iter()
            .map(|p| format!("mkdir -p '{p}' && mount -t tmpfs shm '{p}'"))
            .collect();
        assert!(sh_in(d, &script.join(" && ")), "mount {paths:?}");
    };
    let same_parse = |a: &ContainerMount, b: &ContainerMount| Arc::ptr_eq(&a.target, &b.target);

    // New mounts under a private parent are private: no peer group to account for.
    assert!(sh_in(d, &format!("mount --make-private '{root}'")));
    mount(&[shm(1)]);
    let one = scan();
    assert_eq!(one.len(), 1);

    // A container starts: its mount is read alone; the one already there keeps its parse.
    mount(&[shm(2)]);
    let two = scan();
    assert_eq!(two.len(), 2);
    assert!(
        same_parse(&two[0], &one[0]),
        "the table was read again for one new mount"
    );

    // A mount the exporter ignores: the very same table.
    let other = format!("{root}/other");
    assert!(sh_in(
        d,
        &format!("mkdir -p '{other}' && mount -t tmpfs o '{other}'")
    ));
    let same = scan();
    assert!(
        Arc::ptr_eq(&same, &two),
        "another mount changed the remembered table"
    );

    // More changes than are worth reading one by one: the table is read again.
    let many: Vec<String> = (10..90).map(shm).collect();
    mount(&many);
    let read = scan();
    assert_eq!(read.len(), 82);
    assert!(
        !same_parse(&read[0], &two[0]),
        "80 new mounts were read one by one"
    );

    // A container goes: its mount is dropped, the others keep their parse.
    assert!(sh_in(d, &format!("umount '{}'", shm(2))));
    let gone = scan();
    assert_eq!(gone.len(), 81);
    assert!(
        gone.iter()
            .all(|m| !m.target.mount_point.contains(&format!("{:064x}", 2)))
    );
    assert!(same_parse(&gone[0], &read[0]));

    // One goes and one comes between two scrapes: the namespace's mount count is the same,
    // its highest mount id is not (ids only grow), so its ids are listed again
    // (`listmount::Summary`).
    assert!(sh_in(
        d,
        &format!(
            "umount '{}' && mkdir -p '{1}' && mount -t tmpfs shm '{1}'",
            shm(10),
            shm(400)
        )
    ));
    let swapped = scan();
    assert_eq!(swapped.len(), 81);
    let points: Vec<&str> = swapped.iter().map(|m| &*m.target.mount_point).collect();
    assert!(
        points.contains(&shm(400).as_str()) && !points.contains(&shm(10).as_str()),
        "a mount swapped for another was missed: {points:?}"
    );
    let gone = swapped;

    // A new shared mount starts a peer group no remembered mount is in. A remembered
    // private mount made shared since could be its peer (the peer-group rule,
    // src/host/tables.rs): the remembered private mounts are re-checked one by one with
    // statmount(2); none changed, so the group is new and the table is not read again.
    assert!(sh_in(d, &format!("mount --make-shared '{root}'")));
    mount(&[shm(200)]);
    let shared = scan();
    assert_eq!(shared.len(), 82);
    assert!(shared.iter().any(|m| m.propagation.shared.is_some()));
    assert!(
        same_parse(&shared[0], &gone[0]),
        "a new peer group made the scan read the table, not re-check the private mounts"
    );

    // A remembered private mount made shared (its id stays), then a peer joins it (a bind of
    // it at a container path): the re-check finds it changed, and the table is read again.
    assert!(sh_in(d, &format!("mount --make-shared '{}'", shm(1))));
    assert!(sh_in(
        d,
        &format!(
            "mkdir -p '{0}' && mount --bind '{1}' '{0}'",
            shm(300),
            shm(1)
        )
    ));
    let joined = scan();
    assert_eq!(joined.len(), 83);
    assert!(
        joined[0].target.mount_point == shm(1) && joined[0].propagation.shared.is_some(),
        "a remembered private mount made shared was taken on trust: {:?}",
        joined[0]
    );
    assert!(!same_parse(&joined[0], &shared[0]));

    // A shared mount goes (a container removed from a shared root): it is dropped, the
    // others keep their parse.
    assert!(sh_in(d, &format!("umount '{}'", shm(300))));
    let unshared = scan();
    assert_eq!(unshared.len(), 82);
    assert!(
        same_parse(&unshared[0], &joined[0]),
        "a shared mount's removal made the table read again"
    );
}
