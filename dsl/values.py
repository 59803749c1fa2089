"""Values fixed when a policy is loaded for a market: literals, params and arithmetic on
them. Windows, scores, band thresholds and test event fields must be such values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from dsl import ast


@dataclass(frozen=True, slots=True)
class MoneyValue:
    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


@dataclass(frozen=True, slots=True)
class DurationValue:
    millis: int

    def __str__(self) -> str:
        return format_duration(self.millis)


Value = int | float | bool | str | MoneyValue | DurationValue | tuple["Value", ...]


class NotConstant(Exception):  # noqa: N818 — a signal, not an error shown to anyone
    """The expression depends on an event, so it has no value at load time."""

    def __init__(self, node: ast.Expr) -> None:
        super().__init__("not constant")
        self.node = node


_UNITS = (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000))


def format_duration(millis: int) -> str:
    """Milliseconds → the shortest duration literal (`5400000` → `1h30m`)."""
    if millis == 0:
        return "0s"
    parts = []
    rest = millis
    for unit, size in _UNITS:
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest:
        parts.append(f"{rest}ms")
    return "".join(parts)


def evaluate(expr: ast.Expr, lookup: Callable[[str, ast.Name], Value]) -> Value:
    """Evaluate a constant expression; `lookup` resolves a name (a param) or raises
    `NotConstant`. Type errors were reported by the checks; here they are `NotConstant`."""
    match expr:
        case ast.Number(value=v):
            return v
        case ast.Money(amount=a, currency=c):
            return MoneyValue(a, c)
        case ast.Duration(millis=ms):
            return DurationValue(ms)
        case ast.String(value=s):
            return s
        case ast.Bool(value=b):
            return b
        case ast.Name(name=n):
            return lookup(n, expr)
        case ast.ListLit(items=items):
            return tuple(evaluate(i, lookup) for i in items)
        case ast.Neg(operand=o):
            return _negate(evaluate(o, lookup), expr)
        case ast.Binary(op=op, left=left, right=right):
            return _arith(op, evaluate(left, lookup), evaluate(right, lookup), expr)
        case _:
            raise NotConstant(expr)


def _negate(v: Value, node: ast.Expr) -> Value:
    if isinstance(v, bool):
        raise NotConstant(node)
    if isinstance(v, int | float):
        return -v
    if isinstance(v, MoneyValue):
        return MoneyValue(-v.amount, v.currency)
    if isinstance(v, DurationValue):
        return DurationValue(-v.millis)
    raise NotConstant(node)


def _number(v: Value) -> Decimal | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return Decimal(str(v))


def _arith(op: str, a: Value, b: Value, node: ast.Expr) -> Value:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        assert isinstance(a, int | float)
        assert isinstance(b, int | float)
        if op == "/":
            if b == 0:
                raise NotConstant(node)
            return a / b
        return {"+": a + b, "-": a - b, "*": a * b}[op]
    if isinstance(a, MoneyValue) and isinstance(b, MoneyValue) and a.currency == b.currency:
        if op in "+-":
            amount = a.amount + b.amount if op == "+" else a.amount - b.amount
            return MoneyValue(amount, a.currency)
        if op == "/" and b.amount != 0:
            return float(a.amount / b.amount)
    if isinstance(a, MoneyValue) and nb is not None and op in "*/":
        if op == "/" and nb == 0:
            raise NotConstant(node)
        return MoneyValue(a.amount * nb if op == "*" else a.amount / nb, a.currency)
    if na is not None and isinstance(b, MoneyValue) and op == "*":
        return MoneyValue(na * b.amount, b.currency)
    if isinstance(a, DurationValue) and isinstance(b, DurationValue) and op in "+-":
        return DurationValue(a.millis + b.millis if op == "+" else a.millis - b.millis)
    if isinstance(a, DurationValue) and nb is not None and op in "*/" and nb != 0:
        return DurationValue(int(a.millis * nb if op == "*" else a.millis / nb))
    if na is not None and isinstance(b, DurationValue) and op == "*":
        return DurationValue(int(na * b.millis))
    raise NotConstant(node)


def as_float(v: Value) -> float | None:
    """A comparable magnitude for numbers, money (major units) and durations (ms)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, MoneyValue):
        return float(v.amount)
    if isinstance(v, DurationValue):
        return float(v.millis)
    return None
