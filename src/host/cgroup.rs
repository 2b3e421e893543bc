//! Which systemd unit (and which container) a process belongs to, from `/proc/<pid>/cgroup`.
//! Pure: works on the parsed lines.

use procfs::ProcessCGroup;
use serde::Serialize;

/// Where a process sits in the systemd cgroup tree: its unit, and the container it runs in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupPlace {
    /// The unit as systemd resolves it ([`place_from_path`]): the system manager's unit, or
    /// `user@<uid>.service/<unit>` for a unit of a user's manager.
    pub unit: Option<String>,
    /// The container the process itself runs in, of any engine (`docker-<id>.scope`,
    /// `/docker/<id>`, `libpod-<id>.scope`, `cri-containerd-<id>.scope`,
    /// `/kubepods/.../pod<uid>/<id>`, ...), and who runs it: the fix is
    /// [`ContainerEngine::restart_command`]. Only where the host's engines put containers:
    /// never inside another unit's delegated subtree (see [`place_from_path`]).
    pub container: Option<(ContainerEngine, String)>,
}

/// What runs a container that holds a leak (not necessarily a runtime the exporter watches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerEngine {
    Docker,
    Podman,
    /// A Kubernetes container of any CRI runtime (containerd, CRI-O): kubelet owns it.
    Cri,
}

impl ContainerEngine {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerEngine::Docker => "docker",
            ContainerEngine::Podman => "podman",
            ContainerEngine::Cri => "cri",
        }
    }

    /// The command that gives the container a fresh mount namespace. Kubelet's containers
    /// are stopped, not restarted in place: kubelet starts a new one (restartPolicy allowing).
    pub fn restart_command(self, container_id: &str) -> String {
        // Characters, not bytes: an id from elsewhere than a cgroup path may be any text.
        let short: String = container_id.chars().take(12).collect();
        let short = crate::quote::shell(&short);
        match self {
            ContainerEngine::Docker => format!("docker restart {short}"),
            ContainerEngine::Podman => format!("podman restart {short}"),
            ContainerEngine::Cri => format!("crictl stop {short}"),
        }
    }
}

/// Picks the systemd view of the process: the v1 `name=systemd` hierarchy on legacy and
/// hybrid hosts, else the v2 line `0::`.
pub fn place(groups: &[ProcessCGroup]) -> CgroupPlace {
    let v1 = groups
        .iter()
        .find(|g| g.controllers.iter().any(|c| c == "name=systemd"));
    let v2 = groups
        .iter()
        .find(|g| g.hierarchy == 0 && g.controllers.is_empty());
    let path = match (v1, v2) {
        (Some(a), Some(b)) if a.pathname == "/" => &b.pathname,
        (Some(a), _) => &a.pathname,
        (None, Some(b)) => &b.pathname,
        (None, None) => return CgroupPlace::default(),
    };
    place_from_path(path)
}

/// Parses a whole `/proc/<pid>/cgroup` file. A cgroup path is whatever its creator named the
/// directory: invalid UTF-8 becomes U+FFFD (procfs's own reader fails on the whole file, and
/// the process's unit was lost with it).
pub fn place_from_bytes(text: &[u8]) -> procfs::ProcResult<CgroupPlace> {
    use procfs::FromRead;
    let text = String::from_utf8_lossy(text);
    let groups = procfs::ProcessCGroups::from_read(text.as_bytes())?;
    Ok(place(&groups.0))
}

/// Resolves a systemd cgroup path the way systemd does (src/basic/cgroup-util.c,
/// `cg_path_get_unit`, `skip_slices`, `cg_path_get_user_unit`): slices are skipped and the
/// first other component is the unit, if it is a valid unit name. Whatever lies below it
/// is that unit's own (delegated) subtree, named by whoever runs in it: a process under
/// `user@1000.service/app.slice/docker.service` belongs to user 1000's manager, not to the
/// system's docker.service, so a lower component never names the unit.
pub fn place_from_path(path: &str) -> CgroupPlace {
    // Inside a cgroup namespace the path may climb out with `/..`: those parts name nothing.
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != "..")
        .collect();
    let system = first_unit(&parts);
    let container = container_in(&parts, system.as_ref().map(|s| s.1));
    let unit = system.map(|(unit, i)| match first_unit(&parts[i + 1..]) {
        Some((inner, _)) if is_user_manager(&unit) => format!("{unit}/{inner}"),
        _ => unit,
    });
    CgroupPlace { unit, container }
}

