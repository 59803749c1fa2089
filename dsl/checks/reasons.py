"""`reason` templates: every `{placeholder}` names a value the rule can explain."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dsl import ast
from dsl.errors import Code
from dsl.format import format_string
from dsl.vocabulary import PROFILE, fields_of

if TYPE_CHECKING:
    from dsl.checks.typing import TypeChecker

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_LONE_BRACE = re.compile(r"[{}]")


def check_reason(tc: TypeChecker, rule: ast.Rule, on: tuple[str, ...]) -> None:
    """Run after the rule's conditions, so the aggregate names are known."""
    assert rule.reason is not None
    text = rule.reason.value
    known = set(tc.expl.names) | {"score"} | set(tc.ctx.params)
    fields = set.intersection(*(set(fields_of(ev)) for ev in on)) if on else set()
    known |= fields
    dotted = {f"player.{p}" for p in PROFILE}
    for step, event in tc.step_events.items():
        dotted |= {f"{step}.{f}" for f in fields_of(event)}
    line, first = rule.reason.span.line, rule.reason.span.col + 1

    def column(i: int) -> int:
        return first + len(format_string(text[:i])) - 2

    for m in PLACEHOLDER.finditer(text):
        name = m.group(1)
        if name is None:
            continue
        name = name.strip()
        col = column(m.start())
        span = ast.Span(line, col, line, column(m.end()))
        if not name:
            tc.rep.error(
                Code.UNKNOWN_PLACEHOLDER,
                "an empty `{}` in a reason; name a value, e.g. {count}",
                span,
            )
        elif name in tc.expl.ambiguous:
            tc.rep.error(
                Code.AMBIGUOUS_PLACEHOLDER,
                f"`{{{name}}}` could be any of the rule's {name}(…) aggregates; name the "
                f"one you mean with `as`, e.g. {name}(… over 24h) as n_{name}",
                span,
            )
        elif name not in known and name not in dotted:
            tc.rep.unknown(Code.UNKNOWN_PLACEHOLDER, "value in reason", name, span, known | dotted)
    for m in _LONE_BRACE.finditer(PLACEHOLDER.sub(lambda m: "_" * len(m[0]), text)):
        col = column(m.start())
        tc.rep.error(
            Code.UNKNOWN_PLACEHOLDER,
            f"a lone `{m[0]}` in a reason; write `{m[0] * 2}` for the brace itself",
            ast.Span(line, col, line, col + 1),
        )
