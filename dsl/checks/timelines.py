"""Inline tests: timelines of well-formed events, expectations about real rules and
values, and every rule tested both where it fires and where it stays quiet."""

from __future__ import annotations

from datetime import datetime

from dsl import ast
from dsl.checks.context import CheckContext
from dsl.checks.values import conforms
from dsl.errors import Code
from dsl.types import FLOAT, INT, STRING, Kind, Type, money
from dsl.values import MoneyValue, NotConstant, Value, evaluate
from dsl.vocabulary import ACTIONS, DERIVED_FIELDS, EVENTS, MARKETS, REQUIRED, fields_of


def check_tests(ctx: CheckContext) -> None:
    for test in ctx.policy.tests:
        market = _market(ctx, test)
        if test.start is not None and _parse_time(test.start.value) is None:
            ctx.reporter.error(
                Code.BAD_TEST,
                f'test start "{test.start.value}" is not an RFC 3339 time such as '
                '"2026-03-01T22:30:00Z"',
                test.start.span,
            )
        _check_steps(ctx, test, market)
    _check_coverage(ctx)


def _market(ctx: CheckContext, test: ast.PolicyTest) -> str | None:
    if test.market is None:
        return ctx.markets[0] if ctx.markets else None
    name = test.market.name
    if name not in MARKETS:
        ctx.reporter.unknown(Code.UNKNOWN_MARKET, "market", name, test.market.span, ctx.markets)
        return None
    if name not in ctx.markets:
        ctx.reporter.error(
            Code.UNKNOWN_MARKET,
            f"market `{name}` is not one this policy is for ({', '.join(ctx.markets)})",
            test.market.span,
        )
        return None
    return name


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _check_steps(ctx: CheckContext, test: ast.PolicyTest, market: str | None) -> None:
    rep = ctx.reporter
    last_at = -1
    seen_event = False
    claims: dict[str, str] = {}  # rule → what the expectations since the last event say
    for step in test.steps:
        if isinstance(step, ast.ExpectFires):
            said = "fires" if step.mode == "fires" else "quiet"
            if claims.setdefault(step.rule.name, said) != said:
                rep.error(
                    Code.BAD_TEST,
                    f"this contradicts the expectation above: `{step.rule.name}` cannot both "
                    "fire and stay quiet on the same event",
                    step.span,
                )
        if isinstance(step, ast.TimelineEvent):
            claims = {}
            if step.at.millis < last_at:
                rep.error(
                    Code.BAD_TEST,
                    "test events go in time order; this one is earlier than the one before",
                    step.at.span,
                )
            last_at = max(last_at, step.at.millis)
            seen_event = True
            _check_event(ctx, step, market)
            continue
        if not seen_event:
            rep.error(
                Code.BAD_TEST,
                "an expectation checks the latest event; put at least one event before it",
                step.span,
            )
        _check_expectation(ctx, step, market)


def _value(ctx: CheckContext, expr: ast.Expr, market: str | None) -> Value | None:
    values = ctx.values.get(market or "", {})

    def lookup(name: str, node: ast.Name) -> Value:
        if name in values:
            return values[name]
        if name not in ctx.params:
            ctx.reporter.unknown(Code.UNKNOWN_PARAM, "param", name, node.span, ctx.params)
        raise NotConstant(node)

    try:
        return evaluate(expr, lookup)
    except NotConstant as exc:
        if not isinstance(exc.node, ast.Name):
            ctx.reporter.error(
                Code.BAD_TEST,
                "test values are written out (or are params): no fields or aggregates",
                exc.node.span,
            )
        return None


