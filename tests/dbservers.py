"""Real PostgreSQL and MariaDB servers from Debian's packages, for the library corpus.

Each runs as its package's own non-root user (`postgres`, `mysql`) on a loopback port, with a
throw-away data directory, and is stopped (and its directory removed) on exit. Used by
scripts/record_lib_corpus.py; `make setup` installs the packages (target `dbservers`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL not installed: run `make setup` (apt-get install postgresql)")
    return found[-1].parent


def _as_user(user: str) -> dict[str, object]:
    """subprocess kwargs that drop to `user` when we are root (a server refuses to run as root)."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _own(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


@contextlib.contextmanager
def postgres(max_connections: int = 200) -> Iterator[str]:
    """A PostgreSQL server; yields a lib/pq DSN (trust auth, database `postgres`)."""
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    bindir = _pg_bin()
    tmp = Path(tempfile.mkdtemp(prefix="lp-pg-"))
    _own(tmp, user)
    data, port = tmp / "data", free_port()
    try:
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            cwd=tmp,
            **_as_user(user),  # type: ignore[call-overload]
        )
        opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        opts += f" -c max_connections={max_connections}"
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(tmp / "log"), "-w", "start"],
            check=True,
            capture_output=True,
            cwd=tmp,
            **_as_user(user),  # type: ignore[call-overload]
        )
        _wait_port(port, None, "postgres")
        yield f"postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                cwd=tmp,
                check=False,
                **_as_user(user),  # type: ignore[call-overload]
            )
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def mariadb(max_connections: int = 200) -> Iterator[str]:
    """A MariaDB server; yields a go-sql-driver/mysql DSN (no grant tables: a throw-away server)."""
    user = "mysql" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if shutil.which("mariadbd", path="/usr/sbin:/usr/bin") is None:
        raise RuntimeError("MariaDB not installed: run `make setup` (apt-get install mariadb-server)")
    tmp = Path(tempfile.mkdtemp(prefix="lp-maria-"))
    _own(tmp, user)
    data, port = tmp / "data", free_port()
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--user={user}",
                f"--datadir={data}",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ],
            check=True,
            capture_output=True,
            cwd=tmp,
        )
        log = (tmp / "log").open("wb")
        proc = subprocess.Popen(
            [
                "/usr/sbin/mariadbd",
                "--no-defaults",
                f"--datadir={data}",
                f"--port={port}",
                f"--socket={tmp / 'sock'}",
                f"--pid-file={tmp / 'pid'}",
                "--bind-address=127.0.0.1",
                "--skip-grant-tables",
                "--skip-name-resolve",
                f"--max-connections={max_connections}",
                "--innodb-flush-log-at-trx-commit=0",
                "--skip-log-bin",
                f"--tmpdir={tmp}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
            **_as_user(user),  # type: ignore[call-overload]
        )
        _wait_port(port, proc, "mariadbd")
        yield f"root@tcp(127.0.0.1:{port})/mysql"
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    with postgres() as pg, mariadb() as my:
        print(pg)
        print(my)
