//! The path classifier. Input: a mount point alone (classified with Docker's default roots),
//! or three lines `data_root,...` / `exec_root,...` / mount point. Properties: no panic; when
//! it answers, the canonical path is a root followed by a per-container path whose kind and
//! owner agree with it, and the mount point ends with it; it answers whenever the mount point
//! is `<prefix><root>/<per-container path>` for some root (the doc of its `after_root`); with
//! the default roots, putting the host's tree under `/host` changes nothing; heap use is
//! linear in the input. Every runtime's default roots at once (Docker, Podman, containerd,
//! kubelet, `/run/netns`) get the properties that need no oracle: an answer's canonical path
//! is a root of the layout followed by `/`, the tail of the mount point, and has the runtime
//! of its root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mountleak_exporter::layout::{ContainerPath, Kind, Layout, PathId, RootKind, RuntimeKind};
use mountleak_exporter_fuzz::{assert_linear, measure};

/// What a path under a data root is, written from the layout's documentation.
fn expect_data(rest: &str) -> Option<(Kind, PathId)> {
    let p: Vec<&str> = rest.split('/').collect();
    if p.iter().any(|c| c.is_empty()) {
        return None;
    }
    let layer = |id: &str| Some((Kind::Rootfs, PathId::Layer(id.into())));
    let container = |kind, id: &str| Some((kind, PathId::Container(id.into())));
    match p[..] {
        ["overlay2" | "overlay" | "fuse-overlayfs", id, "merged"] => layer(id),
        // The containerd image store: `rootfs/<snapshotter>/<container id>`.
        ["rootfs", _, id] => container(Kind::Rootfs, id),
        ["aufs" | "devicemapper", "mnt", id] => layer(id),
        ["btrfs", "subvolumes", id] | ["zfs", "graph", id] => layer(id),
        ["containers", id, "shm"] | ["containers", id, "mounts", "shm"] => container(Kind::Shm, id),
        ["containers", id, _, ..] => container(Kind::Other, id),
        ["volumes", name, "_data"] => Some((Kind::Volume, PathId::Volume(name.into()))),
        _ => None,
    }
}

fn expect_netns(rest: &str) -> Option<(Kind, PathId)> {
    match rest.split('/').collect::<Vec<_>>()[..] {
        // `netns/default` is dockerd's handle on the host's network namespace.
        ["netns", id] if !id.is_empty() && id != "default" => {
            Some((Kind::Netns, PathId::Sandbox(id.into())))
        }
        _ => None,
    }
}

/// Every `rest` with `mount_point == prefix + root + "/" + rest`, overlapping matches included
/// (what `after_root`'s doc promises).
fn rests<'a>(mount_point: &'a str, root: &str) -> Vec<&'a str> {
    (0..mount_point.len())
        .filter(|&i| mount_point.is_char_boundary(i) && mount_point[i..].starts_with(root))
        .filter_map(|i| mount_point[i + root.len()..].strip_prefix('/'))
        .collect()
}

fn check(layout: &Layout, mount_point: &str, got: &Option<ContainerPath>) {
    if let Some(cp) = got {
        assert!(
            mount_point.ends_with(&cp.canonical),
            "canonical {:?} is not the tail of {mount_point:?}",
            cp.canonical
        );
        let (roots, expect): (Vec<&str>, fn(&str) -> Option<(Kind, PathId)>) =
            if cp.kind == Kind::Netns {
                (layout.roots(RootKind::DockerExec).collect(), expect_netns)
            } else {
                (layout.roots(RootKind::DockerData).collect(), expect_data)
            };
        let agrees = roots.iter().any(|r| {
            cp.canonical
                .strip_prefix(r)
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(expect)
                == Some((cp.kind, cp.id.clone()))
        });
        assert!(
            agrees,
            "{cp:?} is not <root>/<its kind's path> for roots {roots:?}"
        );
    }
    // The oracle is quadratic on pathological inputs; huge inputs get the checks above only.
    if mount_point.len() > 64 << 10 {
        return;
    }
    let data = layout
        .roots(RootKind::DockerData)
        .flat_map(|r| rests(mount_point, r))
        .find_map(expect_data);
    let exec = layout
        .roots(RootKind::DockerExec)
        .flat_map(|r| rests(mount_point, r))
        .find_map(expect_netns);
    if let Some(want) = data.or(exec) {
        assert!(
            got.is_some(),
            "{mount_point:?} is a {want:?} path under a root but was not classified (roots {:?})",
            layout.all_roots().collect::<Vec<_>>()
        );
    }
}

/// Every runtime's default roots, as `config` enables them.
fn all_runtimes() -> Layout {
    Layout::new(["/var/lib/docker"], ["/var/run/docker"])
        .with(RootKind::PodmanGraph, ["/var/lib/containers/storage"])
        .with(RootKind::NetnsDir, ["/var/run/netns"])
        .with(RootKind::ContainerdState, ["/run/containerd"])
        .with(RootKind::KubeletRoot, ["/var/lib/kubelet"])
        .with(RootKind::CrioRunRoot, ["/run/containers/storage"])
}

fn check_any_runtime(layout: &Layout, mount_point: &str) {
    let Some(cp) = layout.recognise(mount_point) else {
        return;
    };
    assert!(
        mount_point.ends_with(&cp.canonical),
        "canonical {:?} is not the tail of {mount_point:?}",
        cp.canonical
    );
    let runtime_of = |k: RootKind| match k {
        RootKind::DockerData | RootKind::DockerExec => Some(RuntimeKind::Docker),
        RootKind::PodmanGraph => Some(RuntimeKind::Podman),
        RootKind::ContainerdState => Some(RuntimeKind::Containerd),
        RootKind::CrioRunRoot => Some(RuntimeKind::CriO),
        // `netns-` names are Podman's, `cni-` ones CRI's, UUIDs CRI-O's; pod volumes have no
        // runtime.
        RootKind::NetnsDir | RootKind::KubeletRoot => None,
    };
    let kinds = [
        RootKind::DockerData,
        RootKind::DockerExec,
        RootKind::PodmanGraph,
        RootKind::NetnsDir,
        RootKind::ContainerdState,
        RootKind::KubeletRoot,
        RootKind::CrioRunRoot,
    ];
    let from = kinds.iter().find(|&&k| {
        layout.roots(k).any(|r| {
            cp.canonical
                .strip_prefix(r)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| !rest.is_empty() && !rest.split('/').any(str::is_empty))
        })
    });
    let kind = from.unwrap_or_else(|| panic!("{cp:?} is not under a root of its layout"));
    if let Some(rt) = runtime_of(*kind) {
        assert_eq!(cp.runtime, Some(rt), "{cp:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ((), peak) = measure(|| {
        let docker = Layout::new(["/var/lib/docker"], ["/var/run/docker"]);
        let parts: Vec<&str> = text.splitn(3, '\n').collect();
        let (layout, mount_point) = match parts[..] {
            [data_roots, exec_roots, mount_point] => (
                Layout::new(data_roots.split(','), exec_roots.split(',')),
                mount_point,
            ),
            _ => (docker.clone(), &*text),
        };
        let got = layout.recognise(mount_point);
        check(&layout, mount_point, &got);

        check_any_runtime(&all_runtimes(), mount_point);

        let plain = docker.recognise(mount_point);
        check(&docker, mount_point, &plain);
        if mount_point.starts_with('/') {
            assert_eq!(
                docker.recognise(&format!("/host{mount_point}")),
                plain,
                "a /host prefix changed the answer"
            );
        }
    });
    assert_linear("classify", peak, data.len(), 64, 64 << 10);
});
