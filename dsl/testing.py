"""Running the tests written inside policies, on the compiled engine.

Each test gets a fresh streaming engine for its market, replays its timeline event by
event and checks each expectation against the latest decision (or, for `never fires`,
against every decision so far). A failure says what was expected, what happened, and
what the rule's explanation held at that moment.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dsl import ast
from dsl.checks import CheckResult
from dsl.format import format_expr
from dsl.values import DurationValue, MoneyValue, Value, evaluate
from dsl.vocabulary import EVENTS, minor_units
from engine.decisions import Decision, Hit
from engine.events import EVENT_TYPES, BaseEvent, to_epoch_ms
from engine.runtime import CompiledPack, StreamEngine, compile_results

# `at 0m` when a test gives no `start`: midday UTC, daytime in every market's time zone.
DEFAULT_START = "2026-01-01T12:00:00Z"
DEFAULT_PLAYER = "p1"

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass
class TestOutcome:
    policy: str
    path: str
    name: str
    line: int
    passed: bool
    failures: list[str] = field(default_factory=list)


def run_tests(result: CheckResult, pack: CompiledPack | None = None) -> list[TestOutcome]:
    """Run every inline test of a checked policy (which must have no errors)."""
    pack = pack or compile_results([result])
    return [_run_one(result, pack, test) for test in result.policy.tests]


def _run_one(result: CheckResult, pack: CompiledPack, test: ast.PolicyTest) -> TestOutcome:
    market = test.market.name if test.market else result.markets[0]
    values = result.values[market]
    start = datetime.fromisoformat(test.start.value if test.start else DEFAULT_START)
    start_ms = to_epoch_ms(start)
    engine = StreamEngine(pack, record_all=True)
    outcome = TestOutcome(
        policy=result.policy.name.name,
        path=result.path,
        name=test.name.value,
        line=test.name.span.line,
        passed=True,
    )
    decisions: list[Decision] = []
    last_at = ""
    for n, step in enumerate(test.steps):
        if isinstance(step, ast.TimelineEvent):
            event = _event(step, market, start_ms, n, values)
            decisions.append(engine.process(event))
            last_at = step.at.text or f"{step.at.millis}ms"
            continue
        problem = _expectation(step, decisions, engine, market, values)
        if problem is not None:
            outcome.passed = False
            outcome.failures.append(
                f"line {step.span.line}, after the event at {last_at}: {problem}"
            )
    return outcome


def _event(
    step: ast.TimelineEvent, market: str, start_ms: int, n: int, values: dict[str, Value]
) -> BaseEvent:
    kind = step.event.name
    fields: dict[str, object] = {
        "event_id": f"test-{n}",
        "player_id": DEFAULT_PLAYER,
        "ts": start_ms + step.at.millis,
        "market": market,
    }
    for assign in step.fields:
        name = assign.field.name
        value = evaluate(assign.value, lambda p, _node: values[p])
        if isinstance(value, MoneyValue):
            scale = Decimal(10) ** minor_units(value.currency)
            fields[name] = int((value.amount * scale).to_integral_value())
            fields["currency"] = value.currency
        elif isinstance(value, DurationValue):
            fields[name] = value.millis
        elif isinstance(value, str) and name in ("dob",):
            fields[name] = date.fromisoformat(value[:10])
        elif isinstance(value, str) and name in ("until",):
            fields[name] = to_epoch_ms(datetime.fromisoformat(_as_time(value)))
        else:
            fields[name] = value
    assert kind in EVENTS
    return EVENT_TYPES[kind](**fields)  # type: ignore[arg-type]


def _as_time(text: str) -> str:
    return text if "T" in text else f"{text}T00:00:00+00:00"


def _expectation(
    step: ast.TimelineStep,
    decisions: list[Decision],
    engine: StreamEngine,
    market: str,
    values: dict[str, Value],
) -> str | None:
    latest = decisions[-1]
    fired = {h.rule: h for h in (*latest.hits, *latest.shadow)}
    evaluated = {h.rule: h for h in latest.evaluated}
    match step:
        case ast.ExpectFires(rule=rule, mode="fires"):
            if rule.name in fired:
                return None
            return f"expected {rule.name} to fire, but it did not{_explain(evaluated, rule.name)}"
        case ast.ExpectFires(rule=rule, mode="not"):
            if rule.name not in fired:
                return None
            return f"expected {rule.name} not to fire, but it fired{_explain(fired, rule.name)}"
        case ast.ExpectFires(rule=rule, mode="never"):
            for k, decision in enumerate(decisions, start=1):
                hits = {h.rule: h for h in (*decision.hits, *decision.shadow)}
                if rule.name in hits:
                    return (
                        f"expected {rule.name} never to fire, but it fired on event {k}"
                        f"{_explain(hits, rule.name)}"
                    )
            return None
        case ast.ExpectDecision(action=action):
            if latest.action == action.name:
                return None
            why = ", ".join(f"{h.rule} (+{h.score}, {h.action})" for h in latest.hits) or "none"
            return (
                f"expected decision {action.name}, got {latest.action} "
                f"(score {latest.score}; fired: {why})"
            )
        case ast.ExpectScore(op=op, value=expr):
            want = evaluate(expr, lambda p, _node: values[p])
            if _OPS[op](latest.score, want):
                return None
            why = ", ".join(f"{h.rule} +{h.score}" for h in latest.hits) or "no live rule fired"
            return f"expected score {op} {want}, got {latest.score} ({why})"
        case ast.ExpectValue(rule=rule, name=name, op=op, value=expr):
            raw = engine.last_values.get(rule.name)
            if raw is None:
                return (
                    f"{rule.name} was not evaluated on this event, so {rule.name}.{name.name} "
                    "has no value"
                )
            actual = raw.get(name.name)
            want = evaluate(expr, lambda p, _node: values[p])
            got, expected = _comparable(actual), _comparable(want)
            text = f"{rule.name}.{name.name} {op} {format_expr(expr)}"
            if got is None:
                return f"expected {text}, but the value is missing"
            if _OPS[op](got, expected):
                return None
            shown = evaluated[rule.name].values.get(name.name) if rule.name in evaluated else got
            return f"expected {text}, got {shown}{_explain(evaluated, rule.name)}"
    return None


def _comparable(v: object) -> object:
    if isinstance(v, MoneyValue):
        return v.amount
    if isinstance(v, DurationValue):
        return float(v.millis)
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    return v


def _explain(hits: Mapping[str, Hit], rule: str) -> str:
    hit = hits.get(rule)
    if hit is None:
        return ""
    values = hit.values
    reason = hit.reason
    shown = ", ".join(f"{k}={v}" for k, v in values.items())
    parts = [p for p in (shown, f'reason "{reason}"' if reason else "") if p]
    return f" ({'; '.join(parts)})" if parts else ""


__all__ = ["DEFAULT_START", "TestOutcome", "run_tests"]