/// The first component after the slices, unescaped, when it is a unit name (not a slice),
/// and its index.
fn first_unit(parts: &[&str]) -> Option<(String, usize)> {
    let i = parts
        .iter()
        .position(|p| !(p.ends_with(".slice") && is_unit_name(cg_unescape(p))))?;
    let unit = cg_unescape(parts[i]);
    (is_unit_name(unit) && !unit.ends_with(".slice")).then(|| (unit.to_string(), i))
}

fn is_user_manager(unit: &str) -> bool {
    unit.starts_with("user@") && unit.ends_with(".service")
}

/// systemd prefixes a cgroup name with `_` where it would clash with a kernel name
/// (`cg_escape`); `cg_unescape` drops it.
fn cg_unescape(part: &str) -> &str {
    part.strip_prefix('_').unwrap_or(part)
}

/// A unit name systemd would accept (src/basic/unit-name.c, `unit_name_is_valid` with
/// plain and instance names): `prefix[@instance].type`, at most 255 bytes, the prefix and
/// instance made of ASCII letters, digits and `:-_.\`, the type one systemd knows. So
/// a valid name never holds a quote, a space or a shell metacharacter (the `\` of
/// systemd's escaping is quoted like any other byte where a name is printed).
pub fn is_unit_name(name: &str) -> bool {
    const TYPES: &[&str] = &[
        "service",
        "socket",
        "target",
        "device",
        "mount",
        "automount",
        "swap",
        "timer",
        "path",
        "slice",
        "scope",
    ];
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":-_.\\".contains(&b))
    };
    let Some((stem, suffix)) = name.rsplit_once('.') else {
        return false;
    };
    if name.len() > 255 || !TYPES.contains(&suffix) {
        return false;
    }
    match stem.split_once('@') {
        Some((prefix, instance)) => {
            valid(prefix) && (instance.is_empty() || valid(instance.replace('@', "").as_str()))
        }
        None => valid(stem),
    }
}

/// The container a process runs in, where the host's engines put containers: a container
/// scope that is itself the process's unit, or a cgroupfs-driver directory outside any unit
/// (`/docker/<id>`, `/kubepods/...`). A container-shaped name inside another unit's
/// subtree is whatever its delegate chose to call it (a user's manager, a rootless engine,
/// an engine nested in a container): `docker restart <id>` as root would act on the host's
/// engine, so it is not trusted. Nested containers resolve to the outermost one: restarting
/// it gives everything inside a fresh namespace.
fn container_in(parts: &[&str], unit_at: Option<usize>) -> Option<(ContainerEngine, String)> {
    let last = unit_at
        .unwrap_or(parts.len())
        .min(parts.len().checked_sub(1)?);
    (0..=last).find_map(|i| {
        let parent = i.checked_sub(1).map(|j| parts[j]);
        let (engine, id) = container_of(parts[0], parent, parts[i])?;
        is_container_id(id).then(|| (engine, id.to_string()))
    })
}

/// A cgroup path component that names a container, by the conventions of each engine's
/// cgroup driver. The id is checked by the caller: `libpod-conmon-<id>.scope` (Podman's
/// monitor, outside the container) gives `conmon-<id>`, which is no id.
fn container_of<'a>(
    top: &str,
    parent: Option<&str>,
    part: &'a str,
) -> Option<(ContainerEngine, &'a str)> {
    use ContainerEngine::*;
    // systemd driver: one scope per container.
    if let Some(name) = part.strip_suffix(".scope") {
        for (prefix, engine) in [
            ("docker-", Docker),
            ("libpod-", Podman),
            ("cri-containerd-", Cri),
            ("crio-", Cri),
        ] {
            if let Some(id) = name.strip_prefix(prefix) {
                return Some((engine, id));
            }
        }
        return None;
    }
    // cgroupfs driver: a directory named by the id under the engine's parent.
    match parent? {
        "docker" => Some((Docker, part)),
        // Podman: `/libpod_parent/libpod-<id>`, and `libpod/<id>` under some parents.
        "libpod_parent" => Some((Podman, part.strip_prefix("libpod-")?)),
        "libpod" => Some((Podman, part)),
        // kubelet: `/kubepods[/<qos>]/pod<uid>/<id>`, whatever CRI runtime runs it.
        p if top == "kubepods" && p.starts_with("pod") => Some((Cri, part)),
        _ => None,
    }
}

