"""One vocabulary: each shared word of leakpatrol has exactly one definition, in leakpatrol.core,
and every error leakpatrol raises on purpose derives from Temporary or Permanent."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections import Counter
from pathlib import Path

import leakpatrol
from leakpatrol.core import LeakpatrolError, Permanent, Temporary

PACKAGE = Path(leakpatrol.__file__).parent
SHARED = {
    "SignalKind", "LeakState", "Transport", "ObjectRef", "Obj",
    "LeakpatrolError", "Temporary", "Permanent", "CheckpointCorrupt", "TargetNotExposed", "TargetGone",
    "ObjectNotFound",
    "MAX_PROFILE_BYTES", "MAX_DECOMPRESSED_BYTES", "MAX_CHECKPOINT_BYTES",
    "GLOBAL_FETCHES", "PER_POLICY_FETCHES", "MAX_EVENT_MESSAGE",
}  # fmt: skip
RETIRED = {"SignalState", "FindingState", "SignalName", "CheckpointError", "TargetFetchError", "MAX_MESSAGE"}


def definitions() -> Counter[tuple[str, str]]:
    """(name, module file) for every top-level class, assignment and alias in the package."""
    found: Counter[tuple[str, str]] = Counter()
    for path in PACKAGE.rglob("*.py"):
        if path.name.endswith("_pb2.py"):
            continue
        for node in ast.parse(path.read_text()).body:
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
                found[(name, str(path.relative_to(PACKAGE)))] += 1
    return found


def test_each_shared_word_is_defined_once_in_core() -> None:
    found = definitions()
    for word in SHARED:
        places = [module for (name, module), n in found.items() if name == word for _ in range(n)]
        assert places == ["core.py"], f"{word} defined in {places}"
    retired = sorted(name for name, _ in found if name in RETIRED)
    assert not retired, f"retired names back: {retired}"


def test_every_error_class_derives_from_temporary_or_permanent() -> None:
    for info in pkgutil.walk_packages(leakpatrol.__path__, "leakpatrol."):
        if info.name.startswith(("leakpatrol.runtime", "leakpatrol.cli")):
            continue  # kopf wiring and the CLI define no errors
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ != module.__name__
                or not issubclass(cls, Exception)
                or cls.__name__.startswith("_")
            ):
                continue
            if cls in (LeakpatrolError, Temporary, Permanent):
                continue
            bases = ("KubeError", "ApiError", "FetchError")  # grouping bases: their leaves decide
            if cls.__name__ in bases:
                assert issubclass(cls, LeakpatrolError), cls
                continue
            assert issubclass(cls, Temporary | Permanent), f"{info.name}.{cls.__name__}"
