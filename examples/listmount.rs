//! Reads one mount namespace's table two ways and times them: parsing
//! `/proc/<pid>/mountinfo` text, and listmount(2) + statmount(2) (Linux 6.8+; naming another
//! namespace by id needs 6.11+). Checks both give the same mounts.
//!
//!   listmount [--pid PID] [--reps N] [--proc DIR]   compare on PID's namespace (default: self)
//!   listmount --probe [--pid PID]                    which ways of naming PID's namespace work
//!
//! Neither way enters the namespace (no setns): the namespace is named by the 64-bit id
//! NS_GET_MNTNS_ID returns for `/proc/<pid>/ns/mnt`.

#[path = "support/sys.rs"]
#[allow(dead_code)]
mod sys;

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

fn num<T: std::str::FromStr>(b: &[u8]) -> Option<T> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn parse_line(line: &[u8]) -> Option<Mount> {
    let mut f = line.split(|&b| b == b' ');
    let id = num(f.next()?)?;
    let parent = num(f.next()?)?;
    let (maj, min) = {
        let d = f.next()?;
        let colon = d.iter().position(|&b| b == b':')?;
        (num(&d[..colon])?, num(&d[colon + 1..])?)
    };
    let root = unescape(f.next()?);
    let mount_point = unescape(f.next()?);
    let _opts = f.next()?;
    let (mut shared, mut master) = (None, None);
    for opt in f.by_ref() {
        if opt == b"-" {
            break;
        }
        if let Some(v) = opt.strip_prefix(b"shared:") {
            shared = num(v);
        } else if let Some(v) = opt.strip_prefix(b"master:") {
            master = num(v);
        }
    }
    let fs_type = unescape(f.next()?);
    let source = unescape(f.next()?);
    Some(Mount {
        id,
        parent,
        dev: (maj, min),
        root,
        mount_point,
        fs_type,
        source,
        shared,
        master,
    })
}

/// The kernel's octal escapes (`\040` and friends).
fn unescape(field: &[u8]) -> Vec<u8> {
    if !field.contains(&b'\\') {
        return field.to_vec();
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let d = &field[i..];
        if d.len() >= 4 && d[0] == b'\\' && d[1..4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((d[1] - b'0') * 64 + (d[2] - b'0') * 8 + (d[3] - b'0'));
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}
