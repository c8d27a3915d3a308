"""`analyze --junit FILE`: the verdict as a JUnit XML report, the format CI systems render.

One testsuite per series and one testcase per signal (goroutines, heap, goroutineleak). A signal
with a finding at the `--fail-on` level is a <failure>: its message names the culprit, the rule
and the fix in one line (what a build log's summary shows), its text is the whole finding as
`analyze` prints it. Too few samples for a verdict is an <error>: not a pass.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from leakpatrol.core import LeakState, SignalKind
from leakpatrol.detect.replay import ReplayVerdict
from leakpatrol.detect.signals import Signal
from leakpatrol.render import signal_lines, signal_summary

# XML 1.0 allows no control characters but tab, LF and CR: frames come from untrusted profiles.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("?", text)


def junit_report(
    v: ReplayVerdict,
    source: str,
    *,
    kinds: Sequence[SignalKind],
    fail_on: str,
    notes: Sequence[str],
    seconds: float,
) -> bytes:
    """The report; `kinds`: the signals the series had profiles for (one testcase each)."""
    name = Path(source).name or source
    failing = {s.kind: s for s in v.signals}
    if fail_on == "suspected":
        failing.update({s.kind: s for s in v.suspected if s.kind not in failing})
    suite = ET.Element(
        "testsuite",
        name=_clean(f"leakpatrol analyze {source}"),
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        time=f"{seconds:.3f}",
        hostname="leakpatrol",
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (("verdict", v.verdict), ("samples", str(v.samples)), ("fail-on", fail_on)):
        ET.SubElement(props, "property", name=key, value=value)
    out = ET.SubElement(suite, "system-out")
    out.text = _clean("\n".join(notes))
    failures = errors = 0
    for kind in kinds:
        case = ET.SubElement(
            suite, "testcase", classname=_clean(f"leakpatrol.{name}"), name=kind.value, time="0"
        )
        signal = failing.get(kind)
        if signal is not None:
            failures += 1
            failure = ET.SubElement(case, "failure", message=_clean(_message(signal)), type=_type(signal))
            failure.text = _clean("\n".join(signal_lines(signal)))
        elif v.verdict == "insufficient-data":
            errors += 1
            ET.SubElement(
                case,
                "error",
                message=f"too few samples for a verdict ({v.samples})",
                type="insufficient-data",
            )
    suite.set("tests", str(len(kinds)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    root = ET.Element("testsuites", name="leakpatrol", tests=str(len(kinds)))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.append(suite)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _type(signal: Signal) -> str:
    return "leak" if signal.state is LeakState.CONFIRMED else "suspected"


def _message(signal: Signal) -> str:
    word = "LEAK" if signal.state is LeakState.CONFIRMED else "SUSPECTED leak"
    text = f"{word} {signal_summary(signal)}"
    if signal.rule is not None:
        text += f" | fix: {signal.rule.fix}"
    return text
