"""The systemd unit: no mount namespace, only CAP_SYS_PTRACE, and systemd accepts it."""

import re
import shutil
import subprocess

import pytest

from conftest import DEPLOY, run

UNIT = DEPLOY / "systemd" / "mountleak_exporter.service"
SYSUSERS = DEPLOY / "systemd" / "mountleak_exporter.sysusers"

# Settings that make systemd start the service in a mount namespace of its own: a private
# copy of the host's mount table taken at start, which would hold every container mount of
# that moment after Docker unmounts it (the exporter would leak what it reports). Taken from
# exec_needs_mount_namespace() in systemd's src/core/execute.c (v252 as on Debian 12, and
# newer), plus the settings that imply one of these.
MOUNT_NAMESPACE = {
    "PrivateTmp": "private /tmp and /var/tmp are mounts in a new mount namespace",
    "PrivateDevices": "a private /dev is a mount in a new mount namespace",
    "PrivateMounts": "asks for a mount namespace outright",
    "PrivateNetwork": "implies PrivateMounts= (to remount /sys for the new netns)",
    "NetworkNamespacePath": "implies PrivateMounts=, like PrivateNetwork=",
    "PrivateIPC": "an IPC namespace gets its own /dev/mqueue mount: needs a mount namespace",
    "IPCNamespacePath": "an IPC namespace gets its own /dev/mqueue mount: needs a mount namespace",
    "PrivatePIDs": "a PID namespace needs its own /proc: a mount namespace",
    "PrivateBPF": "a private bpffs is a mount in a new mount namespace",
    "ProtectSystem": "read-only /usr, /boot, /etc are remounts in a new mount namespace",
    "ProtectHome": "hiding /home, /root, /run/user takes a new mount namespace",
    "ProtectKernelTunables": "read-only /proc/sys and /sys are remounts in a new mount namespace",
    "ProtectKernelModules": "hides /usr/lib/modules with a mount in a new mount namespace",
    "ProtectKernelLogs": "hides /proc/kmsg and /dev/kmsg with mounts in a new mount namespace",
    "ProtectControlGroups": "read-only /sys/fs/cgroup is a remount in a new mount namespace",
    "ProtectProc": "remounts /proc with hidepid= in a new mount namespace",
    "ProcSubset": "remounts /proc with subset=pid in a new mount namespace",
    "ReadOnlyPaths": "bind mounts in a new mount namespace",
    "ReadOnlyDirectories": "old name of ReadOnlyPaths=",
    "ReadWritePaths": "bind mounts in a new mount namespace",
    "ReadWriteDirectories": "old name of ReadWritePaths=",
    "InaccessiblePaths": "over-mounts in a new mount namespace",
    "InaccessibleDirectories": "old name of InaccessiblePaths=",
    "ExecPaths": "noexec/exec remounts in a new mount namespace",
    "NoExecPaths": "noexec remounts in a new mount namespace",
    "BindPaths": "bind mounts in a new mount namespace",
    "BindReadOnlyPaths": "bind mounts in a new mount namespace",
    "TemporaryFileSystem": "tmpfs mounts in a new mount namespace",
    "MountFlags": "sets the propagation of a new mount namespace (any value but shared makes one)",
    "RootDirectory": "with MountAPIVFS= or *Directory= it runs in a new mount namespace; "
    "and a chroot shows the exporter another mount table",
    "RootImage": "mounts an image in a new mount namespace",
    "RootImageOptions": "only used with RootImage=",
    "RootEphemeral": "only used with RootDirectory=/RootImage=",
    "MountAPIVFS": "mounts /proc, /sys, /dev in a new mount namespace (with RootDirectory=)",
    "MountImages": "mounts images in a new mount namespace",
    "ExtensionImages": "overlays system extensions in a new mount namespace",
    "ExtensionDirectories": "overlays system extensions in a new mount namespace",
    "DynamicUser": "implies ProtectSystem=strict, ProtectHome=read-only and PrivateTmp=",
    "LogNamespace": "bind-mounts the journal namespace's sockets in a new mount namespace",
    "BindLogSockets": "bind-mounts the journal sockets in a new mount namespace",
    "JoinsNamespaceOf": "joins another unit's namespaces, a mount namespace among them",
}

# Not a mount namespace, but just as fatal: in a new user namespace CAP_SYS_PTRACE no longer
# reaches the host's processes, so no /proc/<pid>/ns/mnt is readable.
OTHER_FORBIDDEN = {
    "PrivateUsers": "a user namespace: CAP_SYS_PTRACE would not reach the host's processes",
}

FORBIDDEN = {**MOUNT_NAMESPACE, **OTHER_FORBIDDEN}

# Checked and allowed: neither appears in exec_needs_mount_namespace(). ProtectHostname=
# makes a UTS namespace; ProtectClock= is seccomp, a capability drop and a device rule.
# RestrictNamespaces= only forbids the service to make namespaces itself.

# StateDirectory=name::ro (and the other *Directory= settings) bind-mount the directory
# read-only, in a new mount namespace.
DIRECTORY_SETTINGS = (
    "RuntimeDirectory",
    "StateDirectory",
    "CacheDirectory",
    "LogsDirectory",
    "ConfigurationDirectory",
)


