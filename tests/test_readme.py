"""The README shows what the commands print today: every `$ leakpatrol ...` example is run and its
output compared, the `kubectl get leakpolicies` header is the CRD's default columns, and the
leakpatrol Event lines of `kubectl describe deployment leaky-http` are the Events the operator posts
for the recorded leak (tests/corpus/transport-per-request replayed through a whole scan pass).

In an example, a line `...` stands for any number of lines, a line ending in `...` for the rest of
that line, and a Go source path is shortened to `$GOROOT/src/` (the corpus was recorded elsewhere).
"""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakecluster import Clock, FakeCluster, running_pod
from test_oncall_pass import FIRST_STAMP, server

from leakpatrol.cli import main
from leakpatrol.controller.capacity import SharedCapacity
from leakpatrol.controller.scanner import PolicyScanner
from leakpatrol.core import ObjectRef

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GOROOT = re.compile(r"\S*/go/src/")
ELLIPSIS = ("...", "…")


def code_blocks() -> list[list[str]]:
    blocks, current = [], None
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def examples(prefix: str) -> list[tuple[str, list[str]]]:
    """(command, the lines shown after it) for each `$ <prefix>...` line in a code block."""
    found = []
    for block in code_blocks():
        for i, line in enumerate(block):
            if line.startswith(f"$ {prefix}"):
                rest = block[i + 1 :]
                end = next((j for j, r in enumerate(rest) if r.startswith("$ ")), len(rest))
                found.append((line[2:], [r for r in rest[:end] if r.strip()]))
    return found


def shown(expected: list[str]) -> re.Pattern[str]:
    """The README's lines as a pattern over the real ones (see the module docstring)."""
    parts = []
    for line in expected:
        text = line.rstrip()
        if text.strip() in ELLIPSIS:
            parts.append(r"(?:[^\n]*\n)*?")
        elif text.endswith(ELLIPSIS):
            stem = text.removesuffix("...").removesuffix("…").rstrip(" ,")
            parts.append(re.escape(stem) + r"[^\n]*\n")
        else:
            parts.append(re.escape(text) + r"\n")
    return re.compile("".join(parts))


def normalised(output: str) -> str:
    lines = [GOROOT.sub("$GOROOT/src/", line).rstrip() for line in output.splitlines() if line.strip()]
    return "\n".join(lines) + "\n"


CLI = examples("leakpatrol ")


def test_the_readme_shows_cli_examples() -> None:
    assert {shlex.split(c)[1] for c, _ in CLI} >= {"diagnose", "analyze"}


@pytest.mark.parametrize(("command", "expected"), CLI, ids=[c for c, _ in CLI])
def test_each_cli_example_prints_what_the_readme_shows(
    command: str, expected: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code = main(shlex.split(command)[1:])
    output = normalised(capsys.readouterr().out)
    assert code == 0
    assert shown(expected).fullmatch(output), f"README:\n{chr(10).join(expected)}\n\nprints today:\n{output}"


def default_columns() -> list[str]:
    crd: dict[str, Any] = yaml.safe_load((ROOT / "crds" / "leakpolicy.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    return ["NAME"] + [
        c["name"].upper() for c in version["additionalPrinterColumns"] if not c.get("priority")
    ]


def test_kubectl_get_shows_the_default_columns_of_the_crd() -> None:
    gets = [lines for command, lines in examples("kubectl get leakpolicies") if "-o wide" not in command]
    assert gets
    for lines in gets:
        header = re.split(r" {2,}", lines[0].strip())
        assert header == default_columns(), lines[0]


def replayed_events() -> dict[str, str]:
    """The demo's leak, replayed from the recorded series: `leaky-http`, one pod with a 512Mi limit,
    scanned every minute until confirmed. Reason -> the workload's Event message."""
    policy = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "demo", "demo-uid", "default")
    name = "leaky-http-59z9pqqwds-59js8"
    pod = running_pod(name, started="2027-01-15T07:59:40Z", owner="leaky-http-59z9pqqwds", owner_uid="rs-uid")
    pod["metadata"]["namespace"] = "default"
    pod["spec"]["containers"][0]["resources"] = {"limits": {"memory": "512Mi"}}
    clock = Clock(FIRST_STAMP)
    cluster = FakeCluster([pod], server(clock, {name: "transport-per-request"}))
    raw = {
        "selector": {"matchLabels": {"app": "leaky-http"}},
        "target": {"port": "pprof"},
        "schedule": {"interval": "60s", "jitter": "0%"},
        "detection": {"window": "2h", "warmup": "0s", "minSamples": 12},
    }

    async def run() -> None:
        scan = PolicyScanner(cluster, policy, SharedCapacity(), clock)
        for _ in range(40):
            meta = {"name": "demo", "namespace": "default", "uid": "demo-uid", "generation": 1}
            await scan.scan({"metadata": meta, "spec": raw, "status": cluster.status})
            if cluster.status.get("leaking"):
                return
            clock.now += 60
        raise AssertionError("the recorded leak was never confirmed")

    asyncio.run(run())
    return {e.reason: e.message for e in cluster.events if e.about.kind == "Deployment"}


def readme_events() -> list[tuple[str, str]]:
    """(reason, message) of the leakpatrol rows of the README's `kubectl describe deployment`
    examples, their wrapped lines joined."""
    rows: list[list[str]] = []
    for _, lines in examples("kubectl describe deployment leaky-http"):
        for line in lines:
            if re.match(r"^  (Normal|Warning) ", line):
                rows.append(re.split(r" {2,}", line.strip(), maxsplit=4))
            elif line.startswith("    ") and rows:
                rows[-1][-1] += " " + line.strip()
    return [(row[1], row[4]) for row in rows if len(row) == 5 and row[3] == "leakpatrol"]


def test_the_readme_event_lines_are_the_events_the_operator_posts() -> None:
    shown_events = [(r, m) for r, m in readme_events() if r in ("LeakSuspected", "LeakDetected")]
    assert {r for r, _ in shown_events} == {"LeakSuspected", "LeakDetected"}
    posted = replayed_events()
    for reason, message in shown_events:
        assert shown([message]).fullmatch(posted[reason] + "\n"), (
            f"README: {message}\nposted: {posted[reason]}"
        )
