"""Small helpers that turn types and nodes into the words and spans of a message."""

from __future__ import annotations

from dsl import ast
from dsl.types import Kind, Type


def plural(t: Type) -> str:
    """`country` → "country codes", for "holds …" messages."""
    return {
        Kind.INT: "whole numbers",
        Kind.FLOAT: "numbers",
        Kind.STRING: "strings",
        Kind.COUNTRY: "country codes",
        Kind.MONEY: "amounts of money",
        Kind.DURATION: "durations",
        Kind.BOOL: "true/false values",
        Kind.TIME: "times",
    }.get(t.kind, f"{t} values")


def events_phrase(events: list[str] | tuple[str, ...]) -> str:
    if not events:
        return ""
    if len(events) == 1:
        return events[0]
    return ", ".join(events[:-1]) + " and " + events[-1]


def name_span(node: ast.Attr) -> ast.Span:
    """The span of `name` in `base.name`."""
    s = node.span
    return ast.Span(s.end_line, s.end_col - len(node.name), s.end_line, s.end_col)


def base_span(node: ast.Expr) -> ast.Span:
    """The span of `base` in `base.name` (or the whole node for a bare name)."""
    if isinstance(node, ast.Attr):
        s = node.span
        return ast.Span(s.line, s.col, s.line, s.col + len(node.base))
    return node.span
