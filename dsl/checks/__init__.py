"""Semantic checks: an ordered list of named passes over a parsed policy.

Each pass reads what earlier passes established (symbols, per-market values, types) and
reports issues; a pass never stops the run, so an author sees every problem at once, up to
a cap. Error recovery (the UNKNOWN type) keeps one mistake from being reported many times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dsl import ast
from dsl.checks.context import CheckContext, Explanation, Reporter, TooManyProblems
from dsl.checks.decisions import check_decide
from dsl.checks.declarations import (
    check_define_cycles,
    check_markets,
    check_names,
    check_overrides,
    check_param_types,
    check_rule_clauses,
    check_unused_defines,
)
from dsl.checks.reachability import check_reachability
from dsl.checks.timelines import check_tests
from dsl.checks.typing import check_expressions
from dsl.checks.values import check_lists, check_literals, check_params
from dsl.errors import Issue
from dsl.values import Value

Pass = Callable[[CheckContext], None]

PASSES: tuple[tuple[str, Pass], ...] = (
    ("markets", check_markets),
    ("names", check_names),
    ("param-types", check_param_types),
    ("overrides", check_overrides),
    ("rule-clauses", check_rule_clauses),
    ("define-cycles", check_define_cycles),
    ("unused-defines", check_unused_defines),
    ("literals", check_literals),
    ("lists", check_lists),
    ("params", check_params),
    ("expressions", check_expressions),
    ("decide", check_decide),
    ("reachability", check_reachability),
    ("tests", check_tests),
)


@dataclass(frozen=True)
class CheckResult:
    """A checked policy: its tree, problems, and what the compiler needs per market."""

    policy: ast.Policy
    path: str
    issues: tuple[Issue, ...]
    markets: tuple[str, ...]
    values: dict[str, dict[str, Value]]
    lists: dict[str, tuple[Value, ...]]
    scores: dict[str, dict[str, int]]
    explanations: dict[str, Explanation]

    @property
    def ok(self) -> bool:
        return not any(i.is_error for i in self.issues)


def check(policy: ast.Policy, path: str, base_dir: Path | None = None) -> CheckResult:
    """Run every pass over `policy`; list files are read relative to `base_dir`."""
    ctx = CheckContext(policy=policy, path=path, reporter=Reporter(path), base_dir=base_dir)
    for _name, run in PASSES:
        try:
            run(ctx)
        except TooManyProblems:
            break
        finally:
            ctx.reporter.market = None
    return CheckResult(
        policy=policy,
        path=path,
        issues=tuple(ctx.reporter.issues(ctx.markets)),
        markets=ctx.markets,
        values=ctx.values,
        lists={name: items for name, (_, items) in ctx.list_values.items()},
        scores=ctx.scores,
        explanations=ctx.explanations,
    )
