"""The spec's small expression language: the text inside ``"${...}"`` (contract §1b).

An expression is parsed with Python's :mod:`ast` and evaluated here, node by node,
by an evaluator that knows every node type it allows; anything else (attribute
access, subscripts, lambdas, comprehensions, ``**``, names that are not
parameters, calls to anything but the functions below) is refused before it is
evaluated. Nothing is ever passed to :func:`eval`. The work is bounded: the text
is at most 200 characters, nested at most 64 levels, and every value computed
along the way, intermediate ones included, lies within ±2³¹.

Numbers are exact: whole numbers are ``int`` and decimals are
:class:`fractions.Fraction` (``0.9`` is 9/10, so ``${c * 0.25}`` of 64 is exactly
16). A result with no fraction counts as whole (``${c / 2}`` of 16 is 8).

Allowed: integer and decimal literals, ``true``/``false`` (also Python's
``True``/``False``), quoted words for comparing word parameters, ``+ - * / // %``,
unary ``-`` and ``+``, comparisons, ``and or not``, ``a if c else b``, and the
functions ``min max abs int round make_divisible``.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

__all__ = ["EXPRESSION", "MAX_DEPTH", "MAX_LENGTH", "MAX_VALUE", "PARAMETER", "ExpressionError", "Value",
           "evaluate", "make_divisible", "refers", "whole"]

MAX_LENGTH = 200  # characters between "${" and "}"
MAX_DEPTH = 64  # nesting of the parsed expression
MAX_VALUE = 2**31  # every value computed along the way lies within ±MAX_VALUE

Number = int | Fraction
Value = int | Fraction | bool | str

#: A field's whole value written as ``$p``: parameter p.
PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
#: A field's whole value written as ``"${expr}"``: an expression.
EXPRESSION = re.compile(r"\$\{(.*)\}", re.DOTALL)


def refers(value: Any) -> bool:
    """Whether a value as written is, or holds in a list, a ``$p`` or ``"${...}"`` to resolve."""
    if isinstance(value, str):
        return bool(EXPRESSION.fullmatch(value) or PARAMETER.fullmatch(value))
    if isinstance(value, list):
        return any(refers(item) for item in value)
    return False


class ExpressionError(ValueError):
    """An expression that cannot be evaluated; the message says why in the spec author's words."""


def make_divisible(value: Number, divisor: Number = 8) -> Number:
    """The MobileNet/EfficientNet channel rule (torchvision's ``_make_divisible``).

    max(d, ⌊v + d/2⌋ // d · d), plus d when that falls below 0.9·v, so that rounding
    never takes away more than 10 %.
    """
    if divisor <= 0:
        raise ExpressionError(f"make_divisible needs a positive divisor; got {_show(divisor)}")
    rounded = max(divisor, math.floor(value + Fraction(divisor) / 2) // divisor * divisor)
    if rounded < Fraction(9, 10) * value:
        rounded += divisor
    return _normal(rounded)


def whole(value: Value) -> int | None:
    """``value`` as an int when it is a whole number (8.0 counts), else None; booleans are not."""
    if isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        return value
    return int(value) if value.denominator == 1 else None


def evaluate(text: str, names: Mapping[str, Any]) -> Value:
    """Evaluate the expression ``text`` (without ``${`` and ``}``) with ``names`` bound.

    ``names`` maps parameter names to values: ints, floats, Fractions, booleans or
    words (str); anything else bound to a name cannot be used in an expression.
    Raises :class:`ExpressionError` for anything not allowed or not computable.
    """
    if not isinstance(text, str):
        raise ExpressionError("an expression is text")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"is {len(text)} characters long; an expression may have at most "
                              f"{MAX_LENGTH}")
    if not text.strip():
        raise ExpressionError("is empty; write an expression such as ${c * 2}")
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        where = f" at character {err.offset}" if err.offset else ""
        raise ExpressionError(f"is not a valid expression{where}: {text!r}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError(f"is not a valid expression: {text!r}") from None
    return _Evaluator(names).value(tree.body, 1)


def _normal(value: Number) -> Number:
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value)
    return value


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        decimal = float(value)
        return repr(decimal) if Fraction(repr(decimal)) == value else f"{value.numerator}/{value.denominator}"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _bounded(value: Value) -> Value:
    if isinstance(value, (int, Fraction)) and not isinstance(value, bool) and not (
            -MAX_VALUE <= value <= MAX_VALUE):
        shown = _show(value) if -(10**30) < value < 10**30 else "a huge number"
        raise ExpressionError(f"computes {shown}, beyond ±2³¹; values in a spec are far smaller")
    return value