def parse_unit(text):
    """[(section, key, value)] of a unit file: comments, blank lines and continuations handled."""
    entries = []
    section = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {raw!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def mount_namespace_violations(text):
    """What in a unit file would give the service a mount namespace (or a user namespace)."""
    found = []
    for section, key, value in parse_unit(text):
        if key in FORBIDDEN:
            found.append(f"[{section}] {key}={value}: {FORBIDDEN[key]}")
        if key in DIRECTORY_SETTINGS and re.search(r":ro\b", value):
            found.append(f"[{section}] {key}={value}: a read-only directory is a bind mount")
    return found


def settings(section="Service"):
    result = {}
    for sec, key, value in parse_unit(UNIT.read_text()):
        if sec == section:
            result.setdefault(key, []).append(value)
    return result


def test_unit_has_no_mount_namespace_setting():
    assert mount_namespace_violations(UNIT.read_text()) == []


@pytest.mark.parametrize("key", sorted(FORBIDDEN))
def test_checker_catches_each_forbidden_setting(key):
    text = UNIT.read_text().replace("[Service]\n", f"[Service]\n{key}=yes\n", 1)
    assert any(v.startswith(f"[Service] {key}=") for v in mount_namespace_violations(text))


def test_checker_catches_read_only_directory_and_continuation_lines():
    text = UNIT.read_text().replace("[Service]\n", "[Service]\nStateDirectory=x::ro\n", 1)
    assert mount_namespace_violations(text)
    text = UNIT.read_text().replace("[Service]\n", "[Service]\nLockPersonality=yes \\\n  \nPrivateTmp=yes\n", 1)
    assert mount_namespace_violations(text)


def test_unit_says_why_in_a_comment():
    comments = "\n".join(l for l in UNIT.read_text().splitlines() if l.startswith("#"))
    assert "mount namespace" in comments
    for key in ("PrivateTmp=", "ProtectSystem=", "ProtectHome=", "ReadOnlyPaths="):
        assert key in comments, f"the comment should name {key}"


def test_only_cap_sys_ptrace_for_a_dedicated_user():
    s = settings()
    assert s["CapabilityBoundingSet"] == ["CAP_SYS_PTRACE"]
    assert s["AmbientCapabilities"] == ["CAP_SYS_PTRACE"]
    assert s["NoNewPrivileges"] == ["yes"]
    assert s["User"] == ["mountleak_exporter"], "run as the sysusers.d user, not root"


def test_hardening_without_mount_namespace_is_there():
    s = settings()
    assert s["RestrictNamespaces"] == ["yes"]
    assert s["SystemCallArchitectures"] == ["native"]
    assert "@system-service" in s["SystemCallFilter"]
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    for key in ("LockPersonality", "MemoryDenyWriteExecute", "RestrictRealtime", "RestrictSUIDSGID"):
        assert s[key] == ["yes"], key


def test_exec_start_runs_the_exporter_serving():
    (exec_start,) = settings()["ExecStart"]
    assert exec_start.split()[0] == "/usr/local/bin/mountleak_exporter"
    assert "scan" not in exec_start.split()


def _unit_with_existing_binary(tmp_path):
    # systemd-analyze verify checks that ExecStart= names an executable.
    text = UNIT.read_text().replace("/usr/local/bin/mountleak_exporter", shutil.which("true"))
    path = tmp_path / UNIT.name
    path.write_text(text)
    return path


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    # Unknown or misspelt settings are only warnings to systemd: fail on any output but the
    # one the unit documents (a libseccomp older than 2.6 cannot name listmount/statmount).
    proc = run(["systemd-analyze", "verify", str(_unit_with_existing_binary(tmp_path))])
    unnamed = re.compile(r".*: Failed to parse system call, ignoring: (listmount|statmount)$")
    rest = [l for l in proc.stderr.splitlines() if l.strip() and not unnamed.match(l)]
    assert proc.stdout.strip() == "" and rest == [], proc.stderr


def test_systemd_analyze_verify_would_catch_a_typo(tmp_path):
    path = _unit_with_existing_binary(tmp_path)
    path.write_text(path.read_text().replace("LockPersonality=", "LockPersonalty="))
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert "LockPersonalty" in proc.stderr


def test_exposure_score_stays_low(tmp_path):
    # systemd's own rating of the sandbox (0 best, 10 worst); 3.4 when written. The missing
    # points are almost all the mount-namespace settings this unit must not use.
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=40",
         str(_unit_with_existing_binary(tmp_path))],
        capture_output=True, text=True,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 4.0, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sysusers_creates_the_user_in_the_docker_group(tmp_path):
    conf = tmp_path / "usr/lib/sysusers.d/mountleak_exporter.conf"
    conf.parent.mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    conf.write_text(SYSUSERS.read_text())
    run(["systemd-sysusers", f"--root={tmp_path}"])
    passwd = {l.split(":")[0]: l.split(":") for l in (tmp_path / "etc/passwd").read_text().splitlines()}
    groups = {l.split(":")[0]: l.split(":") for l in (tmp_path / "etc/group").read_text().splitlines()}
    user = passwd["mountleak_exporter"]
    assert int(user[2]) < 1000, "a system user"
    assert user[6] == "/usr/sbin/nologin"
    assert groups["docker"][3].split(",") == ["mountleak_exporter"]
    assert "mountleak_exporter" in groups
