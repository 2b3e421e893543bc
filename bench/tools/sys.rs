//! Raw Linux calls shared by the benchmark tools (`floor`, `listmount`, `benchhelper`),
//! declared against the C library that std already links.

use std::ffi::{CString, c_char, c_int, c_long, c_ulong, c_void};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

unsafe extern "C" {
    fn syscall(num: c_long, ...) -> c_long;
    fn mount(
        source: *const c_char,
        target: *const c_char,
        fstype: *const c_char,
        flags: c_ulong,
        data: *const c_void,
    ) -> c_int;
    fn umount2(target: *const c_char, flags: c_int) -> c_int;
    fn fork() -> c_int;
    fn pause() -> c_int;
    fn prctl(option: c_int, ...) -> c_int;
    fn wait(status: *mut c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
}

// asm-generic numbers, shared by x86_64 and aarch64 (Linux 6.8+).
const SYS_STATMOUNT: c_long = 457;
const SYS_LISTMOUNT: c_long = 458;
// _IOR(0xb7, 5, __u64) from linux/nsfs.h (Linux 6.9+).
const NS_GET_MNTNS_ID: c_ulong = 0x8008_b705;
const PR_SET_PDEATHSIG: c_int = 1;
const SIGKILL: c_int = 9;
const ECHILD: i32 = 10;

pub const LSMT_ROOT: u64 = u64::MAX;
pub const STATMOUNT_SB_BASIC: u64 = 0x1;
pub const STATMOUNT_MNT_BASIC: u64 = 0x2;
pub const STATMOUNT_MNT_ROOT: u64 = 0x8;
pub const STATMOUNT_MNT_POINT: u64 = 0x10;
pub const STATMOUNT_FS_TYPE: u64 = 0x20;
pub const STATMOUNT_MNT_OPTS: u64 = 0x80;
pub const STATMOUNT_SB_SOURCE: u64 = 0x200;
/// What a mountinfo line carries except the super options.
pub const STATMOUNT_LIKE_MOUNTINFO: u64 = STATMOUNT_SB_BASIC
    | STATMOUNT_MNT_BASIC
    | STATMOUNT_MNT_ROOT
    | STATMOUNT_MNT_POINT
    | STATMOUNT_FS_TYPE
    | STATMOUNT_MNT_OPTS
    | STATMOUNT_SB_SOURCE;

pub const MS_SHARED: u64 = 1 << 20;
pub const MS_SLAVE: u64 = 1 << 19;

fn cstr(p: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

fn check(ret: c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub fn mount_tmpfs(target: &Path, data: &str) -> io::Result<()> {
    let target = cstr(target)?;
    let data = CString::new(data).map_err(io::Error::other)?;
    // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
    check(unsafe {
        mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    })
}

pub fn unmount(target: &Path) -> io::Result<()> {
    let target = cstr(target)?;
    // SAFETY: valid C string.
    check(unsafe { umount2(target.as_ptr(), 0) })
}

/// Dies with SIGKILL when the parent does, so an interrupted run leaves no sleepers.
pub fn die_with_parent() -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    check(unsafe { prctl(PR_SET_PDEATHSIG, SIGKILL as c_ulong, 0 as c_ulong) })
}

/// Forks a child that only ever sleeps. Returns its pid in the parent.
pub fn fork_sleeper() -> io::Result<i32> {
    // SAFETY: the child only calls async-signal-safe functions (prctl, pause) and never
    // returns into Rust code.
    let pid = unsafe { fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        unsafe {
            prctl(PR_SET_PDEATHSIG, SIGKILL as c_ulong, 0 as c_ulong);
            loop {
                pause();
            }
        }
    }
    Ok(pid)
}

pub fn sleep_forever() -> ! {
    loop {
        // SAFETY: pause has no arguments.
        unsafe { pause() };
    }
}

pub fn kill_hard(pid: i32) {
    // SAFETY: plain kill(2); failure (already gone) is fine.
    unsafe { kill(pid, SIGKILL) };
}

/// Reaps children until none are left.
pub fn reap_all() {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out pointer.
        if unsafe { wait(&mut status) } < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(ECHILD) {
                return;
            }
        }
    }
}

/// The 64-bit id listmount/statmount use for the mount namespace behind an nsfs file.
pub fn mnt_ns_id(ns: &File) -> io::Result<u64> {
    let mut id: u64 = 0;
    // SAFETY: NS_GET_MNTNS_ID writes one u64 through the pointer.
    check(unsafe { ioctl(ns.as_raw_fd(), NS_GET_MNTNS_ID, &mut id as *mut u64) })?;
    Ok(id)
}

