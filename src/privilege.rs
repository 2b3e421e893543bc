//! Linux capabilities: say at startup what the process holds, warn when it holds more (or
//! less) than reading `/proc` needs, and optionally drop the rest.
//!
//! What is needed was measured (tests/e2e_privilege.rs): root with only `CAP_SYS_PTRACE`
//! sees exactly what full root sees. The `ns/mnt` and `root` links of a process are guarded
//! by a ptrace read check; a root process without the capability fails it for every
//! process owned by another user or holding capabilities it lacks. `mountinfo`, `cgroup` and
//! `comm` are world-readable, Docker's socket is owned by root, and everything else that
//! needs privilege (reading the web config, binding the port) happens before the drop.
//!
//! Capabilities are per thread: [`drop_to_needed`] must run before any other thread exists,
//! so that every thread started later inherits the reduced sets.

use std::fmt;

/// `CAP_SYS_PTRACE`: read other users' (and more privileged) processes' `ns/mnt` and `root`.
pub const CAP_SYS_PTRACE: u32 = 19;
const CAP_SETPCAP: u32 = 8;
/// `CAP_SYS_CHROOT`: with `CAP_SYS_ADMIN`, `setns` into a mount namespace (setns(2); Linux
/// fs/namespace.c `mntns_install` checks both).
pub const CAP_SYS_CHROOT: u32 = 18;
/// `CAP_SYS_ADMIN`: `setns` into a mount namespace and `umount2` (setns(2), umount(2)).
pub const CAP_SYS_ADMIN: u32 = 21;

/// What `mountleak_exporter release` needs: open other users' `/proc/<pid>/ns/mnt` (the
/// ptrace check), enter those mount namespaces and unmount there.
pub const RELEASE_NEEDED: u64 = 1 << CAP_SYS_CHROOT | 1 << CAP_SYS_PTRACE | 1 << CAP_SYS_ADMIN;

/// What the exporter needs, as a mask.
pub const NEEDED: u64 = 1 << CAP_SYS_PTRACE;

const NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// A capability mask written as names (`cap_sys_ptrace,cap_kill`); `none` when empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps(pub u64);

impl fmt::Display for Caps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        let mut first = true;
        for bit in 0..64u32 {
            if self.0 & (1 << bit) == 0 {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            match NAMES.get(bit as usize) {
                Some(name) => f.write_str(name)?,
                None => write!(f, "cap_{bit}")?,
            }
        }
        Ok(())
    }
}

/// The capability sets of the calling thread, as `/proc/thread-self/status` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSets {
    pub inheritable: u64,
    pub permitted: u64,
    pub effective: u64,
    pub bounding: u64,
    pub ambient: u64,
}

impl CapSets {
    pub fn of_current_thread() -> std::io::Result<CapSets> {
        let status = std::fs::read_to_string("/proc/thread-self/status")?;
        CapSets::parse_status(&status).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "no Cap* lines in /proc/thread-self/status",
            )
        })
    }

    /// The `CapInh`, `CapPrm`, `CapEff`, `CapBnd` lines (and `CapAmb`, absent before 4.3).
    pub fn parse_status(status: &str) -> Option<CapSets> {
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            u64::from_str_radix(line[name.len()..].trim(), 16).ok()
        };
        Some(CapSets {
            inheritable: field("CapInh:")?,
            permitted: field("CapPrm:")?,
            effective: field("CapEff:")?,
            bounding: field("CapBnd:")?,
            ambient: field("CapAmb:").unwrap_or(0),
        })
    }

    /// Effective capabilities beyond what is needed.
    pub fn extra(&self) -> u64 {
        self.effective & !NEEDED
    }

    /// Needed capabilities that are not effective.
    pub fn missing(&self) -> u64 {
        NEEDED & !self.effective
    }

    /// Capabilities of `mask` that are not effective.
    pub fn missing_of(&self, mask: u64) -> u64 {
        mask & !self.effective
    }
}

