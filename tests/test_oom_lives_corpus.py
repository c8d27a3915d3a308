"""The lives rule against the recorded corpus replayed as services that restart (lives_replay.py):
no healthy shape is ever flagged by the lives, whatever ends them; the leaks killed every 2 hours
under the production example's policy (window 6h, 36 samples at 5 min: no life can fill it) are
confirmed within three lives, with the corpus's culprit and rule. `-k oom` selects them."""

from __future__ import annotations

import pytest
from lives_replay import POLICIES, replay_lives
from test_corpus import HEALTHY, LEAKS

from leakpatrol.reasons import Termination

pytestmark = pytest.mark.corpus  # ~30 s: not in `make fast`

DEFAULTS, PRODUCTION = POLICIES.values()
ENDS = [Termination.OOM_KILLED, Termination.ERROR]
# A step leak steps every 15 recorded minutes: restamped 5 min apart, one step per 75 minutes,
# one per life; its growth never keeps on to a life's end (see detect.onelife.sustained).
FOUND_ACROSS_LIVES = sorted(set(LEAKS) - {"step-leak"})


@pytest.mark.parametrize("mode", ["restart", "segments"])
@pytest.mark.parametrize("end", ENDS, ids=str)
@pytest.mark.parametrize(("policy", "life"), [(PRODUCTION, 24), (PRODUCTION, 30), (DEFAULTS, 45)])
def test_oom_no_healthy_shape_is_flagged_across_lives(
    policy: tuple[object, float], life: int, end: Termination, mode: str
) -> None:
    config, step = policy
    flagged = {
        name: n
        for name in HEALTHY
        if (n := replay_lives(name, config, step, life, end=end, mode=mode).lives_flags)  # type: ignore[arg-type]
    }
    assert flagged == {}


@pytest.mark.parametrize(("end", "within"), [(Termination.OOM_KILLED, 2), (Termination.ERROR, 3)], ids=str)
@pytest.mark.parametrize("name", FOUND_ACROSS_LIVES)
def test_oom_a_leak_killed_every_two_hours_is_confirmed_across_lives(
    name: str, end: Termination, within: int
) -> None:
    config, step = PRODUCTION
    out = replay_lives(name, config, step, 24, end=end, lives=4)
    expected = LEAKS[name]
    assert out.confirmed_in_life is not None and out.confirmed_in_life <= within, out
    assert out.rule == expected.rule, out
    assert out.lives_flags > 0  # the lives said it, not the window alone