/// struct mnt_id_req, MNT_ID_REQ_SIZE_VER1 (32 bytes).
#[repr(C)]
struct MntIdReq {
    size: u32,
    /// `spare` before 6.18; a mount-namespace fd since (unused here: we pass the id).
    mnt_ns_fd: u32,
    mnt_id: u64,
    param: u64,
    mnt_ns_id: u64,
}

/// How to name the namespace to list.
#[derive(Clone, Copy)]
pub enum NsRef {
    /// Caller's own namespace.
    Own,
    /// By 64-bit namespace id (Linux 6.11+), no setns needed.
    Id(u64),
    /// By an nsfs fd in the old `spare` field (newer kernels).
    Fd(i32),
}

fn req(ns: NsRef, mnt_id: u64, param: u64) -> MntIdReq {
    let (fd, id) = match ns {
        NsRef::Own => (0, 0),
        NsRef::Id(id) => (0, id),
        NsRef::Fd(fd) => (fd as u32, 0),
    };
    MntIdReq {
        size: std::mem::size_of::<MntIdReq>() as u32,
        mnt_ns_fd: fd,
        mnt_id,
        param,
        mnt_ns_id: id,
    }
}

/// All mount ids (unique 64-bit ids) of a namespace, in listmount order.
pub fn listmount(ns: NsRef, out: &mut Vec<u64>) -> io::Result<()> {
    out.clear();
    let mut batch = vec![0u64; 4096];
    let mut last = 0u64;
    loop {
        let r = req(ns, LSMT_ROOT, last);
        // SAFETY: r is a valid mnt_id_req; batch has room for batch.len() ids.
        let n = unsafe {
            syscall(
                SYS_LISTMOUNT,
                &r as *const MntIdReq,
                batch.as_mut_ptr(),
                batch.len(),
                0 as c_ulong,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        out.extend_from_slice(&batch[..n]);
        if n < batch.len() {
            return Ok(());
        }
        last = batch[n - 1];
    }
}

/// A reusable statmount result buffer (u64-aligned).
pub struct StatMount {
    buf: Vec<u64>,
}

/// Size of the fixed part of struct statmount; strings follow at this offset.
const STATMOUNT_FIXED: usize = 512;

impl Default for StatMount {
    fn default() -> Self {
        StatMount {
            buf: vec![0; 4096 / 8],
        }
    }
}

impl StatMount {
    pub fn fetch(&mut self, ns: NsRef, mnt_id: u64, mask: u64) -> io::Result<()> {
        loop {
            let r = req(ns, mnt_id, mask);
            let bytes = self.buf.len() * 8;
            // SAFETY: buf is `bytes` long and u64-aligned as struct statmount needs.
            let ret = unsafe {
                syscall(
                    SYS_STATMOUNT,
                    &r as *const MntIdReq,
                    self.buf.as_mut_ptr(),
                    bytes,
                    0 as c_ulong,
                )
            };
            if ret >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            // EOVERFLOW: strings did not fit; grow and retry.
            if e.raw_os_error() == Some(75) && bytes < (1 << 24) {
                let len = self.buf.len();
                self.buf.resize(len * 2, 0);
                continue;
            }
            return Err(e);
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: a u64 slice viewed as bytes, same length in bytes.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast(), self.buf.len() * 8) }
    }

    pub fn u32_at(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.bytes()[off..off + 4].try_into().unwrap())
    }

    pub fn u64_at(&self, off: usize) -> u64 {
        u64::from_ne_bytes(self.bytes()[off..off + 8].try_into().unwrap())
    }

    /// A `[str]` field: the u32 at `off` is an offset into the string area.
    pub fn str_at(&self, off: usize) -> &[u8] {
        let start = STATMOUNT_FIXED + self.u32_at(off) as usize;
        let s = &self.bytes()[start..];
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        &s[..end]
    }

    pub fn mask(&self) -> u64 {
        self.u64_at(8)
    }
    pub fn dev(&self) -> (u32, u32) {
        (self.u32_at(16), self.u32_at(20))
    }
    pub fn fs_type(&self) -> &[u8] {
        self.str_at(36)
    }
    pub fn mnt_id_old(&self) -> u32 {
        self.u32_at(56)
    }
    pub fn parent_id_old(&self) -> u32 {
        self.u32_at(60)
    }
    pub fn propagation(&self) -> u64 {
        self.u64_at(72)
    }
    pub fn peer_group(&self) -> u64 {
        self.u64_at(80)
    }
    pub fn master(&self) -> u64 {
        self.u64_at(88)
    }
    pub fn opts(&self) -> &[u8] {
        self.str_at(4)
    }
    pub fn mnt_root(&self) -> &[u8] {
        self.str_at(104)
    }
    pub fn mnt_point(&self) -> &[u8] {
        self.str_at(108)
    }
    pub fn source(&self) -> &[u8] {
        self.str_at(124)
    }
}
