"""Container files: the release Dockerfile and the rootfs the local image is made of."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import DEPLOY, REPO, run

CONTAINER = DEPLOY / "container"
DOCKERFILE = CONTAINER / "Dockerfile"


def final_stage():
    text = DOCKERFILE.read_text()
    stages = re.split(r"(?m)^FROM ", text)
    return "FROM " + stages[-1]


def test_final_stage_is_scratch_with_the_rootfs_only():
    lines = [l for l in final_stage().splitlines() if l and not l.startswith("#")]
    assert lines[0] == "FROM scratch"
    assert [l for l in lines if l.startswith(("COPY", "ADD", "RUN"))] == ["COPY --from=build /rootfs/ /"]
    assert "ENV MOUNTLEAK_PATH_PROCFS=/host/proc" in lines
    assert "EXPOSE 39101" in lines
    assert 'ENTRYPOINT ["/usr/local/bin/mountleak_exporter"]' in lines


def test_build_stage_uses_the_shared_rootfs_script():
    assert "deploy/container/collect-rootfs.sh target/release/mountleak_exporter /rootfs" in DOCKERFILE.read_text()
    assert "cargo build --release --locked" in DOCKERFILE.read_text()


def needs_root():
    if os.geteuid() != 0:
        pytest.fail("this test needs root (chroot into the collected rootfs)")


def test_the_build_stage_stamps_the_revision_it_is_given():
    # The build context has no .git (build.rs would say "unknown"): the builder passes the
    # revision, and the build stage hands it to build.rs as MOUNTLEAK_REVISION.
    text = DOCKERFILE.read_text()
    build = re.split(r"(?m)^FROM ", text)[1]
    assert re.search(r"(?m)^ARG REVISION(=|$)", build), build
    assert re.search(r'(?m)^RUN MOUNTLEAK_REVISION="\$REVISION" cargo build ', build), build
    assert "--build-arg REVISION=" in text, "the header says how to pass it"
    build_rs = (REPO / "build.rs").read_text()
    assert 'std::env::var("MOUNTLEAK_REVISION")' in build_rs


def test_rootfs_of_a_dynamic_binary_runs_in_an_empty_root(tmp_path):
    needs_root()
    # `env` links like the exporter does (libc and the loader) and proves it ran by printing.
    binary = shutil.which("env")
    run([str(CONTAINER / "collect-rootfs.sh"), binary, str(tmp_path / "rootfs")])
    files = sorted(str(p.relative_to(tmp_path / "rootfs")) for p in (tmp_path / "rootfs").rglob("*") if p.is_file())
    assert "usr/local/bin/mountleak_exporter" in files
    assert any(f.startswith("lib64/ld-linux") for f in files), files
    assert any(f.endswith("/libc.so.6") for f in files), files
    proc = run(["chroot", str(tmp_path / "rootfs"), "/usr/local/bin/mountleak_exporter", "-i", "A=1"])
    assert proc.stdout == "A=1\n"


def test_rootfs_of_a_static_binary_is_the_binary_alone(tmp_path):
    busybox = shutil.which("busybox")
    assert busybox, "busybox missing (Debian package busybox-static)"
    ldd = subprocess.run(["ldd", busybox], capture_output=True, text=True)
    assert "not a dynamic executable" in ldd.stdout + ldd.stderr, "busybox is not the static build"
    run([str(CONTAINER / "collect-rootfs.sh"), busybox, str(tmp_path / "rootfs")])
    files = [str(p.relative_to(tmp_path / "rootfs")) for p in (tmp_path / "rootfs").rglob("*") if p.is_file()]
    assert files == ["usr/local/bin/mountleak_exporter"]


def test_rootfs_script_refuses_a_missing_binary(tmp_path):
    proc = subprocess.run([str(CONTAINER / "collect-rootfs.sh"), str(tmp_path / "nope"), str(tmp_path / "r")],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "cargo build --release" in proc.stderr


def test_shell_scripts_pass_shellcheck():
    scripts = sorted(str(p) for p in DEPLOY.rglob("*.sh")) + [str(REPO / "tests/deploy/run.sh")]
    run(["shellcheck", *scripts])
