"""One vocabulary: each shared word of leakpatrol has exactly one definition; every reason a
condition or an Event says is a `leakpatrol.reasons.Reason`, written nowhere else; the error tree
drawn in `leakpatrol.core` is the true one; errors are recognised by type, never by text."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import leakpatrol
from leakpatrol import core
from leakpatrol.api import RemediationStatus, Workload
from leakpatrol.controller.remediation import Remediator
from leakpatrol.core import LeakpatrolError, ObjectNotFound, ObjectRef, Permanent, Temporary
from leakpatrol.kube import errors
from leakpatrol.reasons import Reason

PACKAGE = Path(leakpatrol.__file__).parent
VOCABULARY = "reasons.py"
SHARED = {
    "SignalKind": "core.py", "LeakState": "core.py", "Transport": "core.py", "ObjectRef": "core.py",
    "Obj": "core.py", "LeakpatrolError": "core.py", "Temporary": "core.py", "Permanent": "core.py",
    "CheckpointCorrupt": "core.py", "TargetNotExposed": "core.py", "TargetGone": "core.py",
    "ObjectNotFound": "core.py", "MAX_PROFILE_BYTES": "core.py", "MAX_DECOMPRESSED_BYTES": "core.py",
    "MAX_CHECKPOINT_BYTES": "core.py", "GLOBAL_FETCHES": "core.py", "PER_POLICY_FETCHES": "core.py",
    "MAX_EVENT_MESSAGE": "core.py", "RESTARTED_AT": "core.py", "Reason": VOCABULARY,
    "EventType": VOCABULARY,
}  # fmt: skip
RETIRED = {
    "SignalState", "FindingState", "SignalName", "CheckpointError", "TargetFetchError", "MAX_MESSAGE",
    "DRY_RUN_REASON",
}  # fmt: skip
# Words that mean something else where they are written: a condition type named like its reason.
ELSEWHERE = {("api/status.py", "ConditionType")}
EVENT_TYPES = {"Normal", "Warning"}


def sources(extra: dict[str, str] | None = None) -> Iterator[tuple[str, ast.Module]]:
    """(path relative to the package, its syntax tree) for every module but generated code, and
    for the `extra` modules (name -> source) a test adds."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if not path.name.endswith("_pb2.py"):
            yield str(path.relative_to(PACKAGE)), ast.parse(path.read_text())
    for name, text in (extra or {}).items():
        yield name, ast.parse(text)


def definitions() -> Counter[tuple[str, str]]:
    """(name, module file) for every top-level class, assignment and alias in the package."""
    found: Counter[tuple[str, str]] = Counter()
    for module, tree in sources():
        for node in tree.body:
            names: list[str] = []
            if isinstance(node, ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            elif isinstance(node, ast.ImportFrom):
                names = [a.asname for a in node.names if a.asname]  # `import X as Y` re-names a word
            for name in names:
                found[(name, module)] += 1
    return found


def test_each_shared_word_is_defined_once_in_core_or_the_vocabulary() -> None:
    found = definitions()
    for word, home in SHARED.items():
        places = [module for (name, module), n in found.items() if name == word for _ in range(n)]
        assert places == [home], f"{word} defined in {places}"
    retired = sorted(name for name, _ in found if name in RETIRED)
    assert not retired, f"retired names back: {retired}"


# --- every reason comes from the one vocabulary ---------------------------------------------------
def _docstrings(tree: ast.Module) -> set[int]:
    nodes = [
        tree,
        *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)),
    ]
    return {
        id(n.body[0].value)
        for n in nodes
        if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
    }


def _is_text(node: ast.AST | None) -> bool:
    """A word written in place: a string literal or an f-string."""
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _reason_slots() -> dict[str, set[int]]:
    """Callable name -> the positions where its calls pass a `reason`: every function, method and
    dataclass of the package with a parameter or field named `reason`."""
    slots: dict[str, set[int]] = {}
    for _, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                params = [a.arg for a in [*node.args.posonlyargs, *node.args.args]]
                if params and params[0] in ("self", "cls"):
                    params = params[1:]
                if "reason" in params:
                    name = node.name
                    if name == "__init__":
                        continue  # classes: their name is added below, from the class body
                    slots.setdefault(name, set()).add(params.index("reason"))
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        params = [a.arg for a in item.args.args][1:]
                        if "reason" in params:
                            slots.setdefault(node.name, set()).add(params.index("reason"))
                fields = [
                    item.target.id
                    for item in node.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                ]
                dataclass = any("dataclass" in ast.unparse(d) for d in node.decorator_list)
                if dataclass and "reason" in fields:
                    slots.setdefault(node.name, set()).add(fields.index("reason"))
    return slots


