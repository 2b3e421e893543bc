//! `mountleak_exporter release`: detach leaked copies inside the namespaces that hold them,
//! without touching the holding processes otherwise.
//!
//! The only code in the crate that enters a namespace or unmounts. It is reached from the
//! command line alone (main.rs): nothing under `http` or `web` uses it. It scans like the
//! `scan` subcommand, selects leaks, and for each holding namespace, on a thread of its own:
//! `unshare(CLONE_FS)`, `setns` through `/proc/<pid>/ns/mnt` of a process still in that
//! namespace (the descriptor is checked to be that namespace, used, and closed), re-reads the
//! namespace's own table, checks each copy is still the one the scan saw, and detaches it
//! (`umount2(MNT_DETACH | UMOUNT_NOFOLLOW)`), mounts below it first.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::classify::{ContainerRef, Leak, Status, is_daemon_comm};
use crate::config::Output;
use crate::host::ScanOptions;
use crate::host::mountinfo::{self, Mount, display_bytes};
use crate::layout::{Layout, PathId};
use crate::privilege::{CapSets, Caps, RELEASE_NEEDED};
use crate::quote;
use crate::report::{self, Holder, NamespaceReport, Report};
use crate::runtime::{PodRef, Runtime};
use crate::scanner;

/// Every selected copy released, or none selected (a dry run: every check passed).
pub const EXIT_RELEASED: u8 = 0;
/// Some selected copy was not released; each says why.
pub const EXIT_NOT_ALL: u8 = 1;

/// Which leaks to release: every given selector must match (no selector: every `stale` leak).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// A container's id, a prefix of it, or its name.
    pub container: Option<String>,
    /// The holding namespace's pid (any of its listed processes) or systemd unit.
    pub holder: Option<String>,
    /// A mount point, in the report's display form.
    pub mount: Option<String>,
    pub volume: Option<String>,
    /// A Kubernetes pod uid.
    pub pod: Option<String>,
    /// `at_risk` copies too (their container still runs; the holder may be using them).
    pub include_at_risk: bool,
}

/// One run of the command.
#[derive(Debug, Clone)]
pub struct Request {
    pub selector: Selector,
    /// `--yes`: act; otherwise a dry run.
    pub act: bool,
    pub output: Output,
    /// Testing only: wait this long between the scan and the act, so that a test can make a
    /// holder exit in between.
    pub pause_before_act: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "release needs {needed} (opening other users' /proc/<pid>/ns/mnt needs cap_sys_ptrace; \
         setns into a mount namespace cap_sys_admin and cap_sys_chroot; umount cap_sys_admin); \
         missing: {missing}. Nothing was changed. Run it as root on the host, or see \
         docs/deploy.md for a container or Kubernetes"
    )]
    MissingCapabilities { needed: Caps, missing: Caps },
    #[error("cannot read own capabilities: {0}; nothing was changed")]
    Capabilities(io::Error),
    #[error("could not scan: {0}")]
    Scan(String),
    #[error("--container {given} matches more than one container ({matches}): give more of the id")]
    Ambiguous { given: String, matches: String },
}

/// What happened (or, in a dry run, would happen) to one selected copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    WouldRelease,
    Released,
    Skipped { reason: String },
    Failed { reason: String },
}

impl Outcome {
    fn ok(&self) -> bool {
        matches!(self, Outcome::WouldRelease | Outcome::Released)
    }
    fn word(&self) -> &'static str {
        match self {
            Outcome::WouldRelease => "would release",
            Outcome::Released => "released",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Failed { .. } => "failed",
        }
    }
    fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Skipped { reason } | Outcome::Failed { reason } => Some(reason),
            _ => None,
        }
    }
}

