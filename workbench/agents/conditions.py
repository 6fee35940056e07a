"""The condition language of a spec's routers: small, checked before the graph is built, never Python's `eval`.

A condition is one expression over the state: names of state fields (and ``last_message``, the text of the last
message, and ``messages``, the conversation); constants (strings, numbers, true/false as ``True``/``False``,
``None``); comparisons ``== != < <= > >=``, ``in`` / ``not in``; ``and``, ``or``, ``not``; parentheses; and calls of
``len``, ``lower``, ``upper``, ``strip``, ``startswith``, ``endswith`` written as functions
(``startswith(last_message, "why")``). Nothing else parses: no attribute access (``x.__class__``), no subscripts,
no other calls, no lambdas or comprehensions. Evaluation is simpleeval's, restricted to those nodes, on a copy of
the values it names.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from simpleeval import SimpleEval

MAX_LENGTH = 500
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "strip": lambda s: str(s).strip(),
    "startswith": lambda s, prefix: str(s).startswith(str(prefix)),
    "endswith": lambda s, suffix: str(s).endswith(str(suffix)),
}
BUILTIN_NAMES = {"last_message": "the text of the last message", "messages": "the conversation"}
"""Names every condition may read beside the state fields (no state field takes them)."""
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Not: operator.not_,
    ast.And: lambda a, b: a and b,
    ast.Or: lambda a, b: a or b,
}
_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Constant, ast.Name,
    ast.Load, ast.Call, *(op for op in _COMPARE if issubclass(op, ast.cmpop)),
)  # fmt: skip


def problems(expression: str, names: set[str]) -> list[str]:
    """What is wrong with a condition over state fields `names` (empty when it is fine)."""
    if len(expression) > MAX_LENGTH:
        return [f"the condition is longer than {MAX_LENGTH} characters"]
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return [f"the condition {expression!r} does not parse; write e.g. len(documents) > 0 and rewrites < 2"]
    found: list[str] = []
    known = names | set(BUILTIN_NAMES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            found.append(f"attribute access ({ast.unparse(node)}) is not allowed; call a function instead")
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                found.append(f"{ast.unparse(node.func)}() is not an allowed function ({', '.join(FUNCTIONS)})")
            elif node.keywords:
                found.append(f"{node.func.id}() takes no keyword arguments")
        elif isinstance(node, ast.Name) and node.id not in known and not _is_function(tree, node):
            found.append(f"unknown name {node.id!r}: use a state field ({', '.join(sorted(known))})")
        elif not isinstance(node, _NODES):
            found.append(f"{type(node).__name__} is not allowed in a condition")
    return list(dict.fromkeys(found))


def _is_function(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


class _Conditions(SimpleEval):
    def __init__(self, names: dict[str, Any]) -> None:
        super().__init__(operators=_COMPARE, functions=FUNCTIONS, names=names)
        allowed = (ast.Expr, ast.Constant, ast.Name, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call)
        self.nodes: dict[type[ast.AST], Callable[[Any], Any]] = {
            kind: handler for kind, handler in self.nodes.items() if kind in allowed
        }


def evaluate(expression: str, values: Mapping[str, Any]) -> bool:
    """The condition's truth over `values` (a state: the names it uses, checked first by :func:`problems`)."""
    tree = ast.parse(expression.strip(), mode="eval")
    return bool(_Conditions(dict(values)).eval(expression, previously_parsed=tree.body))
