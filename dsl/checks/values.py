"""Passes that fix values: literals (currencies, precision), named lists (inline or read
from a file), and every param's value in every market after overrides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from dsl import ast
from dsl.checks.context import CheckContext
from dsl.errors import Code
from dsl.types import COUNTRY, DECLARABLE, INT, LIST_ELEMENTS, STRING, UNKNOWN, Kind, Type
from dsl.types import describe as describe_type
from dsl.values import DurationValue, MoneyValue, NotConstant, Value, evaluate
from dsl.vocabulary import countries, currencies, minor_units


def policy_exprs(policy: ast.Policy) -> Iterator[ast.Expr]:
    """Every top-level expression written in the policy."""
    for p in policy.params:
        yield p.default
    for block in policy.market_blocks:
        yield from (o.value for o in block.overrides)
    for lst in policy.lists:
        yield from lst.items or ()
    for d in policy.defines:
        yield d.body
    for r in policy.rules:
        parts = (r.on.where if r.on else None, r.when, r.except_, r.score)
        yield from (e for e in parts if e is not None)
    if policy.decide:
        yield from (b.threshold for b in policy.decide.bands)
    for t in policy.tests:
        for step in t.steps:
            if isinstance(step, ast.TimelineEvent):
                yield from (a.value for a in step.fields)
            elif isinstance(step, ast.ExpectScore | ast.ExpectValue):
                yield step.value


def check_literals(ctx: CheckContext) -> None:
    """Currencies exist and amounts fit their minor unit (no 10.123 EUR)."""
    rep = ctx.reporter
    for top in policy_exprs(ctx.policy):
        for node in ast.walk(top):
            if not isinstance(node, ast.Money):
                continue
            if node.currency not in currencies():
                rep.unknown(
                    Code.UNKNOWN_CURRENCY, "currency", node.currency, node.span, currencies()
                )
                continue
            places = minor_units(node.currency)
            exponent = node.amount.as_tuple().exponent
            if isinstance(exponent, int) and -exponent > places:
                rep.error(
                    Code.MONEY_PRECISION,
                    f"{node.currency} has {places} decimal places; {node.amount} has more",
                    node.span,
                )


def value_type(v: Value) -> Type:
    """The type of a constant value (strings are strings; country-ness is decided by the
    place they are used)."""
    if isinstance(v, bool):
        return DECLARABLE["bool"]
    if isinstance(v, int):
        return INT
    if isinstance(v, float):
        return DECLARABLE["float"]
    if isinstance(v, MoneyValue):
        return Type(Kind.MONEY, currency=v.currency)
    if isinstance(v, DurationValue):
        return DECLARABLE["duration"]
    if isinstance(v, str):
        return STRING
    elems = {value_type(x) for x in v}
    return Type(Kind.LIST, elem=elems.pop() if len(elems) == 1 else None)


def conforms(
    ctx: CheckContext,
    value: Value,
    target: Type,
    span: ast.Span,
    what: str,
    written: ast.Expr | None = None,
) -> bool:
    """Report why `value` cannot stand where `target` is declared; True if it can.
    With `written` (the expression the value came from), list items are reported at the
    item itself."""
    rep = ctx.reporter
    if target.is_unknown:
        return True
    if target.kind is Kind.LIST:
        if not isinstance(value, tuple):
            rep.error(
                Code.TYPE_MISMATCH,
                f'{what} is {describe_type(target)}; write a list like ["a", "b"]',
                span,
            )
            return False
        assert target.elem is not None
        spans = [span] * len(value)
        if isinstance(written, ast.ListLit) and len(written.items) == len(value):
            spans = [item.span for item in written.items]
        # Every item is checked (no short circuit), so each bad one is reported.
        fits = [
            conforms(ctx, x, target.elem, at, f"each item of {what}")
            for x, at in zip(value, spans, strict=True)
        ]
        return all(fits)
    if target.kind is Kind.COUNTRY and isinstance(value, str):
        if value not in countries():
            rep.error(
                Code.INVALID_COUNTRY,
                f'"{value}" is not an ISO 3166 country code (two capital letters, e.g. "MT")',
                span,
                hint=_country_hint(value),
            )
            return False
        return True
    actual = value_type(value)
    if target.kind is Kind.DURATION and actual.is_number:
        rep.error(
            Code.DURATION_WITHOUT_UNIT,
            f"{what} is a duration; {value} has no unit (write {value}h, {value}m, {value}d …)",
            span,
        )
        return False
    if target.kind is Kind.MONEY and actual.is_number:
        rep.error(
            Code.MONEY_VS_NUMBER,
            f"{what} is money; {value} is a plain number (write {value} EUR, {value} GBP …)",
            span,
        )
        return False
    if actual.kind is Kind.MONEY and target.is_number:
        rep.error(Code.MONEY_VS_NUMBER, f"{what} is a number; {value} is money", span)
        return False
    ok = actual.kind is target.kind or (target.kind is Kind.FLOAT and actual.is_number)
    if not ok:
        rep.error(
            Code.TYPE_MISMATCH,
            f"{what} is {describe_type(target)}, but the value is {describe_type(actual)}",
            span,
        )
    return ok


def _country_hint(value: str) -> str | None:
    upper = value.upper()
    return upper if upper in countries() else None


def check_lists(ctx: CheckContext) -> None:
    rep = ctx.reporter
    for name, decl in ctx.lists.items():
        elem = UNKNOWN
        if decl.elem_type is not None:
            if decl.elem_type.name not in LIST_ELEMENTS:
                rep.unknown(
                    Code.UNKNOWN_TYPE,
                    "list element type",
                    decl.elem_type.name,
                    decl.elem_type.span,
                    LIST_ELEMENTS,
                )
            else:
                elem = DECLARABLE[decl.elem_type.name]
        if decl.file is not None:
            if elem.is_unknown and decl.elem_type is None:
                elem = STRING
            items = _read_list_file(ctx, decl.file, elem)
        else:
            items = _inline_items(ctx, decl, elem)
            if elem.is_unknown and decl.elem_type is None and items:
                elem = value_type(items[0])
        ctx.list_values[name] = (elem, items)


def _inline_items(ctx: CheckContext, decl: ast.ListDecl, elem: Type) -> tuple[Value, ...]:
    out: list[Value] = []
    first: Type | None = None
    for item in decl.items or ():
        try:
            v = evaluate(item, _no_names)
        except NotConstant as exc:
            ctx.reporter.error(
                Code.TYPE_MISMATCH, "list items are written out: strings or numbers", exc.node.span
            )
            continue
        target = elem if not elem.is_unknown else (first or value_type(v))
        first = first or target
        if conforms(ctx, v, target, item.span, f"an item of list `{decl.name.name}`"):
            out.append(v)
    return tuple(out)


def _no_names(name: str, node: ast.Name) -> Value:
    raise NotConstant(node)


def _read_list_file(ctx: CheckContext, ref: ast.String, elem: Type) -> tuple[Value, ...]:
    rep = ctx.reporter
    base = ctx.base_dir or Path.cwd()
    path = (base / ref.value).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        rep.error(Code.LIST_FILE, f"cannot read list file {ref.value}: {exc.strerror}", ref.span)
        return ()
    out: list[Value] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        problem = _entry_problem(entry, elem)
        if problem:
            rep.error(Code.LIST_FILE, f"{ref.value} line {number}: {problem}", ref.span)
            continue
        out.append(_entry_value(entry, elem))
    return tuple(out)


def _entry_value(entry: str, elem: Type) -> Value:
    if elem.kind is Kind.INT:
        return int(entry)
    if elem.kind is Kind.FLOAT:
        return float(entry)
    return entry


def _entry_problem(entry: str, elem: Type) -> str | None:
    try:
        _entry_value(entry, elem)
    except ValueError:
        what = "a whole number" if elem.kind is Kind.INT else "a number"
        return f"`{entry}` is not {what}"
    if elem.kind is COUNTRY.kind and entry not in countries():
        return f"`{entry}` is not an ISO 3166 country code"
    return None


def check_params(ctx: CheckContext) -> None:
    """Resolve every param in every market (override, else default; params may use other
    params) and check each value against the declared type."""
    for market in ctx.markets:
        ctx.reporter.market = market
        ctx.values[market] = _ParamResolver(ctx, market).resolve_all()
    ctx.reporter.market = None


class _ParamResolver:
    def __init__(self, ctx: CheckContext, market: str) -> None:
        self.ctx = ctx
        self.market = market
        self.table = ctx.overrides.get(market, {})
        self.resolved: dict[str, Value] = {}
        self.failed: set[str] = set()
        self.active: list[str] = []

    def resolve_all(self) -> dict[str, Value]:
        for name in self.ctx.params:
            if name not in self.resolved and name not in self.failed:
                self._resolve(name)
        return self.resolved

    def _lookup(self, name: str, node: ast.Name) -> Value:
        ctx, rep = self.ctx, self.ctx.reporter
        if name in self.resolved:
            return self.resolved[name]
        if name in self.failed:
            raise NotConstant(node)
        if name not in ctx.params:
            if name in ctx.lists or name in ctx.defines:
                kind = "list" if name in ctx.lists else "define"
                rep.error(
                    Code.TYPE_MISMATCH,
                    f"a param's value can use other params, not the {kind} `{name}`",
                    node.span,
                )
            else:
                rep.unknown(Code.UNKNOWN_PARAM, "param", name, node.span, ctx.params)
            raise NotConstant(node)
        if name in self.active:
            cycle = [*self.active[self.active.index(name) :], name]
            rep.error(
                Code.RECURSIVE_DEFINE,
                f"param `{name}` depends on itself through {' → '.join(cycle)}",
                node.span,
            )
            raise NotConstant(node)
        self._resolve(name)
        if name in self.failed:
            raise NotConstant(node)
        return self.resolved[name]

    def _resolve(self, name: str) -> None:
        ctx = self.ctx
        override = self.table.get(name)
        expr = override.value if override else ctx.params[name].default
        self.active.append(name)
        try:
            value = evaluate(expr, self._lookup)
        except NotConstant as exc:
            self.failed.add(name)
            if not isinstance(exc.node, ast.Name):
                ctx.reporter.error(
                    Code.TYPE_MISMATCH,
                    f"param `{name}` needs a value fixed per market; it cannot depend on an event",
                    exc.node.span,
                )
            return
        finally:
            self.active.pop()
        declared = ctx.param_types.get(name, UNKNOWN)
        if conforms(ctx, value, declared, expr.span, f"param `{name}`", expr):
            self.resolved[name] = value
            return
        self.failed.add(name)
        if override is not None:
            ctx.reporter.error(
                Code.OVERRIDE_TYPE,
                f"the {self.market} override of `{name}` does not fit its declared type "
                f"{ctx.params[name].type.name.name}",
                override.name.span,
            )
