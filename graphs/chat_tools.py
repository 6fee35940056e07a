"""Tools the chat model may call, when it supports tool calls."""

from __future__ import annotations

import ast
import asyncio
import math
import operator
from collections.abc import Callable
from typing import Any

from langchain_core.tools import tool

from workbench.citations import label
from workbench.resources import get_resources

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "log": math.log,
    "exp": math.exp,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def evaluate(expression: str) -> float:
    """Evaluate an arithmetic expression without ``eval``: numbers, + - * / // % **, a few math functions."""

    def walk(node: ast.AST) -> Any:
        match node:
            case ast.Expression(body=body):
                return walk(body)
            case ast.Constant(value=int() | float() as value):
                return value
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
                if isinstance(op, ast.Pow) and abs(walk(right)) > 1000:
                    raise ValueError("exponent too large")
                return _BINARY[type(op)](walk(left), walk(right))
            case ast.UnaryOp(op=op, operand=operand) if type(op) in _UNARY:
                return _UNARY[type(op)](walk(operand))
            case ast.Call(func=ast.Name(id=name), args=args) if name in _FUNCTIONS:
                return _FUNCTIONS[name](*(walk(a) for a in args))
            case ast.Name(id=name) if name in _CONSTANTS:
                return _CONSTANTS[name]
        raise ValueError(f"unsupported expression: {ast.unparse(node) if isinstance(node, ast.expr) else node}")

    if len(expression) > 200:
        raise ValueError("expression too long")
    return walk(ast.parse(expression, mode="eval"))


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as "2 * (3 + 4) / sqrt(16)"."""
    try:
        return str(evaluate(expression))
    except (ValueError, SyntaxError, ZeroDivisionError, OverflowError, TypeError) as exc:
        return f"error: {exc}"


@tool
async def search_documents(query: str, top_k: int = 3) -> str:
    """Search the indexed documents and return the best passages with their sources."""
    from langgraph.runtime import get_runtime

    context = get_runtime().context
    resources = get_resources()
    collection = getattr(context, "collection", None) or resources.settings.collection
    docs = await asyncio.to_thread(lambda: resources.store.search(collection, query, max(1, min(top_k, 10))))
    if not docs:
        return "no documents found"
    return "\n\n".join(f"({label(d)}) {d['text']}" for d in docs)


TOOLS = [calculator, search_documents]
