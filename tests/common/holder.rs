//! Mount namespaces held by fake systemd units, and reading mount tables.

use super::*;

/// How the holder's namespace is set up: `unshare -m --propagation <this>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// A private copy of the host's table, like a unit with PrivateTmp=true on a host whose
    /// mounts are not shared: its copies of container mounts outlive the daemon's unmounts.
    Private,
    /// Receives the host's mounts and unmounts: copies heal themselves.
    Slave,
}

impl Propagation {
    fn as_arg(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::Slave => "slave",
        }
    }
}

/// The cgroup hierarchies a systemd host puts a unit's processes in: the v1 `name=systemd`
/// one and the v2 one (hybrid hosts have both; pure v2 hosts only the latter).
pub fn unit_cgroup_hierarchies() -> Vec<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo");
    let mut v1_systemd = None;
    let mut v2 = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(fstype), Some(opts)) = (fields.get(sep + 1), fields.get(sep + 3)) else {
            continue;
        };
        let mount_point = PathBuf::from(fields[4]);
        if *fstype == "cgroup" && opts.split(',').any(|o| o == "name=systemd") {
            v1_systemd = Some(mount_point);
        } else if *fstype == "cgroup2" {
            v2.push(mount_point);
        }
    }
    let mut out: Vec<PathBuf> = v1_systemd.into_iter().collect();
    // Prefer the conventional hybrid location if several cgroup2 mounts exist.
    v2.sort_by_key(|p| p != Path::new("/sys/fs/cgroup/unified"));
    out.extend(v2.into_iter().take(1));
    assert!(
        !out.is_empty(),
        "no name=systemd or cgroup2 hierarchy is mounted: cannot fake a systemd unit"
    );
    out
}

/// A process tree in its own mount namespace (`unshare -m`), inside cgroup
/// `system.slice/<unit>` of every unit hierarchy, as systemd would place a service with
/// PrivateTmp=true. The namespace holds a `sh` (the leader, [`Holder::pid`]) and `sleepers`
/// `sleep` children. Drop kills the whole tree and removes the cgroup directories.
pub struct Holder {
    /// `mountleak-e2e-<test pid>-<n>-<label>.service`, the cgroup under `system.slice` (see
    /// [`Holder::spawn_in`]); scripts/testenv.sh down removes such cgroups whose test pid is
    /// gone.
    pub unit: String,
    /// The leader (`sh`); also the process group id of the tree.
    pub pid: u32,
    /// Every process of the namespace, leader first.
    pub pids: Vec<u32>,
    pub propagation: Propagation,
    child: Child,
    cgroup_dirs: Vec<PathBuf>,
}

static HOLDER_N: AtomicUsize = AtomicUsize::new(0);

impl Holder {
    /// A holder whose namespace is a full copy of the host's mount table.
    pub fn spawn(label: &str, propagation: Propagation, sleepers: usize) -> Holder {
        Holder::spawn_keeping(label, propagation, sleepers, &[])
    }

    /// A holder whose namespace keeps only `/` and the mounts at or under the `keep` paths
    /// (and their ancestors): everything else is lazily unmounted inside it right after
    /// `unshare`. A shared development host carries other people's mounts (benchmarks,
    /// other daemons) that a full copy would make this holder "hold" too, so tests that
    /// count a unit's leaks keep only their daemon's roots. Empty `keep` keeps everything.
    pub fn spawn_keeping(
        label: &str,
        propagation: Propagation,
        sleepers: usize,
        keep: &[&str],
    ) -> Holder {
        Holder::spawn_in(&format!("{label}.service"), "", propagation, sleepers, keep)
    }

