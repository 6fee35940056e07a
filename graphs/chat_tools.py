"""Tools the chat model may call, when it supports tool calls."""

from __future__ import annotations

import ast
import asyncio
import math
import operator
import sys
from collections.abc import Callable
from typing import Any

from langchain_core.tools import tool
from simpleeval import MAX_POWER, FunctionNotDefined, InvalidExpression, NameNotDefined, SimpleEval

from graphs.context import clients
from workbench.citations import label

MAX_EXPRESSION_LENGTH = 200
MAX_NESTING = 12
"""Deepest parentheses (grouping or a function's argument list) an expression may have."""
MAX_MAGNITUDE = sys.float_info.max
"""Largest absolute value of any number, literal, intermediate or result: every value stays a finite float."""
MAX_ROUND_DIGITS = 20
_TOO_LARGE = f"number too large (every number must stay below {MAX_MAGNITUDE:.1e})"


class CalculatorError(ValueError):
    """An expression the calculator refuses; the message says why."""


def _number(value: Any) -> int | float:
    """``value`` if it is a finite number within ``MAX_MAGNITUDE``, else a ``CalculatorError``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalculatorError("only real numbers are allowed")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError(_TOO_LARGE)
    if abs(value) > MAX_MAGNITUDE:
        raise CalculatorError(_TOO_LARGE)
    return value


def _power(base: Any, exponent: Any) -> int | float:
    """``base ** exponent``, refused before computing when the exponent or the result would be too large."""
    base, exponent = _number(base), _number(exponent)
    if abs(exponent) > MAX_POWER:
        raise CalculatorError("exponent too large")
    if abs(base) not in (0, 1) and exponent * math.log(abs(base)) > math.log(MAX_MAGNITUDE):
        raise CalculatorError(_TOO_LARGE)
    try:
        return _number(base**exponent)
    except OverflowError:
        raise CalculatorError(_TOO_LARGE) from None


def _arithmetic(function: Callable[..., Any]) -> Callable[..., int | float]:
    """``function`` applied to numbers only, its result bounded like every other number."""

    def checked(*args: Any) -> int | float:
        try:
            return _number(function(*(_number(a) for a in args)))
        except OverflowError:
            raise CalculatorError(_TOO_LARGE) from None

    return checked


def _math(name: str, function: Callable[..., Any]) -> Callable[..., int | float]:
    """``function`` from ``math`` on numbers only, with its domain and range errors named for the user."""

    def checked(*args: Any) -> int | float:
        numbers = [_number(a) for a in args]
        try:
            return _number(function(*numbers))
        except OverflowError:
            raise CalculatorError(_TOO_LARGE) from None
        except (TypeError, ZeroDivisionError):
            raise CalculatorError(f"{name}() got arguments it cannot take") from None
        except ValueError as exc:
            if isinstance(exc, CalculatorError):
                raise
            raise CalculatorError(f"{name}() got an argument outside its domain") from None

    return checked


def _round(number: Any, ndigits: Any = None) -> int | float:
    if ndigits is None:
        return _number(round(_number(number)))
    if not isinstance(ndigits, int) or isinstance(ndigits, bool) or abs(ndigits) > MAX_ROUND_DIGITS:
        raise CalculatorError(
            f"round() takes a whole number of digits between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}"
        )
    return _number(round(_number(number), ndigits))


def _extreme(function: Callable[..., Any]) -> Callable[..., int | float]:
    def checked(*args: Any) -> int | float:
        if not args:
            raise CalculatorError(f"{function.__name__}() needs at least one number")
        return function(_number(a) for a in args)

    return checked


_OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: _arithmetic(operator.add),
    ast.Sub: _arithmetic(operator.sub),
    ast.Mult: _arithmetic(operator.mul),
    ast.Div: _arithmetic(operator.truediv),
    ast.FloorDiv: _arithmetic(operator.floordiv),
    ast.Mod: _arithmetic(operator.mod),
    ast.Pow: _power,
    ast.UAdd: _arithmetic(operator.pos),
    ast.USub: _arithmetic(operator.neg),
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": _math("sqrt", math.sqrt),
    "log": _math("log", math.log),
    "exp": _math("exp", math.exp),
    "abs": _arithmetic(abs),
    "round": _round,
    "min": _extreme(min),
    "max": _extreme(max),
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_ALLOWED = f"use numbers, + - * / // % **, parentheses, {', '.join(_FUNCTIONS)} and {', '.join(_CONSTANTS)}"


class _Arithmetic(SimpleEval):
    """simpleeval reduced to numbers, names, unary and binary operators and calls of the allowed functions."""

    def __init__(self) -> None:
        super().__init__(operators=_OPERATORS, functions=_FUNCTIONS, names=_CONSTANTS)
        allowed = (ast.Expr, ast.Constant, ast.Name, ast.UnaryOp, ast.BinOp, ast.Call)
        self.nodes: dict[type[ast.AST], Callable[[Any], Any]] = {
            kind: handler for kind, handler in self.nodes.items() if kind in allowed
        }

    @staticmethod
    def _eval_constant(node: ast.Constant) -> int | float:
        return _number(node.value)


def _nesting(expression: str) -> int:
    depth = deepest = 0
    for char in expression:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    return deepest


def evaluate(expression: str) -> int | float:
    """Evaluate an arithmetic expression: numbers, + - * / // % **, sqrt log exp abs round min max, pi and e.

    Every number stays a finite float-sized value and the expression is short and shallow, so each step is a
    cheap operation on small numbers and the whole evaluation takes microseconds; anything else raises
    ``CalculatorError`` saying why.
    """
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise CalculatorError(f"expression too long (at most {MAX_EXPRESSION_LENGTH} characters)")
    if _nesting(expression) > MAX_NESTING:
        raise CalculatorError(f"expression nested too deeply (at most {MAX_NESTING} levels of parentheses)")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError):
        raise CalculatorError(f"not a valid expression; {_ALLOWED}") from None
    try:
        return _number(_Arithmetic().eval(expression, previously_parsed=tree.body))
    except FunctionNotDefined as exc:
        raise CalculatorError(f"unknown function {exc.func_name!r}; {_ALLOWED}") from None
    except NameNotDefined as exc:
        raise CalculatorError(f"unknown name {exc.name!r}; {_ALLOWED}") from None
    except InvalidExpression:
        raise CalculatorError(f"only arithmetic is allowed; {_ALLOWED}") from None
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except TypeError:
        raise CalculatorError("a function was called with the wrong number of arguments") from None


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as "2 * (3 + 4) / sqrt(16)"."""
    try:
        return str(evaluate(expression))
    except CalculatorError as exc:
        return f"error: {exc}"


@tool
async def search_documents(query: str, top_k: int = 3) -> str:
    """Search the indexed documents and return the best passages with their sources."""
    from langgraph.runtime import get_runtime

    runtime = get_runtime()
    context, resources = runtime.context, clients(runtime)
    collection = getattr(context, "collection", None) or resources.settings.collection
    docs = await asyncio.to_thread(lambda: resources.store.search(collection, query, max(1, min(top_k, 10))))
    if not docs:
        return "no documents found"
    return "\n\n".join(f"({label(d)}) {d['text']}" for d in docs)


TOOLS = [calculator, search_documents]
