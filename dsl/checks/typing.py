"""The type checker: resolves every name in rule conditions, checks operand types, windows,
aggregates and sequences, and collects what each rule can explain when it fires.

It runs once per market, because money params and the base currency differ by market: a
`2000 EUR` threshold compared with UKGC amounts (in GBP) is an error only in UKGC.
"""

from __future__ import annotations

from dsl import ast
from dsl.checks.context import CheckContext, Explanation
from dsl.checks.reasons import check_reason
from dsl.checks.scope import Scope
from dsl.checks.windows import aggregate, sequence
from dsl.checks.wording import base_span, events_phrase, name_span, plural
from dsl.diagnostics import suggest
from dsl.errors import Code
from dsl.format import format_expr
from dsl.types import (
    BOOL,
    DURATION,
    FLOAT,
    INT,
    STRING,
    TIME,
    UNKNOWN,
    Kind,
    Type,
    describe,
    list_of,
    money,
)
from dsl.values import DurationValue, MoneyValue, NotConstant, Value, evaluate
from dsl.vocabulary import (
    AGGREGATES,
    COMMON_FIELDS,
    EVENTS,
    FUNCTIONS,
    MARKETS,
    MAX_WINDOW_MS,
    PROFILE,
    countries,
    currencies,
    fields_of,
)

_ORDERING = frozenset({"<", "<=", ">", ">="})


