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
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Image:
    program: str  # a directory under tests/programs (built with tests/gobuild.py) or an executable's path
    args: list[str] = field(default_factory=list)


IMAGES: dict[str, Image] = {
    "leakpatrol.test/hello-pprof": Image("hello-pprof", ["-listen", "{ip}:{port}"]),
    "leakpatrol.test/scenario": Image(
        "scenarios", ["-scenario", "{tag}", "-listen", "{ip}:{port}", "-minute", "{minute}"]
    ),
    # A target that misbehaves in the way its tag says (404, 403, 500, slow, huge, garbage).
    "leakpatrol.test/badpprof": Image("badpprof", ["-mode", "{tag}", "-listen", "{ip}:{port}"]),
}


def resolve(images: dict[str, Image], ref: str) -> tuple[Image, str] | None:
    if ref in images:
        return images[ref], ""
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


def render_args(image: Image, **values: str) -> list[str]:
    values.setdefault("minute", os.environ.get("SCENARIO_MINUTE", "1s"))
    return [arg.format(**values) for arg in image.args]


def image_id(ref: str, binary: Path) -> str:
    stat = binary.stat()
    digest = hashlib.sha256(f"{binary}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    name = ref if "/" in ref.split(":", maxsplit=1)[0] else f"docker.io/library/{ref}"
    return f"{name.rsplit(':', 1)[0] if ':' in name.rsplit('/', 1)[-1] else name}@sha256:{digest}"
