"""State shared by the check passes: the policy, its symbols, per-market values, and the
reporter that collects issues (capped, de-duplicated across markets)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dsl import ast
from dsl.diagnostics import suggest
from dsl.errors import Code, Issue, Location, Severity
from dsl.types import Type
from dsl.values import Value
from dsl.vocabulary import MARKETS

MAX_ERRORS = 100


class TooManyProblems(Exception):  # noqa: N818 — control flow, caught by the pass runner
    pass


class Reporter:
    """Collects issues. While a market is set, issues are tagged with it, and identical
    issues found for several markets are merged into one that names them."""

    def __init__(self, path: str, max_errors: int = MAX_ERRORS) -> None:
        self.path = path
        self.max_errors = max_errors
        self.market: str | None = None
        self._issues: dict[tuple[Code, int, int, str], Issue] = {}
        self._errors = 0

    def report(
        self,
        code: Code,
        message: str,
        span: ast.Span,
        *,
        severity: Severity = Severity.ERROR,
        hint: str | None = None,
    ) -> None:
        key = (code, span.line, span.col, message)
        known = self._issues.get(key)
        if known is not None:
            if self.market and known.markets and self.market not in known.markets:
                self._issues[key] = known.with_markets((*known.markets, self.market))
            return
        if severity is Severity.ERROR:
            if self._errors >= self.max_errors:
                self._issues[(Code.TOO_MANY_PROBLEMS, 0, 0, "")] = Issue(
                    Code.TOO_MANY_PROBLEMS,
                    Severity.ERROR,
                    f"more than {self.max_errors} errors; stopped checking",
                    Location(self.path, ast.Span(span.line, span.col, span.line, span.col)),
                )
                raise TooManyProblems
            self._errors += 1
        markets = (self.market,) if self.market else ()
        self._issues[key] = Issue(
            code, severity, message, Location(self.path, span), hint=hint, markets=markets
        )

    def error(self, code: Code, message: str, span: ast.Span, hint: str | None = None) -> None:
        self.report(code, message, span, hint=hint)

    def warning(self, code: Code, message: str, span: ast.Span, hint: str | None = None) -> None:
        self.report(code, message, span, severity=Severity.WARNING, hint=hint)

    def unknown(
        self, code: Code, what: str, name: str, span: ast.Span, known: Iterable[str]
    ) -> None:
        """An unknown name, with the nearest known one as "did you mean"."""
        guess = suggest(name, set(known))
        self.error(code, f"unknown {what} `{name}`", span, hint=guess)

    def issues(self, all_markets: Iterable[str]) -> list[Issue]:
        everywhere = set(all_markets)
        out = []
        for issue in self._issues.values():
            if issue.markets and set(issue.markets) >= everywhere:
                issue = issue.with_markets(())
            out.append(issue)
        return sorted(out, key=Issue.sort_key)

    @property
    def error_count(self) -> int:
        return self._errors


@dataclass
class Explanation:
    """The values a rule reports when it fires, by name (`count`, `total`, …)."""

    names: dict[str, Type] = field(default_factory=dict)
    ambiguous: set[str] = field(default_factory=set)
    # name → the aggregate node that gave it; a define used twice is the same node.
    sources: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, t: Type, node: object, *, explicit: bool) -> bool:
        """Record a value; False if an explicit name is already taken by another one."""
        known = self.sources.get(name)
        if known is not None and known != id(node):
            if explicit:
                return False
            self.ambiguous.add(name)
        self.names[name] = t
        self.sources[name] = id(node)
        return True


@dataclass
class CheckContext:
    policy: ast.Policy
    path: str
    reporter: Reporter
    base_dir: Path | None = None
    # Filled by the declaration passes, read by the later ones.
    markets: tuple[str, ...] = ()
    params: dict[str, ast.Param] = field(default_factory=dict)
    param_types: dict[str, Type] = field(default_factory=dict)
    lists: dict[str, ast.ListDecl] = field(default_factory=dict)
    list_values: dict[str, tuple[Type, tuple[Value, ...]]] = field(default_factory=dict)
    defines: dict[str, ast.Define] = field(default_factory=dict)
    rules: dict[str, ast.Rule] = field(default_factory=dict)
    overrides: dict[str, dict[str, ast.Override]] = field(default_factory=dict)
    market_blocks: dict[str, ast.MarketBlock] = field(default_factory=dict)
    # rules whose expressions had type errors: later passes leave them alone
    broken_rules: set[str] = field(default_factory=set)
    # market → param → value in force there (missing where the value had an error)
    values: dict[str, dict[str, Value]] = field(default_factory=dict)
    recursive_defines: set[str] = field(default_factory=set)
    explanations: dict[str, Explanation] = field(default_factory=dict)
    # rule → market → score
    scores: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def base_currency(self) -> dict[str, str]:
        return {m: MARKETS[m].currency for m in self.markets}
