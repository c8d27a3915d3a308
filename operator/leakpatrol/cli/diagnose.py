"""`leakpatrol diagnose FILE|-`: one saved profile -> top groups, wait kinds, matching rules.

One snapshot shows what goroutines wait on, not whether they grow: rules are phrased "if this
group grows", said once at the top. The runtime's goroutineleak profile is the exception (it proves
the leak). Several debug=1 snapshots in one paste are each read, and the change between the first
and the last is shown. A dump in which every group holds one goroutine (a deadlock or crash dump)
gets no rule about goroutines piling up.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from leakpatrol.cli.args import add_json, positive_int, rules
from leakpatrol.cli.exits import CliError, Exit, emit
from leakpatrol.diagnose.rules import RuleSet
from leakpatrol.profiles import Profile, ProfileError, load_all
from leakpatrol.render import diagnose_text, group_rules, snapshot_note


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", help="a saved profile in any format (debug=0, 1 or 2, a pasted dump); - reads stdin"
    )
    add_json(p, "the groups")
    p.add_argument("--top", type=positive_int, default=10, help="groups to show, largest first")
    p.add_argument("--rules", type=Path, help="extra rules (TOML, same shape as the shipped rules.toml)")
    p.set_defaults(run=cmd_diagnose)


def read_input(name: str) -> bytes:
    if name != "-":
        return Path(name).read_bytes()
    if sys.stdin.isatty():
        print("reading a profile from stdin (end with Ctrl-D)", file=sys.stderr)
    return sys.stdin.buffer.read()


def cmd_diagnose(a: argparse.Namespace) -> int:
    source = "stdin" if a.file == "-" else a.file
    ruleset = rules(a.rules)
    data = read_input(a.file)
    try:
        profiles = load_all(data)
    except ProfileError as exc:
        raise CliError(Exit.INPUT, f"{source}: {exc}") from None
    profile, first = profiles[-1], (profiles[0] if len(profiles) > 1 else None)
    if a.json:
        emit(json.dumps(_json(profile, ruleset, a.top, first), indent=2))
    else:
        emit(diagnose_text(profile, ruleset, a.top, first))
    return 0


def _json(profile: Profile, ruleset: RuleSet, top: int, first: Profile | None) -> dict[str, Any]:
    before = {g.signature: g.count for g in first.groups} if first is not None else None
    groups = []
    for g in sorted(profile.groups, key=lambda g: g.size, reverse=True)[:top]:
        found = group_rules(profile, ruleset, g)
        rule = found[0] if len(found) == 1 else None
        either = {"rule_candidates": [r.id for r in found]} if len(found) > 1 else {}
        # Keys only a tolerant read fills appear only when set: well-formed output is unchanged.
        ancestors = {"ancestors": [f.display() for f in g.ancestors]} if g.ancestors else {}
        change = {"since_first_snapshot": g.count - before.get(g.signature, 0)} if before is not None else {}
        groups.append(
            {
                "signature": g.signature,
                "count": g.count,
                **change,
                "wait_kind": g.wait_kind.value,
                "wait_minutes_max": max(g.wait_minutes) if g.wait_minutes else None,
                "created_by": g.created_by,
                **ancestors,
                "frames": [f.display() for f in g.user_frames or g.frames],
                "inuse_space": g.heap.inuse_space if g.heap else None,
                "rule": None if rule is None else {"id": rule.id, "cause": rule.cause, "fix": rule.fix},
                **either,
            }
        )
    warnings = {"warnings": list(profile.warnings)} if profile.warnings else {}
    snapshots = {"snapshots": [p.total for p in [first, profile] if p is not None]} if first else {}
    return {
        "kind": profile.kind.value,
        "format": profile.format.value,
        "total": profile.total,
        "note": snapshot_note(profile, first),
        **snapshots,
        **warnings,
        "groups": groups,
    }
