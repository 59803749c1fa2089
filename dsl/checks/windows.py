"""Aggregates over time windows and sequences of events: targets, `where` scopes, `by`
keys, window lengths, absence steps. Part of the type checker (`typing.py`)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from dsl import ast
from dsl.checks.scope import Scope
from dsl.checks.wording import base_span, events_phrase, name_span
from dsl.errors import Code
from dsl.format import format_expr
from dsl.types import BOOL, FLOAT, INT, STRING, UNKNOWN, Kind, Type, describe
from dsl.vocabulary import AGGREGATES, EVENTS, KEYS, fields_of

if TYPE_CHECKING:
    from dsl.checks.typing import TypeChecker


def aggregate(tc: TypeChecker, node: ast.Call, scope: Scope) -> Type:
    """The type of `count/sum/avg/min/max/distinct/shared(…)`; records it in the rule's
    explanation under its `as` name (or the function's name)."""
    func = node.func.name
    rep = tc.rep
    if scope.window_filter:
        rep.error(
            Code.AGGREGATE_MISUSE,
            "aggregates cannot be nested inside a window's `where`",
            node.span,
        )
        return UNKNOWN
    if scope.constant:
        rep.error(
            Code.TYPE_MISMATCH,
            f"{scope.constant} is fixed per market, not an aggregate",
            node.span,
        )
        return UNKNOWN
    # `shared` pairs players across a window: it is never a total over an absence's gap.
    span_total = node.over is None and scope.span_event is not None and func != "shared"
    if scope.in_step and not span_total:
        rep.error(
            Code.AGGREGATE_MISUSE,
            "a step's condition is about that one event; put windowed aggregates in the "
            "rule's `when`, or use a total over the gap in an absence step (`!bet where "
            "sum(amount) >= …`)",
            node.span,
        )
        return UNKNOWN
    if node.over is None and not span_total:
        rep.error(
            Code.AGGREGATE_WITHOUT_WINDOW,
            f"`{func}(…)` needs a window: add `over` and a duration, e.g. {func}(… over 24h)",
            node.span,
        )
    elif node.over is not None:
        tc.window(node.over, f"the window of `{func}`")
    _within(tc, node)
    if span_total:
        assert scope.span_event is not None
        events: tuple[str, ...] = (scope.span_event,)
        value = _span_target(tc, node, scope.span_event)
    else:
        events, value = _target(tc, node)
    result = UNKNOWN if value is None else _result(tc, node, value)
    if events and node.where is not None:
        inner = Scope(events=events, current=scope.current, window_filter=True)
        tc.condition(node.where, inner, f"{func}(… where …)")
    if node.by is not None:
        _by(tc, node, events, scope)
    elif func == "shared":
        rep.error(
            Code.AGGREGATE_MISUSE,
            f"`shared` needs the key the players share: add `by`, e.g. {_SHARED_EXAMPLE}",
            node.span,
        )
    # Registered even when broken, so `{alias}` and `expect rule.alias` do not cascade.
    name = node.alias.name if node.alias else func
    if not tc.expl.add(name, result, node, explicit=node.alias is not None):
        assert node.alias is not None
        rep.error(
            Code.DUPLICATE_NAME,
            f"`{name}` already names another value of this rule; pick another name",
            node.alias.span,
        )
    return result


_SHARED_EXAMPLE = "shared(bet by round over 30m within 3s)"


def _within(tc: TypeChecker, node: ast.Call) -> None:
    """`within` says how close in time two players' events must be: `shared` needs it,
    no other aggregate takes it."""
    func = node.func.name
    if func != "shared":
        if node.within is not None:
            tc.rep.error(
                Code.AGGREGATE_MISUSE,
                f"only `shared` takes `within`; `{func}` looks back over its window alone",
                node.within.span,
            )
        return
    if node.within is None:
        tc.rep.error(
            Code.AGGREGATE_WITHOUT_WINDOW,
            "`shared(…)` needs `within`: how close in time the two players' events must be, "
            f"e.g. {_SHARED_EXAMPLE}",
            node.span,
        )
        return
    tc.window(node.within, "the `within` of `shared`")


def _target(tc: TypeChecker, node: ast.Call) -> tuple[tuple[str, ...], Type | None]:
    """The events an aggregate reads and the type of the values it folds."""
    func = node.func.name
    rep = tc.rep
    example = {
        "count": "count(deposit over 24h)",
        "distinct": "distinct(player by device over 7d)",
        "shared": _SHARED_EXAMPLE,
    }.get(func, f"{func}(deposit.amount over 24h)")
    if len(node.args) != 1:
        rep.error(Code.BAD_ARGUMENTS, f"`{func}` reads one thing, e.g. {example}", node.span)
        return (), None
    arg = node.args[0]
    if isinstance(arg, ast.Name) and arg.name in EVENTS and func in ("count", "shared"):
        return (arg.name,), INT
    if isinstance(arg, ast.Name) and arg.name in KEYS and func == "distinct":
        # Distinct keys read every event type that carries the key and, with `by`,
        # the grouping key too: `distinct(player by instrument …)` reads payments.
        wanted = {KEYS[arg.name]}
        if node.by is not None and node.by.name in KEYS:
            wanted.add(KEYS[node.by.name])
        events = tuple(ev for ev in EVENTS if wanted <= set(fields_of(ev)))
        if not events:
            rep.error(
                Code.KEY_NOT_ON_EVENT,
                f"no event type carries both `{arg.name}` and the `by` key",
                node.span,
            )
            return (), None
        return events, STRING
    if isinstance(arg, ast.Attr) and arg.base in EVENTS:
        fields = fields_of(arg.base)
        if arg.name not in fields:
            rep.unknown(Code.UNKNOWN_FIELD, f"{arg.base} field", arg.name, name_span(arg), fields)
            return (arg.base,), None
        if func in ("count", "shared"):
            what = "counts" if func == "count" else "reads"
            rep.error(
                Code.AGGREGATE_MISUSE,
                f"`{func}` {what} events: write {func}({arg.base} …)",
                arg.span,
            )
            return (arg.base,), None
        return (arg.base,), tc._field_type(fields[arg.name])
    if isinstance(arg, ast.Name) and arg.name in EVENTS:
        rep.error(
            Code.AGGREGATE_MISUSE,
            f"`{func}` needs a field of the events, e.g. {func}({arg.name}.amount over 24h)",
            arg.span,
        )
        return (arg.name,), None
    name = arg.name if isinstance(arg, ast.Name) else getattr(arg, "base", None)
    if name is not None:
        known = set(EVENTS) | (set(KEYS) if func == "distinct" else set())
        rep.unknown(Code.UNKNOWN_EVENT, "event type", name, base_span(arg), known)
    else:
        rep.error(Code.BAD_ARGUMENTS, f"`{func}` reads events, e.g. {example}", arg.span)
    return (), None


def _span_target(tc: TypeChecker, node: ast.Call, event: str) -> Type | None:
    """`sum(amount)` inside an absence step: a total over the gap between two steps."""
    func = node.func.name
    fields = fields_of(event)
    if func == "count" and not node.args:
        return INT
    if len(node.args) != 1:
        tc.rep.error(
            Code.BAD_ARGUMENTS,
            f"inside an absence step, write `{func}(amount)` for a total over the gap",
            node.span,
        )
        return None
    arg = node.args[0]
    name = arg.name if isinstance(arg, ast.Name) else None
    if isinstance(arg, ast.Attr) and arg.base == event:
        name = arg.name
    if func == "count" and name == event:
        return INT
    if name is None or name not in fields:
        tc.rep.unknown(Code.UNKNOWN_FIELD, f"{event} field", format_expr(arg), arg.span, fields)
        return None
    return tc._field_type(fields[name])


def _result(tc: TypeChecker, node: ast.Call, value: Type) -> Type:
    func = node.func.name
    if func in ("count", "distinct", "shared"):
        return INT
    if value.kind in (Kind.MONEY, Kind.DURATION):
        return value
    if value.is_number:
        return FLOAT if func == "avg" else value
    tc.rep.error(
        Code.AGGREGATE_MISUSE,
        f"`{func}` adds up numbers, money or durations; `{format_expr(node.args[0])}` is "
        f"{describe(value)}",
        node.args[0].span,
    )
    return UNKNOWN


def _by(tc: TypeChecker, node: ast.Call, events: tuple[str, ...], scope: Scope) -> None:
    assert node.by is not None
    key = node.by.name
    if key not in KEYS:
        tc.rep.unknown(Code.UNKNOWN_KEY, "key", key, node.by.span, KEYS)
        return
    if key == "player" and node.func.name == "shared":
        tc.rep.error(
            Code.AGGREGATE_MISUSE,
            "`shared` pairs the player with other players: share something else, e.g. "
            f"{_SHARED_EXAMPLE}",
            node.by.span,
        )
        return
    field_name = KEYS[key]
    lacking = [ev for ev in events if field_name not in fields_of(ev)]
    if lacking:
        tc.rep.error(
            Code.KEY_NOT_ON_EVENT,
            f"{events_phrase(lacking)} events carry no `{field_name}`, so they cannot be "
            f"grouped by {key}",
            node.by.span,
        )
    current = [ev for ev in scope.current if field_name not in fields_of(ev)]
    if current and current != lacking:
        tc.rep.error(
            Code.KEY_NOT_ON_EVENT,
            f"the rule is on {events_phrase(current)}, which has no `{field_name}` to "
            f"look up by {key}",
            node.by.span,
        )


# ---- sequences --------------------------------------------------------------------------


def sequence(tc: TypeChecker, node: ast.Sequence, scope: Scope) -> Type:
    """Check a sequence's window, steps, bound names and absence steps; it is a condition."""
    rep = tc.rep
    if scope.window_filter or scope.constant or scope.span_event:
        rep.error(
            Code.AGGREGATE_MISUSE,
            "a sequence can only stand in a rule's condition",
            node.span,
        )
        return UNKNOWN
    has_window = node.within is not None
    if node.within is not None:
        tc.window(node.within, "the window of a sequence")
    elif not any(s.absent and s.within is None for s in node.steps):
        rep.error(
            Code.SEQUENCE_WITHOUT_WINDOW,
            "a sequence needs a window: `sequence within 24h { … }`",
            node.span,
        )
    bound: dict[str, str] = {}
    for i, step in enumerate(node.steps):
        event = step.event.name
        if event not in EVENTS:
            rep.unknown(Code.UNKNOWN_EVENT, "event type", event, step.event.span, EVENTS)
            continue
        if step.absent and step.within is None and not has_window:
            rep.error(
                Code.ABSENCE_WITHOUT_WITHIN,
                f"the absence step `!{event}` is unbounded: give the sequence a window "
                "(`sequence within 24h { … }`)",
                step.span,
            )
        if step.within is not None:
            tc.window(step.within, "a step's `within`")
        inner = replace(
            scope,
            events=(event,),
            steps=dict(bound),
            span_event=event if step.absent else None,
            in_step=True,
        )
        if step.where is not None:
            if step.absent:
                _absence_condition(tc, step, inner)
            else:
                tc.condition(step.where, inner, "where")
        if step.name is not None:
            if step.absent:
                rep.error(
                    Code.AGGREGATE_MISUSE,
                    "an absence step matches no event, so it cannot be named",
                    step.name.span,
                )
            elif step.name.name in bound or step.name.name in tc.ctx.params:
                rep.error(
                    Code.DUPLICATE_NAME,
                    f"step name `{step.name.name}` is already used",
                    step.name.span,
                )
            else:
                bound[step.name.name] = event
                tc.step_events[step.name.name] = event
        last = i == len(node.steps) - 1
        if last and step.absent and not all(s.absent for s in node.steps):
            rep.error(
                Code.SEQUENCE_END,
                "a sequence ends at the event being decided, so its last step cannot be an "
                f"absence step (`!{event}`): move it between two steps",
                step.event.span,
            )
        elif last and not step.absent and scope.current and event not in scope.current:
            rep.error(
                Code.SEQUENCE_END,
                f"a sequence ends at the event being decided, so its last step must be "
                f"{events_phrase(scope.current)} (the rule's `on`), not {event}",
                step.event.span,
            )
    if all(s.absent for s in node.steps):
        rep.error(
            Code.SEQUENCE_END,
            "a sequence needs at least one step that happens (no `!`)",
            node.span,
        )
    return BOOL


def _absence_condition(tc: TypeChecker, step: ast.Step, scope: Scope) -> None:
    assert step.where is not None
    totals = [
        n
        for n in ast.walk(step.where)
        if isinstance(n, ast.Call) and n.func.name in AGGREGATES and n.over is None
    ]
    if totals:
        inside = {id(x) for t in totals for x in ast.walk(t)}
        loose = [
            n
            for n in ast.walk(step.where)
            if isinstance(n, ast.Name)
            and id(n) not in inside
            and n.name in fields_of(step.event.name)
        ]
        if loose:
            tc.rep.error(
                Code.AGGREGATE_MISUSE,
                "an absence step's condition is either about each event (`amount > …`) "
                "or about their total (`sum(amount) > …`), not both",
                loose[0].span,
            )
            return
    tc.condition(step.where, scope, "where")
