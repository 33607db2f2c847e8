"""The expression language of contract §1b: what it computes, and everything it refuses."""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncalc.spec.expressions import MAX_LENGTH, ExpressionError, evaluate, make_divisible, whole

NAMES = {"c": 64, "stride": 2, "in_channels": 32, "ratio": 0.25, "act": "relu", "flag": True}


@pytest.mark.parametrize("text, expected", [
    ("c * 2", 128),
    ("c / 2", 32),                       # a decimal with no fraction is whole
    ("c / 3", Fraction(64, 3)),
    ("c // 3", 21),
    ("c % 10", 4),
    ("-c + 1", -63),
    ("c * ratio", 16),                   # exact: 0.25 is 1/4
    ("0.1 + 0.2 == 0.3", True),          # exact decimals, unlike floats
    ("stride != 1 or in_channels != c", True),
    ("stride == 2 and not flag", False),
    ("1 < stride <= 2", True),
    ("c if stride == 1 else c * 2", 128),
    ("min(c, 10, 99)", 10),
    ("max(c, in_channels)", 64),
    ("abs(1 - c)", 63),
    ("int(7 / 2)", 3),
    ("int(-7 / 2)", -3),                 # towards zero, as Python's int()
    ("round(2.5)", 2),                   # halves to even, as Python's round()
    ("round(3.5)", 4),
    ("round(c * 1.1)", 70),
    ("act == 'relu'", True),
    ("act != 'gelu'", True),
    ("true and True", True),
    ("(c + 1) * (c - 1)", 4095),
    ("make_divisible(32 * 0.75)", 24),
    ("make_divisible(c * 1.1, 8)", 72),
    ("make_divisible(c * 1.1, d=16)", 64),
    ("make_divisible(10)", 16),          # max(8, 8) = 8 is below 0.9·10, so one more step
    ("make_divisible(3)", 8),            # never below d
    ("(" * 90 + "c" + ")" * 90, 64),      # parentheses alone nest nothing
    ("2147483648 - 1", 2147483647),      # the bound itself is allowed
])
def test_values(text: str, expected: Any) -> None:
    result = evaluate(text, NAMES)
    assert result == expected and type(result) is type(expected)


