//! Reads one mount namespace's table two ways and times them: parsing
//! `/proc/<pid>/mountinfo` text, and listmount(2) + statmount(2) (Linux 6.8+; naming another
//! namespace by id needs 6.11+). Checks both give the same mounts.
//!
//!   listmount [--pid PID] [--reps N] [--proc DIR]   compare on PID's namespace (default: self)
//!   listmount --probe [--pid PID]                    which ways of naming PID's namespace work
//!
//! Neither way enters the namespace (no setns): the namespace is named by the 64-bit id
//! NS_GET_MNTNS_ID returns for `/proc/<pid>/ns/mnt`.

use bench_sys as sys;
use mountleak_exporter::host::mountinfo;

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use sys::NsRef;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Mount {
    id: u32,
    parent: u32,
    dev: (u32, u32),
    root: Vec<u8>,
    mount_point: Vec<u8>,
    fs_type: Vec<u8>,
    source: Vec<u8>,
    shared: Option<u64>,
    master: Option<u64>,
}

fn main() -> ExitCode {
    let mut pid = "self".to_string();
    let mut reps = 20usize;
    let mut proc_root = PathBuf::from("/proc");
    let mut probe = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--probe" => probe = true,
            "--pid" | "--reps" | "--proc" => {
                let Some(v) = args.next() else {
                    return usage();
                };
                match a.as_str() {
                    "--pid" => pid = v,
                    "--proc" => proc_root = PathBuf::from(v),
                    _ => match v.parse() {
                        Ok(n) if n > 0 => reps = n,
                        _ => return usage(),
                    },
                }
            }
            _ => return usage(),
        }
    }
    let dir = proc_root.join(&pid);
    let result = if probe {
        run_probe(&dir)
    } else {
        compare(&dir, reps)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("listmount: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: listmount [--probe] [--pid PID] [--reps N] [--proc DIR]");
    ExitCode::from(2)
}

fn errno_text(r: &std::io::Result<()>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => format!("{e}"),
    }
}

fn run_probe(dir: &Path) -> std::io::Result<()> {
    let ns = File::open(dir.join("ns/mnt"));
    let ns = match ns {
        Ok(f) => f,
        Err(e) => {
            println!("open ns/mnt: {e}");
            return Ok(());
        }
    };
    let id = sys::mnt_ns_id(&ns);
    println!(
        "NS_GET_MNTNS_ID: {}",
        match &id {
            Ok(id) => format!("ok ({id:#x})"),
            Err(e) => format!("{e}"),
        }
    );
    let mut ids = Vec::new();
    if let Ok(id) = id {
        let r = sys::listmount(NsRef::Id(id), &mut ids);
        println!(
            "listmount by mnt_ns_id: {} ({} mounts)",
            errno_text(&r),
            ids.len()
        );
        if let (Ok(()), Some(&first)) = (&r, ids.first()) {
            let mut sm = sys::StatMount::default();
            let r = sm.fetch(NsRef::Id(id), first, sys::STATMOUNT_LIKE_MOUNTINFO);
            println!("statmount by mnt_ns_id: {}", errno_text(&r));
        }
    }
    let by_fd = NsRef::Fd(ns.as_raw_fd());
    let r = sys::listmount(by_fd, &mut ids);
    println!(
        "listmount by mnt_ns_fd: {} ({} mounts)",
        errno_text(&r),
        ids.len()
    );
    if let (Ok(()), Some(&first)) = (&r, ids.first()) {
        let mut sm = sys::StatMount::default();
        let r = sm.fetch(by_fd, first, sys::STATMOUNT_LIKE_MOUNTINFO);
        println!("statmount by mnt_ns_fd: {}", errno_text(&r));
    }
    let mut text = Vec::new();
    let r = File::open(dir.join("mountinfo")).and_then(|mut f| f.read_to_end(&mut text).map(drop));
    println!(
        "read mountinfo: {} ({} lines)",
        errno_text(&r),
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    );
    Ok(())
}

