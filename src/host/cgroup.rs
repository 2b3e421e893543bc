//! Which systemd unit (and which container) a process belongs to, from `/proc/<pid>/cgroup`.
//! Pure: works on the parsed lines.

use procfs::ProcessCGroup;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupOwner {
    /// Last `*.service` or `*.scope` component of the systemd path.
    pub unit: Option<String>,
    /// Set when the process itself runs in a container (`docker-<id>.scope`, `/docker/<id>`).
    pub container_id: Option<String>,
}

/// Picks the systemd view of the process: the v1 `name=systemd` hierarchy on legacy and
/// hybrid hosts, else the v2 line `0::`.
pub fn owner(groups: &[ProcessCGroup]) -> CgroupOwner {
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
        (None, None) => return CgroupOwner::default(),
    };
    owner_from_path(path)
}

/// Parses a whole `/proc/<pid>/cgroup` file. A cgroup path is whatever its creator named the
/// directory: invalid UTF-8 becomes U+FFFD (procfs's own reader fails on the whole file, and
/// the process's unit was lost with it).
pub fn owner_from_bytes(text: &[u8]) -> procfs::ProcResult<CgroupOwner> {
    use procfs::FromRead;
    let text = String::from_utf8_lossy(text);
    let groups = procfs::ProcessCGroups::from_read(text.as_bytes())?;
    Ok(owner(&groups.0))
}

pub fn owner_from_path(path: &str) -> CgroupOwner {
    // Inside a cgroup namespace the path may climb out with `/..`: those parts name nothing.
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != "..")
        .collect();
    let unit = parts
        .iter()
        .rev()
        .find(|p| p.ends_with(".service") || p.ends_with(".scope"))
        .map(|p| p.to_string());
    let mut container_id = None;
    for (i, p) in parts.iter().enumerate() {
        let scoped = p
            .strip_suffix(".scope")
            .and_then(|s| s.strip_prefix("docker-"));
        let cgroupfs = (i > 0 && parts[i - 1] == "docker").then_some(*p);
        if let Some(id) = scoped.or(cgroupfs).filter(|id| is_container_id(id)) {
            container_id = Some(id.to_string());
        }
    }
    CgroupOwner { unit, container_id }
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

    fn parse(text: &str) -> CgroupOwner {
        let groups = ProcessCGroups::from_read(text.as_bytes()).unwrap();
        owner(&groups.0)
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
            "procfs now takes invalid UTF-8: owner_from_bytes may be simplified"
        );
        let got = owner_from_bytes(&raw).unwrap();
        assert_eq!(
            got.unit.as_deref(),
            Some(format!("docker-{ID}.scope").as_str())
        );
        assert_eq!(got.container_id.as_deref(), Some(ID));
        let v2 = owner_from_bytes(b"0::/system.slice/web\xff.service\n").unwrap();
        assert_eq!(v2.unit.as_deref(), Some("web\u{fffd}.service"));
        assert!(owner_from_bytes(b"garbage\n").is_err());
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
            // a service's sub-cgroup: the last unit component wins
            ("0::/system.slice/containerd.service/kubepods-burstable.slice\n".into(), Some("containerd.service"), None),
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
            assert_eq!(got.container_id.as_deref(), container, "{text}");
        }
    }
}
