"""The lives rule's figures for the README ("OOM-looping services"): the recorded corpus replayed as
services that restart (tests/lives_replay.py), under the defaults and the production example's
policy, every life ending OOMKilled or Error, restarts replaying start-up or continuing the
recording. Prints a Markdown table. `python scripts/lives_figures.py` (about two minutes).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lives_replay import POLICIES, replay_lives  # noqa: E402
from test_corpus import HEALTHY, LEAKS  # noqa: E402

from leakpatrol.reasons import Termination  # noqa: E402

LIVES = {"defaults (window 2h, 1/min)": (20, 30, 45, 60), "production (window 6h, 1/5min)": (18, 24, 30)}
MODES = ("restart", "segments")


def main() -> int:
    print(
        "| policy | a life | ends | healthy shapes flagged by the lives (of runs)"
        " | leaks confirmed within 3 lives, before | after |"
    )
    print("|---|---|---|---|---|---|")
    for policy, (config, step) in POLICIES.items():
        for life in LIVES[policy]:
            minutes = life * step / 60
            for end in (Termination.OOM_KILLED, Termination.ERROR):
                flagged = runs = 0
                before = after = total = 0
                for mode in MODES:
                    for name in HEALTHY:
                        out = replay_lives(name, config, step, life, end=end, mode=mode)
                        runs += 1
                        flagged += out.lives_flags > 0
                    for name in LEAKS:
                        out = replay_lives(name, config, step, life, end=end, mode=mode, lives=3)
                        total += 1
                        before += out.window_confirmed_in_life is not None
                        after += out.confirmed_in_life is not None
                length = f"{minutes / 60:g}h" if minutes >= 60 else f"{minutes:g}m"
                print(
                    f"| {policy} | {length} | {end.value} | {flagged} of {runs} | {before} of {total}"
                    f" | {after} of {total} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
