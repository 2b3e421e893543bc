//! What a node's own processes say about where runtimes keep their mounts: a daemon's
//! command line and configuration file (read through `/proc/<pid>`), a running kubelet's
//! `--root-dir`, and paths with their symlinks resolved as the host sees them.

use std::path::Path;

use crate::layout::{Layout, RootKind};

/// The state directory the daemon serving the socket was given: `--state` on its command
/// line, else `state = "..."` at the top of its configuration file (`--config`/`-c`,
/// default `/etc/containerd/config.toml`; containerd cmd/containerd/command/main.go, and
/// `State string toml:"state"` in its server config). k3s and RKE2 write theirs into the
/// file they pass (`state = "/run/k3s/containerd"`, k3s pkg/agent/templates). `None`: the
/// daemon says nothing, so containerd's default `/run/containerd` holds.
pub(crate) fn daemon_state(
    args: &[String],
    read_file: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if let Some(state) = flag_value(args, &["state"]) {
        return Some(state.to_string());
    }
    let config = flag_value(args, &["config", "c"]).unwrap_or("/etc/containerd/config.toml");
    toml_top_level_string(&read_file(config)?, "state")
}

/// The last value of a flag on a Go (urfave/cli) command line: `--name v`, `--name=v`,
/// `-name v` or `-name=v`, for any of `names`.
pub(crate) fn flag_value<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    let mut value = None;
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        if names.contains(&name) {
            value = inline.or_else(|| it.next().map(String::as_str));
        }
    }
    value
}

/// A string key before the first table of a TOML file (`key = "v"` or `key = 'v'`); a
/// basic string with escapes is not read (no containerd path needs one).
fn toml_top_level_string(text: &str, key: &str) -> Option<String> {
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            return None;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim().trim_matches('"') != key {
            continue;
        }
        let v = v.trim();
        let quote = v.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let (value, _) = v[1..].split_once(quote)?;
        return (!value.contains('\\')).then(|| value.to_string());
    }
    None
}

/// kubelet's root directories: the flag's, and each running kubelet's `--root-dir` (kubelet
/// cmd/kubelet/app/options; k0s passes `/var/lib/k0s/kubelet`); each also as its symlinks
/// resolve on the host, since mountinfo names a mount point by its real path.
pub(crate) fn kubelet_roots(procfs: &Path, configured: &str) -> Layout {
    // Each root with the process it is resolved through: the flag's through PID 1's root
    // (the host's), a kubelet's `--root-dir` through that kubelet's own root.
    let mut given = vec![(configured.to_string(), procfs.join("1/root"))];
    for entry in std::fs::read_dir(procfs).into_iter().flatten().flatten() {
        let comm = std::fs::read(entry.path().join("comm")).unwrap_or_default();
        if comm != b"kubelet\n" {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args = split_cmdline(&cmdline);
        if let Some(root) = flag_value(&args, &["root-dir"]).filter(|r| r.starts_with('/')) {
            given.push((root.to_string(), entry.path().join("root")));
        }
    }
    let mut roots: Vec<String> = given.iter().map(|(r, _)| r.clone()).collect();
    roots.extend(given.iter().filter_map(|(r, via)| resolve_symlinks(via, r)));
    roots.sort();
    roots.dedup();
    if roots.len() > 1 {
        tracing::info!(roots = ?roots, "kubelet root directories");
    }
    Layout::default().with(RootKind::KubeletRoot, roots)
}

/// `path` with every symlink in it resolved as it would be under `root` (a process's
/// `/proc/<pid>/root`), `..` applied after resolving; `None` past 40 links (a loop, as
/// the kernel's ELOOP) or a link that is not UTF-8. Components that do not exist stay.
fn resolve_symlinks(root: &Path, path: &str) -> Option<String> {
    let mut done: Vec<String> = Vec::new();
    let mut todo: std::collections::VecDeque<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let here = root.join(done.join("/")).join(&c);
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return None;
                }
                let target = std::fs::read_link(&here).ok()?;
                let target = target.to_str()?;
                if target.starts_with('/') {
                    done.clear();
                }
                for (i, t) in target.split('/').filter(|t| !t.is_empty()).enumerate() {
                    todo.insert(i, t.to_string());
                }
            }
            _ => done.push(c),
        }
    }
    Some(format!("/{}", done.join("/")))
}

