"""`analyze --preset ci` on the recorded corpus run at CI scale: a 10-20 minute load test sampled
every few seconds.

How the corpus is scaled (README "In CI" says the same): each series is replayed with its stamps
compressed, one program minute (60 s between samples) standing for STEP seconds, STEP = 5 (120
samples over 10 minutes) and 10 (over 20 minutes); `pod.json`'s start is compressed alike. The
profiles are the recorded ones, unchanged: what grows per sample is what the programs did per
program minute, so a leak adds the same goroutines per sample, now every few seconds, and a
warm-up that took ten program minutes takes ten samples. The programs were not re-run at that
speed (the Go runtime's own timers, GC pacing and keep-alives, were not compressed with them).

    .venv/bin/python tests/test_ci_preset.py      # prints the README's table
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from test_cli import HEALTHY

from leakpatrol.cli import main
from leakpatrol.cli.exits import Exit
from leakpatrol.detect.config import CI, DetectionConfig

CORPUS = Path(__file__).parent / "corpus"
T0 = 1_800_000_000
_STAMPED = re.compile(r"^(?P<t>\d+)\.(?P<rest>.+)$")
LEAKS = {
    "transport-per-request": "http-transport-per-request",
    "transport-per-request-text": "http-transport-per-request",
    "body-not-closed": "http-body-not-closed",
    "chan-send-after-timeout": "chan-send-blocked",
    "slow-leak-noisy": "chan-receive-blocked",
    "step-leak": "select-forever",
    "heap-leak": "heap-growth",
    "stuck-handler-ramp": "chan-receive-blocked",
    "client-no-timeout": "http-no-timeout",
}
STEPS = (5, 10)


def at_ci_scale(name: str, step: int, dest: Path) -> Path:
    """A copy of a corpus series (profiles symlinked) whose stamps are `step` seconds apart."""
    dest.mkdir(parents=True)
    for f in (CORPUS / name).iterdir():
        m = _STAMPED.match(f.name)
        if m is not None:
            t = T0 + (int(m["t"]) - T0) * step // 60
            (dest / f"{t}.{m['rest']}").symlink_to(f)
        elif f.name == "pod.json":
            pod = json.loads(f.read_text())
            pod["pod_start"] = T0 + (pod["pod_start"] - T0) * step / 60
            (dest / f.name).write_text(json.dumps(pod))
        else:
            (dest / f.name).symlink_to(f)
    return dest


def analyze(capsys: pytest.CaptureFixture[str], series: Path, *flags: str) -> tuple[int, dict[str, object]]:
    code = main(["analyze", str(series), "--json", *flags])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


def test_the_preset_changes_only_what_a_short_run_needs() -> None:
    changed = {k for k, v in CI.model_dump().items() if DetectionConfig().model_dump()[k] != v}
    assert changed == {"window_seconds", "warmup_seconds", "min_samples"}
    assert (CI.window_seconds, CI.warmup_seconds, CI.min_samples) == (3600, 60, 24)


def test_default_thresholds_cannot_judge_a_ci_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Ten minutes of warm-up swallow a ten-minute run: too few samples, which fails the gate."""
    series = at_ci_scale("transport-per-request", 5, tmp_path / "s")
    code, out = analyze(capsys, series, "--fail-on", "leak")
    assert (code, out["verdict"]) == (Exit.INSUFFICIENT, "insufficient-data")
    code, out = analyze(capsys, series, "--fail-on", "leak", "--preset", "ci")
    assert (code, out["verdict"]) == (Exit.FINDING, "leak")


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_ci_preset_on_the_corpus_at_ci_scale(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, step: int
) -> None:
    for name, rule in LEAKS.items():
        code, out = analyze(
            capsys, at_ci_scale(name, step, tmp_path / name), "--preset", "ci", "--fail-on", "leak"
        )
        assert code == Exit.FINDING, (name, out)
        signals = out["signals"]
        assert isinstance(signals, list) and signals[0]["rule"]["id"] == rule, (name, signals[0]["rule"])
    for name in HEALTHY:
        series = at_ci_scale(name, step, tmp_path / name)
        code, out = analyze(capsys, series, "--preset", "ci", "--fail-on", "suspected")
        assert (code, out["verdict"], out["suspected"]) == (Exit.OK, "no-leak", []), name


def table() -> str:
    """The README's table: per series and step, the verdict and when it was first confirmed."""
    import tempfile  # noqa: PLC0415

    from leakpatrol.detect.replay import replay  # noqa: PLC0415
    from leakpatrol.seriesdir import SeriesDir  # noqa: PLC0415

    rows = ["| series | expected | " + " | ".join(f"every {s} s ({2 * s} min)" for s in STEPS) + " |"]
    rows.append("|---|---|" + "---|" * len(STEPS))
    with tempfile.TemporaryDirectory() as tmp:
        for name in [*LEAKS, *HEALTHY]:
            cells = []
            for step in STEPS:
                series = SeriesDir.open(at_ci_scale(name, step, Path(tmp) / f"{name}-{step}"))
                v = replay(series.samples(), series.pod, CI)
                start = series.pod.started_at if series.pod and series.pod.started_at else T0
                if v.verdict == "leak" and v.first_detected_at is not None:
                    rule = v.signals[0].rule.id if v.signals[0].rule else "no rule"
                    cells.append(f"LEAK at {v.first_detected_at - start:.0f} s, {rule}")
                else:
                    cells.append(v.verdict.upper() + (" (flagged once)" if v.flagged_at else ""))
            rows.append(
                f"| `{name}` | {'leak' if name in LEAKS else 'healthy'} | " + " | ".join(cells) + " |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "operator"))
    print(table())
