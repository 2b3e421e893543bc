//! Helpers of the live tests of the other runtimes (tests/e2e_podman.rs,
//! tests/e2e_containerd.rs): host cleanup of what a private daemon left, and the expected
//! leak series of one holder and one container.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Holder, Sample, docker_flags, exporter_command, mountinfo_entries};

/// The test instance's name (`scripts/testenv.sh` exports it): daemons started by tests put
/// their directories under `/run/<instance>` and `/var/lib/<instance>`, which
/// `scripts/testenv.sh down` unmounts and removes too.
pub fn instance() -> String {
    std::env::var("MOUNTLEAK_TEST_INSTANCE").unwrap_or_else(|_| "mountleak-test".into())
}

/// Fails with what to install when one of `(path, Debian package)` is missing.
pub fn require_files(what: &str, files: &[(&str, &str)]) {
    let missing: Vec<String> = files
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .map(|(path, pkg)| format!("{path} (Debian package {pkg})"))
        .collect();
    assert!(
        missing.is_empty(),
        "{what} needs {}: run scripts/test.sh, whose scripts/testenv.sh installs them",
        missing.join(", ")
    );
}

/// Mount points at or under `base` in our namespace, deepest first.
pub fn mounts_under(base: &Path) -> Vec<String> {
    let base = base.to_string_lossy();
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<String> = mountinfo_entries(&text)
        .into_iter()
        .map(|(mp, _)| mp)
        .filter(|mp| *mp == *base || mp.starts_with(&format!("{base}/")))
        .collect();
    out.sort_by_key(|mp| std::cmp::Reverse(mp.len()));
    out.dedup();
    out
}

/// `umount`, else a lazy one. Whether either worked.
pub fn umount(mount_point: &str) -> bool {
    let run = |args: &[&str]| {
        Command::new("umount")
            .args(args)
            .arg(mount_point)
            .status()
            .is_ok_and(|s| s.success())
    };
    run(&[]) || run(&["-l"])
}

/// Unmounts everything under each base and removes it (for a test's own directories).
pub fn unmount_and_remove(bases: &[&Path]) {
    for base in bases {
        for mp in mounts_under(base) {
            if !umount(&mp) {
                eprintln!("could not unmount {mp}");
            }
        }
        if base.exists() {
            fs::remove_dir_all(base)
                .unwrap_or_else(|e| eprintln!("could not remove {}: {e}", base.display()));
        }
    }
}

/// `/sys/fs/cgroup/<hierarchy>/<name>` in every mounted hierarchy that has it.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if matches!(fields.get(sep + 1), Some(&"cgroup" | &"cgroup2")) {
            let dir = Path::new(fields[4]).join(name);
            if dir.is_dir() {
                out.push(dir);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// One of the container's mounts as the holder should see it reported.
#[derive(Clone, Debug)]
pub struct Leak {
    pub kind: &'static str,
    pub mount_point: String,
}

/// The container a scenario watches.
pub struct Watched<'a> {
    pub runtime: &'a str,
    pub id: &'a str,
    pub name: &'a str,
}

/// A runtime scenario's holder and container, to wait for the series they should make.
pub struct Scenario<'a> {
    pub exporter: &'a super::Exporter,
    pub holder: &'a Holder,
    pub comm: &'a str,
    pub watched: Watched<'a>,
}

impl Scenario<'_> {
    /// Scrapes until the scenario's series are exactly the expected ones (30 s at most).
    pub fn wait(&self, what: &str, state: &str, status: &str, leaks: &[Leak]) {
        let want = expected_series(self.holder, self.comm, &self.watched, state, status, leaks);
        let started = std::time::Instant::now();
        super::poll_until(what, std::time::Duration::from_secs(30), || {
            let got = scenario_series(&self.exporter.scrape(), &self.holder.unit, self.watched.id);
            if got == want {
                Ok(())
            } else {
                Err(diff(&want, &got))
            }
        });
        eprintln!("{what}: seen after {:.1?}", started.elapsed());
    }
}

/// `mountleak_runtime_up{runtime}` in one scrape.
pub fn runtime_up(samples: &[Sample], runtime: &str) -> Option<f64> {
    one_value(samples, "mountleak_runtime_up", &[("runtime", runtime)])
}

/// The leak series naming the holder's unit or the container's id, as `name{labels}` ->
/// value. First-seen timestamps are checked to be recent and replaced by 1; per-process
/// series are left out (the unit series counts them).
pub fn scenario_series(
    samples: &[Sample],
    unit: &str,
    container_id: &str,
) -> BTreeMap<String, f64> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut out = BTreeMap::new();
    for s in samples {
        let leak_metric = s.name.ends_with("_leaked_mounts")
            || s.name == "mountleak_leak_first_seen_timestamp_seconds";
        let ours = (!unit.is_empty() && s.label("unit") == unit)
            || s.label("container_id") == container_id;
        if !leak_metric || !ours || s.name == "mountleak_process_leaked_mounts" {
            continue;
        }
        let mut value = s.value;
        if s.name == "mountleak_leak_first_seen_timestamp_seconds" {
            assert!(
                value > now - 3600.0 && value <= now + 1.0,
                "first-seen timestamp is not recent: {s}"
            );
            value = 1.0;
        }
        out.insert(series_key(&s.name, s.labels.iter()), value);
    }
    out
}

