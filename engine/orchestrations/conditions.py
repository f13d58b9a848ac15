"""Safe branch conditions: ``decision == 'approve' and not urgent``.

Why not ``eval`` or simpleeval: a condition comes from a definition file or, through seed
002's ``/execute``, from an HTTP request body. It is parsed with ``ast`` and walked by a tiny
interpreter that knows only literals, names from shared state, comparisons (incl. ``in``,
``is``), ``and``/``or``/``not`` and unary minus. There are no calls, attributes, subscripts or
comprehensions, so there is nothing to escape to. ``true``/``false``/``null`` are accepted
as YAML/JSON-style spellings of the literals.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

MAX_LENGTH = 1000
MAX_DEPTH = 32

_LITERAL_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None, "none": None}

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}


class ConditionError(ValueError):
    """A condition that cannot be parsed or evaluated; ``message`` says why."""


class Condition:
    """A parsed condition: its syntax tree and the state keys it reads."""

    __slots__ = ("names", "text", "tree")

    def __init__(self, text: str, tree: ast.expr, names: frozenset[str]) -> None:
        self.text = text
        self.tree = tree
        self.names = names


def _check(node: ast.AST, depth: int, names: set[str]) -> None:
    if depth > MAX_DEPTH:
        raise ConditionError("condition is nested too deeply")
    if isinstance(node, ast.Constant):
        if node.value is not None and not isinstance(node.value, str | int | float | bool):
            raise ConditionError(f"literal {node.value!r} is not allowed")
        return
    if isinstance(node, ast.Name):
        if node.id.lower() not in _LITERAL_NAMES and node.id not in ("True", "False", "None"):
            names.add(node.id)
        return
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, depth + 1, names)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub | ast.UAdd):
        _check(node.operand, depth + 1, names)
        return
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ConditionError(f"operator {type(op).__name__} is not allowed")
        _check(node.left, depth + 1, names)
        for comparator in node.comparators:
            _check(comparator, depth + 1, names)
        return
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        for element in node.elts:
            _check(element, depth + 1, names)
        return
    what = type(node).__name__
    hint = {
        "Call": "a function call",
        "Attribute": "attribute access",
        "Subscript": "indexing",
        "BinOp": "arithmetic",
        "Lambda": "a lambda",
    }.get(what, what)
    raise ConditionError(
        f"{hint} is not allowed in a condition; use comparisons, and/or/not, 'in', "
        "literals and state keys"
    )


@lru_cache(maxsize=1024)
def parse_condition(text: str) -> Condition:
    """Parse and check a condition. Raises ConditionError with a readable reason."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("condition is empty")
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"condition is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise ConditionError(f"invalid syntax{col}: {exc.msg}") from None
    names: set[str] = set()
    _check(tree.body, 0, names)
    return Condition(text, tree.body, frozenset(names))


def _eval(node: ast.expr, state: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        lowered = node.id.lower()
        if node.id not in state and lowered in _LITERAL_NAMES:
            return _LITERAL_NAMES[lowered]
        return state.get(node.id)
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result: Any = True
            for value in node.values:
                result = _eval(value, state)
                if not result:
                    return result
            return result
        result = False
        for value in node.values:
            result = _eval(value, state)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, state)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            raise ConditionError(f"unary minus needs a number, got {type(operand).__name__}")
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Compare):
        left = _eval(node.left, state)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, state)
            try:
                ok = _COMPARE[type(op)](left, right)
            except TypeError:
                raise ConditionError(
                    f"cannot compare {type(left).__name__} with {type(right).__name__} "
                    f"using {type(op).__name__}"
                ) from None
            if not ok:
                return False
            left = right
        return True
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [_eval(element, state) for element in node.elts]
    raise ConditionError(f"{type(node).__name__} is not allowed")  # unreachable after _check


def evaluate(condition: str | Condition, state: Mapping[str, Any]) -> bool:
    """Evaluate on shared state. Missing keys read as None. Raises ConditionError."""
    parsed = parse_condition(condition) if isinstance(condition, str) else condition
    return bool(_eval(parsed.tree, state))