/// A NUL-separated `/proc/<pid>/cmdline` as arguments.
pub(crate) fn split_cmdline(cmdline: &[u8]) -> Vec<String> {
    cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_directory_the_daemon_was_given() {
        let k3s_config = "version = 2\n\nroot = \"/var/lib/rancher/k3s/agent/containerd\"\n\
                          state = \"/run/k3s/containerd\"\n\n[grpc]\n  address = \"/x\"\n";
        let files = |path: &str| -> Option<String> {
            match path {
                "/var/lib/rancher/k3s/agent/etc/containerd/config.toml" => Some(k3s_config.into()),
                "/etc/containerd/config.toml" => Some("# all defaults\n".into()),
                "/etc/k0s/containerd.toml" => Some("state = '/run/k0s/containerd' # k0s\n".into()),
                "/etc/odd.toml" => Some("[debug]\nstate = \"/not/top/level\"\n".into()),
                "/etc/escaped.toml" => Some("state = \"/run/a\\\\b\"\n".into()),
                _ => None,
            }
        };
        let cases: &[(&[&str], Option<&str>)] = &[
            // k3s and RKE2 pass their generated config (and the state flag, on some versions).
            (
                &[
                    "containerd",
                    "-c",
                    "/var/lib/rancher/k3s/agent/etc/containerd/config.toml",
                    "-a",
                    "/run/k3s/containerd/containerd.sock",
                ],
                Some("/run/k3s/containerd"),
            ),
            (
                &[
                    "containerd",
                    "--config=/etc/k0s/containerd.toml",
                    "--state",
                    "/run/k0s/x",
                ],
                Some("/run/k0s/x"),
            ),
            (&["containerd", "-state=/s1", "--state=/s2"], Some("/s2")),
            (
                &["containerd", "--config", "/etc/k0s/containerd.toml"],
                Some("/run/k0s/containerd"),
            ),
            // Defaults everywhere: containerd's default state, which the flags already name.
            (&["/usr/bin/containerd"], None),
            (&["containerd", "--config", "/etc/odd.toml"], None),
            (&["containerd", "--config", "/etc/escaped.toml"], None),
            (&["containerd", "--config", "/missing.toml"], None),
            // A flag without its value is no value.
            (&["containerd", "--state"], None),
        ];
        for (args, want) in cases {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            assert_eq!(daemon_state(&args, files).as_deref(), *want, "{args:?}");
        }
    }

    #[test]
    fn symlinks_resolve_under_the_given_root() {
        use std::os::unix::fs::symlink;
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("data/kubelet/pods")).unwrap();
        std::fs::create_dir_all(r.join("var/lib")).unwrap();
        std::fs::create_dir_all(r.join("srv")).unwrap();
        // Absolute targets are the root's, not this process's.
        symlink("/data/kubelet", r.join("var/lib/kubelet")).unwrap();
        symlink("../data/kubelet", r.join("srv/k")).unwrap();
        symlink("loop", r.join("loop")).unwrap();
        let cases = [
            ("/var/lib/kubelet", Some("/data/kubelet")),
            ("/srv/k/pods", Some("/data/kubelet/pods")),
            ("/var/lib/../lib/./kubelet", Some("/data/kubelet")),
            ("/data/kubelet", Some("/data/kubelet")),
            ("/missing/x", Some("/missing/x")),
            ("/loop/x", None),
        ];
        for (path, want) in cases {
            assert_eq!(resolve_symlinks(r, path).as_deref(), want, "{path}");
        }
    }
}
