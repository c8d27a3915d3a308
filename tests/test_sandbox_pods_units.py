"""Units of the sandbox's kubelet: which program an image and a container run, the order of a
pod's bind mounts, probe ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubesandbox import podfs, probes
from kubesandbox.images import IMAGES, OPERATOR_IMAGE, argv, resolve

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "tag"),
    [
        ("ghcr.io/leakpatrol/leakpatrol:0.1.0", "0.1.0"),
        (f"ghcr.io/leakpatrol/leakpatrol@{DIGEST}", ""),  # the chart's image.digest
        (f"ghcr.io/leakpatrol/leakpatrol:1.2@{DIGEST}", "1.2"),
    ],
)
def test_the_charts_image_is_this_checkouts_operator(ref: str, tag: str) -> None:
    assert resolve(IMAGES, ref) == (OPERATOR_IMAGE, tag)
    assert resolve(IMAGES, "ghcr.io/someone/else:1") is None


def test_command_replaces_the_entrypoint_and_args_follow() -> None:
    binary = Path(OPERATOR_IMAGE.program)
    deployment = {"args": ["--all-namespaces", "--log-level=info"]}
    assert argv(OPERATOR_IMAGE, binary, deployment) == [str(binary), "operator", *deployment["args"]]
    hook = {"command": ["leakpatrol", "release-finalizers"], "args": ["--home-namespace=x"]}
    assert argv(OPERATOR_IMAGE, binary, hook) == [str(binary), "release-finalizers", "--home-namespace=x"]


def test_a_bind_over_a_directory_holding_other_sources_goes_last() -> None:
    prepared = podfs.Prepared(
        binds=[
            (Path("/tmp/sb/pod/volumes/tmp"), "/tmp", "rw"),
            (Path("/tmp/sb/pod/serviceaccount"), podfs.SA_DIR, "ro"),
        ]
    )
    wrapped = prepared.wrap(["prog"])
    if podfs.mechanism() != "mount-namespace":
        assert wrapped == ["prog"]
        return
    triples = wrapped[wrapped.index("sh", 6) + 1 : wrapped.index("--", 6)]
    assert triples[1::3] == [podfs.SA_DIR, "/tmp"]  # /tmp last: it would hide the SA's source
    assert wrapped[-1] == "prog"


def test_probe_ports_by_number_or_name() -> None:
    container = {"ports": [{"name": "http", "containerPort": 8080}]}
    assert probes.port_of(container, "http") == 8080
    assert probes.port_of(container, 9090) == 9090
    assert probes.port_of(container, "9091") == 9091
    with pytest.raises(ValueError, match="unknown port name"):
        probes.port_of(container, "metrics")