/// The whole command: privileges (when acting), scan, select, act, scan again. Returns the
/// text to print and the exit status; an error means nothing was changed (exit 2).
pub fn run(
    procfs: &Path,
    runtime: &dyn Runtime,
    options: &ScanOptions,
    request: &Request,
) -> Result<(String, u8), Error> {
    if request.act {
        check_privileges()?;
    }
    let before = scan(procfs, runtime, options)?;
    let chosen = select(&before, &request.selector)?;
    let layout = runtime.view().layout();
    let references = reference_namespaces(procfs);
    let mut outcomes: Vec<Outcome> = chosen
        .iter()
        .map(|&i| preflight(&before, &before.leaks[i], &layout, &references))
        .collect();
    let acting = request.act && outcomes.contains(&Outcome::WouldRelease);
    let after = if acting {
        if let Some(pause) = request.pause_before_act {
            tracing::info!(
                seconds = pause.as_secs_f64(),
                "pausing before acting (testing)"
            );
            std::thread::sleep(pause);
        }
        act(procfs, &before, &chosen, &mut outcomes);
        // What was done stands, and is printed, whether or not the new scan works.
        match scan(procfs, runtime, options) {
            Ok(after) => Some(after),
            Err(e) => {
                tracing::error!(error = %e, "the scan after releasing failed");
                None
            }
        }
    } else {
        None
    };
    let code = if outcomes.iter().all(Outcome::ok) {
        EXIT_RELEASED
    } else {
        EXIT_NOT_ALL
    };
    let printed = Printed {
        before: &before,
        chosen: &chosen,
        outcomes: &outcomes,
        dry_run: !request.act,
        after: after.as_ref(),
    };
    let text = match request.output {
        Output::Json => serde_json::to_string_pretty(&printed).expect("serializes") + "\n",
        Output::Text => printed.text(),
    };
    Ok((text, code))
}

fn check_privileges() -> Result<(), Error> {
    let sets = CapSets::of_current_thread().map_err(Error::Capabilities)?;
    let missing = sets.missing_of(RELEASE_NEEDED);
    if missing != 0 {
        return Err(Error::MissingCapabilities {
            needed: Caps(RELEASE_NEEDED),
            missing: Caps(missing),
        });
    }
    Ok(())
}

fn scan(procfs: &Path, runtime: &dyn Runtime, options: &ScanOptions) -> Result<Report, Error> {
    let report = scanner::scan_once(procfs, runtime, options, &mut scanner::Memory::default());
    if !report.scan.success {
        return Err(Error::Scan(
            report.scan.error.unwrap_or_else(|| "unknown error".into()),
        ));
    }
    Ok(report)
}

/// The indices of the selected leaks in `report.leaks`.
pub fn select(report: &Report, selector: &Selector) -> Result<Vec<usize>, Error> {
    let containers = match &selector.container {
        Some(given) => Some(resolve_container(report, given)?),
        None => None,
    };
    let chosen = report.leaks.iter().enumerate().filter(|(_, l)| {
        let ns = &report.namespaces[l.namespace as usize];
        (l.status == Status::Stale || selector.include_at_risk)
            && containers
                .as_ref()
                .is_none_or(|ids| container_id(l).is_some_and(|id| ids.contains(id)))
            && selector
                .holder
                .as_deref()
                .is_none_or(|h| holder_matches(ns, h))
            && selector
                .mount
                .as_deref()
                .is_none_or(|m| l.mount_point() == m)
            && selector
                .volume
                .as_deref()
                .is_none_or(|v| l.volume() == Some(v))
            && selector
                .pod
                .as_deref()
                .is_none_or(|p| l.pod().is_some_and(|pod: &PodRef| pod.uid == p))
    });
    Ok(chosen.map(|(i, _)| i).collect())
}

/// The container a leak belongs to: the runtime's answer, else the id its path spells.
fn container_id(l: &Leak) -> Option<&str> {
    if let Some(c) = l.container() {
        return Some(&c.id);
    }
    match &l.target.path.id {
        PathId::Container(id) | PathId::Task { id, .. } => Some(id),
        _ => None,
    }
}

