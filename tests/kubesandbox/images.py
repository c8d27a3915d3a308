"""Which local program stands in for which container image.

`IMAGES` is a plain dict callers may extend (`kubesandbox.IMAGES["my/image"] = Image("my-prog", [...])`
or per sandbox via `Sandbox(images=...)`). A key matches the whole image reference or its repository
part (before `:tag`); the tag is then available to the argument template as `{tag}`.
Template fields: {ip} pod IP, {port} the container's first declared port, {tag}, {pod},
{namespace}, and {minute} (env SCENARIO_MINUTE, default 1s: how long a scenario's "minute" lasts).
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Image:
    program: str  # a directory under tests/programs (built with tests/gobuild.py) or an executable's path
    args: list[str] = field(default_factory=list)  # the image's entrypoint arguments (templated)
    env: dict[str, str] = field(default_factory=dict)  # the image's ENV
    # Executables on the image's PATH, for a container `command` (which replaces the entrypoint and
    # its arguments, as in Docker): name -> local path. A name not listed runs as given.
    commands: dict[str, str] = field(default_factory=dict)


ROOT = Path(__file__).resolve().parent.parent.parent
# The operator's image as the Dockerfile builds it (ENTRYPOINT ["leakpatrol", "operator"]): this
# checkout's code, run by the venv's console script with the checkout's operator/ first on the path.
_LEAKPATROL = str(Path(sys.executable).parent / "leakpatrol")
OPERATOR_IMAGE = Image(
    _LEAKPATROL,
    ["operator"],
    env={
        "PYTHONPATH": str(ROOT / "operator"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        # A pod has a network namespace of its own, where 0.0.0.0:8080 is its alone; here every pod
        # shares the machine's, so the operator serves its probes on the pod's IP only.
        "LEAKPATROL_METRICS_HOST": "{ip}",
    },
    commands={"leakpatrol": _LEAKPATROL},
)


IMAGES: dict[str, Image] = {
    "leakpatrol.test/hello-pprof": Image("hello-pprof", ["-listen", "{ip}:{port}"]),
    "leakpatrol.test/scenario": Image(
        "scenarios", ["-scenario", "{tag}", "-listen", "{ip}:{port}", "-minute", "{minute}"]
    ),
    # A target that misbehaves in the way its tag says (404, 403, 500, slow, huge, garbage).
    "leakpatrol.test/badpprof": Image("badpprof", ["-mode", "{tag}", "-listen", "{ip}:{port}"]),
    # A shell for Jobs and one-off pods: the container's `command` (e.g. [sh, -c, "exit 1"]) runs.
    "leakpatrol.test/shell": Image("/bin/sh", commands={"sh": "/bin/sh"}),
    # The chart's image (values image.repository), any tag.
    "ghcr.io/leakpatrol/leakpatrol": OPERATOR_IMAGE,
}


def resolve(images: dict[str, Image], ref: str) -> tuple[Image, str] | None:
    if ref in images:
        return images[ref], ""
    if "@" in ref:  # pinned by digest (the chart's image.digest): the repository decides
        return resolve(images, ref.split("@", 1)[0])
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = ref.rsplit(":", 1)
        if repo in images:
            return images[repo], tag
    return None


def binary_for(image: Image) -> Path:
    """Build (or reuse) the program; blocking, so the kubelet runs it in a thread."""
    path = Path(image.program)
    if path.is_absolute():
        return path
    from gobuild import build  # noqa: PLC0415 - tests/gobuild.py; only needed once a pod starts

    return build(image.program)


def argv(image: Image, binary: Path, container: dict[str, Any], **values: str) -> list[str]:
    """What the container runs: the image's entrypoint and its arguments, or the container's
    `command` in their place; then the container's `args`."""
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if command:
        return [image.commands.get(command[0], command[0]), *command[1:], *args]
    return [str(binary), *render_args(image, **values), *args]


def render_env(image: Image, **values: str) -> dict[str, str]:
    return {k: v.format(**values) for k, v in image.env.items()}


def render_args(image: Image, **values: str) -> list[str]:
    values.setdefault("minute", os.environ.get("SCENARIO_MINUTE", "1s"))
    return [arg.format(**values) for arg in image.args]


def image_id(ref: str, binary: Path) -> str:
    stat = binary.stat()
    digest = hashlib.sha256(f"{binary}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    name = ref if "/" in ref.split(":", maxsplit=1)[0] else f"docker.io/library/{ref}"
    return f"{name.rsplit(':', 1)[0] if ':' in name.rsplit('/', 1)[-1] else name}@sha256:{digest}"