    /// A holder in cgroup `system.slice/mountleak-e2e-<test pid>-<n>-<top>/<below>` (`below`
    /// may be empty): a unit's delegated subtree, or a cgroup named as an attacker would.
    pub fn spawn_in(
        top: &str,
        below: &str,
        propagation: Propagation,
        sleepers: usize,
        keep: &[&str],
    ) -> Holder {
        let unit = format!(
            "mountleak-e2e-{}-{}-{top}",
            std::process::id(),
            HOLDER_N.fetch_add(1, Ordering::Relaxed)
        );
        let mut cgroup_dirs = Vec::new();
        let mut leaves = Vec::new();
        for hier in unit_cgroup_hierarchies() {
            // Removed deepest first.
            let mut dir = hier.join("system.slice").join(&unit);
            let mut made = vec![dir.clone()];
            for part in below.split('/').filter(|p| !p.is_empty()) {
                dir.push(part);
                made.push(dir.clone());
            }
            fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            leaves.push(dir);
            cgroup_dirs.extend(made.into_iter().rev());
        }
        for k in keep {
            assert!(
                k.starts_with('/') && !k.contains(char::is_whitespace),
                "keep path {k:?} must be absolute and without whitespace"
            );
        }
        // Runs inside the new namespace.
        let inner = format!(
            r#"if [ -n "$HOLDER_KEEP" ]; then {}; fi
               i=0; while [ $i -lt {sleepers} ]; do sleep 1000000 & i=$((i+1)); done; wait"#,
            unmount_all_but(r#""$HOLDER_KEEP""#)
        );
        // The outer sh moves itself into the unit's cgroups before exec'ing unshare, so every
        // process of the namespace starts (and stays) inside the unit.
        let outer = format!(
            r#"inner="$1"; shift
               for f in "$@"; do echo $$ > "$f" || exit 1; done
               exec unshare -m --propagation {} sh -c "$inner" holder"#,
            propagation.as_arg()
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(outer).arg("holder").arg(inner);
        cmd.env("HOLDER_KEEP", keep.join(" "));
        for dir in &leaves {
            cmd.arg(dir.join("cgroup.procs"));
        }
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sh for the holder");
        let mut holder = Holder {
            unit,
            pid: child.id(),
            pids: Vec::new(),
            propagation,
            child,
            cgroup_dirs,
        };
        let own_ns = mnt_ns("self").expect("read /proc/self/ns/mnt");
        let leader = holder.pid;
        let want = sleepers + 1;
        holder.pids = poll_until(
            &format!(
                "holder {} to have {want} processes in a new mount namespace",
                holder.unit
            ),
            Duration::from_secs(10),
            || {
                let pids = process_group_members(leader);
                let in_new_ns = pids
                    .iter()
                    .filter(|p| mnt_ns(&p.to_string()).is_some_and(|ns| ns != own_ns))
                    .count();
                // Ready once only the leader and its sleeps are left (the pruning pipeline
                // runs short-lived processes in the group first).
                let sleeping = pids
                    .iter()
                    .filter(|p| {
                        fs::read_to_string(format!("/proc/{p}/comm"))
                            .is_ok_and(|c| c.trim() == "sleep")
                    })
                    .count();
                if pids.len() == want
                    && in_new_ns == want
                    && sleeping == sleepers
                    // Not "first": after the pid counter wraps, the sleeps' pids are lower.
                    && pids.contains(&leader)
                {
                    Ok(pids)
                } else {
                    Err(format!(
                        "pids {pids:?}, {in_new_ns} in a new namespace, {sleeping} sleeping"
                    ))
                }
            },
        );
        holder
    }

    /// The holder's current mountinfo text.
    pub fn mountinfo(&self) -> String {
        fs::read_to_string(format!("/proc/{}/mountinfo", self.pid))
            .unwrap_or_else(|e| panic!("read mountinfo of holder {}: {e}", self.pid))
    }

    /// Kill the tree and remove its cgroups now (Drop does it too).
    pub fn kill(mut self) {
        self.cleanup();
    }

    fn cleanup(&mut self) {
        if self.cgroup_dirs.is_empty() {
            return;
        }
        // SAFETY: kill(2) with a negative pid signals our own process group, nothing else.
        unsafe {
            libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.wait();
        for dir in std::mem::take(&mut self.cgroup_dirs) {
            // The killed processes leave the cgroup once they are reaped (they are children
            // of our leader, which the kernel reparents and reaps): wait for that briefly.
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if Instant::now() > deadline => {
                        eprintln!("could not remove cgroup {}: {e}", dir.display());
                        break;
                    }
                    Err(_) => sleep(Duration::from_millis(50)),
                }
            }
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// The mount namespace link of `/proc/<pid>/ns/mnt` (`mnt:[4026531832]`), if readable.
pub fn mnt_ns(pid: &str) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Live pids whose process group is `pgid`, sorted.
fn process_group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised comm: state ppid pgrp ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// Mount points (field 5, unescaped) of a mountinfo text with their optional fields
/// (`shared:N`, `master:N`, ...), for the tests' own sanity checks of the kernel's view.
pub fn mountinfo_entries(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let mount_point = fields.get(4)?;
            let optional = fields[6..sep].iter().map(|s| s.to_string()).collect();
            Some((unescape_mountinfo(mount_point), optional))
        })
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// A shell pipeline that, run inside a mount namespace, unmounts everything but `/` and the
/// paths in `keep` (a shell word naming them, separated by spaces, e.g. `"$VAR"`), what is
/// under them and their ancestors (unmounting an ancestor would take them along).
/// Mountinfo fields: 1 id, 2 parent id, 5 mount point. Only the topmost mounts that are not
/// kept are unmounted: a lazy unmount takes the whole subtree (a busy host has thousands).
pub fn unmount_all_but(keep: &str) -> String {
    format!(
        r#"awk -v keep={keep} '
             function kept(m,   i) {{
               if (m == "/") return 1
               for (i = 1; i <= n; i++)
                 if (m == k[i] || index(m, k[i] "/") == 1 || index(k[i], m "/") == 1) return 1
               return 0
             }}
             BEGIN {{ n = split(keep, k, " ") }}
             {{ par[NR] = $2; mp[NR] = $5; row[$1] = NR }}
             END {{
               for (r = 1; r <= NR; r++) {{
                 if (kept(mp[r])) continue
                 p = row[par[r]]
                 if (p == "" || kept(mp[p])) print mp[r]
               }}
             }}' /proc/self/mountinfo |
           while read -r mp; do umount -l "$mp" 2>/dev/null || true; done"#
    )
}