def written_reasons(extra: dict[str, str] | None = None) -> list[str]:
    """Every place outside the vocabulary that writes a reason (or an Event type) itself."""
    words = {r.value for r in Reason}
    slots = _reason_slots()
    found: list[str] = []
    for module, tree in sources(extra):
        if module == VOCABULARY:
            continue
        docs = _docstrings(tree)
        exempt: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and (module, node.name) in ELSEWHERE:
                exempt |= {id(n) for n in ast.walk(node)}

        def say(node: ast.AST, what: str, module: str = module) -> None:
            found.append(f"{module}:{getattr(node, 'lineno', '?')}: {what}")

        for node in ast.walk(tree):
            if id(node) in docs or id(node) in exempt:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value in words:
                    say(node, f"the reason {node.value!r} written in place of Reason")
                elif node.value in EVENT_TYPES:
                    say(node, f"the Event type {node.value!r} written in place of a Reason's")
            elif isinstance(node, ast.ClassDef):  # an error class's `reason = "..."`
                for item in node.body:
                    if isinstance(item, ast.Assign | ast.AnnAssign):
                        targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                        if any(isinstance(t, ast.Name) and t.id == "reason" for t in targets) and _is_text(
                            item.value
                        ):
                            say(item, "a class's reason written as text")
            elif isinstance(node, ast.Call):
                if any(k.arg == "reason" and _is_text(k.value) for k in node.keywords):
                    say(node, "reason=... written as text")
                f = node.func
                callee = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                for slot in slots.get(callee, ()):
                    if slot < len(node.args) and _is_text(node.args[slot]):
                        say(node, f"{callee}(...) given its reason as text")
            elif isinstance(node, ast.Compare):  # `x.reason == "..."`, `x.reason in ("...", ...)`
                sides = [node.left, *node.comparators]
                on_reason = any(isinstance(s, ast.Attribute) and s.attr == "reason" for s in sides)
                texts = [s for s in sides if _is_text(s) or (isinstance(s, ast.Tuple | ast.List | ast.Set))]
                if on_reason and texts:
                    say(node, "a reason compared with text: decide by type or by a Reason member")
    return found


def test_every_reason_and_event_type_comes_from_the_vocabulary() -> None:
    assert written_reasons() == []


def test_every_reason_of_the_vocabulary_is_said_somewhere() -> None:
    used: set[str] = set()
    for module, tree in sources():
        if module != VOCABULARY:
            used |= {
                n.attr
                for n in ast.walk(tree)
                if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "Reason"
            }
    unused = sorted(set(Reason.__members__) - used)
    assert not unused, f"words nobody says: {unused}"
    unknown = sorted(used - set(Reason.__members__) - {"of"})
    assert not unknown, unknown


def test_the_scan_can_fail() -> None:
    """The scan above finds what it must: a module that writes reasons itself is caught."""
    probe = (
        "from leakpatrol.controller.ports import EventIntent, Unscannable\n"
        "class Oops(Exception):\n    reason = 'Oops'\n"
        "def f(d, about):\n"
        "    Unscannable('pod', 'BrandNewWord', 'message')\n"
        "    EventIntent(about, 'Warning', 'LeakDetected', 'text')\n"
        "    return d.reason in ('DecisionFailed', 'EvidenceNotSaved') or d.reason == 'Oops'\n"
    )
    found = "\n".join(written_reasons({"probe.py": probe}))
    assert "probe.py:3: a class's reason written as text" in found
    assert "Unscannable(...) given its reason as text" in found
    assert "the Event type 'Warning'" in found and "the reason 'LeakDetected'" in found
    assert "the reason 'DecisionFailed'" in found and "a reason compared with text" in found


def test_every_permanent_word_is_a_warning() -> None:
    """A Permanent error ends as Ready=False and a Warning Event saying its reason."""
    for cls in error_classes().values():
        if issubclass(cls, Permanent):
            assert cls.reason.event_type == "Warning", cls
    assert Reason.REMEDIATION_SUSPENDED.event_type == "Warning"  # the suspension itself
    assert Reason.REMEDIATION_SUSPENDED.skip_type == "Normal"  # each later pass's skip of it
    assert Reason.DECISION_FAILED.skip_type == "Warning" and Reason.COOLDOWN.skip_type == "Normal"
    with pytest.raises(ValueError, match="never an Event's"):
        _ = Reason.NO_LEAK.event_type


# --- the error tree drawn in core's docstring is the true one ----------------------------------------
def error_classes() -> dict[str, type[BaseException]]:
    """Every public exception class defined in the package, by name (names are unique)."""
    out: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(leakpatrol.__path__, "leakpatrol."):
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ == module.__name__
                and issubclass(cls, BaseException)
                and not name.startswith("_")
            ):
                assert out.setdefault(name, cls) is cls, f"two error classes named {name}"
    return out


