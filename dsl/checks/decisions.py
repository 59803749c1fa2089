"""The `decide` block: bands from the highest score down, harsher actions for higher
scores, and no band beyond what the live rules can add up to."""

from __future__ import annotations

from itertools import pairwise

from dsl import ast
from dsl.checks.context import CheckContext
from dsl.checks.typing import TypeChecker
from dsl.errors import Code
from dsl.format import format_expr
from dsl.types import INT
from dsl.vocabulary import ACTIONS


def _severity(action: ast.Ident) -> int | None:
    return ACTIONS.index(action.name) if action.name in ACTIONS else None


def check_decide(ctx: CheckContext) -> None:
    decide = ctx.policy.decide
    if decide is None:
        return
    rep = ctx.reporter
    for band in decide.bands:
        if band.op not in (">=", ">"):
            rep.error(
                Code.TYPE_MISMATCH,
                f"a band reads `score >= N -> action`; `{band.op}` is not allowed there",
                band.span,
            )
        if band.action.name not in ACTIONS:
            rep.unknown(Code.UNKNOWN_ACTION, "action", band.action.name, band.action.span, ACTIONS)
    if decide.otherwise is not None and decide.otherwise.name not in ACTIONS:
        rep.unknown(
            Code.UNKNOWN_ACTION, "action", decide.otherwise.name, decide.otherwise.span, ACTIONS
        )
    for market in ctx.markets:
        rep.market = market
        _check_market(ctx, decide, market)
    rep.market = None


def _check_market(ctx: CheckContext, decide: ast.Decide, market: str) -> None:
    rep = ctx.reporter
    checker = TypeChecker(ctx, market)
    # A strict `>` band at N is the same cut as `>=` at N + 1 (scores are whole numbers).
    cuts: list[tuple[ast.Band, int]] = []
    for band in decide.bands:
        value = checker.constant(band.threshold, "a band's threshold", INT)
        if isinstance(value, int) and not isinstance(value, bool):
            cuts.append((band, value + (1 if band.op == ">" else 0)))
    for (above, cut_above), (below, cut_below) in pairwise(cuts):
        if cut_below >= cut_above:
            rep.error(
                Code.BANDS_NOT_MONOTONIC,
                f"bands go from the highest score down: `score {below.op} "
                f"{format_expr(below.threshold)}` comes after `score {above.op} "
                f"{format_expr(above.threshold)}`, so it would never be chosen",
                below.span,
            )
            continue
        sa, sb = _severity(above.action), _severity(below.action)
        if sa is not None and sb is not None and sb > sa:
            rep.error(
                Code.BANDS_NOT_MONOTONIC,
                f"a lower score cannot get a harsher action: `{below.action.name}` at "
                f"{format_expr(below.threshold)} is harsher than `{above.action.name}` at "
                f"{format_expr(above.threshold)}",
                below.action.span,
            )
    if cuts and decide.otherwise is not None:
        last = cuts[-1][0]
        sl, so = _severity(last.action), _severity(decide.otherwise)
        if sl is not None and so is not None and so > sl:
            rep.error(
                Code.BANDS_NOT_MONOTONIC,
                f"`else {decide.otherwise.name}` is harsher than the lowest band's "
                f"`{last.action.name}`",
                decide.otherwise.span,
            )
    live_total = sum(
        max(0, ctx.scores.get(name, {}).get(market, 0))
        for name, rule in ctx.rules.items()
        if rule.mode is None or rule.mode.name != "shadow"
    )
    for band, cut in cuts:
        if cut > live_total:
            rep.warning(
                Code.UNREACHABLE_BAND,
                f"no combination of live rules reaches a score of {cut}: together they "
                f"score at most {live_total}",
                band.threshold.span,
            )
