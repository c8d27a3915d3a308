"""leakpatrol.record against a real leaking Go program, and its edges against a tiny local server."""

from __future__ import annotations

import gzip
import http.server
import select
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import gobuild
from leakpatrol.kube.errors import TooLarge
from leakpatrol.record import (
    fetch_final_goroutineleak,
    record_series,
    sample_filename,
    save_profile,
)

STAMP = 1_800_000_000


def start_scenario(binary: Path, scenario: str, minute: str) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [str(binary), "-scenario", scenario, "-listen", "127.0.0.1:0", "-minute", minute],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("listening on "):
        proc.kill()
        proc.wait()
        pytest.fail(f"scenarios did not start: {line!r}")
    return proc, "http://" + line.removeprefix("listening on ")


@pytest.fixture
def leaking_service() -> Iterator[str]:
    """transport-per-request at 200 ms a program minute: ~45 goroutines more every second."""
    proc, base_url = start_scenario(gobuild.build("scenarios"), "transport-per-request", "200ms")
    try:
        yield base_url
    finally:
        proc.kill()
        proc.wait(timeout=10)


def listing(directory: Path, pattern: str = "*") -> list[str]:
    """File names in a directory, sorted (a sync helper: blocking calls are fine in tests)."""
    return sorted(p.name for p in directory.glob(pattern))


def goroutine_total(path: Path) -> int:
    header = path.read_text().split("\n", 1)[0]
    assert header.startswith("goroutine profile: total "), header
    return int(header.rsplit(" ", 1)[1])


@pytest.mark.slow
async def test_record_series_sees_a_real_leak(leaking_service: str, tmp_path: Path) -> None:
    proto, text = tmp_path / "proto", tmp_path / "text"
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        for dest, as_text in ((proto, False), (text, True)):
            await record_series(
                leaking_service,
                dest,
                interval=0.2,
                count=12,
                kinds=("goroutine",) if as_text else ("goroutine", "heap"),
                text=as_text,
                stamp_start=STAMP,
                stamp_step=60,
                client=client,
            )

    stamps = [STAMP + 60 * i for i in range(12)]
    assert listing(proto, "*.pb.gz") == sorted(
        [f"{s}.goroutine.pb.gz" for s in stamps] + [f"{s}.heap.pb.gz" for s in stamps]
    )
    assert listing(text, "*.txt") == [f"{s}.goroutine.txt" for s in stamps]
    for name in listing(proto, "*.pb.gz"):
        assert len(gzip.decompress((proto / name).read_bytes())) > 100  # complete gzip streams

    totals = [goroutine_total(text / f"{s}.goroutine.txt") for s in stamps]
    assert totals[-1] - totals[0] > 50, totals  # ~3 requests a program minute, 3 goroutines each
    assert min(totals[6:]) > max(totals[:6]), totals  # it never comes down


@pytest.mark.slow
async def test_final_goroutineleak_on_go_1_27(leaking_service: str, tmp_path: Path) -> None:
    path = await fetch_final_goroutineleak(leaking_service, tmp_path)
    # Leaked HTTP connections stay reachable: the profile exists but doesn't see them.
    assert path == tmp_path / "final.goroutineleak.txt"
    assert path.read_text().startswith("goroutineleak profile: total ")


# --- edges, against a tiny local server -------------------------------------------------------------

BIG = 1 << 20


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/debug/pprof/goroutineleak"):
            self.send_error(404, "Unknown profile")
            return
        body = b"x" * (BIG if self.path.startswith("/debug/pprof/goroutine") else 100)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(0, len(body), 64 << 10):
            self.wfile.write(body[i : i + (64 << 10)])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tiny_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_byte_cap_stops_the_download_and_writes_nothing(tiny_server: str, tmp_path: Path) -> None:
    path = tmp_path / "1.goroutine.pb.gz"
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(TooLarge):
            await save_profile(client, f"{tiny_server}/debug/pprof/goroutine", path, max_bytes=BIG // 4)
        assert await save_profile(client, f"{tiny_server}/debug/pprof/goroutine", path, max_bytes=BIG) == BIG
    assert listing(tmp_path) == [path.name]  # no partial file from the failed one


async def test_record_series_refuses_a_capped_first_profile(tiny_server: str, tmp_path: Path) -> None:
    with pytest.raises(TooLarge):
        await record_series(
            tiny_server, tmp_path, interval=0.01, count=2, stamp_start=0, stamp_step=1, max_bytes=1000
        )
    assert listing(tmp_path, "*.goroutine.*") == []


async def test_goroutineleak_404_is_skipped(tiny_server: str, tmp_path: Path) -> None:
    assert await fetch_final_goroutineleak(tiny_server, tmp_path) is None
    assert listing(tmp_path) == []


async def test_heap_only_series_with_stamps(tiny_server: str, tmp_path: Path) -> None:
    await record_series(
        tiny_server, tmp_path, interval=0.01, count=3, kinds=("heap",), stamp_start=10, stamp_step=5
    )
    assert listing(tmp_path) == ["10.heap.pb.gz", "15.heap.pb.gz", "20.heap.pb.gz", "recording.json"]


async def test_record_series_rejects_bad_arguments(tmp_path: Path) -> None:
    nowhere = "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="whole seconds"):
        await record_series(nowhere, tmp_path, interval=0.5, count=1)
    with pytest.raises(ValueError, match="go together"):
        await record_series(nowhere, tmp_path, interval=1, count=1, stamp_start=5)
    with pytest.raises(ValueError, match="subset"):
        await record_series(nowhere, tmp_path, interval=1, count=1, kinds=("cpu",))


def test_sample_filenames() -> None:
    assert sample_filename(7, "goroutine") == "7.goroutine.pb.gz"
    assert sample_filename(7, "goroutine", text=True) == "7.goroutine.txt"
    assert sample_filename(7, "heap", text=True) == "7.heap.pb.gz"