fn series_key<'a>(name: &str, labels: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    let labels: Vec<String> = labels.map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

/// What docs/interfaces.md says a scrape holds when `holder` (leader `comm`) holds `leaks` of
/// container `c` in `state`, all with `status`.
pub fn expected_series(
    holder: &Holder,
    comm: &str,
    c: &Watched,
    state: &str,
    status: &str,
    leaks: &[Leak],
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let key = |name: &str, labels: &[(&str, &str)]| {
        let map: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        series_key(name, map.iter())
    };
    if !leaks.is_empty() {
        out.insert(
            key(
                "mountleak_unit_leaked_mounts",
                &[("unit", &holder.unit), ("status", status)],
            ),
            leaks.len() as f64,
        );
    }
    let pid = holder.pid.to_string();
    for l in leaks {
        let container = [
            ("runtime", c.runtime),
            ("container_id", c.id),
            ("container_name", c.name),
            ("container_state", state),
            ("kind", l.kind),
            ("status", status),
        ];
        *out.entry(key("mountleak_container_leaked_mounts", &container))
            .or_default() += 1.0;
        let mut first_seen = container.to_vec();
        first_seen.extend([
            ("unit", holder.unit.as_str()),
            ("pid", pid.as_str()),
            ("comm", comm),
            ("mountpoint", l.mount_point.as_str()),
        ]);
        out.insert(
            key("mountleak_leak_first_seen_timestamp_seconds", &first_seen),
            1.0,
        );
    }
    out
}

/// Lines saying what is missing from or unexpected in `got`.
pub fn diff(want: &BTreeMap<String, f64>, got: &BTreeMap<String, f64>) -> String {
    let mut out = String::new();
    for (k, v) in want {
        if got.get(k) != Some(v) {
            out += &format!("  missing    {k} {v} (got {:?})\n", got.get(k));
        }
    }
    for (k, v) in got {
        if !want.contains_key(k) {
            out += &format!("  unexpected {k} {v}\n");
        }
    }
    out
}

/// The value of the one sample of `name` with `labels`, if there is exactly one.
pub fn one_value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    match super::select(samples, name, labels).as_slice() {
        [s] => Some(s.value),
        _ => None,
    }
}

/// The holder's leader's comm (`sh`).
pub fn comm_of(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The holder's mount points and their propagation tags.
pub fn held(h: &Holder) -> BTreeMap<String, Vec<String>> {
    mountinfo_entries(&h.mountinfo()).into_iter().collect()
}

/// A busybox rootfs (`sh`, `sleep`) as a tar file at `tar`.
pub fn busybox_rootfs_tar(dir: &Path, tar: &Path) {
    let rootfs = dir.join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::create_dir_all(rootfs.join("tmp")).unwrap();
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "sleep"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    tar_dir(&rootfs, tar);
}

/// `tar -C dir -cf tar .`
pub fn tar_dir(dir: &Path, tar: &Path) {
    let status = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(tar)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(status.success(), "tar of {} failed", dir.display());
}

/// The `scan` command (a fresh process asking the runtimes itself) with the test daemon's
/// Docker flags and `runtime_flags`: it must exit 1 (leaks found); its text report.
pub fn scan_text(runtime_flags: &[String]) -> String {
    let out = exporter_command()
        .arg("scan")
        .args(docker_flags())
        .args(runtime_flags)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "scan exit status; stdout:\n{text}"
    );
    text
}

/// An OCI image archive (index.json, blobs) of a static busybox, named `name`, with the
/// image config's `config` (`Cmd`, `Entrypoint`).
pub fn oci_archive(dir: &Path, name: &str, config: serde_json::Value) -> PathBuf {
    let layout = dir.join("oci");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let layer = dir.join("layer.tar");
    busybox_rootfs_tar(dir, &layer);
    // Stores a blob by its digest; returns (digest, size).
    let put = |bytes: &[u8]| -> (String, usize) {
        let tmp = dir.join("blob");
        fs::write(&tmp, bytes).unwrap();
        let out = Command::new("sha256sum").arg(&tmp).output().unwrap();
        let sum = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        fs::rename(&tmp, blobs.join(&sum)).unwrap();
        (format!("sha256:{sum}"), bytes.len())
    };
    let (layer_digest, layer_size) = put(&fs::read(&layer).unwrap());
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    let (config_digest, config_size) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}],
    });
    let (manifest_digest, manifest_size) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size,
                       "annotations": {"io.containerd.image.name": name}}],
    });
    fs::write(layout.join("index.json"), index.to_string()).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let archive = dir.join("image.tar");
    tar_dir(&layout, &archive);
    archive
}
