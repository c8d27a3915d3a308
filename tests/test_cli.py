"""The `leakpatrol` command line as a new user meets it (issue 23): every expected failure is one
line and a documented exit code (a traceback only for a bug), `record` keeps going and says what it
got, `analyze` gates a build and writes JUnit, and the warm-up is never lost."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from leakpatrol import __version__
from leakpatrol.cli import build_parser, main
from leakpatrol.cli.exits import Exit, epilog

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "corpus"
GOLDEN = Path(__file__).parent / "golden" / "profiles"
LEAKS = [
    "transport-per-request",
    "transport-per-request-text",
    "body-not-closed",
    "chan-send-after-timeout",
    "slow-leak-noisy",
    "step-leak",
    "heap-leak",
    "stuck-handler-ramp",
    "client-no-timeout",
]
HEALTHY = [
    "steady-pool",
    "warmup-fill",
    "load-ramp",
    "batch-sawtooth",
    "periodic-load",
    "heap-sawtooth",
    "dispatcher-ramp",
    "queue-consumer-ramp",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: usage errors, --version, --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --- a pprof endpoint to record from ---------------------------------------------------------------


@dataclass
class Endpoint:
    """What the fake target answers: real golden profiles, and faults on request."""

    prefix: str = "/debug/pprof"
    token: str | None = None  # required as a bearer token when set
    fail: dict[tuple[str, int], int] = field(default_factory=dict)  # (kind, nth request) -> status
    metrics: str | None = None  # the /metrics body, if served
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization)
    counts: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def endpoint() -> Iterator[tuple[str, Endpoint]]:
    state = Endpoint()
    bodies = {
        "goroutine": (GOLDEN / "goroutine.pb.gz").read_bytes(),
        "heap": (GOLDEN / "heap.pb.gz").read_bytes(),
        "goroutineleak": (GOLDEN / "goroutineleak.txt").read_bytes(),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            state.seen.append((path, self.headers.get("Authorization", "")))
            if path == "/metrics" and state.metrics is not None:
                return self._send(200, state.metrics.encode())
            kind = path.removeprefix(state.prefix + "/")
            if not path.startswith(state.prefix + "/") or kind not in bodies:
                return self._send(404, b"404 page not found")
            if state.token is not None and self.headers.get("Authorization") != f"Bearer {state.token}":
                return self._send(401, b"Unauthorized")
            n = state.counts[kind] = state.counts.get(kind, 0) + 1
            status = state.fail.get((kind, n))
            if status is not None:
                return self._send(status, b"injected failure")
            return self._send(200, bodies[kind])

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def record(capsys: pytest.CaptureFixture[str], url: str, dest: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "record", "--url", url, "--interval", "1s", *extra, str(dest))


# --- 1. every expected failure: one line, a documented exit code -----------------------------------


def test_record_unreachable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = record(capsys, "http://127.0.0.1:1", tmp_path / "s", "--count", "2")
    line = one_line(err.split("\n", 1)[1])  # after the "recording ..." progress line
    assert code == Exit.TARGET
    assert "http://127.0.0.1:1/debug/pprof/goroutine" in line and "is the service running" in line


def test_record_not_a_url(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = record(capsys, "notaurl", tmp_path / "s")
    assert code == Exit.USAGE
    assert "not an http(s) URL" in one_line(err)


def test_record_404(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, endpoint: tuple[str, Endpoint]
) -> None:
    url, state = endpoint
    state.prefix = "/elsewhere"
    code, _, err = record(capsys, url, tmp_path / "s", "--count", "2", "--quiet")
    assert code == Exit.TARGET
    line = one_line(err)
    assert "HTTP 404" in line and "--path" in line


def test_record_unauthorized(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, endpoint: tuple[str, Endpoint]
) -> None:
    url, state = endpoint
    state.token = "s3cret"
    code, _, err = record(capsys, url, tmp_path / "s", "--count", "1", "--quiet")
    assert code == Exit.TARGET
    assert "HTTP 401" in one_line(err) and "--bearer-token-file" in err


def test_record_into_an_existing_recording(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "1800000000.goroutine.pb.gz").write_bytes(b"")
    code, _, err = record(capsys, "http://127.0.0.1:1", tmp_path)
    assert code == Exit.USAGE
    assert "already holds a recording" in one_line(err)


def test_record_token_file_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = record(capsys, "http://127.0.0.1:1", tmp_path / "s", "--bearer-token-file", "/nonexistent")
    assert code == Exit.INPUT
    assert "--bearer-token-file /nonexistent: No such file or directory" in one_line(err)


def test_operator_kubeconfig_missing(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "operator", "--kubeconfig", "/nonexistent", "--metrics-port", "0")
    assert code == Exit.CLUSTER
    assert "kubeconfig /nonexistent: no such file" in one_line(err)


def test_operator_kubeconfig_not_yaml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [\n")
    code, _, err = run(capsys, "operator", "--kubeconfig", str(bad), "--metrics-port", "0")
    assert code == Exit.CLUSTER
    assert f"kubeconfig {bad}: not YAML" in one_line(err)


def test_release_finalizers_unknown_context(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    code, _, err = run(capsys, "release-finalizers", "--kubeconfig", str(config), "--context", "nope")
    assert code == Exit.CLUSTER
    assert f"kubeconfig {config}:" in one_line(err) and "nope" in err
    code, _, err = run(capsys, "release-finalizers", "--kubeconfig", str(config))
    assert code == Exit.CLUSTER
    assert "the API server" in one_line(err) and "127.0.0.1:1" in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["diagnose", "/nonexistent.pb.gz"], "/nonexistent.pb.gz: No such file or directory"),
        (["diagnose", str(CORPUS / "README.md")], "README.md: not gzip, not pprof text, not profile.proto"),
        (["analyze", "/nonexistent"], "/nonexistent: no such directory"),
        (["analyze", str(CORPUS / "README.md")], "README.md: not a directory"),
        (["analyze", str(GOLDEN.parent)], "no profiles named"),
        (
            ["analyze", str(CORPUS / "steady-pool"), "--rules", "/nonexistent.toml"],
            "--rules /nonexistent.toml",
        ),
    ],
)
def test_input_failures(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == Exit.INPUT
    assert words in one_line(err)


def test_bad_inputs_in_a_series(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shutil.copy(CORPUS / "steady-pool" / "1800000000.goroutine.pb.gz", tmp_path)
    (tmp_path / "pod.json").write_text("[1, 2]")
    code, _, err = run(capsys, "analyze", str(tmp_path))
    assert code == Exit.INPUT and "pod.json: expected" in one_line(err)
    (tmp_path / "pod.json").unlink()
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rule]]\nid = 'x'\n")
    code, _, err = run(capsys, "analyze", str(tmp_path), "--rules", str(rules))
    assert code == Exit.INPUT and "missing required field(s) ['cause', 'fix']" in one_line(err)
    code, _, err = run(capsys, "analyze", str(tmp_path), "--junit", str(tmp_path / "no" / "such" / "dir.xml"))
    assert code == Exit.INPUT and "--junit" in one_line(err)


def test_empty_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(b""))
    code, _, err = run(capsys, "diagnose", "-")
    assert code == Exit.INPUT and "stdin: empty input" in one_line(err)


def test_thresholds_out_of_range_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "analyze", str(CORPUS / "steady-pool"), "--min-samples", "2")
    assert code == Exit.USAGE
    assert "threshold min_samples" in one_line(err)


def test_a_bug_is_a_traceback_and_exit_70(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr("leakpatrol.cli.analyze.replay", broken)
    code, _, err = run(capsys, "analyze", str(CORPUS / "steady-pool"))
    assert code == Exit.BUG
    assert "Traceback" in err and err.strip().endswith("please report it with the traceback above")


def test_the_real_command_says_one_line(tmp_path: Path) -> None:
    """Through the console entry point: nothing but the one line on stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
    for argv, code in (
        (["operator", "--kubeconfig", "/nonexistent"], Exit.CLUSTER),
        (["record", "--url", "http://127.0.0.1:1", "--quiet", str(tmp_path / "s")], Exit.TARGET),
        (["diagnose", "/nonexistent"], Exit.INPUT),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "leakpatrol.cli", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert proc.returncode == code, proc.stderr
        assert one_line(proc.stderr).startswith("leakpatrol: ")


# --- 6. conveniences ---------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"leakpatrol {__version__}")


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = _Buffer(data)

    def isatty(self) -> bool:
        return False


class _Buffer:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


def test_diagnose_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = GOLDEN / "goroutine.txt"
    code, out_file, _ = run(capsys, "diagnose", str(path), "--json")
    monkeypatch.setattr(sys, "stdin", _Stdin(path.read_bytes()))
    code_stdin, out_stdin, _ = run(capsys, "diagnose", "-", "--json")
    assert code == code_stdin == 0
    assert json.loads(out_stdin) == json.loads(out_file)


def _options(parser: object) -> Iterator[tuple[str, object]]:
    import argparse  # noqa: PLC0415

    assert isinstance(parser, argparse.ArgumentParser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for flag, a in _options(sub):
                    yield f"{name} {flag}", a
        elif action.option_strings:
            yield "/".join(action.option_strings), action


def test_every_flag_has_help_and_says_its_default() -> None:
    import argparse  # noqa: PLC0415

    parser = build_parser()
    for flag, action in _options(parser):
        assert isinstance(action, argparse.Action)
        assert action.help, f"{flag} has no help"
        if isinstance(action, argparse._StoreTrueAction | argparse._HelpAction | argparse._VersionAction):
            continue
        if isinstance(action, argparse.BooleanOptionalAction | argparse._AppendAction):
            continue
        if action.default is None and "default" not in action.help:
            continue  # optional, off unless given (--rules, --junit, --memory-limit)
        helped = parser.formatter_class(prog="x")._get_help_string(action)  # type: ignore[attr-defined]
        assert "default" in helped, f"{flag}: {helped}"


def test_help_shows_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["analyze", "--help"], ["record", "--help"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and "exit codes:" in out
        for exit_code in Exit:
            assert f"  {int(exit_code):>3}  " in out
    assert epilog().count("\n") == len(Exit)


def test_readme_documents_every_exit_code() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The CLI, offline", 1)[1].split("\n## ", 1)[0]
    for code in Exit:
        assert f"| {int(code)} |" in section, code


# --- 4. a verdict a pipeline can use ---------------------------------------------------------------


@pytest.mark.parametrize("name", LEAKS)
def test_fail_on_leak_fails_the_recorded_leaks(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, _, err = run(capsys, "analyze", str(CORPUS / name), "--fail-on", "leak")
    assert code == Exit.FINDING
    assert one_line(err).startswith(f"leakpatrol: analyze --fail-on leak: LEAK in {CORPUS / name}: ")


@pytest.mark.parametrize("name", HEALTHY)
def test_fail_on_passes_the_healthy_recordings(capsys: pytest.CaptureFixture[str], name: str) -> None:
    for level in ("leak", "suspected"):
        code, _, err = run(capsys, "analyze", str(CORPUS / name), "--fail-on", level)
        assert (code, err) == (Exit.OK, "")


def test_fail_on_a_series_too_short(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for f in sorted((CORPUS / "steady-pool").glob("*.goroutine.pb.gz"))[:5]:
        shutil.copy(f, tmp_path)
    code, out, err = run(capsys, "analyze", str(tmp_path), "--fail-on", "leak")
    assert "verdict: INSUFFICIENT-DATA" in out
    assert code == Exit.INSUFFICIENT and "too few samples for a verdict (5): not a pass" in one_line(err)
    assert run(capsys, "analyze", str(tmp_path))[0] == Exit.OK  # without a gate, a report


def test_junit_names_the_culprit_and_the_fix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "leakpatrol.xml"
    code, _, _ = run(capsys, "analyze", str(CORPUS / "transport-per-request"), "--junit", str(report))
    assert code == 0  # no gate asked for
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["goroutines"].find("failure")
    assert failure is not None and cases["heap"].find("failure") is None
    message = failure.get("message", "")
    assert message.startswith("LEAK goroutines: ") and "persistConn).readLoop" in message
    assert "rule http-transport-per-request" in message and "fix: Create one http.Client" in message
    assert "cause: An http.Client with its own Transport" in (failure.text or "")


def test_junit_of_a_healthy_series_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    assert (
        run(capsys, "analyze", str(CORPUS / "steady-pool"), "--fail-on", "leak", "--junit", str(report))[0]
        == 0
    )
    root = ET.parse(report).getroot()
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert not list(root.iter("failure"))


def test_junit_is_valid_xml_whatever_the_frames_hold(tmp_path: Path) -> None:
    from leakpatrol.cli.junit import junit_report  # noqa: PLC0415
    from leakpatrol.core import LeakState, SignalKind  # noqa: PLC0415
    from leakpatrol.detect.replay import ReplayVerdict  # noqa: PLC0415
    from leakpatrol.detect.signals import CulpritGroup, Signal  # noqa: PLC0415

    group = CulpritGroup("x", "select", ("main.\x00bad\x1b[31m <&>",), 10, 10, 1.0)
    signal = Signal(SignalKind.GOROUTINES, LeakState.CONFIRMED, group, (), None, 1.0, 0.001, 1, 11, 0.0)
    v = ReplayVerdict("leak", 0.0, (signal,), 20)
    xml = junit_report(v, "d", kinds=[SignalKind.GOROUTINES], fail_on="leak", notes=[], seconds=0.1)
    failure = ET.fromstring(xml).find("testsuite/testcase/failure")
    assert failure is not None and "main.?bad?[31m <&>" in failure.get("message", "")


# --- 3. the warm-up is never lost ------------------------------------------------------------------


def without_pod_json(name: str, dest: Path) -> Path:
    """A copy of a corpus series without its pod.json (the profiles are symlinked: no bytes copied)."""
    dest.mkdir()
    for f in (CORPUS / name).iterdir():
        if f.name != "pod.json":
            (dest / f.name).symlink_to(f)
    return dest


@pytest.mark.parametrize("name", HEALTHY)
def test_no_healthy_series_becomes_a_leak_without_its_pod_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    series = without_pod_json(name, tmp_path / name)
    code, out, err = run(capsys, "analyze", str(series), "--fail-on", "leak")
    assert (code, err) == (Exit.OK, ""), out
    assert "warm-up: 600s from the first sample (no pod.json or recording.json)" in out


def test_the_recorders_process_start_is_the_warm_up(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    series = without_pod_json("warmup-fill", tmp_path / "s")
    recording = {
        "process_start": 1799999990.5,
        "process_start_from": "http://x/metrics",
        "recording_start": 1800000000,
    }
    (series / "recording.json").write_text(json.dumps(recording))
    code, out, _ = run(capsys, "analyze", str(series), "--json")
    assert code == 0
    assert json.loads(out)["warmup_from"] == "the process start (recording.json, from http://x/metrics)"
    del recording["process_start"]
    (series / "recording.json").write_text(json.dumps(recording))
    _, out, _ = run(capsys, "analyze", str(series), "--json")
    assert (
        json.loads(out)["warmup_from"] == "the first sample (recording.json: the process start was not known)"
    )


# --- 5. offline output that does not overstate ----------------------------------------------------


def test_no_forecast_without_a_finding(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "analyze", str(CORPUS / "heap-sawtooth"), "--memory-limit", "64Mi")
    assert code == 0 and "verdict: NO-LEAK" in out
    assert out.strip().splitlines()[-1] == (
        "forecast: none: no leak was found (a forecast is made only for a finding; verdict no-leak)"
    )
    _, out, _ = run(capsys, "analyze", str(CORPUS / "heap-sawtooth"), "--memory-limit", "64Mi", "--json")
    assert "eta_seconds" not in json.loads(out)["forecast"]


def test_samples_counts_only_what_was_read(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    files = sorted((CORPUS / "steady-pool").glob("*.goroutine.pb.gz"))[:4]
    for f in files:
        shutil.copy(f, tmp_path)
    (tmp_path / files[1].name).write_bytes(b"\x1f\x8bnot gzip at all")
    code, out, err = run(capsys, "analyze", str(tmp_path))
    assert code == 0
    assert out.startswith(f"series {tmp_path}: 3 samples\n")
    assert "skipped 1 file(s) that did not read (listed on stderr)" in out
    assert err.startswith(f"skipped {files[1].name}: ")


# --- 2. record: keeps going, shows progress, says what it got --------------------------------------


def test_record_keeps_going_over_a_failed_sample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, endpoint: tuple[str, Endpoint]
) -> None:
    url, state = endpoint
    state.fail = {("heap", 2): 500, ("goroutine", 3): 503, ("heap", 3): 503}
    dest = tmp_path / "s"
    code, out, err = record(capsys, url, dest, "--count", "4", "--no-goroutineleak")
    assert code == 0
    progress = err.strip().splitlines()
    assert progress[0] == f"recording {url}/debug/pprof into {dest}: 4 samples, one every 1s"
    assert progress[1].startswith("[1/4] ") and "goroutines 61" in progress[1] and "heap " in progress[1]
    assert "heap MISSING: " in progress[2] and "HTTP 500" in progress[2] and "goroutines 61" in progress[2]
    assert "goroutine MISSING" in progress[3] and "heap MISSING" in progress[3]
    assert progress[4].startswith("[4/4] ")
    assert out.startswith(f"done: 3 of 4 samples recorded into {dest} in ")
    assert "3 profile(s) missing in 2 sample(s), kept in recording.json" in out
    assert "process start unknown: analyze counts the warm-up from the first sample" in out
    assert out.strip().endswith(f"next: leakpatrol analyze {dest}")
    kept = json.loads((dest / "recording.json").read_text())
    assert (kept["planned"], kept["samples"], kept["ended"]) == (4, 3, "complete")
    assert [m["kind"] for m in kept["missing"]] == ["heap", "goroutine", "heap"]
    assert len(list(dest.glob("*.goroutine.pb.gz"))) == 3 and len(list(dest.glob("*.heap.pb.gz"))) == 2
    code, out, _ = run(capsys, "analyze", str(dest))
    assert code == 0 and "3 profile(s) the recorder could not fetch (recording.json)" in out
    assert "warm-up: 600s from the first sample (recording.json: the process start was not known)" in out


def test_record_path_headers_token_and_process_start(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, endpoint: tuple[str, Endpoint]
) -> None:
    url, state = endpoint
    state.prefix, state.token = "/internal/pprof", "s3cret"
    state.metrics = "# HELP process_start_time_seconds ...\nprocess_start_time_seconds 1.7999e+09\n"
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    dest = tmp_path / "s"
    argv = ["--path", "/internal/pprof", "--bearer-token-file", str(token), "--header", "X-Team: leaks"]
    code, out, _ = record(capsys, url, dest, "--count", "2", "--quiet", *argv)
    assert code == 0, out
    assert {auth for path, auth in state.seen if path.startswith("/internal")} == {"Bearer s3cret"}
    kept = json.loads((dest / "recording.json").read_text())
    assert kept["process_start"] == 1.7999e9 and kept["process_start_from"] == f"{url}/metrics"
    assert kept["url"] == f"{url}/internal/pprof" and "s3cret" not in (dest / "recording.json").read_text()
    assert (dest / "final.goroutineleak.txt").exists()
    assert "final.goroutineleak.txt: the runtime's own leak profile after the last sample" in out
    # Metrics on another port: a whole URL.
    state.metrics = None
    code, out, _ = record(
        capsys,
        url,
        tmp_path / "m",
        "--count",
        "1",
        "--quiet",
        *argv[:4],
        "--metrics-path",
        "http://127.0.0.1:1/metrics",
    )
    assert code == 0 and "process start unknown" in out
    # Credentials in the URL become a header, and are written nowhere.
    state.token = None
    code, out, _ = record(
        capsys, url.replace("//", "//bob:s3cret@"), tmp_path / "u", "--count", "1", "--quiet", *argv[:2]
    )
    assert code == 0 and ("/internal/pprof/goroutine", "Basic Ym9iOnMzY3JldA==") in state.seen
    assert "s3cret" not in out + (tmp_path / "u" / "recording.json").read_text()
    state.token = "s3cret"
    # A path in the URL is the pprof path.
    code, _, _ = record(
        capsys,
        f"{url}/internal/pprof",
        tmp_path / "t",
        "--count",
        "1",
        "--quiet",
        "--header",
        "Authorization: Bearer s3cret",
    )
    assert code == 0


def test_record_stops_on_a_signal_and_keeps_what_it_got(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, endpoint: tuple[str, Endpoint]
) -> None:
    import signal  # noqa: PLC0415

    url, _ = endpoint
    dest = tmp_path / "s"
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        code, out, err = record(capsys, url, dest, "--count", "100", "--no-goroutineleak")
    finally:
        timer.cancel()
    assert code == 0
    assert "stopping: what was recorded is kept" in err
    assert out.startswith("stopped early: 2 of 100 samples recorded")
    assert json.loads((dest / "recording.json").read_text())["ended"] == "interrupted"


def test_record_duration(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, endpoint: tuple[str, Endpoint]
) -> None:
    url, _ = endpoint
    code, out, _ = record(capsys, url, tmp_path / "s", "--duration", "2s", "--quiet", "--no-goroutineleak")
    assert code == 0 and "3 of 3 samples" in out


# --- 5 and 7: what one snapshot says, and the rules it gets ----------------------------------------

PASTED = Path(__file__).parent / "golden" / "pasted"


def diagnose_json(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, object]:
    code, out, err = run(capsys, "diagnose", str(path), "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_one_snapshot_says_once_it_cannot_show_growth(capsys: pytest.CaptureFixture[str]) -> None:
    """A healthy 2,000-worker pool: each rule is what it would mean if the group grew."""
    path = CORPUS / "steady-pool" / "1800007140.goroutine.pb.gz"
    code, out, _ = run(capsys, "diagnose", str(path), "--top", "4")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("one snapshot shows what goroutines wait on, not whether they grow")
    assert out.count("one snapshot") == 1
    assert "      cause:" not in out and out.count("      if it grows: ") >= 2
    assert diagnose_json(capsys, path)["note"] == lines[1]


def test_the_runtimes_leak_proof_states_the_cause(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagnose", str(GOLDEN / "goroutineleak.pb.gz"))
    assert code == 0 and "the runtime proved these goroutines blocked forever" in out
    assert "      cause: " in out and "if it grows" not in out


def test_goroutineleak_text_gets_the_rules_of_the_proto(capsys: pytest.CaptureFixture[str]) -> None:
    """debug=1 drops the runtime frames; the count of PCs it hides still tells a select from a
    channel operation, so each group gets the debug=0 profile's rule, or, for a channel, both the
    send and the receive rule named (debug=1 cannot tell which)."""

    def rules(path: Path) -> dict[str, tuple[str, ...]]:
        out = diagnose_json(capsys, path)
        groups = out["groups"]
        assert isinstance(groups, list)
        return {
            g["signature"].partition("|")[2]: (
                (g["rule"]["id"],) if g["rule"] else tuple(g.get("rule_candidates", ()))
            )
            for g in groups
        }

    proto, text = rules(GOLDEN / "goroutineleak.pb.gz"), rules(GOLDEN / "goroutineleak.txt")
    assert proto.keys() == text.keys()
    for stack, (rule,) in proto.items():
        assert text[stack] == (rule,) or set(text[stack]) == {"chan-send-blocked", "chan-receive-blocked"}
    assert text["main.blockSelect"] == text["main.blockSelectNoCases"] == ("select-forever",)
    assert text["main.blockSend;main.startAll.func1"] == ("chan-send-blocked", "chan-receive-blocked")


def test_a_deadlock_dump_gets_the_rule_of_its_blocker(capsys: pytest.CaptureFixture[str]) -> None:
    """`all goroutines are asleep`: the Conn.Close waiting on Rows never closed, not
    sql-open-per-request for the one connectionOpener every DB has."""
    out = diagnose_json(capsys, PASTED / "d2-deadlock-rows.txt")
    assert str(out["note"]).startswith("every group holds one goroutine")
    groups = out["groups"]
    assert isinstance(groups, list) and len(groups) == 2
    (opener,) = [g for g in groups if "database/sql.(*DB).connectionOpener" in g["signature"]]
    (blocker,) = [g for g in groups if "database/sql.(*Conn).close" in g["signature"]]
    assert opener["rule"] is None
    assert blocker["rule"]["id"] == "sql-rows-not-closed" and blocker["wait_kind"] == "sync.Cond.Wait"


def test_a_librarys_select_on_a_context_is_a_context_never_canceled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """os/signal.NotifyContext's goroutine, its stop never called: not a select-forever."""
    out = diagnose_json(capsys, PASTED / "d2-notifyctx.txt")
    top = out["groups"][0]  # type: ignore[index]
    assert top["count"] == 40 and top["frames"][0].startswith("os/signal.NotifyContext.func1")
    assert top["rule"]["id"] == "context-not-canceled"


def test_two_snapshots_show_what_changed(capsys: pytest.CaptureFixture[str]) -> None:
    out = diagnose_json(capsys, PASTED / "d1-two-snapshots.txt")
    assert isinstance(out["snapshots"], list) and len(out["snapshots"]) == 2
    assert str(out["note"]).startswith("several snapshots: each group's change from the first")
    grew = [g for g in out["groups"] if g["since_first_snapshot"] > 0]  # type: ignore[union-attr]
    assert any("persistConn).readLoop" in g["signature"] for g in grew)


def test_record_leaves_no_empty_directory_behind(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, _ = record(capsys, "http://127.0.0.1:1", tmp_path / "s", "--quiet")
    assert code == Exit.TARGET and not (tmp_path / "s").exists()


def test_record_waits_for_the_target_when_told(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, endpoint: tuple[str, Endpoint]
) -> None:
    """--wait-ready: a target still starting (503, refused) is retried; the grid starts when it answers."""
    url, state = endpoint
    state.fail = {("goroutine", 1): 503, ("goroutine", 2): 503}
    code, out, _ = record(capsys, url, tmp_path / "s", "--count", "2", "--quiet", "--wait-ready", "10s")
    assert code == 0 and "done: 2 of 2 samples" in out
    assert state.counts["goroutine"] == 4  # two refused, then the two samples


def test_a_reader_that_stops_early_does_not_change_the_verdict() -> None:
    """`leakpatrol analyze … --fail-on leak | head -1` still exits 1, with no broken-pipe error."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
    argv = [sys.executable, "-m", "leakpatrol.cli", "analyze", str(CORPUS / "step-leak"), "--fail-on", "leak"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # gone before the verdict is printed (it takes a second): a broken pipe
    assert proc.wait(timeout=60) == Exit.FINDING
    assert one_line(proc.stderr.read().decode()).startswith("leakpatrol: analyze --fail-on leak: LEAK in ")


@pytest.mark.slow
def test_record_then_analyze_a_real_leaking_service(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The CI flow end to end against a real Go program: record it, then gate on the verdict."""
    from test_record import start_scenario  # noqa: PLC0415

    import gobuild  # noqa: PLC0415

    proc, url = start_scenario(gobuild.build("scenarios"), "transport-per-request", "200ms")
    try:
        code, out, _ = record(capsys, url, tmp_path / "s", "--count", "15", "--quiet")
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert code == 0 and "done: 15 of 15 samples" in out
    assert (tmp_path / "s" / "final.goroutineleak.txt").exists()
    argv = ["--preset", "ci", "--warmup", "0s", "--min-samples", "8", "--fail-on", "leak"]
    code, out, err = run(capsys, "analyze", str(tmp_path / "s"), *argv, "--junit", str(tmp_path / "r.xml"))
    assert code == Exit.FINDING, out
    assert "rule http-transport-per-request" in err
    assert "warm-up: 0s from the first sample (recording.json: the process start was not known)" in out
