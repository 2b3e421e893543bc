//! kubelet's root directory as the node's kubelet was given it (issue 14): k0s runs kubelet
//! with `--root-dir=/var/lib/k0s/kubelet`, and a root moved to another disk is often a
//! symlink, which mountinfo shows by its target. With no `--kubelet.root-dir`, the exporter
//! watching a real containerd must find the running kubelet's `--root-dir`, resolve it, and
//! report a pod volume copied into a private namespace under its real path.

mod common;

use common::runtimes::*;
use common::*;
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const POD_UID: &str = "0f6c2d4e-8a1b-4c3d-9e5f-7a8b9c0d1e2f";

/// A process named `kubelet` (a copy of sh, blocked reading its stdin) whose command line
/// carries `--root-dir=<root>`, as kubelet's does. Killed on drop.
struct FakeKubelet {
    child: Child,
    _dir: tempfile::TempDir,
}

impl FakeKubelet {
    fn spawn(root_dir: &Path) -> FakeKubelet {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("kubelet");
        fs::copy("/bin/sh", &bin).expect("copy /bin/sh");
        let child = Command::new(&bin)
            .args(["-c", "read never", "kubelet"])
            .arg(format!("--root-dir={}", root_dir.display()))
            .stdin(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn the fake kubelet");
        let pid = child.id();
        poll_until(
            "the fake kubelet to run",
            Duration::from_secs(10),
            || match fs::read_to_string(format!("/proc/{pid}/comm")) {
                Ok(c) if c.trim() == "kubelet" => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        FakeKubelet { child, _dir: dir }
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real root (on "another disk"), the symlink kubelet is given, and their cleanup.
struct KubeletRoot {
    real: PathBuf,
    link: PathBuf,
}

impl KubeletRoot {
    fn make(instance: &str) -> KubeletRoot {
        let root = KubeletRoot {
            real: PathBuf::from(format!("/var/lib/{instance}/e2e-kubelet-real")),
            link: PathBuf::from(format!("/run/{instance}/e2e-kubelet-link")),
        };
        root.clean();
        fs::create_dir_all(&root.real).unwrap();
        std::os::unix::fs::symlink(&root.real, &root.link).unwrap();
        root
    }

    fn clean(&self) {
        unmount_and_remove(&[&self.real]);
        let _ = fs::remove_file(&self.link);
    }
}

impl Drop for KubeletRoot {
    fn drop(&mut self) {
        self.clean();
    }
}

fn mount_tmpfs(at: &Path) {
    fs::create_dir_all(at).unwrap();
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(at)
        .output()
        .expect("run mount (util-linux)");
    assert!(
        out.status.success(),
        "mount tmpfs at {}: {out:?}",
        at.display()
    );
}

/// (status, pod uid, volume) of the holder's copies of mounts under `under`.
fn copies(exporter: &Exporter, unit: &str, under: &str) -> Vec<(String, String, String)> {
    exporter.leaks_json()["leaks"]
        .as_array()
        .expect("leaks array")
        .iter()
        .filter(|l| l["holder"]["unit"] == unit)
        .filter(|l| l["mount_point"].as_str().unwrap().starts_with(under))
        .map(|l| {
            (
                l["status"].as_str().unwrap().to_string(),
                l["pod"]["uid"].as_str().unwrap_or("").to_string(),
                l["volume"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_pod_volume_under_the_running_kubelets_symlinked_root_is_found() {
    let instance = env().instance.clone();
    let socket = std::env::var("MOUNTLEAK_TEST_CONTAINERD_SOCK").expect(
        "MOUNTLEAK_TEST_CONTAINERD_SOCK (scripts/testenv.sh env) names the test containerd",
    );
    let root = KubeletRoot::make(&instance);
    let volume = root.real.join(format!(
        "pods/{POD_UID}/volumes/kubernetes.io~empty-dir/cache"
    ));
    mount_tmpfs(&volume);
    let _kubelet = FakeKubelet::spawn(&root.link);
    let real = root.real.to_string_lossy().into_owned();
    let holder = Holder::spawn_keeping("kubelet-root", Propagation::Private, 1, &[&real]);

    // No --kubelet.root-dir: the default (/var/lib/kubelet) is not this root.
    let exporter = Exporter::start(&[
        "--runtime.containerd",
        &format!("--containerd.address=unix://{socket}"),
        "--containerd.namespaces=moby",
    ]);
    let want = |status: &str| {
        vec![(
            status.to_string(),
            POD_UID.to_string(),
            "kubernetes.io~empty-dir/cache".to_string(),
        )]
    };
    poll_until(
        "the holder's copy of the pod volume, under the real root, at risk",
        Duration::from_secs(30),
        || match copies(&exporter, &holder.unit, &real) {
            got if got == want("at_risk") => Ok(()),
            got => Err(format!("{got:?}; log:\n{}", exporter.log())),
        },
    );

    // kubelet unmounts the volume (the pod is gone): the copy pins it.
    assert!(
        umount(&volume.to_string_lossy()),
        "umount {}",
        volume.display()
    );
    poll_until(
        "the holder's copy of the unmounted pod volume, stale",
        Duration::from_secs(30),
        || match copies(&exporter, &holder.unit, &real) {
            got if got == want("stale") => Ok(()),
            got => Err(format!("{got:?}")),
        },
    );
    drop(holder);
}
