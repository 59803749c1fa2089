"""Conditions that can never hold (an error: the rule is dead) or always hold (a warning:
the test filters nothing), found by interval arithmetic over known bounds: counts are never
negative, amounts are never negative, an hour is 0–23, a p-value is 0–1, …"""

from __future__ import annotations

import math

from dsl import ast
from dsl.checks.context import CheckContext
from dsl.errors import Code
from dsl.format import format_expr
from dsl.values import as_float
from dsl.vocabulary import EVENTS, FIELD_RANGES, PROFILE_RANGES

Interval = tuple[float, float]
_ANY: Interval = (-math.inf, math.inf)


class _Bounds:
    def __init__(self, ctx: CheckContext, market: str) -> None:
        self.ctx = ctx
        self.values = ctx.values.get(market, {})
        self._expanding: set[str] = set()

    def of(self, e: ast.Expr) -> Interval:
        match e:
            case ast.Number(value=v):
                return (float(v), float(v))
            case ast.Money(amount=a):
                return (float(a), float(a))
            case ast.Duration(millis=ms):
                return (float(ms), float(ms))
            case ast.Name(name=n):
                return self._name(n)
            case ast.Attr(base="player", name=n):
                return PROFILE_RANGES.get(n, _ANY)
            case ast.Attr(name=n):
                return FIELD_RANGES.get(n, _ANY)
            case ast.Neg(operand=o):
                lo, hi = self.of(o)
                return (-hi, -lo)
            case ast.Binary(op=op, left=left, right=right):
                return _arith(op, self.of(left), self.of(right))
            case ast.Call(func=ast.Ident(name=("count" | "distinct" | "shared"))):
                return (0.0, math.inf)
            case ast.Call(func=ast.Ident(name=("sum" | "avg" | "min" | "max")), args=args):
                if args and isinstance(args[0], ast.Attr | ast.Name):
                    lo, _ = (
                        self.of(args[0])
                        if isinstance(args[0], ast.Attr)
                        else self._name(args[0].name)
                    )
                    return (lo, math.inf) if lo >= 0 else _ANY
                return _ANY
            case ast.Call(func=ast.Ident(name="abs")):
                return (0.0, math.inf)
            case _:
                return _ANY

    def _name(self, name: str) -> Interval:
        if name in self.values:
            v = as_float(self.values[name])
            return _ANY if v is None else (v, v)
        if name in self.ctx.defines and name not in self._expanding | self.ctx.recursive_defines:
            self._expanding.add(name)
            try:
                return self.of(self.ctx.defines[name].body)
            finally:
                self._expanding.discard(name)
        return FIELD_RANGES.get(name, _ANY)


def _arith(op: str, a: Interval, b: Interval) -> Interval:
    if op == "+":
        return (a[0] + b[0], a[1] + b[1])
    if op == "-":
        return (a[0] - b[1], a[1] - b[0])
    if op == "*":
        products = [x * y for x in a for y in b if not (math.isinf(x) or math.isinf(y))]
        if any(math.isinf(x) for x in (*a, *b)):
            return _ANY if min(*a, *b) < 0 else (min(products, default=0.0), math.inf)
        return (min(products), max(products))
    if op == "/" and b[0] > 0 and not math.isinf(b[1]) and a[0] >= 0:
        return (a[0] / b[1], a[1] / b[0])
    return _ANY


def _verdict(op: str, left: Interval, right: Interval) -> bool | None:
    """True: always holds; False: never holds; None: depends on the event."""
    (llo, lhi), (rlo, rhi) = left, right
    if op in ("<", "<="):
        (llo, lhi), (rlo, rhi) = (rlo, rhi), (llo, lhi)
        op = ">" if op == "<" else ">="
    if op == ">=":
        if llo >= rhi:
            return True
        if lhi < rlo:
            return False
    elif op == ">":
        if llo > rhi:
            return True
        if lhi <= rlo:
            return False
    elif op == "==":
        if lhi < rlo or llo > rhi:
            return False
    elif op == "!=" and (lhi < rlo or llo > rhi):
        return True
    return None