def test_make_divisible_is_torchvisions_rule() -> None:
    """torchvision's _make_divisible, written out, over every value and divisor of practical use."""
    def reference(v: Fraction, d: int) -> int:
        new_v = max(d, int(v + Fraction(d, 2)) // d * d)
        return new_v + d if new_v < Fraction(9, 10) * v else new_v

    for d in (1, 2, 4, 8, 16):
        for tenths in range(1, 5000, 7):
            v = Fraction(tenths, 10)
            assert make_divisible(v, d) == reference(v, d), (v, d)


@pytest.mark.parametrize("value, expected", [(8, 8), (Fraction(16, 2), 8), (Fraction(1, 2), None),
                                             (True, None), ("8", None), (-3, -3)])
def test_whole(value: Any, expected: int | None) -> None:
    assert whole(value) == expected


@pytest.mark.parametrize("text, needle", [
    ("__import__('os')", "not allowed"),
    ("().__class__", "not allowed"),
    ("c.__class__", "attribute"),
    ("__builtins__", "not allowed"),
    ("_private", "not allowed"),
    ("open('x')", "not allowed"),
    ("eval('1')", "not allowed"),
    ("(lambda: 1)()", "not allowed"),
    ("[x for x in (1, 2)]", "comprehension"),
    ("{x: 1 for x in (1,)}", "comprehension"),
    ("sum(x for x in (1, 2))", "not allowed"),
    ("[1, 2][0]", "not allowed"),
    ("(1, 2)", "tuple"),
    ("c ** 2", "**"),
    ("9 ** 9 ** 9 ** 9", "**"),
    ("c << 40", "<<"),
    ("~c", "~"),
    ("(x := 3)", "assignment"),
    ("f'{c}'", "f-string"),
    ("b'x'", "not allowed"),
    ("1j", "not allowed"),
    ("min(*[1, 2])", "unpacking"),
    ("max(c, key=abs)", "key="),
    ("c in (1, 2)", "'in'"),
    ("c is None", "'is'"),
    ("unknown + 1", "unknown name 'unknown'"),
    ("min", "call it"),
    ("c / 0", "divides by zero"),
    ("c % 0", "divides by zero"),
    ("65536 * 65536", "2³¹"),
    ("99999999999", "2³¹"),
    ("1e400", "too large"),
    ("2147483648 + 1 - 1", "2³¹"),   # an intermediate value counts, not only the result
    ("c +", "not a valid expression"),
    ("", "empty"),
    ("1 if c else 2", "true or false"),
    ("c and flag", "true or false"),
    ("not c", "true or false"),
    ("flag + 1", "needs a number"),
    ("act < 'z'", "=="),
    ("make_divisible()", "make_divisible"),
    ("make_divisible(c, 8, d=8)", "make_divisible"),
    ("make_divisible(c, 0)", "positive divisor"),
    ("abs(1, 2)", "one number"),
    ("min()", "at least one"),
    ("x" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH}"),
    ("+" * 100 + "1", "64 levels"),
    ("-" * 150 + "1", "64 levels"),
])
def test_refused(text: str, needle: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError, match=None) as raised:
        evaluate(text, NAMES)
    assert time.perf_counter() - started < 1.0
    assert needle in str(raised.value), str(raised.value)


def test_hostile_products_stop_at_the_bound_quickly() -> None:
    """A product of many large factors fails at the first one past the bound, not after computing it."""
    text = "*".join(["99999"] * 33)[:MAX_LENGTH]
    text = text.rstrip("*")
    started = time.perf_counter()
    with pytest.raises(ExpressionError, match="2³¹"):
        evaluate(text, {})
    assert time.perf_counter() - started < 1.0


def test_names_hold_only_values_an_expression_can_use() -> None:
    with pytest.raises(ExpressionError, match="cannot use"):
        evaluate("x + 1", {"x": [1, 2]})
    with pytest.raises(ExpressionError, match="cannot use"):
        evaluate("x", {"x": object()})


# --- property: random arithmetic trees against exact arithmetic done here ------------------------

def _trees() -> st.SearchStrategy[tuple[str, Fraction | None]]:
    """(text, exact value or None where it divides by zero or leaves the bound)."""
    leaves = st.one_of(
        st.integers(0, 1000).map(lambda n: (str(n), Fraction(n))),
        st.sampled_from([("0.5", Fraction(1, 2)), ("1.25", Fraction(5, 4)), ("c", Fraction(64))]),
    )

    def combine(children: st.SearchStrategy[tuple[str, Fraction | None]]) -> st.SearchStrategy[
            tuple[str, Fraction | None]]:
        def apply(op: str, a: tuple[str, Fraction | None], b: tuple[str, Fraction | None]) -> tuple[
                str, Fraction | None]:
            text = f"({a[0]} {op} {b[0]})"
            x, y = a[1], b[1]
            if x is None or y is None:
                return text, None
            if op in ("/", "//", "%") and y == 0:
                return text, None
            value = {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else x,
                     "//": Fraction(x // y) if y else x, "%": x % y if y else x}[op]
            return text, value if abs(value) <= 2**31 else None

        return st.builds(apply, st.sampled_from(["+", "-", "*", "/", "//", "%"]), children, children)

    return st.recursive(leaves, combine, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_trees())
def test_arithmetic_is_exact(tree: tuple[str, Fraction | None]) -> None:
    text, expected = tree
    if len(text) > MAX_LENGTH:
        with pytest.raises(ExpressionError):
            evaluate(text, NAMES)
        return
    if expected is None:
        with pytest.raises(ExpressionError):
            evaluate(text, NAMES)
        return
    assert evaluate(text, NAMES) == expected