class TypeChecker:
    def __init__(self, ctx: CheckContext, market: str) -> None:
        self.ctx = ctx
        self.market = market
        self.base = MARKETS[market].currency
        self.rep = ctx.reporter
        self.values = ctx.values.get(market, {})
        self.expl = Explanation()
        self.step_events: dict[str, str] = {}
        self._expanding: list[str] = []

    # ---- entry points -------------------------------------------------------------------

    def check_rule(self, rule: ast.Rule) -> None:
        self.expl = Explanation()
        self.step_events = {}
        on = tuple(e.name for e in rule.on.events if e.name in EVENTS) if rule.on else ()
        if rule.on is not None and len(on) == len(rule.on.events):
            scope = Scope(events=on, current=on)
            for clause, expr in (
                ("on … where", rule.on.where),
                ("when", rule.when),
                ("except", rule.except_),
            ):
                if expr is not None:
                    self.condition(expr, scope, clause)
            if rule.reason is not None:
                check_reason(self, rule, on)
        if rule.score is not None:
            score = self.constant(rule.score, "a score", INT)
            if isinstance(score, int) and not isinstance(score, bool):
                self.ctx.scores.setdefault(rule.name.name, {})[self.market] = score
        self.ctx.explanations[rule.name.name] = self.expl

    def condition(self, expr: ast.Expr, scope: Scope, clause: str) -> None:
        t = self.infer(expr, scope)
        if not t.is_unknown and t.kind is not Kind.BOOL:
            self.rep.error(
                Code.NOT_A_CONDITION,
                f"`{clause}` needs a condition (true or false), but `{format_expr(expr)}` is "
                f"{describe(t)}",
                expr.span,
            )

    def constant(self, expr: ast.Expr, what: str, expected: Type) -> Value | None:
        """Check and evaluate a value fixed per market (a window, a score, a threshold)."""
        t = self.infer(expr, Scope(constant=what))
        if t.is_unknown:
            return None
        if expected.kind is Kind.DURATION and t.is_number:
            text = format_expr(expr)
            self.rep.error(
                Code.DURATION_WITHOUT_UNIT,
                f"{what} is a duration, but `{text}` has no unit",
                expr.span,
                hint=f"{text}h" if isinstance(expr, ast.Number) else None,
            )
            return None
        if expected.kind is Kind.INT and t.kind is Kind.FLOAT:
            self.rep.error(Code.TYPE_MISMATCH, f"{what} is a whole number", expr.span)
            return None
        if t.kind is not expected.kind and not (expected.is_number and t.is_number):
            self.rep.error(
                Code.TYPE_MISMATCH,
                f"{what} is {describe(expected)}, but `{format_expr(expr)}` is {describe(t)}",
                expr.span,
            )
            return None
        try:
            return evaluate(expr, lambda name, node: self.values[name])
        except (NotConstant, KeyError):
            return None

    def window(self, expr: ast.Expr, what: str) -> int | None:
        value = self.constant(expr, what, DURATION)
        if not isinstance(value, DurationValue):
            return None
        if value.millis <= 0:
            self.rep.error(
                Code.NON_POSITIVE_WINDOW,
                f"{what} must be longer than zero; `{format_expr(expr)}` is {value}",
                expr.span,
            )
            return None
        if value.millis > MAX_WINDOW_MS:
            self.rep.warning(
                Code.WINDOW_TOO_LONG,
                f"{what} of {format_expr(expr)} is longer than the "
                f"{MAX_WINDOW_MS // 86_400_000} days "
                "the engine keeps state for",
                expr.span,
            )
        return value.millis

    # ---- inference ------------------------------------------------------------------------

    def infer(self, e: ast.Expr, scope: Scope) -> Type:
        match e:
            case ast.Number(value=v):
                return INT if isinstance(v, int) else FLOAT
            case ast.Money(currency=c):
                # An unknown currency was reported by the literals pass; don't cascade.
                return money(c) if c in currencies() else UNKNOWN
            case ast.Duration():
                return DURATION
            case ast.String():
                return STRING
            case ast.Bool():
                return BOOL
            case ast.Name():
                return self._name(e, scope)
            case ast.Attr():
                return self._attr(e, scope)
            case ast.Neg(operand=o):
                t = self.infer(o, scope)
                if t.is_unknown or t.is_number or t.kind in (Kind.MONEY, Kind.DURATION):
                    return t
                self.rep.error(Code.TYPE_MISMATCH, f"cannot negate {describe(t)}", e.span)
                return UNKNOWN
            case ast.Binary():
                return self._binary(e, scope)
            case ast.Compare():
                return self._compare(e, scope)
            case ast.In():
                return self._in(e, scope)
            case ast.Not(operand=o):
                self._bool_operand(o, scope, "not")
                return BOOL
            case ast.Logical(op=op, left=left, right=right):
                self._bool_operand(left, scope, op)
                self._bool_operand(right, scope, op)
                return BOOL
            case ast.ListLit(items=items):
                types = [self.infer(i, scope) for i in items]
                known = [t for t in types if not t.is_unknown]
                return list_of(known[0]) if known else list_of(UNKNOWN)
            case ast.Call():
                return self._call(e, scope)
            case ast.Sequence():
                return sequence(self, e, scope)

    def _bool_operand(self, e: ast.Expr, scope: Scope, op: str) -> None:
        t = self.infer(e, scope)
        if not t.is_unknown and t.kind is not Kind.BOOL:
            self.rep.error(
                Code.NOT_A_CONDITION,
                f"`{op}` joins conditions, but `{format_expr(e)}` is {describe(t)}",
                e.span,
            )

    def _field_type(self, t: Type) -> Type:
        return money(self.base) if t.kind is Kind.MONEY else t

    # ---- names ----------------------------------------------------------------------------

    def _name(self, node: ast.Name, scope: Scope) -> Type:
        name = node.name
        rep = self.rep
        if name in scope.steps:
            rep.error(
                Code.TYPE_MISMATCH,
                f"`{name}` is a sequence step; use one of its fields, e.g. `{name}.amount`",
                node.span,
            )
            return UNKNOWN
        if scope.events and all(name in fields_of(ev) for ev in scope.events):
            return self._field_type(fields_of(scope.events[0])[name])
        if name in self.ctx.params:
            return self._param_type(name)
        if name in self.ctx.list_values:
            return list_of(self.ctx.list_values[name][0])
        if name in self.ctx.lists:
            return UNKNOWN
        if name in self.ctx.defines:
            return self._define(name, scope)
        missing_on = [ev for ev in scope.events if name not in fields_of(ev)]
        if scope.events and len(missing_on) < len(scope.events):
            rep.error(
                Code.UNKNOWN_FIELD,
                f"`{name}` is not a field of {events_phrase(missing_on)}; write one rule "
                "per event type",
                node.span,
            )
            return UNKNOWN
        if scope.window_filter and any(name in fields_of(ev) for ev in scope.current):
            rep.error(
                Code.WINDOW_FILTER_SCOPE,
                f"a window's `where` sees only the fields of the events it counts "
                f"({events_phrase(scope.events)}) and params; `{name}` of the current "
                "event is not available there",
                node.span,
            )
            return UNKNOWN
        if scope.constant and any(name in fs for fs in (COMMON_FIELDS, *EVENTS.values())):
            rep.error(
                Code.TYPE_MISMATCH,
                f"{scope.constant} is fixed per market; it cannot use the event field `{name}`",
                node.span,
            )
            return UNKNOWN
        known = set(self.ctx.params) | set(self.ctx.lists) | set(self.ctx.defines)
        for ev in scope.events:
            known |= set(fields_of(ev))
        if any(name in fields_of(ev) for ev in EVENTS):
            where = [ev for ev in EVENTS if name in fields_of(ev)]
            rep.error(
                Code.UNKNOWN_FIELD,
                f"`{name}` is not a field of {events_phrase(scope.events) or 'this value'}; "
                f"it is on {events_phrase(where)}",
                node.span,
                hint=suggest(name, known),
            )
            return UNKNOWN
        code = Code.UNKNOWN_FIELD if scope.events else Code.UNKNOWN_NAME
        what = "field or name" if scope.events else "name"
        rep.unknown(code, what, name, node.span, known)
        return UNKNOWN

    def _param_type(self, name: str) -> Type:
        declared = self.ctx.param_types.get(name, UNKNOWN)
        value = self.values.get(name)
        if declared.kind is Kind.MONEY:
            if isinstance(value, MoneyValue) and value.currency in currencies():
                return money(value.currency)
            return UNKNOWN
        return declared

    def _define(self, name: str, scope: Scope) -> Type:
        if name in self.ctx.recursive_defines or name in self._expanding:
            return UNKNOWN
        self._expanding.append(name)
        try:
            return self.infer(self.ctx.defines[name].body, scope)
        finally:
            self._expanding.pop()

    def _attr(self, node: ast.Attr, scope: Scope) -> Type:
        base, name = node.base, node.name
        rep = self.rep
        if base == "player":
            if scope.window_filter:
                rep.error(
                    Code.WINDOW_FILTER_SCOPE,
                    "a window's `where` sees only the counted events' fields and params, "
                    "not the player's profile",
                    node.span,
                )
                return UNKNOWN
            if scope.constant:
                rep.error(
                    Code.TYPE_MISMATCH,
                    f"{scope.constant} is fixed per market; it cannot use the player profile",
                    node.span,
                )
                return UNKNOWN
            if name not in PROFILE:
                rep.unknown(
                    Code.UNKNOWN_FIELD, "player profile field", name, name_span(node), PROFILE
                )
                return UNKNOWN
            return PROFILE[name]
        if scope.window_filter and base in scope.current and base not in scope.events:
            rep.error(
                Code.WINDOW_FILTER_SCOPE,
                f"a window's `where` sees only the fields of the events it counts "
                f"({events_phrase(scope.events)}) and params; `{base}.{name}` of the current "
                "event is not available there",
                node.span,
            )
            return UNKNOWN
        event = scope.steps.get(base) or (base if base in scope.events else None)
        if event is not None:
            fields = fields_of(event)
            if name not in fields:
                rep.unknown(Code.UNKNOWN_FIELD, f"{event} field", name, name_span(node), fields)
                return UNKNOWN
            return self._field_type(fields[name])
        if base in EVENTS:
            rep.error(
                Code.AGGREGATE_MISUSE,
                f"`{base}.{name}` means past {base} events; use it in an aggregate such as "
                f"sum({base}.{name} over 24h)",
                node.span,
            )
            return UNKNOWN
        known = {"player", *scope.steps, *scope.events}
        rep.unknown(Code.UNKNOWN_NAME, "name", base, base_span(node), known)
        return UNKNOWN

    # ---- operators --------------------------------------------------------------------------

    def _binary(self, node: ast.Binary, scope: Scope) -> Type:
        lt, rt = self.infer(node.left, scope), self.infer(node.right, scope)
        if lt.is_unknown or rt.is_unknown:
            return UNKNOWN
        op = node.op
        result = _arith_result(op, lt, rt)
        if result is not None:
            return result
        if lt.kind is Kind.MONEY and rt.kind is Kind.MONEY and op in "+-/":
            self._currency_mismatch(node, node.left, lt, node.right, rt)
            return UNKNOWN
        if (lt.kind, rt.kind) in _MONEY_NUMBER:
            self._money_vs_number(node, lt, rt)
            return UNKNOWN
        if {lt.kind, rt.kind} & {Kind.DURATION} and (lt.is_number or rt.is_number):
            self._duration_without_unit(node)
            return UNKNOWN
        self.rep.error(
            Code.TYPE_MISMATCH,
            f"cannot apply `{op}` to {describe(lt)} and {describe(rt)}",
            node.span,
        )
        return UNKNOWN

    def _compare(self, node: ast.Compare, scope: Scope) -> Type:
        lt, rt = self.infer(node.left, scope), self.infer(node.right, scope)
        if lt.is_unknown or rt.is_unknown:
            return BOOL
        ordering = node.op in _ORDERING
        kinds = {lt.kind, rt.kind}
        if kinds == {Kind.COUNTRY, Kind.STRING}:
            literal = node.left if rt.kind is Kind.COUNTRY else node.right
            if isinstance(literal, ast.String):
                self._country_literal(literal)
            else:
                self.rep.error(
                    Code.TYPE_MISMATCH,
                    f"cannot compare a country code with a string field `{format_expr(literal)}`",
                    node.span,
                )
            if not ordering:
                return BOOL
        if ordering and kinds & {Kind.STRING, Kind.COUNTRY, Kind.BOOL}:
            self.rep.error(
                Code.STRING_ORDERING,
                f"`{node.op}` orders numbers, money, durations and times; "
                f"{describe(lt if lt.kind in (Kind.STRING, Kind.COUNTRY, Kind.BOOL) else rt)} "
                "can only be tested with == or !=",
                node.span,
            )
            return BOOL
        if (lt.is_number and rt.is_number) or kinds == {Kind.COUNTRY, Kind.STRING}:
            return BOOL
        if lt.kind is Kind.MONEY and rt.kind is Kind.MONEY:
            if lt.currency and rt.currency and lt.currency != rt.currency:
                self._currency_mismatch(node, node.left, lt, node.right, rt)
            return BOOL
        if lt.kind is rt.kind and lt.kind is not Kind.LIST:
            return BOOL
        if Kind.MONEY in kinds and (lt.is_number or rt.is_number):
            self._money_vs_number(node, lt, rt)
        elif Kind.DURATION in kinds and (lt.is_number or rt.is_number):
            self._duration_without_unit(node)
        else:
            self.rep.error(
                Code.TYPE_MISMATCH,
                f"cannot compare {describe(lt)} (`{format_expr(node.left)}`) with "
                f"{describe(rt)} (`{format_expr(node.right)}`)",
                node.span,
            )
        return BOOL

    def _in(self, node: ast.In, scope: Scope) -> Type:
        item = self.infer(node.item, scope)
        container = node.container
        if isinstance(container, ast.Name) and not (
            container.name in self.ctx.lists or container.name in self.ctx.params
        ):
            known = set(self.ctx.lists) | {
                p for p, t in self.ctx.param_types.items() if t.kind is Kind.LIST
            }
            self.rep.unknown(Code.UNKNOWN_LIST, "list", container.name, container.span, known)
            return BOOL
        ct = self.infer(container, scope)
        if item.is_unknown or ct.is_unknown:
            return BOOL
        if ct.kind is not Kind.LIST:
            self.rep.error(
                Code.TYPE_MISMATCH,
                f"`in` needs a list on its right; `{format_expr(container)}` is {describe(ct)}",
                container.span,
            )
            return BOOL
        elem = ct.elem or UNKNOWN
        if item.kind is Kind.COUNTRY and elem.kind in (Kind.STRING, Kind.COUNTRY):
            self._country_members(container)
            return BOOL
        if elem.is_unknown or elem.kind is item.kind or (elem.is_number and item.is_number):
            return BOOL
        self.rep.error(
            Code.TYPE_MISMATCH,
            f"`{format_expr(node.item)}` is {describe(item)} but `{format_expr(container)}` "
            f"holds {plural(elem)}",
            node.span,
        )
        return BOOL

    def _country_literal(self, node: ast.String) -> None:
        if node.value not in countries():
            upper = node.value.upper()
            self.rep.error(
                Code.INVALID_COUNTRY,
                f'"{node.value}" is not an ISO 3166 country code (two capital letters, e.g. "MT")',
                node.span,
                hint=upper if upper in countries() else None,
            )

    def _country_members(self, container: ast.Expr) -> None:
        if isinstance(container, ast.ListLit):
            for item in container.items:
                if isinstance(item, ast.String):
                    self._country_literal(item)
        elif isinstance(container, ast.Name):
            if container.name in self.ctx.list_values:
                values = self.ctx.list_values[container.name][1]
            else:
                held = self.values.get(container.name, ())
                values = held if isinstance(held, tuple) else ()
            bad = [v for v in values if isinstance(v, str) and v not in countries()]
            written = self._param_literal(container.name, bad[0]) if bad else None
            if written is not None:
                self._country_literal(written)
            elif bad:
                self.rep.error(
                    Code.INVALID_COUNTRY,
                    f"`{container.name}` is compared with a country but holds "
                    f"`{bad[0]}`, which is not an ISO 3166 country code",
                    container.span,
                )

    def _param_literal(self, param: str, value: str) -> ast.String | None:
        """Where the param's value in this market writes the string `value`."""
        override = self.ctx.overrides.get(self.market, {}).get(param)
        decl = self.ctx.params.get(param)
        expr = override.value if override else decl.default if decl else None
        if expr is None:
            return None
        return next(
            (n for n in ast.walk(expr) if isinstance(n, ast.String) and n.value == value), None
        )

    def _currency_mismatch(
        self, node: ast.Expr, left: ast.Expr, lt: Type, right: ast.Expr, rt: Type
    ) -> None:
        self.rep.error(
            Code.CURRENCY_MISMATCH,
            f"`{format_expr(left)}` is in {lt.currency} but `{format_expr(right)}` is in "
            f"{rt.currency}: give this market its own value in a `market` block, or convert "
            "with fx(…)",
            node.span,
        )

    def _money_vs_number(self, node: ast.Expr, lt: Type, rt: Type) -> None:
        cur = lt.currency or rt.currency or self.base
        number = next((x for x in ast.children(node) if isinstance(x, ast.Number)), None)
        self.rep.error(
            Code.MONEY_VS_NUMBER,
            "money cannot meet a plain number here; give the number a currency",
            node.span,
            hint=f"{format_expr(number)} {cur}" if number is not None else None,
        )

    def _duration_without_unit(self, node: ast.Expr) -> None:
        self.rep.error(
            Code.DURATION_WITHOUT_UNIT,
            "a duration cannot meet a plain number; give the number a unit (ms, s, m, h, d, w)",
            node.span,
        )

    # ---- calls and aggregates ------------------------------------------------------------

    def _call(self, node: ast.Call, scope: Scope) -> Type:
        func = node.func.name
        if func in AGGREGATES:
            return aggregate(self, node, scope)
        if func not in FUNCTIONS:
            self.rep.unknown(
                Code.UNKNOWN_FUNCTION, "function", func, node.func.span, (*AGGREGATES, *FUNCTIONS)
            )
            return UNKNOWN
        if node.where or node.by or node.over or node.within or node.alias:
            self.rep.error(
                Code.AGGREGATE_MISUSE,
                f"`{func}` is a function, not an aggregate: it takes no where, by, over, "
                "within or as",
                node.span,
            )
            return UNKNOWN
        if len(node.args) != 1:
            self.rep.error(
                Code.BAD_ARGUMENTS, f"`{func}` takes one argument, not {len(node.args)}", node.span
            )
            return UNKNOWN
        arg = node.args[0]
        if func == "present":
            if not isinstance(arg, ast.Name | ast.Attr):
                self.rep.error(
                    Code.BAD_ARGUMENTS,
                    "present(…) takes a field, e.g. present(card_country)",
                    arg.span,
                )
                return BOOL
            self.infer(arg, scope)
            return BOOL
        t = self.infer(arg, scope)
        if t.is_unknown:
            return UNKNOWN
        if func == "abs" and (t.is_number or t.kind in (Kind.MONEY, Kind.DURATION)):
            return t
        if func == "fx" and t.kind is Kind.MONEY:
            return money(self.base)
        wanted = "money" if func == "fx" else "a number, money or a duration"
        self.rep.error(Code.BAD_ARGUMENTS, f"`{func}` takes {wanted}, not {describe(t)}", arg.span)
        return UNKNOWN