/// The ids `given` names, as Docker resolves a reference: a full id or a name first, else a
/// unique id prefix.
fn resolve_container(report: &Report, given: &str) -> Result<HashSet<String>, Error> {
    let refs: Vec<(&str, Option<&ContainerRef>)> = report
        .leaks
        .iter()
        .filter_map(|l| container_id(l).map(|id| (id, l.container())))
        .collect();
    let exact: HashSet<String> = refs
        .iter()
        .filter(|(id, c)| {
            *id == given
                || c.is_some_and(|c| c.name == given || c.name.strip_prefix('/') == Some(given))
        })
        .map(|(id, _)| id.to_string())
        .collect();
    if !exact.is_empty() || given.is_empty() {
        return Ok(exact);
    }
    let prefixed: HashSet<String> = refs
        .iter()
        .filter(|(id, _)| id.starts_with(given))
        .map(|(id, _)| id.to_string())
        .collect();
    if prefixed.len() > 1 {
        let mut ids: Vec<&str> = prefixed.iter().map(|id| report::short(id)).collect();
        ids.sort_unstable();
        return Err(Error::Ambiguous {
            given: quote::terminal(given).into_owned(),
            matches: quote::terminal(&ids.join(", ")).into_owned(),
        });
    }
    Ok(prefixed)
}

/// A pid of the namespace (its holder or any listed process), or a unit (`httpd` means
/// `httpd.service` too).
fn holder_matches(ns: &NamespaceReport, given: &str) -> bool {
    if let Ok(pid) = given.parse::<u32>() {
        return ns.holder.pid == pid || ns.processes.iter().any(|p| p.pid == pid);
    }
    let unit_is = |u: &Option<String>| {
        u.as_deref()
            .is_some_and(|u| u == given || u.strip_suffix(".service") == Some(given))
    };
    unit_is(&ns.holder.unit) || ns.processes.iter().any(|p| unit_is(&p.unit))
}

/// What is checked before anything is entered: `WouldRelease` or why not.
fn preflight(
    report: &Report,
    l: &Leak,
    layout: &Layout,
    references: &HashSet<(u64, u64)>,
) -> Outcome {
    let ns = &report.namespaces[l.namespace as usize];
    let skip = |reason: String| Outcome::Skipped { reason };
    if layout.recognise(l.mount_point()).is_none() {
        return skip("the path is not one the layout recognises as a container mount".into());
    }
    if ns.root != "/" {
        // Its mount points are relative to that root: the table read after setns (relative
        // to the namespace's root) would not name them the same way.
        return skip(format!(
            "the holder is chrooted (its root is {}): release it by hand or restart it",
            quote::terminal(&ns.root)
        ));
    }
    if references.contains(&(ns.device, ns.inode)) {
        return skip("the namespace is a reference namespace (init's, a runtime daemon's or this command's own)".into());
    }
    Outcome::WouldRelease
}

/// (device, inode) of the mount namespaces never acted in: PID 1's, the runtime daemons',
/// this process's own.
fn reference_namespaces(procfs: &Path) -> HashSet<(u64, u64)> {
    let mut out = HashSet::new();
    let mut add = |path: &Path| {
        if let Ok(m) = std::fs::metadata(path) {
            out.insert((m.dev(), m.ino()));
        }
    };
    add(Path::new("/proc/self/ns/mnt"));
    add(&procfs.join("1/ns/mnt"));
    if let Ok(dir) = std::fs::read_dir(procfs) {
        for e in dir.flatten() {
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            if is_daemon_comm(comm.trim_end_matches('\n')) {
                add(&e.path().join("ns/mnt"));
            }
        }
    }
    out
}

/// What the namespace thread needs of one copy: what the scan saw.
#[derive(Debug, Clone)]
struct Copy {
    mount_id: u32,
    major: u32,
    minor: u32,
    mount_point: String,
    fs_type: String,
}

/// Acts on every copy still `WouldRelease`, one holding namespace at a time.
fn act(procfs: &Path, report: &Report, chosen: &[usize], outcomes: &mut [Outcome]) {
    let mut todo: Vec<(usize, &Leak)> = chosen
        .iter()
        .enumerate()
        .filter(|(k, _)| outcomes[*k] == Outcome::WouldRelease)
        .map(|(k, &i)| (k, &report.leaks[i]))
        .collect();
    todo.sort_by_key(|(_, l)| l.namespace);
    for group in todo.chunk_by(|a, b| a.1.namespace == b.1.namespace) {
        let ns = &report.namespaces[group[0].1.namespace as usize];
        let copies: Vec<Copy> = group
            .iter()
            .map(|(_, l)| Copy {
                mount_id: l.mount_id,
                major: l.target.major,
                minor: l.target.minor,
                mount_point: l.target.mount_point.clone(),
                fs_type: l.target.fs_type.clone(),
            })
            .collect();
        let span = tracing::info_span!("release", holder_pid = ns.holder.pid, namespace = ns.inode);
        let _enter = span.enter();
        // A thread of its own: what setns changes is the thread's, and ends with it.
        let results = std::thread::scope(|s| {
            s.spawn(|| in_namespace(procfs, ns, &copies))
                .join()
                .unwrap_or_else(|_| {
                    let reason = "the namespace thread panicked".to_string();
                    vec![Outcome::Failed { reason }; copies.len()]
                })
        });
        for ((k, _), outcome) in group.iter().zip(results) {
            outcomes[*k] = outcome;
        }
    }
}

