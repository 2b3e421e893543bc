//! The floor for a whole-host scan: what any scanner of /proc must at least do.
//!
//!   floor [--proc DIR] [--method mountinfo|listmount|mountinfo-parse|enumerate|detect] [--quiet]
//!
//! Reads each process's `ns/mnt` link once and each distinct namespace's mount table once:
//! `mountinfo` reads the text and counts lines; `mountinfo-parse` also splits every line
//! into its fields (a minimal parse, no escapes decoded); `listmount` lists the namespace
//! with listmount(2) and fetches every mount with statmount(2) (Linux 6.11+, root) instead
//! of reading text; `enumerate` reads no table at all: the bare process enumeration
//! (readdir /proc and one `ns/mnt` link per process) that any scan, incremental or not,
//! does; `detect` adds what every incremental scan of the exporter does on top to learn which
//! tables changed: per namespace, its id (`NS_GET_MNTNS_ID` on `ns/mnt`) and listmount(2)'s
//! list of its mount ids, no statmount(2). Prints a one-line summary.

use bench_sys as sys;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Mountinfo,
    MountinfoParse,
    Listmount,
    Enumerate,
    Detect,
}

#[derive(Default)]
struct Totals {
    processes: u64,
    vanished: u64,
    namespaces: u64,
    mounts: u64,
    bytes: u64,
    /// Something from every mount, so the work cannot be optimised away.
    checksum: u64,
}

fn main() -> ExitCode {
    let mut proc_root = PathBuf::from("/proc");
    let mut method = Method::Mountinfo;
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let ok = match a.as_str() {
            "--quiet" => {
                quiet = true;
                true
            }
            "--proc" => args.next().map(|v| proc_root = PathBuf::from(v)).is_some(),
            "--method" => match args.next().as_deref() {
                Some("mountinfo") => {
                    method = Method::Mountinfo;
                    true
                }
                Some("mountinfo-parse") => {
                    method = Method::MountinfoParse;
                    true
                }
                Some("listmount") => {
                    method = Method::Listmount;
                    true
                }
                Some("enumerate") => {
                    method = Method::Enumerate;
                    true
                }
                Some("detect") => {
                    method = Method::Detect;
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if !ok {
            eprintln!(
                "usage: floor [--proc DIR] [--method mountinfo|mountinfo-parse|listmount|enumerate|detect] [--quiet]"
            );
            return ExitCode::from(2);
        }
    }
    let start = Instant::now();
    let totals = match run(&proc_root, method) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("floor: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !quiet {
        println!(
            "processes={} vanished={} namespaces={} mounts={} bytes={} checksum={} seconds={:.6}",
            totals.processes,
            totals.vanished,
            totals.namespaces,
            totals.mounts,
            totals.bytes,
            totals.checksum,
            start.elapsed().as_secs_f64()
        );
    }
    ExitCode::SUCCESS
}

fn run(proc_root: &PathBuf, method: Method) -> std::io::Result<Totals> {
    let mut t = Totals::default();
    let mut seen: HashSet<OsString> = HashSet::new();
    let mut text = Vec::with_capacity(1 << 20);
    let mut ids = Vec::new();
    let mut sm = sys::StatMount::default();
    let mut path = proc_root.clone();
    for entry in std::fs::read_dir(proc_root)? {
        let name = entry?.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        t.processes += 1;
        path.push(&name);
        path.push("ns/mnt");
        let ns = std::fs::read_link(&path);
        path.pop();
        path.pop();
        let ns = match ns {
            Ok(ns) => ns.into_os_string(),
            Err(_) => {
                t.vanished += 1;
                path.pop();
                continue;
            }
        };
        if !seen.contains(&ns) {
            let ok = match method {
                Method::Enumerate => Ok(()),
                Method::Mountinfo | Method::MountinfoParse => {
                    path.push("mountinfo");
                    let r = read_mountinfo(&path, &mut text, method, &mut t);
                    path.pop();
                    r
                }
                Method::Listmount | Method::Detect => {
                    path.push("ns/mnt");
                    let fetch = (method == Method::Listmount).then_some(&mut sm);
                    let r = read_listmount(&path, &mut ids, fetch, &mut t);
                    path.pop();
                    path.pop();
                    r
                }
            };
            match ok {
                Ok(()) => {
                    t.namespaces += 1;
                    seen.insert(ns);
                }
                Err(_) => t.vanished += 1,
            }
        }
        path.pop();
    }
    Ok(t)
}

fn read_mountinfo(
    path: &PathBuf,
    text: &mut Vec<u8>,
    method: Method,
    t: &mut Totals,
) -> std::io::Result<()> {
    text.clear();
    File::open(path)?.read_to_end(text)?;
    t.bytes += text.len() as u64;
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        t.mounts += 1;
        if method == Method::MountinfoParse {
            // Mount point is field 5; fs type and source follow the " - " separator.
            let mut fields = line.split(|&b| b == b' ');
            let mount_point = fields.nth(4).unwrap_or_default();
            let after = fields.skip_while(|f| *f != b"-").nth(1).unwrap_or_default();
            t.checksum = t
                .checksum
                .wrapping_add(mount_point.len() as u64 + after.len() as u64);
        }
    }
    Ok(())
}

/// Lists the namespace's mount ids and, given a buffer, fetches every mount.
fn read_listmount(
    ns_link: &PathBuf,
    ids: &mut Vec<u64>,
    fetch: Option<&mut sys::StatMount>,
    t: &mut Totals,
) -> std::io::Result<()> {
    let ns = File::open(ns_link)?;
    let ns = sys::NsRef::Id(sys::mnt_ns_id(&ns)?);
    sys::listmount(ns, ids)?;
    let Some(sm) = fetch else {
        t.mounts += ids.len() as u64;
        t.checksum = (ids.iter()).fold(t.checksum, |c, id| c.wrapping_add(*id));
        return Ok(());
    };
    for &id in ids.iter() {
        // A mount can go away between the two calls: skip it like a vanished line.
        if sm.fetch(ns, id, sys::STATMOUNT_LIKE_MOUNTINFO).is_err() {
            continue;
        }
        t.mounts += 1;
        let n = sm.mnt_point().len() + sm.fs_type().len() + sm.source().len();
        t.bytes += n as u64;
        t.checksum = t.checksum.wrapping_add(n as u64);
    }
    Ok(())
}
