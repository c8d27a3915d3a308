"""An estimate of a CRD rule's CEL cost, checked against the API server's static limits.

The API server refuses a CRD whose rule's estimated cost exceeds StaticEstimatedCostLimit
(10,000,000) or whose rules together exceed StaticEstimatedCRDCostLimit (100x that). Its estimator
(cel-go's checker cost model over the typed AST, with sizes from the schema) cannot be reproduced
here: this estimates the two things that dominate it in practice and nothing else:

- cardinality: a rule under a list or a map runs once per item, so its cost is multiplied by the
  maxItems / maxProperties of every enclosing array and map; where one is unbounded, by the items a
  3 MiB request could hold (the server's rule: max request size / (minimal item size + 1));
- string work on long strings: the traversal functions (contains, startsWith, endsWith, lowerAscii,
  ...) cost 0.1 per byte of the receiver's maxLength, `matches` that times 0.25 per byte of the
  pattern, and a macro (all, exists, map, filter, ...) over `self.list` multiplies by its maxItems;
  an unbounded string counts as 3 MiB.

Not estimated: the per-node cost of every other operator and function (each counts 1 here),
comparisons and concatenations of strings and lists by their size, nested comprehension variables,
messageExpression costs, and the runtime cost limit (PerCallLimit, checked during evaluation). So
the estimate errs low: a rule this passes can still be refused by a real server when it is near the
limit. The two factors are counted as cel-go's cost model counts them (as far as read from it), so
a rule this refuses, by orders of magnitude as such rules are, should be refused there too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

RULE_LIMIT = 10_000_000  # apiextensions validation.StaticEstimatedCostLimit
CRD_LIMIT = 100 * RULE_LIMIT  # StaticEstimatedCRDCostLimit
MAX_REQUEST_BYTES = 3 * 1024 * 1024
_TRAVERSING = {"contains", "startsWith", "endsWith", "lowerAscii", "upperAscii", "replace", "split", "trim"}
_TRAVERSING |= {"indexOf", "lastIndexOf", "substring", "find", "findAll", "charAt", "join", "reverse"}
_MACROS = {"all", "exists", "exists_one", "existsOne", "map", "filter"}


@dataclass(frozen=True)
class Cost:
    base: int  # one evaluation
    cardinality: int  # evaluations per object

    @property
    def total(self) -> int:
        return self.base * self.cardinality


def _min_size(schema: dict[str, Any]) -> int:
    """The smallest JSON an item of this schema can be (the server's estimate uses it)."""
    return {"string": 2, "object": 2, "array": 2, "boolean": 4}.get(str(schema.get("type")), 1)


def items_bound(schema: dict[str, Any]) -> int:
    """How many times a rule inside this array/map's items runs: its max, or what 3 MiB can hold."""
    if schema.get("type") == "array":
        bound = schema.get("maxItems")
        item = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    else:
        bound = schema.get("maxProperties")
        extra = schema.get("additionalProperties")
        item = extra if isinstance(extra, dict) else {}
    if isinstance(bound, int):
        return bound
    return MAX_REQUEST_BYTES // (_min_size(item) + 1)


def _resolve(chain: str, node: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema of `x.a.b` (chain ".a.b") from x's schema, if the chain follows declared properties."""
    for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", chain):
        node = ((node or {}).get("properties") or {}).get(name)
    return node


def _element(node: dict[str, Any]) -> dict[str, Any]:
    """What a macro's variable ranges over: a list's items, a map's keys (strings)."""
    if node.get("type") == "array":
        return node.get("items") if isinstance(node.get("items"), dict) else {}
    return {"type": "string"}


def _max_length(node: dict[str, Any] | None) -> int:
    bound = (node or {}).get("maxLength")
    return bound if isinstance(bound, int) else MAX_REQUEST_BYTES


_CALL = re.compile(
    r"\b([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\.([A-Za-z_]+)\(\s*(?:([A-Za-z_][A-Za-z0-9_]*)\s*,)?"
)


def estimate(rule: str, schema: dict[str, Any], cardinality: int = 1) -> Cost:
    """The estimated cost of `rule` at `schema`, run `cardinality` times per object."""
    code = re.sub(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"", "''", rule)
    base = max(1, len(re.findall(r"[A-Za-z_][A-Za-z0-9_]*|==|!=|<=|>=|&&|\|\||[-+*/%<>!?]", code)))
    factor, scope = 1, {"self": schema}
    for call in _CALL.finditer(rule):  # left to right: a macro binds its variable before its body
        root, chain, function, variable = call.groups()
        if root not in scope:
            continue
        receiver = _resolve(chain, scope[root])
        if function in _MACROS and receiver is not None and receiver.get("type") in ("array", "object"):
            factor *= items_bound(receiver)
            if variable:
                scope[variable] = _element(receiver)
        elif function == "matches":
            pattern = re.match(r"\s*(['\"])((?:\\.|(?!\1).)*)\1", rule[call.end() :])
            pattern_cost = math.ceil(0.25 * len(pattern.group(2))) if pattern else MAX_REQUEST_BYTES
            base += math.ceil(0.1 * _max_length(receiver)) * max(1, pattern_cost)
        elif function in _TRAVERSING:
            base += math.ceil(0.1 * _max_length(receiver))
    return Cost(base * factor, cardinality)


def too_costly(cost: int, what: str = "estimated rule cost", limit: int = RULE_LIMIT) -> str:
    """The server's words (getCostErrorMessage) for a cost over its limit."""
    exceed = cost / limit
    factor = "more than 100x" if exceed > 100 else f"{exceed:f}x" if exceed < 1.5 else f"{exceed:.1f}x"
    return (
        f"{what} exceeds budget by factor of {factor} (try simplifying the rule, or adding maxItems, "
        "maxProperties, and maxLength where arrays, maps, and strings are declared)"
    )