_MONEY_NUMBER = {
    (Kind.MONEY, Kind.INT),
    (Kind.MONEY, Kind.FLOAT),
    (Kind.INT, Kind.MONEY),
    (Kind.FLOAT, Kind.MONEY),
}


def _arith_result(op: str, lt: Type, rt: Type) -> Type | None:
    """The type of `lt op rt`, or None if the combination has no meaning."""
    if lt.is_number and rt.is_number:
        if op == "/" or Kind.FLOAT in (lt.kind, rt.kind):
            return FLOAT
        return INT
    lk, rk = lt.kind, rt.kind
    same_money = lk is Kind.MONEY and rk is Kind.MONEY and lt.currency == rt.currency
    if op in "+-":
        if same_money or (lk is rk and lk is Kind.DURATION):
            return lt
        if lk is Kind.TIME and rk is Kind.DURATION:
            return TIME
        if op == "-" and lk is Kind.TIME and rk is Kind.TIME:
            return DURATION
        return None
    if op == "*":
        if lk in (Kind.MONEY, Kind.DURATION) and rt.is_number:
            return lt
        if lt.is_number and rk in (Kind.MONEY, Kind.DURATION):
            return rt
        return None
    # division
    if lk in (Kind.MONEY, Kind.DURATION) and rt.is_number:
        return lt
    if same_money or (lk is rk and lk is Kind.DURATION):
        return FLOAT
    return None


def check_expressions(ctx: CheckContext) -> None:
    """Type-check every rule in every market the policy applies to."""
    for market in ctx.markets:
        ctx.reporter.market = market
        checker = TypeChecker(ctx, market)
        for name, rule in ctx.rules.items():
            before = ctx.reporter.error_count
            checker.check_rule(rule)
            if ctx.reporter.error_count > before:
                ctx.broken_rules.add(name)
    ctx.reporter.market = None