/// On a fresh thread: enter the namespace, then release each copy.
fn in_namespace(procfs: &Path, ns: &NamespaceReport, copies: &[Copy]) -> Vec<Outcome> {
    let all = |o: Outcome| {
        for c in copies {
            log(ns, c, &o);
        }
        vec![o; copies.len()]
    };
    let failed = |what: &str, e: io::Error| {
        all(Outcome::Failed {
            reason: format!("{what}: {e}"),
        })
    };
    // This thread's own /proc entry, opened before the switch: after it, `/proc` names the
    // namespace's proc mount, which may belong to another pid namespace (a container's).
    let own = match File::open("/proc/thread-self") {
        Ok(f) => f,
        Err(e) => return failed("cannot open /proc/thread-self", e),
    };
    // setns(2): a thread sharing its filesystem attributes (as every thread of a process
    // does) may not change its mount namespace (EINVAL); CLONE_FS unshares them.
    // SAFETY: integer argument only; affects the calling thread.
    if unsafe { libc::unshare(libc::CLONE_FS) } != 0 {
        return failed("unshare(CLONE_FS)", io::Error::last_os_error());
    }
    let fd = match open_namespace(procfs, ns) {
        Ok(fd) => fd,
        Err(reason) => return all(Outcome::Skipped { reason }),
    };
    // SAFETY: a valid descriptor of a mount namespace; affects the calling thread.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNS) };
    let err = io::Error::last_os_error();
    drop(fd);
    if rc != 0 {
        return failed("setns(CLONE_NEWNS)", err);
    }
    copies
        .iter()
        .map(|c| {
            let o = release_copy(&own, c);
            log(ns, c, &o);
            o
        })
        .collect()
}

fn log(ns: &NamespaceReport, c: &Copy, o: &Outcome) {
    tracing::info!(
        action = "umount2 MNT_DETACH",
        holder_pid = ns.holder.pid,
        unit = ns.holder.unit.as_deref(),
        namespace = ns.inode,
        mount_id = c.mount_id,
        mount_point = %c.mount_point,
        result = %o.word(),
        reason = o.reason(),
        "release"
    );
}

/// `/proc/<pid>/ns/mnt` of a listed process still in the namespace, checked to be that
/// namespace (a pid may have been reused). Err: why none can be.
fn open_namespace(procfs: &Path, ns: &NamespaceReport) -> Result<OwnedFd, String> {
    for p in ns.processes.iter() {
        let Ok(f) = File::open(procfs.join(p.pid.to_string()).join("ns/mnt")) else {
            continue;
        };
        if f.metadata()
            .is_ok_and(|m| (m.dev(), m.ino()) == (ns.device, ns.inode))
        {
            return Ok(OwnedFd::from(f));
        }
    }
    let pids: Vec<String> = ns.processes.iter().map(|p| p.pid.to_string()).collect();
    Err(format!(
        "the namespace's processes are gone: none of pids {} is in mount namespace {} any more",
        pids.join(","),
        ns.inode
    ))
}