pub fn is_container_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use procfs::FromRead;
    use procfs::ProcessCGroups;

    const ID: &str = "ca74eaa1b342c64a7f6c558299bedf74a5b7016c194e885bf290281161605d58";
    const ID2: &str = "9e1f2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    fn docker_id(place: &CgroupPlace) -> Option<&str> {
        place
            .container
            .as_ref()
            .filter(|c| c.0 == ContainerEngine::Docker)
            .map(|c| c.1.as_str())
    }

    fn parse(text: &str) -> CgroupPlace {
        let groups = ProcessCGroups::from_read(text.as_bytes()).unwrap();
        place(&groups.0)
    }

    #[test]
    fn invalid_utf8_in_a_cgroup_path_keeps_the_unit() {
        // Found fuzzing: procfs reads the file with `lines()`, which fails on invalid UTF-8
        // anywhere in it, so the holder's unit (and with it the suggested fix) was lost.
        let mut raw = b"2:cpu:/caf\xe9\n".to_vec();
        raw.extend(format!("1:name=systemd:/system.slice/docker-{ID}.scope\n").bytes());
        raw.extend(b"0::/x\xff.service\n");
        assert!(
            ProcessCGroups::from_read(&raw[..]).is_err(),
            "procfs now takes invalid UTF-8: place_from_bytes may be simplified"
        );
        let got = place_from_bytes(&raw).unwrap();
        assert_eq!(
            got.unit.as_deref(),
            Some(format!("docker-{ID}.scope").as_str())
        );
        assert_eq!(docker_id(&got), Some(ID));
        // Not a unit name systemd could have made: no unit, so no `systemctl` line.
        let v2 = place_from_bytes(b"0::/system.slice/web\xff.service\n").unwrap();
        assert_eq!(v2.unit, None);
        assert!(place_from_bytes(b"garbage\n").is_err());
    }

    #[test]
    fn a_delegated_subtree_names_neither_the_unit_nor_the_container() {
        // Issue 12: a user names the cgroups below `user@<uid>.service` (systemd delegates
        // them), and any name is possible on a host without systemd. `docker.service` down
        // there is the user's; a host-looking container scope there is a rootless engine's.
        let cases: Vec<(String, Option<String>, bool)> = vec![
            (
                "/user.slice/user-1000.slice/user@1000.service/app.slice/docker.service".into(),
                Some("user@1000.service/docker.service".into()),
                false,
            ),
            (
                format!(
                    "/user.slice/user-1000.slice/user@1000.service/user.slice/docker-{ID}.scope"
                ),
                Some(format!("user@1000.service/docker-{ID}.scope")),
                false,
            ),
            (
                "/user.slice/user-1000.slice/user@1000.service/init.scope".into(),
                Some("user@1000.service/init.scope".into()),
                false,
            ),
            (
                "/user.slice/user-1000.slice/user@1000.service".into(),
                Some("user@1000.service".into()),
                false,
            ),
            (
                format!("/system.slice/foo.service/docker-{ID}.scope"),
                Some("foo.service".into()),
                false,
            ),
            ("/system.slice/x;id;$(id)`id`.service".into(), None, false),
            ("/x'y.service".into(), None, false),
            ("/system.slice/a b.service".into(), None, false),
            // systemd's own spellings: templates, escapes, the `_` of cg_escape.
            (
                "/system.slice/system-getty.slice/getty@tty1.service".into(),
                Some("getty@tty1.service".into()),
                false,
            ),
            (
                "/system.slice/systemd-fsck@dev-disk-by\\x2duuid-0a.service".into(),
                Some("systemd-fsck@dev-disk-by\\x2duuid-0a.service".into()),
                false,
            ),
            (
                "/system.slice/_cpu.service".into(),
                Some("cpu.service".into()),
                false,
            ),
            (
                format!("/system.slice/docker-{ID}.scope"),
                Some(format!("docker-{ID}.scope")),
                true,
            ),
        ];
        for (path, unit, container) in cases {
            let got = place_from_path(&path);
            assert_eq!(got.unit, unit, "unit of {path}");
            assert_eq!(got.container.is_some(), container, "container of {path}");
        }
    }

    #[test]
    fn unit_names_table() {
        for ok in [
            "a.service",
            "getty@tty1.service",
            "user@.service",
            "a:b-c_d.e\\x2d.scope",
        ] {
            assert!(is_unit_name(ok), "{ok}");
        }
        let long = format!("{}.service", "a".repeat(250));
        for bad in [
            "",
            ".service",
            "a",
            "a.serv",
            "a b.service",
            "a;b.service",
            "a'b.service",
            "a$(id).service",
            "a`id`.service",
            "@x.service",
            "a/b.service",
            &long,
        ] {
            assert!(!is_unit_name(bad), "{bad}");
        }
    }

    #[test]
    fn unit_table() {
        let scope = format!("docker-{ID}.scope");
        let cases: Vec<(String, Option<&str>, Option<&str>)> = vec![
            // RHEL 7 (cgroup v1) httpd of the incident.
            ("1:name=systemd:/system.slice/httpd.service\n2:cpu,cpuacct:/system.slice/httpd.service\n".into(), Some("httpd.service"), None),
            ("0::/system.slice/httpd.service\n".into(), Some("httpd.service"), None),
            // hybrid: both, same path
            ("9:name=systemd:/system.slice/a.service\n0::/system.slice/a.service\n".into(), Some("a.service"), None),
            // hybrid host without systemd: v1 at root, v2 tells
            ("9:name=systemd:/\n0::/system.slice/b.service\n".into(), Some("b.service"), None),
            ("0::/user.slice/user-1000.slice/session-3.scope\n".into(), Some("session-3.scope"), None),
            // a service's sub-cgroup (its delegated subtree) is still the service's
            ("0::/system.slice/containerd.service/kubepods-burstable.slice\n".into(), Some("containerd.service"), None),
            ("0::/system.slice/a.service/x/b.service\n".into(), Some("a.service"), None),
            // inside a cgroup namespace
            ("0::/../../system.slice/httpd.service\n".into(), Some("httpd.service"), None),
            ("0::/\n".into(), None, None),
            ("12:pids:/\n".into(), None, None),
            // a container as holder: systemd driver, then cgroupfs driver
            (format!("0::/system.slice/{scope}\n"), Some(&scope), Some(ID)),
            (format!("1:name=systemd:/docker/{ID}\n"), None, Some(ID)),
            ("0::/docker/notanid\n".into(), None, None),
        ];
        for (text, unit, container) in cases {
            let got = parse(&text);
            assert_eq!(got.unit.as_deref(), unit, "{text}");
            assert_eq!(docker_id(&got), container, "{text}");
        }
    }

    /// Container holders of every engine and cgroup driver, as /proc/<pid>/cgroup shows
    /// them (cgroup v2 line, or v1 name=systemd): (path, unit, engine).
    #[test]
    fn container_holders_of_each_engine() {
        use ContainerEngine::*;
        let pod = "pod6b3c1e2a-9f4d-4c8e-b1a7-0d2e3f4a5b6c";
        let pod_slice = "kubepods-burstable-pod6b3c1e2a_9f4d_4c8e_b1a7_0d2e3f4a5b6c.slice";
        let cases: Vec<(String, Option<String>, Option<ContainerEngine>)> = vec![
            // Docker: systemd driver, cgroupfs driver, under kubelet (cri-dockerd, systemd).
            (
                format!("/system.slice/docker-{ID}.scope"),
                Some(format!("docker-{ID}.scope")),
                Some(Docker),
            ),
            (format!("/docker/{ID}"), None, Some(Docker)),
            (
                format!("/kubepods.slice/kubepods-burstable.slice/{pod_slice}/docker-{ID}.scope"),
                Some(format!("docker-{ID}.scope")),
                Some(Docker),
            ),
            // Podman: systemd driver (v2 puts the processes one level down), cgroupfs.
            (
                format!("/machine.slice/libpod-{ID}.scope"),
                Some(format!("libpod-{ID}.scope")),
                Some(Podman),
            ),
            (
                format!("/machine.slice/libpod-{ID}.scope/container"),
                Some(format!("libpod-{ID}.scope")),
                Some(Podman),
            ),
            (format!("/libpod_parent/libpod-{ID}"), None, Some(Podman)),
            (format!("/libpod/{ID}"), None, Some(Podman)),
            // Podman's monitor runs beside the container, not in it.
            (
                format!("/machine.slice/libpod-conmon-{ID}.scope"),
                Some(format!("libpod-conmon-{ID}.scope")),
                None,
            ),
            ("/libpod_parent/conmon".to_string(), None, None),
            // containerd (CRI) and CRI-O under kubelet: systemd driver, cgroupfs driver.
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/{pod_slice}/cri-containerd-{ID}.scope"
                ),
                Some(format!("cri-containerd-{ID}.scope")),
                Some(Cri),
            ),
            (
                format!("/kubepods.slice/{pod_slice}/crio-{ID}.scope"),
                Some(format!("crio-{ID}.scope")),
                Some(Cri),
            ),
            (
                format!("/kubepods.slice/{pod_slice}/crio-conmon-{ID}.scope"),
                Some(format!("crio-conmon-{ID}.scope")),
                None,
            ),
            (format!("/kubepods/burstable/{pod}/{ID}"), None, Some(Cri)),
            (format!("/kubepods/besteffort/{pod}/{ID}"), None, Some(Cri)),
            (format!("/kubepods/{pod}/{ID}"), None, Some(Cri)),
            // The pod's own cgroup holds no container; kubelet's id-looking siblings elsewhere
            // are not containers either.
            (format!("/kubepods/burstable/{pod}"), None, None),
            (format!("/other/{pod}/{ID}"), None, None),
            // containerd's own unit and a `ctr run` container (`/<namespace>/<name>`: a
            // name, not an id, so nothing to restart by id).
            (
                "/system.slice/containerd.service".to_string(),
                Some("containerd.service".to_string()),
                None,
            ),
            ("/default/web".to_string(), None, None),
            // A Docker container nested in a Podman one: the host restarts the outer one (the
            // inner name is whatever the Podman container's delegate wrote).
            (
                format!("/machine.slice/libpod-{ID}.scope/docker/{ID2}"),
                Some(format!("libpod-{ID}.scope")),
                Some(Podman),
            ),
        ];
        for (path, unit, engine) in cases {
            for text in [
                format!("0::{path}\n"),
                format!("1:name=systemd:{path}\n0::/\n"),
            ] {
                let got = parse(&text);
                assert_eq!(got.unit, unit, "unit of {text}");
                assert_eq!(
                    got.container.as_ref().map(|c| c.0),
                    engine,
                    "engine of {text}"
                );
                if let Some((_, id)) = &got.container {
                    assert!(
                        is_container_id(id) && path.contains(id.as_str()),
                        "{id} is not from {path}"
                    );
                }
            }
        }
    }

    #[test]
    fn restart_commands_name_each_engine_tool() {
        use ContainerEngine::*;
        assert_eq!(Docker.restart_command(ID), "docker restart ca74eaa1b342");
        assert_eq!(Podman.restart_command(ID), "podman restart ca74eaa1b342");
        assert_eq!(Cri.restart_command(ID), "crictl stop ca74eaa1b342");
        assert_eq!(
            Docker.restart_command("0123456789aé-more"),
            "docker restart '0123456789aé'"
        );
    }
}
