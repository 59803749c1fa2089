"""Passes over what a policy declares: markets, names, param types, overrides, rule
clauses, and defines that refer to themselves."""

from __future__ import annotations

from collections.abc import Iterator

from dsl import ast
from dsl.checks.context import CheckContext
from dsl.errors import Code
from dsl.parser import keywords
from dsl.types import DECLARABLE, LIST_ELEMENTS, UNKNOWN, list_of
from dsl.vocabulary import ACTIONS, COMMON_FIELDS, EVENTS, MARKETS, MODES, SEVERITIES

# Names a param, list or define may not take: they would hide something authors rely on.
_RESERVED = {"player", "score", *COMMON_FIELDS, *(f for fs in EVENTS.values() for f in fs)}


def _reserved(name: str) -> bool:
    return name in _RESERVED or name in keywords()


def check_markets(ctx: CheckContext) -> None:
    """The markets the policy applies to (all known ones unless `for` names them)."""
    rep = ctx.reporter
    if not ctx.policy.markets:
        ctx.markets = tuple(MARKETS)
    else:
        seen: list[str] = []
        for m in ctx.policy.markets:
            if m.name not in MARKETS:
                rep.unknown(Code.UNKNOWN_MARKET, "market", m.name, m.span, MARKETS)
            elif m.name in seen:
                rep.error(Code.DUPLICATE_NAME, f"market `{m.name}` is listed twice", m.span)
            else:
                seen.append(m.name)
        ctx.markets = tuple(seen)
    for block in ctx.policy.market_blocks:
        m = block.market
        if m.name not in MARKETS:
            rep.unknown(Code.UNKNOWN_MARKET, "market", m.name, m.span, MARKETS)
        elif m.name not in ctx.markets:
            rep.error(
                Code.UNKNOWN_MARKET,
                f"market `{m.name}` is not one this policy is for "
                f"({', '.join(ctx.markets)}); add it after `for` in the header",
                m.span,
            )
        elif m.name in ctx.overrides:
            rep.error(
                Code.DUPLICATE_NAME,
                f"market `{m.name}` has a second block; put all its overrides in one",
                m.span,
            )
        else:
            ctx.overrides[m.name] = {}
            ctx.market_blocks[m.name] = block


def _declared(ctx: CheckContext) -> Iterator[tuple[str, ast.Ident]]:
    for p in ctx.policy.params:
        yield "param", p.name
    for lst in ctx.policy.lists:
        yield "list", lst.name
    for d in ctx.policy.defines:
        yield "define", d.name


def check_names(ctx: CheckContext) -> None:
    """Params, lists and defines share one namespace; rules and tests have their own."""
    rep = ctx.reporter
    seen: dict[str, str] = {}
    for kind, ident in _declared(ctx):
        if ident.name in seen:
            rep.error(
                Code.DUPLICATE_NAME,
                f"`{ident.name}` is already declared as a {seen[ident.name]}",
                ident.span,
            )
            continue
        if _reserved(ident.name):
            rep.error(
                Code.DUPLICATE_NAME,
                f"a {kind} cannot be called `{ident.name}`: an event field or built-in name has it",
                ident.span,
            )
            continue
        seen[ident.name] = kind
    ctx.params = {p.name.name: p for p in ctx.policy.params if seen.get(p.name.name) == "param"}
    ctx.lists = {x.name.name: x for x in ctx.policy.lists if seen.get(x.name.name) == "list"}
    ctx.defines = {d.name.name: d for d in ctx.policy.defines if seen.get(d.name.name) == "define"}
    for rule in ctx.policy.rules:
        if rule.name.name in ctx.rules:
            rep.error(
                Code.DUPLICATE_NAME, f"rule `{rule.name.name}` is already declared", rule.name.span
            )
        else:
            ctx.rules[rule.name.name] = rule
    tests: set[str] = set()
    for test in ctx.policy.tests:
        if test.name.value in tests:
            rep.error(
                Code.DUPLICATE_NAME, f'test "{test.name.value}" is already declared', test.name.span
            )
        tests.add(test.name.value)