fn compare(dir: &Path, reps: usize) -> std::io::Result<()> {
    let ns_file = File::open(dir.join("ns/mnt"))?;
    let ns = NsRef::Id(sys::mnt_ns_id(&ns_file)?);
    let mountinfo = dir.join("mountinfo");
    let docker_like = |p: &[u8]| contains(p, b"/var/lib/docker/") || contains(p, b"/netns/");

    // Each way builds the full list (what a scanner would keep), alternating, `reps` times.
    let ways: [(&str, &Way<'_>); 5] = [
        ("mountinfo: read + full parse", &|| {
            parse_mountinfo(&mountinfo)
        }),
        ("listmount + statmount (mountinfo's fields)", &|| {
            via_statmount(ns, sys::STATMOUNT_LIKE_MOUNTINFO, None)
        }),
        ("listmount + statmount (what the exporter needs)", &|| {
            via_statmount(ns, NEEDED, None)
        }),
        (
            "listmount + statmount(mount point), full only for Docker paths",
            &|| via_statmount(ns, NEEDED, Some(&docker_like)),
        ),
        ("listmount alone (ids only)", &|| {
            let mut ids = Vec::new();
            sys::listmount(ns, &mut ids)?;
            Ok(Vec::with_capacity(ids.len()))
        }),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); ways.len()];
    let mut counts = vec![0usize; ways.len()];
    for _ in 0..reps {
        for (i, (_, f)) in ways.iter().enumerate() {
            let t = Instant::now();
            let v = f()?;
            times[i].push(t.elapsed().as_secs_f64());
            counts[i] = v.len();
        }
    }
    let base = median(&mut times[0].clone());
    println!("mount table of {} ({} reps, medians):", dir.display(), reps);
    for (i, (name, _)) in ways.iter().enumerate() {
        let m = median(&mut times[i]);
        println!(
            "  {:<64} {:>9.3} ms  {:>6.2}x  {} mounts",
            name,
            m * 1e3,
            m / base,
            counts[i]
        );
    }

    // Same mounts either way?
    let mut a = parse_mountinfo(&mountinfo)?;
    let mut b = via_statmount(ns, sys::STATMOUNT_LIKE_MOUNTINFO, None)?;
    a.sort();
    b.sort();
    if a == b {
        println!(
            "  check: both ways give the same {} mounts (ids, devices, paths, fs types, sources, peer groups)",
            a.len()
        );
    } else {
        let diff = a.iter().zip(&b).find(|(x, y)| x != y);
        println!(
            "  check: DIFFERENT ({} vs {} mounts); first difference: {:?}",
            a.len(),
            b.len(),
            diff
        );
    }
    Ok(())
}

/// One way of reading the table.
type Way<'a> = dyn Fn() -> std::io::Result<Vec<Mount>> + 'a;
/// Which mount points get a full statmount.
type PathFilter<'a> = dyn Fn(&[u8]) -> bool + 'a;

/// Ids, device, propagation, mount point, fs type, source: what classification uses.
const NEEDED: u64 = sys::STATMOUNT_SB_BASIC
    | sys::STATMOUNT_MNT_BASIC
    | sys::STATMOUNT_MNT_POINT
    | sys::STATMOUNT_FS_TYPE
    | sys::STATMOUNT_SB_SOURCE;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn via_statmount(ns: NsRef, mask: u64, only: Option<&PathFilter>) -> std::io::Result<Vec<Mount>> {
    let mut ids = Vec::new();
    sys::listmount(ns, &mut ids)?;
    let mut sm = sys::StatMount::default();
    let mut out = Vec::with_capacity(ids.len());
    for &id in &ids {
        if let Some(keep) = only {
            // A cheap first look; the full record only for mounts that matter.
            if sm.fetch(ns, id, sys::STATMOUNT_MNT_POINT).is_err() || !keep(sm.mnt_point()) {
                continue;
            }
        }
        if sm.fetch(ns, id, mask).is_err() {
            continue; // unmounted in between
        }
        let prop = sm.propagation();
        out.push(Mount {
            id: sm.mnt_id_old(),
            parent: sm.parent_id_old(),
            dev: sm.dev(),
            root: if mask & sys::STATMOUNT_MNT_ROOT != 0 {
                sm.mnt_root().to_vec()
            } else {
                Vec::new()
            },
            mount_point: sm.mnt_point().to_vec(),
            fs_type: sm.fs_type().to_vec(),
            source: sm.source().to_vec(),
            shared: (prop & sys::MS_SHARED != 0).then(|| sm.peer_group()),
            master: (prop & sys::MS_SLAVE != 0).then(|| sm.master()),
        });
    }
    Ok(out)
}

fn parse_mountinfo(path: &Path) -> std::io::Result<Vec<Mount>> {
    let mut text = Vec::new();
    File::open(path)?.read_to_end(&mut text)?;
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Some(m) = parse_line(line) {
            out.push(m);
        }
    }
    Ok(out)
}

/// One mountinfo line through the exporter's own parser, its fields as raw bytes again
/// (`display_bytes` inverts the parser's display form exactly).
fn parse_line(line: &[u8]) -> Option<Mount> {
    let m = mountinfo::parse_line(line).ok()?;
    let raw = mountinfo::display_bytes;
    Some(Mount {
        id: m.mount_id,
        parent: m.parent_id,
        dev: (m.major, m.minor),
        root: raw(&m.root),
        mount_point: raw(&m.mount_point),
        fs_type: raw(&m.fs_type),
        source: raw(&m.source),
        shared: m.propagation.shared.map(u64::from),
        master: m.propagation.master.map(u64::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_to_the_kernels_bytes_and_out_of_range_ones_stay_literal() {
        // `\777` is no byte (the kernel escapes only with \000-\377): the old decoder
        // multiplied 7 * 64 in a u8 and overflowed.
        let line =
            br"36 35 98:0 /a\040b /mnt/x\777y\011z rw shared:1 master:2 - ext3 /dev/r\134oot rw";
        let m = parse_line(line).expect("parses");
        assert_eq!(m.root, b"/a b");
        assert_eq!(m.mount_point, b"/mnt/x\\777y\tz");
        assert_eq!(m.source, b"/dev/r\\oot");
        assert_eq!((m.id, m.parent, m.dev), (36, 35, (98, 0)));
        assert_eq!((m.shared, m.master), (Some(1), Some(2)));
        let high = br"1 2 0:1 / /\377\200 rw - tmpfs tmpfs rw";
        assert_eq!(parse_line(high).unwrap().mount_point, [b'/', 0xff, 0x80]);
    }
}