/// Inside the namespace: check the copy is the one the scan saw, detach what sits below it,
/// then it, and check it is gone.
fn release_copy(own: &File, c: &Copy) -> Outcome {
    let table = match read_table(own) {
        Ok(t) => t,
        Err(e) => {
            return Outcome::Failed {
                reason: format!("cannot read the namespace's mountinfo: {e}"),
            };
        }
    };
    let Some(m) = table.iter().find(|m| m.mount_id == c.mount_id) else {
        return Outcome::Skipped {
            reason: format!("mount id {} is no longer in the namespace", c.mount_id),
        };
    };
    if let Some(change) = changed(m, c) {
        return Outcome::Skipped {
            reason: format!("the mount changed since the scan: {change}"),
        };
    }
    let mut below = subtree(&table, c.mount_id);
    below.reverse();
    for child in below.iter().chain([&m]) {
        if let Err(e) = detach(&child.mount_point) {
            return Outcome::Failed {
                reason: format!("umount2 {}: {e}", quote::terminal(&child.mount_point)),
            };
        }
    }
    let expected: HashSet<u32> = below.iter().chain([&m]).map(|m| m.mount_id).collect();
    match read_table(own) {
        Ok(after) => verify_gone(&table, &after, &expected),
        Err(e) => Outcome::Failed {
            reason: format!("detached, but cannot re-read the table: {e}"),
        },
    }
}

/// Released when exactly the expected mounts left the table.
fn verify_gone(before: &[Mount], after: &[Mount], expected: &HashSet<u32>) -> Outcome {
    let left: HashSet<u32> = after.iter().map(|m| m.mount_id).collect();
    if expected.iter().any(|id| left.contains(id)) {
        return Outcome::Failed {
            reason: "still mounted after umount2".into(),
        };
    }
    let others: Vec<&str> = before
        .iter()
        .filter(|m| !left.contains(&m.mount_id) && !expected.contains(&m.mount_id))
        .map(|m| m.mount_point.as_str())
        .collect();
    if !others.is_empty() {
        tracing::warn!(gone = ?others, "other mounts left the namespace meanwhile");
    }
    Outcome::Released
}

/// What differs between the scan's copy and the table's mount of that id.
fn changed(m: &Mount, c: &Copy) -> Option<String> {
    let t = quote::terminal;
    if (m.major, m.minor) != (c.major, c.minor) {
        return Some(format!(
            "device {} is now {}",
            format_args!("{}:{}", c.major, c.minor),
            m.device()
        ));
    }
    if m.mount_point != c.mount_point {
        return Some(format!(
            "mount point {} is now {}",
            t(&c.mount_point),
            t(&m.mount_point)
        ));
    }
    if m.fs_type != c.fs_type {
        return Some(format!(
            "fs type {} is now {}",
            t(&c.fs_type),
            t(&m.fs_type)
        ));
    }
    None
}

/// The mounts below `id` (its children, theirs, ...), parents before children.
fn subtree(table: &[Mount], id: u32) -> Vec<&Mount> {
    let mut out: Vec<&Mount> = Vec::new();
    let mut parents = vec![id];
    while let Some(p) = parents.pop() {
        for m in table.iter().filter(|m| m.parent_id == p && m.mount_id != p) {
            out.push(m);
            parents.push(m.mount_id);
        }
    }
    out
}

fn read_table(own: &File) -> io::Result<Vec<Mount>> {
    let name = c"mountinfo";
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    let fd = unsafe {
        libc::openat(
            own.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a fresh descriptor this File now owns.
    let mut f = unsafe { File::from_raw_fd(fd) };
    let mut text = Vec::new();
    f.read_to_end(&mut text)?;
    Ok(mountinfo::parse(&text).filter_map(Result::ok).collect())
}

/// `umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW)`: lazily, and never through a symlink
/// planted at the mount point (umount(2)).
fn detach(display: &str) -> io::Result<()> {
    let path = CString::new(display_bytes(display))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in path"))?;
    // SAFETY: a NUL-terminated path and integer flags.
    let rc = unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What is printed: the selected copies with their outcomes, and what a new scan found.
struct Printed<'a> {
    before: &'a Report,
    chosen: &'a [usize],
    outcomes: &'a [Outcome],
    dry_run: bool,
    after: Option<&'a Report>,
}

#[derive(Serialize)]
struct CopyJson<'a> {
    mount_point: &'a str,
    mount_id: u32,
    device: String,
    fs_type: &'a str,
    status: Status,
    container: Option<&'a ContainerRef>,
    volume: Option<&'a str>,
    pod: Option<&'a PodRef>,
    namespace: NamespaceJson<'a>,
    holder: &'a Holder,
    #[serde(flatten)]
    outcome: &'a Outcome,
}

#[derive(Serialize)]
struct NamespaceJson<'a> {
    inode: u64,
    device: u64,
    root: &'a str,
}