def drawn_tree(doc: str) -> list[tuple[str, str | None]]:
    """(class, the class it is drawn under) for the box-drawn tree in a docstring."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines[:-1]) if lines[i + 1].lstrip(" │").startswith("├──"))
    drawn: list[tuple[str, str | None]] = []
    stack: list[tuple[int, str]] = []
    for line in lines[start:]:
        if not line.strip():
            break
        prefix = re.match(r"[\s│├└─]*", line)
        assert prefix is not None
        name = re.match(r"[A-Z][A-Za-z0-9]*\b", line[prefix.end() :])
        if name is None:
            continue  # a line that goes on describing the class above
        column = prefix.end()
        while stack and stack[-1][0] >= column:
            stack.pop()
        drawn.append((name.group(), stack[-1][1] if stack else None))
        stack.append((column, name.group()))
    return drawn


def check_tree(doc: str, classes: dict[str, type[BaseException]]) -> None:
    for name, parent in drawn_tree(doc):
        assert name in classes, f"the tree names {name}, which does not exist"
        if parent is not None:
            assert classes[parent] in classes[name].__bases__, f"{name} is drawn under {parent}"


def test_the_error_tree_in_core_is_every_error_class_under_its_parent() -> None:
    classes = error_classes()
    assert core.__doc__ is not None
    drawn = [name for name, _ in drawn_tree(core.__doc__)]
    assert len(drawn) == len(set(drawn)), "a class drawn twice"
    missing, unknown = sorted(set(classes) - set(drawn)), sorted(set(drawn) - set(classes))
    assert (missing, unknown) == ([], []), "(error classes not drawn, drawn names that do not exist)"
    check_tree(core.__doc__, classes)
    assert drawn[0] == "LeakpatrolError"


def test_the_module_trees_match_their_modules() -> None:
    classes = error_classes()
    for module in (errors, importlib.import_module("leakpatrol.profiles.errors")):
        assert module.__doc__ is not None
        check_tree(module.__doc__, classes)
        own = {n for n, c in classes.items() if c.__module__ == module.__name__}
        assert {n for n, _ in drawn_tree(module.__doc__)} == own, module.__name__


def test_the_tree_check_can_fail() -> None:
    classes = error_classes()
    stale = "    LeakpatrolError\n    ├── Temporary\n    │   └── Invalid\n    └── Permanent\n"
    with pytest.raises(AssertionError, match="names Invalid, which does not exist"):
        check_tree(stale, classes)
    misplaced = "    LeakpatrolError\n    ├── Temporary\n    │   └── PatternError\n    └── Permanent\n"
    with pytest.raises(AssertionError, match="PatternError is drawn under Temporary"):
        check_tree(misplaced, classes)
    assert [n for n, _ in drawn_tree(misplaced)] == [
        "LeakpatrolError",
        "Temporary",
        "PatternError",
        "Permanent",
    ]


def test_every_error_class_derives_from_temporary_or_permanent() -> None:
    grouping = {"KubeError", "ApiError", "FetchError"}  # grouping bases: their leaves decide
    for name, cls in error_classes().items():
        assert issubclass(cls, LeakpatrolError), name
        if cls not in (LeakpatrolError, Temporary, Permanent) and name not in grouping:
            assert issubclass(cls, Temporary | Permanent), name


# --- foreign errors are mapped once, callers decide by type ------------------------------------------
def test_an_api_error_keeps_the_servers_word_apart_from_ours() -> None:
    e = errors.api_error(403, "Forbidden", "pods is forbidden")
    assert (type(e), e.status_reason, e.reason) == (errors.Forbidden, "Forbidden", Reason.FORBIDDEN)
    e = errors.api_error(401, "Unauthorized", "no token")
    assert (type(e), e.reason) == (errors.Forbidden, Reason.UNAUTHORIZED)
    e = errors.api_error(404, "Not Found", "<html>")  # a proxy's page: no word of ours
    assert isinstance(e, ObjectNotFound) and e.reason is Reason.NOT_FOUND and e.status_reason == "Not Found"
    assert str(e) == "404 Not Found: <html>"


class _Workloads:
    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    async def read_workload(self, ref: ObjectRef) -> Any:
        raise self.failure


@pytest.mark.parametrize(
    ("failure", "settles"),
    [
        (errors.NotFound(404, "NotFound", "deployments.apps client not found"), True),
        (errors.NotFound(404, "Gone Away", "a word we do not know"), True),  # the type decides
        (errors.ServerError(500, "NotFound", "a 500 that says NotFound"), False),  # not by its word
        (errors.Forbidden(403, "Forbidden", "no RBAC"), False),
    ],
)
async def test_a_workload_in_action_settles_when_it_is_gone_by_type(
    failure: Exception, settles: bool
) -> None:
    policy = ObjectRef("leakpatrol.dev/v1alpha1", "LeakPolicy", "demo", "uid", "shop")
    remediator = Remediator(_Workloads(failure), policy)  # type: ignore[arg-type]
    st = RemediationStatus(in_action=Workload(kind="Deployment", name="client"))
    after = await remediator._settle(st)
    assert (after.in_action is None) is settles