/// Logs the capability sets; warns about extra or missing ones unless `quiet` (the one-shot
/// `scan` run by scripts, where a warning on every run is noise: it logs at debug).
pub fn log_capabilities(sets: &CapSets, will_drop: bool, quiet: bool) {
    if quiet {
        tracing::debug!(effective = %Caps(sets.effective), "capabilities");
    } else {
        tracing::info!(
            effective = %Caps(sets.effective),
            permitted = %Caps(sets.permitted),
            bounding = %Caps(sets.bounding),
            ambient = %Caps(sets.ambient),
            "capabilities"
        );
    }
    if quiet {
        return;
    }
    if sets.missing() != 0 {
        tracing::warn!(
            missing = %Caps(sets.missing()),
            "without cap_sys_ptrace the mount namespaces of other users' and more privileged \
             processes cannot be read; they are counted in mountleak_scan_errors{{reason=\"permission_denied\"}}"
        );
    }
    if sets.extra() != 0 && !will_drop {
        tracing::warn!(
            extra = %Caps(sets.extra()),
            needed = %Caps(NEEDED),
            "running with capabilities it does not need: pass --runtime.drop-capabilities, or \
             grant only cap_sys_ptrace"
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DropError {
    #[error("cannot read own capabilities: {0}")]
    Read(std::io::Error),
    #[error("other threads are already running ({0}): capabilities are per thread")]
    Threads(usize),
    #[error("capset failed: {0}")]
    Capset(std::io::Error),
    #[error("after dropping, effective capabilities are {got}, not {want}")]
    Verify { got: Caps, want: Caps },
}

/// Drops every capability but [`NEEDED`] (if held) from the effective, permitted,
/// inheritable, ambient and (when `CAP_SETPCAP` allows) bounding sets. Call it before any
/// other thread is started. Returns the sets after the drop.
pub fn drop_to_needed() -> Result<CapSets, DropError> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .map_err(DropError::Read)?;
    if threads != 1 {
        return Err(DropError::Threads(threads));
    }
    let before = CapSets::of_current_thread().map_err(DropError::Read)?;
    let keep = before.permitted & NEEDED;

    // The bounding set limits what an execve could regain (root regains its permitted set
    // from it). Dropping from it needs CAP_SETPCAP, so it goes first.
    if before.effective & (1 << CAP_SETPCAP) != 0 {
        for cap in 0..64u32 {
            if before.bounding & (1 << cap) != 0 && keep & (1 << cap) == 0 {
                // SAFETY: prctl with integer arguments only.
                let rc =
                    unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
                if rc != 0 {
                    tracing::warn!(cap = %Caps(1 << cap), error = %std::io::Error::last_os_error(), "cannot drop from the bounding set");
                }
            }
        }
    } else if before.bounding & !keep != 0 {
        tracing::info!(
            "no cap_setpcap: the bounding set stays as it is (it only limits an execve, which the exporter never does)"
        );
    }
    // SAFETY: prctl with integer arguments only. EINVAL on kernels without ambient sets.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    capset(keep, keep, 0).map_err(DropError::Capset)?;

    let after = CapSets::of_current_thread().map_err(DropError::Read)?;
    if after.effective != keep || after.permitted != keep {
        return Err(DropError::Verify {
            got: Caps(after.effective),
            want: Caps(keep),
        });
    }
    tracing::info!(
        effective = %Caps(after.effective),
        bounding = %Caps(after.bounding),
        dropped = %Caps(before.effective & !after.effective),
        "dropped capabilities"
    );
    Ok(after)
}

/// capset(2) for the calling thread, with the 64-bit (version 3) layout.
fn capset(effective: u64, permitted: u64, inheritable: u64) -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |m: u64, i: usize| (m >> (32 * i)) as u32;
    let data: [Data; 2] = std::array::from_fn(|i| Data {
        effective: half(effective, i),
        permitted: half(permitted, i),
        inheritable: half(inheritable, i),
    });
    // SAFETY: the header and two data structs have the kernel's v3 layout and outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_print_as_names() {
        assert_eq!(Caps(0).to_string(), "none");
        assert_eq!(Caps(NEEDED).to_string(), "cap_sys_ptrace");
        assert_eq!(Caps(0b101).to_string(), "cap_chown,cap_dac_read_search");
        assert_eq!(
            Caps(1 << 40 | 1 << 45).to_string(),
            "cap_checkpoint_restore,cap_45"
        );
    }

    #[test]
    fn status_lines_parse_and_extra_and_missing_follow() {
        let root = "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n\
                    CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";
        let s = CapSets::parse_status(root).unwrap();
        assert_eq!(s.effective, 0x1ff_ffff_ffff);
        assert_eq!(s.missing(), 0);
        assert_eq!(s.extra(), 0x1ff_ffff_ffff & !NEEDED);
        let dropped = root.replace("000001ffffffffff", "0000000000080000");
        let s = CapSets::parse_status(&dropped).unwrap();
        assert_eq!((s.extra(), s.missing()), (0, 0));
        assert_eq!(
            Caps(s.missing_of(RELEASE_NEEDED)).to_string(),
            "cap_sys_chroot,cap_sys_admin"
        );
        let nobody = root.replace("000001ffffffffff", "0000000000000000");
        let s = CapSets::parse_status(&nobody).unwrap();
        assert_eq!(s.missing(), NEEDED);
        // Kernels before 4.3 have no CapAmb line.
        let old: String = root
            .lines()
            .filter(|l| !l.starts_with("CapAmb"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(CapSets::parse_status(&old).unwrap().ambient, 0);
        assert!(CapSets::parse_status("Name:\tx\n").is_none());
    }
}