impl Serialize for Printed<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let copies: Vec<CopyJson> = self
            .chosen
            .iter()
            .zip(self.outcomes)
            .map(|(&i, outcome)| {
                let l = &self.before.leaks[i];
                let ns = &self.before.namespaces[l.namespace as usize];
                CopyJson {
                    mount_point: l.mount_point(),
                    mount_id: l.mount_id,
                    device: l.target.device(),
                    fs_type: &l.target.fs_type,
                    status: l.status,
                    container: l.container(),
                    volume: l.volume(),
                    pod: l.pod(),
                    namespace: NamespaceJson {
                        inode: ns.inode,
                        device: ns.device,
                        root: &ns.root,
                    },
                    holder: &ns.holder,
                    outcome,
                }
            })
            .collect();
        let mut st = ser.serialize_struct("Release", 3)?;
        st.serialize_field("dry_run", &self.dry_run)?;
        st.serialize_field("copies", &copies)?;
        st.serialize_field("after", &self.after)?;
        st.end()
    }
}

impl Printed<'_> {
    fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let t = quote::terminal;
        if self.chosen.is_empty() {
            let _ = writeln!(out, "no leaked copy selected; nothing to do");
        }
        for (&i, o) in self.chosen.iter().zip(self.outcomes) {
            let l = &self.before.leaks[i];
            let ns = &self.before.namespaces[l.namespace as usize];
            let h = &ns.holder;
            let _ = writeln!(
                out,
                "{}: {} [{}] {}; holder pid {} {} ({}), mount namespace {}, mount id {}{}",
                o.word(),
                t(l.mount_point()),
                l.status.as_str(),
                t(&report::owner_label(l)),
                h.pid,
                t(h.unit.as_deref().unwrap_or("(no unit)")),
                t(&h.comm),
                ns.inode,
                l.mount_id,
                o.reason()
                    .map(|r| format!(": {}", t(r)))
                    .unwrap_or_default(),
            );
        }
        if self.dry_run && !self.chosen.is_empty() {
            let _ = writeln!(out, "dry run: nothing was changed; pass --yes to release");
        }
        if let Some(after) = self.after {
            let _ = writeln!(out, "\nafter release, a new scan finds:");
            out.push_str(&report::render_text(after));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Leak, MountOwner};
    use crate::host::{MountTarget, ProcessInfo};
    use crate::runtime::RuntimeKind;
    use std::sync::Arc;

    const C1: &str = "aaaa1111aaaa1111aaaa1111aaaa1111aaaa1111aaaa1111aaaa1111aaaa1111";
    const C2: &str = "bbbb2222bbbb2222bbbb2222bbbb2222bbbb2222bbbb2222bbbb2222bbbb2222";
    const C3: &str = "aaaa2222aaaa2222aaaa2222aaaa2222aaaa2222aaaa2222aaaa2222aaaa2222";

    fn namespace(pid: u32, unit: Option<&str>, pids: &[u32]) -> NamespaceReport {
        let process = |pid: u32| ProcessInfo {
            pid,
            comm: "sh".into(),
            unit: unit.map(str::to_string),
            container_id: None,
            container_engine: None,
            start_time: None,
        };
        NamespaceReport {
            inode: 4026532000 + pid as u64,
            device: 4,
            root: "/".into(),
            holder: Holder {
                pid,
                comm: "sh".into(),
                unit: unit.map(str::to_string),
                container_id: None,
                container_engine: None,
                process_count: pids.len(),
            },
            leaked_mounts: 0,
            processes: pids.iter().map(|&p| process(p)).collect(),
        }
    }

    /// A leak in namespace `ns` of `container` (id, name), `volume` or `pod`.
    fn leak(
        ns: u32,
        mount_id: u32,
        mount_point: &str,
        status: Status,
        container: Option<(&str, &str)>,
        volume: Option<&str>,
        pod: Option<&str>,
    ) -> Leak {
        let path = Layout::new(["/var/lib/docker"], ["/run/docker"])
            .recognise(mount_point)
            .unwrap();
        Leak {
            namespace: ns,
            mount_id,
            target: Arc::new(MountTarget {
                major: 0,
                minor: mount_id,
                root: "/".into(),
                mount_point: mount_point.into(),
                fs_type: "tmpfs".into(),
                source: "shm".into(),
                path,
            }),
            status,
            owner: Arc::new(MountOwner {
                container: container.map(|(id, name)| ContainerRef {
                    id: id.into(),
                    name: name.into(),
                    state: "exited".into(),
                    runtime: RuntimeKind::Docker,
                }),
                volume: volume.map(str::to_string),
                pod: pod.map(|uid| PodRef {
                    uid: uid.into(),
                    name: "web".into(),
                    namespace: "default".into(),
                }),
                runtime: Some(RuntimeKind::Docker),
                known: true,
            }),
            first_seen: 0,
        }
    }

    /// Namespace 0: httpd.service (pids 100, 101) holds etcd1's shm, db's volume and a
    /// running container's rootfs (at risk); namespace 1 (pid 200, no unit) holds etcd1's
    /// shm and a pod's volume.
    fn report() -> Report {
        let shm = format!("/var/lib/docker/containers/{C1}/mounts/shm");
        let rootfs = format!("/var/lib/docker/containers/{C3}/mounts/shm");
        let (stale, at_risk) = (Status::Stale, Status::AtRisk);
        Report {
            scan: Default::default(),
            namespaces: vec![
                namespace(100, Some("httpd.service"), &[100, 101]),
                namespace(200, None, &[200]),
            ],
            leaks: vec![
                leak(0, 1, &shm, stale, Some((C1, "etcd1")), None, None),
                leak(
                    0,
                    2,
                    "/var/lib/docker/volumes/pgdata/_data",
                    stale,
                    Some((C2, "db")),
                    Some("pgdata"),
                    None,
                ),
                leak(0, 3, &rootfs, at_risk, Some((C3, "web")), None, None),
                leak(1, 4, &shm, stale, Some((C1, "etcd1")), None, None),
                leak(
                    1,
                    5,
                    "/var/lib/docker/volumes/podvol/_data",
                    stale,
                    None,
                    Some("podvol"),
                    Some("uid-1"),
                ),
            ],
            leaks_version: 0,
        }
    }

    #[test]
    fn selectors_pick_what_they_name() {
        let r = report();
        let shm = r.leaks[0].mount_point().to_string();
        let sel = |f: &dyn Fn(&mut Selector)| {
            let mut s = Selector::default();
            f(&mut s);
            s
        };
        let cases: Vec<(Selector, Vec<u32>)> = vec![
            (Selector::default(), vec![1, 2, 4, 5]),
            (sel(&|s| s.include_at_risk = true), vec![1, 2, 3, 4, 5]),
            (sel(&|s| s.container = Some("etcd1".into())), vec![1, 4]),
            (sel(&|s| s.container = Some("aaaa1".into())), vec![1, 4]),
            (sel(&|s| s.container = Some(C2.into())), vec![2]),
            (sel(&|s| s.container = Some("web".into())), vec![]),
            (
                sel(&|s| {
                    s.container = Some("web".into());
                    s.include_at_risk = true
                }),
                vec![3],
            ),
            (sel(&|s| s.container = Some("nothing".into())), vec![]),
            (sel(&|s| s.holder = Some("100".into())), vec![1, 2]),
            (sel(&|s| s.holder = Some("101".into())), vec![1, 2]),
            (sel(&|s| s.holder = Some("httpd".into())), vec![1, 2]),
            (
                sel(&|s| s.holder = Some("httpd.service".into())),
                vec![1, 2],
            ),
            (sel(&|s| s.holder = Some("200".into())), vec![4, 5]),
            (sel(&|s| s.holder = Some("999".into())), vec![]),
            (sel(&|s| s.volume = Some("pgdata".into())), vec![2]),
            (sel(&|s| s.pod = Some("uid-1".into())), vec![5]),
            (
                sel(&|s| {
                    s.mount = Some(shm.clone());
                    s.holder = Some("200".into())
                }),
                vec![4],
            ),
            (
                sel(&|s| {
                    s.container = Some("etcd1".into());
                    s.holder = Some("httpd".into())
                }),
                vec![1],
            ),
        ];
        for (selector, want) in cases {
            let got: Vec<u32> = select(&r, &selector)
                .unwrap()
                .into_iter()
                .map(|i| r.leaks[i].mount_id)
                .collect();
            assert_eq!(got, want, "{selector:?}");
        }
    }

    #[test]
    fn an_id_prefix_of_two_containers_is_refused() {
        let s = Selector {
            container: Some("aaaa".into()),
            ..Default::default()
        };
        match select(&report(), &s) {
            Err(Error::Ambiguous { given, matches }) => {
                assert_eq!(given, "aaaa");
                assert_eq!(matches, "aaaa1111aaaa, aaaa2222aaaa");
            }
            other => panic!("{other:?}"),
        }
    }

    fn mount(line: &str) -> Mount {
        mountinfo::parse_line(line.as_bytes()).unwrap()
    }

    fn table() -> Vec<Mount> {
        [
            "20 1 8:1 / / rw - ext4 /dev/sda1 rw",
            "30 20 0:50 / /d/shm rw - tmpfs shm rw",
            "31 30 0:51 / /d/shm/a rw - tmpfs a rw",
            "32 31 0:52 / /d/shm/a/b rw - tmpfs b rw",
            "33 30 0:53 / /d/shm rw - tmpfs over rw",
            "40 20 0:60 / /d/other rw - tmpfs o rw",
        ]
        .into_iter()
        .map(mount)
        .collect()
    }

    fn copy(id: u32, major: u32, minor: u32, mp: &str, fs: &str) -> Copy {
        Copy {
            mount_id: id,
            major,
            minor,
            mount_point: mp.into(),
            fs_type: fs.into(),
        }
    }

    #[test]
    fn the_subtree_lists_parents_before_children_and_overmounts_too() {
        let t = table();
        let ids = |id| {
            subtree(&t, id)
                .iter()
                .map(|m| m.mount_id)
                .collect::<Vec<_>>()
        };
        let below_30 = ids(30);
        assert_eq!(below_30.len(), 3);
        let pos = |id| below_30.iter().position(|&x| x == id).unwrap();
        assert!(pos(31) < pos(32), "a parent is detached after its children");
        assert!(below_30.contains(&33), "a mount stacked on it is below it");
        assert!(ids(32).is_empty());
        assert!(!ids(20).is_empty());
        assert!(ids(99).is_empty());
    }

    #[test]
    fn a_copy_that_changed_since_the_scan_is_named() {
        let m = mount("30 20 0:50 / /d/shm rw - tmpfs shm rw");
        assert_eq!(changed(&m, &copy(30, 0, 50, "/d/shm", "tmpfs")), None);
        for (c, says) in [
            (
                copy(30, 0, 49, "/d/shm", "tmpfs"),
                "device 0:49 is now 0:50",
            ),
            (
                copy(30, 0, 50, "/d/shm2", "tmpfs"),
                "mount point /d/shm2 is now /d/shm",
            ),
            (
                copy(30, 0, 50, "/d/shm", "nsfs"),
                "fs type nsfs is now tmpfs",
            ),
        ] {
            assert_eq!(changed(&m, &c).as_deref(), Some(says));
        }
    }

    #[test]
    fn released_only_when_the_expected_mounts_left() {
        let before = table();
        let expected: HashSet<u32> = [30, 31, 32, 33].into();
        let after: Vec<Mount> = before
            .iter()
            .filter(|m| !expected.contains(&m.mount_id))
            .cloned()
            .collect();
        assert_eq!(verify_gone(&before, &after, &expected), Outcome::Released);
        let still: Vec<Mount> = before
            .iter()
            .filter(|m| m.mount_id != 31)
            .cloned()
            .collect();
        assert!(matches!(
            verify_gone(&before, &still, &expected),
            Outcome::Failed { .. }
        ));
    }
}
