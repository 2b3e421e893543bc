//! Plumbing for the benchmark's synthetic host (bench/synth-host.sh): fast mount creation
//! and cheap sleeping processes. Not part of the exporter.
//!
//!   benchhelper mounts <scratch-root> <count> <manifest>   tmpfs at Docker-shaped paths
//!   benchhelper umount <manifest> <every>                  unmount every Nth of them
//!   benchhelper hold                                        sleep until the parent dies
//!   benchhelper sleepers <count> <pid-file>                 this process + count-1 children,
//!                                                           until EOF on stdin

use bench_sys as sys;

use std::fmt::Write as _;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["mounts", root, count, manifest] => mounts(Path::new(root), count, Path::new(manifest)),
        ["umount", manifest, every] => umount(Path::new(manifest), every),
        ["hold"] => hold(),
        ["sleepers", count, pid_file] => sleepers(count, Path::new(pid_file)),
        _ => Err(io::Error::other(
            "usage: benchhelper mounts ROOT N MANIFEST | umount MANIFEST EVERY | hold | sleepers N PIDFILE",
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchhelper: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_count(s: &str) -> io::Result<usize> {
    s.parse()
        .map_err(|_| io::Error::other(format!("not a count: {s}")))
}

/// A deterministic 64-hex id (splitmix64), so runs are reproducible.
fn hex_id(i: usize, salt: u64) -> String {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let _ = write!(out, "{z:016x}");
    }
    out
}

/// The four shapes Docker mounts at, in rotation: rootfs, shm, volume, sandbox netns.
fn shape(root: &Path, i: usize) -> (&'static str, String, PathBuf) {
    let docker = root.join("var/lib/docker");
    match i % 4 {
        0 => {
            let id = hex_id(i, 1);
            let p = docker.join("overlay2").join(&id).join("merged");
            ("rootfs", id, p)
        }
        1 => {
            let id = hex_id(i, 2);
            let p = docker.join("containers").join(&id).join("mounts/shm");
            ("shm", id, p)
        }
        2 => {
            let id = hex_id(i, 3);
            let p = docker.join("volumes").join(&id).join("_data");
            ("volume", id, p)
        }
        _ => {
            let id = hex_id(i, 4)[..12].to_string();
            let p = root.join("run/docker/netns").join(&id);
            ("netns", id, p)
        }
    }
}

fn mounts(root: &Path, count: &str, manifest: &Path) -> io::Result<()> {
    let count = parse_count(count)?;
    let mut out = io::BufWriter::new(std::fs::File::create(manifest)?);
    for i in 0..count {
        let (kind, id, path) = shape(root, i);
        std::fs::create_dir_all(&path)?;
        sys::mount_tmpfs(&path, "size=16k,mode=0755")
            .map_err(|e| io::Error::new(e.kind(), format!("mount {}: {e}", path.display())))?;
        writeln!(out, "{kind}\t{id}\t{}", path.display())?;
    }
    out.flush()
}

fn umount(manifest: &Path, every: &str) -> io::Result<()> {
    let every = parse_count(every)?;
    if every == 0 {
        return Ok(());
    }
    let file = io::BufReader::new(std::fs::File::open(manifest)?);
    for (i, line) in file.lines().enumerate() {
        let line = line?;
        if i % every == every - 1
            && let Some(path) = line.split('\t').nth(2)
        {
            sys::unmount(Path::new(path))?;
        }
    }
    Ok(())
}

fn hold() -> io::Result<()> {
    sys::die_with_parent()?;
    sys::sleep_forever()
}

/// Forks count-1 sleepers, writes their pids (then a final "ready" line), waits for EOF on
/// stdin, then kills and reaps them all. Reaping here matters: an orphan left to an init
/// that does not reap stays a zombie.
fn sleepers(count: &str, pid_file: &Path) -> io::Result<()> {
    let count = parse_count(count)?;
    sys::die_with_parent()?;
    let mut children = Vec::with_capacity(count);
    let mut list = String::new();
    let result = (|| {
        for _ in 1..count {
            let pid = sys::fork_sleeper()?;
            children.push(pid);
            let _ = writeln!(list, "{pid}");
        }
        list.push_str("ready\n");
        // Written under another name and renamed, so a reader never sees half a list.
        let mut tmp = pid_file.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, &list)?;
        std::fs::rename(&tmp, pid_file)?;
        io::copy(&mut io::stdin().lock(), &mut io::sink())
    })();
    for &pid in &children {
        sys::kill_hard(pid);
    }
    sys::reap_all();
    result.map(drop)
}