def _check_event(ctx: CheckContext, ev: ast.TimelineEvent, market: str | None) -> None:
    rep = ctx.reporter
    kind = ev.event.name
    if kind not in EVENTS:
        rep.unknown(Code.UNKNOWN_EVENT, "event type", kind, ev.event.span, EVENTS)
        return
    fields = fields_of(kind)
    given: set[str] = set()
    for assign in ev.fields:
        name = assign.field.name
        if name in given:
            rep.error(Code.DUPLICATE_NAME, f"`{name}` is set twice", assign.field.span)
            continue
        given.add(name)
        if name in DERIVED_FIELDS:
            why = (
                "comes from the amount's currency (amount=900 GBP)"
                if name == "currency"
                else "is set by the test runner"
            )
            rep.error(Code.BAD_TEST, f"`{name}` {why}", assign.field.span)
            continue
        if name not in fields:
            settable = set(fields) - DERIVED_FIELDS
            rep.unknown(Code.UNKNOWN_FIELD, f"{kind} field", name, assign.field.span, settable)
            continue
        value = _value(ctx, assign.value, market)
        if value is None:
            continue
        target = fields[name]
        what = f"`{name}`"
        if target.kind is Kind.TIME:
            if not (isinstance(value, str) and _parse_date(value)):
                rep.error(
                    Code.TYPE_MISMATCH,
                    f'{what} is a date or time, written "2008-05-01" or "2026-03-01T22:00:00Z"',
                    assign.value.span,
                )
            continue
        if name == "market" and value not in MARKETS:
            rep.unknown(Code.UNKNOWN_MARKET, "market", str(value), assign.value.span, MARKETS)
            continue
        conforms(ctx, value, target, assign.value.span, what)
    missing = [f for f in REQUIRED[kind] if f not in given]
    if missing:
        rep.error(
            Code.BAD_TEST,
            f"a {kind} needs {', '.join(missing)} (e.g. amount=100 EUR)",
            ev.event.span,
        )


def _parse_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_expectation(ctx: CheckContext, step: ast.Expectation, market: str | None) -> None:
    rep = ctx.reporter
    match step:
        case ast.ExpectFires(rule=rule) | ast.ExpectValue(rule=rule):
            if rule.name not in ctx.rules:
                rep.unknown(Code.UNKNOWN_RULE, "rule", rule.name, rule.span, ctx.rules)
                return
        case ast.ExpectDecision(action=action):
            if action.name not in ACTIONS:
                rep.unknown(Code.UNKNOWN_ACTION, "action", action.name, action.span, ACTIONS)
            return
        case ast.ExpectScore(value=v):
            _expect_type(ctx, v, INT, market, "a score")
            return
    if isinstance(step, ast.ExpectValue):
        expl = ctx.explanations.get(step.rule.name)
        names = expl.names if expl else {}
        if step.name.name not in names:
            rep.unknown(
                Code.UNKNOWN_VALUE,
                f"value of rule `{step.rule.name}`:",
                step.name.name,
                step.name.span,
                names,
            )
            return
        if expl and step.name.name in expl.ambiguous:
            rep.error(
                Code.AMBIGUOUS_PLACEHOLDER,
                f"rule `{step.rule.name}` has several {step.name.name}(…) values; name the one "
                "you mean with `as`",
                step.name.span,
            )
            return
        _expect_type(ctx, step.value, names[step.name.name], market, f"`{step.name.name}`")


def _expect_type(
    ctx: CheckContext, expr: ast.Expr, target: Type, market: str | None, what: str
) -> None:
    value = _value(ctx, expr, market)
    if value is None:
        return
    if target.kind is Kind.MONEY and market is not None:
        base = MARKETS[market].currency
        if isinstance(value, MoneyValue) and value.currency != base:
            ctx.reporter.error(
                Code.CURRENCY_MISMATCH,
                f"{what} is in {base} in {market}; compare it with {base}, not {value.currency}",
                expr.span,
            )
            return
        target = money(base)
    if target.kind is Kind.INT:
        target = FLOAT  # an expected average may be fractional; ints still fit
    if target.kind is Kind.STRING:
        target = STRING
    conforms(ctx, value, target, expr.span, what)


def _check_coverage(ctx: CheckContext) -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for test in ctx.policy.tests:
        for step in test.steps:
            if isinstance(step, ast.ExpectFires):
                (fires if step.mode == "fires" else quiet).add(step.rule.name)
    for name, rule in ctx.rules.items():
        if name not in fires:
            ctx.reporter.warning(
                Code.UNTESTED_FIRES,
                f"rule `{name}` has no test where it fires (`expect {name} fires`)",
                rule.name.span,
            )
        if name not in quiet:
            ctx.reporter.warning(
                Code.UNTESTED_QUIET,
                f"rule `{name}` has no test where it stays quiet (`expect {name} does not fire`)",
                rule.name.span,
            )