def check_param_types(ctx: CheckContext) -> None:
    rep = ctx.reporter
    for name, param in ctx.params.items():
        tref = param.type
        allowed = LIST_ELEMENTS if tref.is_list else DECLARABLE
        base = DECLARABLE.get(tref.name.name)
        if base is None or tref.name.name not in allowed:
            what = "list element type" if tref.is_list else "type"
            rep.unknown(Code.UNKNOWN_TYPE, what, tref.name.name, tref.name.span, allowed)
            ctx.param_types[name] = UNKNOWN
            continue
        ctx.param_types[name] = list_of(base) if tref.is_list else base


def check_overrides(ctx: CheckContext) -> None:
    rep = ctx.reporter
    for block in ctx.policy.market_blocks:
        first = ctx.market_blocks.get(block.market.name) is block
        table = ctx.overrides.get(block.market.name) if first else None
        for ov in block.overrides:
            if ov.name.name not in ctx.params:
                rep.unknown(Code.UNKNOWN_PARAM, "param", ov.name.name, ov.name.span, ctx.params)
            elif table is not None and ov.name.name in table:
                rep.error(
                    Code.DUPLICATE_NAME,
                    f"`{ov.name.name}` is overridden twice for {block.market.name}",
                    ov.name.span,
                )
            elif table is not None:
                table[ov.name.name] = ov


def _check_choice(
    ctx: CheckContext, ident: ast.Ident | None, choices: tuple[str, ...], code: Code, what: str
) -> None:
    if ident is not None and ident.name not in choices:
        ctx.reporter.unknown(code, what, ident.name, ident.span, choices)


def check_rule_clauses(ctx: CheckContext) -> None:
    rep = ctx.reporter
    for rule in ctx.policy.rules:
        if rule.on is None:
            rep.error(
                Code.MISSING_CLAUSE,
                f"rule `{rule.name.name}` needs `on EVENT` to say which events it looks at",
                rule.name.span,
            )
        else:
            for event in rule.on.events:
                if event.name not in EVENTS:
                    rep.unknown(Code.UNKNOWN_EVENT, "event type", event.name, event.span, EVENTS)
        if rule.when is None:
            rep.error(
                Code.MISSING_CLAUSE,
                f"rule `{rule.name.name}` needs a `when` condition",
                rule.name.span,
            )
        if rule.score is None and rule.action is None:
            rep.error(
                Code.MISSING_CLAUSE,
                f"rule `{rule.name.name}` has neither `score` nor `action`, so firing "
                "would change nothing",
                rule.name.span,
            )
        _check_choice(ctx, rule.action, ACTIONS, Code.UNKNOWN_ACTION, "action")
        _check_choice(ctx, rule.severity, SEVERITIES, Code.UNKNOWN_SEVERITY, "severity")
        _check_choice(ctx, rule.mode, MODES, Code.UNKNOWN_MODE, "mode")


def _names_in(expr: ast.Expr) -> Iterator[ast.Name]:
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            yield node


def check_unused_defines(ctx: CheckContext) -> None:
    """A define no rule uses is never checked in an event's context: say so."""
    used: set[str] = set()
    pending = [
        e
        for r in ctx.policy.rules
        for e in (r.on.where if r.on else None, r.when, r.except_)
        if e is not None
    ]
    while pending:
        for node in ast.walk(pending.pop()):
            if isinstance(node, ast.Name) and node.name in ctx.defines and node.name not in used:
                used.add(node.name)
                pending.append(ctx.defines[node.name].body)
    for name, define in ctx.defines.items():
        if name not in used:
            ctx.reporter.warning(
                Code.UNUSED_DEFINE,
                f"define `{name}` is not used by any rule, so it is not checked",
                define.name.span,
            )


def check_define_cycles(ctx: CheckContext) -> None:
    """A define may use others, but never itself, directly or through others."""
    graph = {
        name: {n.name for n in _names_in(d.body) if n.name in ctx.defines}
        for name, d in ctx.defines.items()
    }

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == target:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, target, seen):
                    return True
        return False

    for name, define in ctx.defines.items():
        if reaches(name, name, set()):
            ctx.recursive_defines.add(name)
            ctx.reporter.error(
                Code.RECURSIVE_DEFINE,
                f"define `{name}` refers to itself (directly or through another define)",
                define.name.span,
            )