class _Finder:
    def __init__(self, ctx: CheckContext, market: str) -> None:
        self.ctx = ctx
        self.bounds = _Bounds(ctx, market)

    def never(self, e: ast.Expr, report: bool) -> bool:
        """Whether `e` can never hold; reports the comparison responsible."""
        match e:
            case ast.Logical(op="and", left=a, right=b):
                return self.never(a, report) or self.never(b, report)
            case ast.Logical(op="or", left=a, right=b):
                both = self.never(a, False) and self.never(b, False)
                if both and report:
                    self.never(a, True)
                    self.never(b, True)
                return both
            case ast.Not(operand=o):
                dead = self.always(o, report=False)
                if dead and report:
                    self.ctx.reporter.error(
                        Code.UNREACHABLE_CONDITION,
                        f"`{format_expr(e)}` can never be true: what it negates always "
                        "holds, so this rule never fires",
                        e.span,
                    )
                return dead
            case ast.Compare(op=op, left=left, right=right):
                verdict = _verdict(op, self.bounds.of(left), self.bounds.of(right))
                if verdict is False and report:
                    self._report(e, never=True)
                return verdict is False
            case ast.Name(name=n) if n in self.ctx.defines and n not in self.ctx.recursive_defines:
                return self.never(self.ctx.defines[n].body, report)
            case _:
                return False

    def always(self, e: ast.Expr, report: bool) -> bool:
        match e:
            case ast.Compare(op=op, left=left, right=right):
                verdict = _verdict(op, self.bounds.of(left), self.bounds.of(right))
                if verdict is True and report:
                    self._report(e, never=False)
                return verdict is True
            case ast.Not(operand=o):
                holds = self.never(o, report=False)
                if holds and report:
                    self.ctx.reporter.warning(
                        Code.ALWAYS_TRUE,
                        f"`{format_expr(e)}` is always true: what it negates never holds, "
                        "so it filters nothing",
                        e.span,
                    )
                return holds
            case _:
                return False

    def warn_always(self, e: ast.Expr) -> None:
        """Warn on comparisons inside an `and` chain that filter nothing."""
        match e:
            case ast.Logical(op="and", left=a, right=b):
                self.warn_always(a)
                self.warn_always(b)
            case _:
                self.always(e, report=True)

    def _report(self, e: ast.Compare, *, never: bool) -> None:
        text = format_expr(e)
        bound = _describe_bounds(self.bounds.of(e.left))
        if never:
            self.ctx.reporter.error(
                Code.UNREACHABLE_CONDITION,
                f"`{text}` can never be true ({bound}), so this rule never fires",
                e.span,
            )
        else:
            self.ctx.reporter.warning(
                Code.ALWAYS_TRUE,
                f"`{text}` is always true ({bound}), so it filters nothing",
                e.span,
            )


def _describe_bounds(iv: Interval) -> str:
    lo, hi = iv
    if math.isinf(lo) and math.isinf(hi):
        return "given the values it is compared with"
    if math.isinf(hi):
        return f"the left side is never below {lo:g}"
    if math.isinf(lo):
        return f"the left side is never above {hi:g}"
    return f"the left side is between {lo:g} and {hi:g}"


def check_reachability(ctx: CheckContext) -> None:
    for market in ctx.markets:
        ctx.reporter.market = market
        for rule in ctx.rules.values():
            if rule.when is None or rule.on is None or rule.name.name in ctx.broken_rules:
                continue
            if any(e.name not in EVENTS for e in rule.on.events):
                continue
            finder = _Finder(ctx, market)
            for cond in (rule.on.where, rule.when):
                if cond is not None and not finder.never(cond, report=True):
                    finder.warn_always(cond)
            exempt = rule.except_
            if exempt is not None and finder.always(exempt, report=False):
                ctx.reporter.error(
                    Code.UNREACHABLE_CONDITION,
                    f"the exception `{format_expr(exempt)}` always holds, so this rule never fires",
                    exempt.span,
                )
            elif exempt is not None and finder.never(exempt, report=False):
                ctx.reporter.warning(
                    Code.ALWAYS_TRUE,
                    f"the exception `{format_expr(exempt)}` never holds, so it exempts nothing",
                    exempt.span,
                )
    ctx.reporter.market = None
