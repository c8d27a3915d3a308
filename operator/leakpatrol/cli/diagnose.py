"""`leakpatrol diagnose FILE`: one saved profile -> top groups, wait kinds, matching rules."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from leakpatrol.cli.args import rules
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles import Profile, ProfileKind, load
from leakpatrol.render import diagnose_text


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--rules", type=Path, help="extra rules (TOML)")
    p.set_defaults(run=cmd_diagnose)


def cmd_diagnose(a: argparse.Namespace) -> int:
    profile = load(Path(a.file).read_bytes())
    ruleset = rules(a.rules)
    if a.json:
        print(json.dumps(_json(profile, ruleset, a.top), indent=2))
    else:
        print(diagnose_text(profile, ruleset, a.top))
    return 0


def _json(profile: Profile, ruleset: RuleSet, top: int) -> dict[str, Any]:
    signal = {ProfileKind.HEAP: "heap", ProfileKind.GOROUTINELEAK: "goroutineleak"}.get(
        profile.kind, "goroutines"
    )
    groups = []
    for g in sorted(profile.groups, key=lambda g: g.size, reverse=True)[:top]:
        rule = ruleset.match(signal, g.wait_kind.value, [f.function for f in g.user_frames])
        # Keys only a tolerant read fills appear only when set: well-formed output is unchanged.
        ancestors = {"ancestors": [f.display() for f in g.ancestors]} if g.ancestors else {}
        groups.append(
            {
                "signature": g.signature,
                "count": g.count,
                "wait_kind": g.wait_kind.value,
                "wait_minutes_max": max(g.wait_minutes) if g.wait_minutes else None,
                "created_by": g.created_by,
                **ancestors,
                "frames": [f.display() for f in g.user_frames or g.frames],
                "inuse_space": g.heap.inuse_space if g.heap else None,
                "rule": None if rule is None else {"id": rule.id, "cause": rule.cause, "fix": rule.fix},
            }
        )
    warnings = {"warnings": list(profile.warnings)} if profile.warnings else {}
    return {
        "kind": profile.kind.value,
        "format": profile.format.value,
        "total": profile.total,
        **warnings,
        "groups": groups,
    }