def _number(value: Value, what: str) -> Number:
    if isinstance(value, (bool, str)):
        raise ExpressionError(f"{what} needs a number; got {_show(value)}")
    return value


def _truth(value: Value, what: str) -> bool:
    if not isinstance(value, bool):
        raise ExpressionError(f"{what} needs true or false; got {_show(value)} (compare it, e.g. x != 0)")
    return value


_ARITHMETIC: dict[type[ast.operator], tuple[str, Callable[[Number, Number], Number]]] = {
    ast.Add: ("+", lambda a, b: a + b),
    ast.Sub: ("-", lambda a, b: a - b),
    ast.Mult: ("*", lambda a, b: a * b),
    ast.Div: ("/", lambda a, b: Fraction(a) / b),
    ast.FloorDiv: ("//", lambda a, b: a // b),
    ast.Mod: ("%", lambda a, b: a % b),
}
_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
}
_FUNCTIONS = ("min", "max", "abs", "int", "round", "make_divisible")
_ALLOWED = ("numbers, parameter names, + - * / // %, comparisons, and/or/not, "
            "a if c else b and " + ", ".join(_FUNCTIONS))
_REFUSED = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "indexing (a[b])",
    ast.Lambda: "lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.NamedExpr: "assignment (:=)",
    ast.JoinedStr: "an f-string",
    ast.Starred: "unpacking (*)",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a mapping",
    ast.Set: "a set",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class _Evaluator:
    def __init__(self, names: Mapping[str, Any]) -> None:
        self.names = names

    def value(self, node: ast.expr, depth: int) -> Value:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"is nested more than {MAX_DEPTH} levels deep")
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            what = _REFUSED.get(type(node), type(node).__name__)
            raise ExpressionError(f"{what} is not allowed in an expression; it may use {_ALLOWED}")
        result: Value = method(node, depth + 1)
        return _bounded(result)

    def _Constant(self, node: ast.Constant, depth: int) -> Value:
        value = node.value
        if isinstance(value, (bool, int)):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ExpressionError("a number is too large; values in a spec are far smaller")
            return _normal(Fraction(repr(value)))  # the decimal as written: 0.1 is 1/10
        if isinstance(value, str) and len(value) <= MAX_LENGTH:
            return value
        raise ExpressionError(f"{type(value).__name__} literals are not allowed; it may use {_ALLOWED}")

    def _Name(self, node: ast.Name, depth: int) -> Value:
        name = node.id
        if name in ("true", "True"):
            return True
        if name in ("false", "False"):
            return False
        if name.startswith("_"):
            raise ExpressionError(f"name {name!r} is not allowed; names are the block's parameters")
        if name not in self.names:
            known = ", ".join(sorted(str(n) for n in self.names)) or "none here"
            called = " (a function: call it, e.g. min(a, b))" if name in _FUNCTIONS else ""
            raise ExpressionError(f"unknown name {name!r}{called}; the names here are: {known}")
        value = self.names[name]
        if isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, Fraction):
            return _normal(value)
        if isinstance(value, float) and math.isfinite(value):
            return _normal(Fraction(repr(value)))
        raise ExpressionError(f"{name!r} is {type(value).__name__}, which an expression cannot use; "
                              "only numbers, true/false and words")

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> Value:
        operand = self.value(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return not _truth(operand, "not")
        if isinstance(node.op, ast.USub):
            return _normal(-_number(operand, "-"))
        if isinstance(node.op, ast.UAdd):
            return _number(operand, "+")
        raise ExpressionError(f"operator ~ is not allowed; it may use {_ALLOWED}")

    def _BinOp(self, node: ast.BinOp, depth: int) -> Value:
        entry = _ARITHMETIC.get(type(node.op))
        if entry is None:
            symbol = {ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&",
                      ast.BitOr: "|", ast.BitXor: "^", ast.MatMult: "@"}.get(type(node.op), "?")
            raise ExpressionError(f"operator {symbol} is not allowed; it may use {_ALLOWED}")
        symbol, operation = entry
        left = _number(self.value(node.left, depth), symbol)
        right = _number(self.value(node.right, depth), symbol)
        if symbol in ("/", "//", "%") and right == 0:
            raise ExpressionError(f"divides by zero ({_show(left)} {symbol} 0)")
        return _normal(operation(left, right))

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> Value:
        word = "and" if isinstance(node.op, ast.And) else "or"
        for item in node.values:  # short-circuit, as Python does
            truth = _truth(self.value(item, depth), word)
            if truth is (word == "or"):
                return truth
        return word == "and"

    def _Compare(self, node: ast.Compare, depth: int) -> Value:
        left = self.value(node.left, depth)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            compare = _COMPARISONS.get(type(op))
            if compare is None:
                raise ExpressionError(f"'in' and 'is' are not allowed; it may use {_ALLOWED}")
            right = self.value(right_node, depth)
            ordered = not isinstance(op, (ast.Eq, ast.NotEq))
            if isinstance(left, str) != isinstance(right, str) and ordered:
                raise ExpressionError(f"cannot order {_show(left)} and {_show(right)}")
            if (isinstance(left, str) or isinstance(right, str)) and ordered:
                raise ExpressionError("words can only be compared with == and !=")
            if not compare(left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp, depth: int) -> Value:
        if _truth(self.value(node.test, depth), "'if'"):
            return self.value(node.body, depth)
        return self.value(node.orelse, depth)

    def _Call(self, node: ast.Call, depth: int) -> Value:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS:
            shown = f"{name}()" if name else "calling this"
            raise ExpressionError(f"{shown} is not allowed; the functions are: {', '.join(_FUNCTIONS)}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError(f"{name}() takes plain arguments, not *unpacking")
        args = [_number(self.value(a, depth), f"{name}()") for a in node.args]
        keywords: dict[str, Number] = {}
        for keyword in node.keywords:
            if keyword.arg != "d" or name != "make_divisible":
                shown = f"{keyword.arg}=" if keyword.arg else "**"
                raise ExpressionError(f"{name}() takes no {shown}argument"
                                      + ("; make_divisible takes d=" if name == "make_divisible" else ""))
            keywords["d"] = _number(self.value(keyword.value, depth), f"{name}()")
        if name == "make_divisible":
            if not 1 <= len(args) + len(keywords) <= 2 or len(args) > 2:
                raise ExpressionError("make_divisible takes a value and an optional divisor d "
                                      "(8 if left out)")
            if len(args) == 2 and keywords:
                raise ExpressionError("make_divisible got its divisor twice")
            divisor = keywords.get("d", args[1] if len(args) == 2 else 8)
            return make_divisible(args[0], divisor)
        if name in ("min", "max"):
            if not args:
                raise ExpressionError(f"{name}() needs at least one number")
            best = args[0]
            for arg in args[1:]:
                if (arg < best) if name == "min" else (arg > best):
                    best = arg
            return _normal(best)
        if len(args) != 1:
            raise ExpressionError(f"{name}() takes one number; got {len(args)}")
        (arg,) = args
        if name == "abs":
            return _normal(-arg if arg < 0 else arg)
        if name == "int":  # towards zero, as Python's int()
            return math.trunc(arg)
        return round(arg)  # halves to even, as Python's round()
