"""Formatting never changes a policy's meaning: `parse(format_policy(p)) == p` for random
trees, and formatting is a fixed point. Real policy files round-trip too."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from dsl import ast
from dsl.format import format_expr, format_policy
from dsl.parser import parse, parse_expr
from tests.dsl.strategies import KEYWORDS, exprs, policies

REPO = Path(__file__).resolve().parents[2]
POLICY_FILES = sorted(REPO.joinpath("policies").rglob("*.pol"))


# ---- properties ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(policies)
def test_parse_of_format_is_identity(p: ast.Policy) -> None:
    assert parse(format_policy(p)) == p


@settings(max_examples=200, deadline=None)
@given(policies)
def test_format_is_a_fixed_point(p: ast.Policy) -> None:
    text = format_policy(p)
    assert format_policy(parse(text)) == text


@settings(max_examples=200, deadline=None)
@given(exprs)
def test_expression_round_trip(e: ast.Expr) -> None:
    assert parse_expr(format_expr(e)) == e


def test_keywords_are_collected_from_the_grammar() -> None:
    assert {"policy", "rule", "when", "and", "or", "not", "in", "where", "by", "over"} <= KEYWORDS
    assert {"as", "sequence", "within", "true", "false", "expect", "decision"} <= KEYWORDS
    assert all(k.isidentifier() for k in KEYWORDS)
    assert "NAME" not in KEYWORDS


# ---- policy files ----------------------------------------------------------------------

EXAMPLE = """\
policy aml_core version 3 for MGA, UKGC, CW "Core AML rules"
param large_deposit: money = 2000 EUR
param structuring_n: int = 5
param risky: list of country = ["RU", "KP"]
market UKGC { large_deposit = 1500 GBP; structuring_n = 4 }
list high_risk_asn: int = file "lists/high_risk_asn.txt"
list methods = ["crypto", "voucher"]
define little_play = sum(bet.amount over 24h) < 0.2 * sum(deposit.amount over 24h)

rule structuring "many small deposits in a short period" {
  on deposit where status == "approved"
  when count(deposit where amount < 1000 EUR over 24h) >= structuring_n
   and sum(deposit.amount over 24h) as total >= large_deposit
  except player.kyc_level >= 3 or not present(card_country)
  score 40  severity high  action review
  reason "{count} deposits under 1000 EUR in 24h, {total} in total"
}
rule pass_through {
  on withdrawal
  when sequence within 24h {
    d: deposit where amount >= large_deposit
    !bet where sum(amount) >= 0.2 * d.amount      # absence step
    withdrawal where amount >= 0.8 * d.amount within 10m
  }
  score 60  action hold_payment mode shadow family aml
}
rule shared_device { on login  when distinct(player by device over 7d) >= 3  score 50 }
decide { score >= 100 -> block; score >= 50 -> review; score >= 30 -> limit; else allow }
test "four small deposits fire structuring in UKGC" market UKGC start "2026-01-01T22:00:00Z" {
  at 0m deposit amount=900 GBP
  at 1h30m deposit amount=900 GBP player_id="p2" ip_country="GB"
  expect structuring fires
  expect structuring does not fire
  expect structuring never fires
  expect decision review
  expect score >= 40
  expect structuring.count == 4
}
"""


def assert_source_round_trips(text: str) -> None:
    tree = parse(text)
    formatted = format_policy(tree)
    assert parse(formatted) == tree
    assert format_policy(parse(formatted)) == formatted


def test_example_policy_round_trips() -> None:
    assert_source_round_trips(EXAMPLE)


def test_example_policy_keeps_author_durations() -> None:
    formatted = format_policy(parse(EXAMPLE))
    assert "over 24h" in formatted
    assert "within 10m" in formatted
    assert "at 1h30m deposit" in formatted


@pytest.mark.parametrize("path", POLICY_FILES, ids=[str(p.relative_to(REPO)) for p in POLICY_FILES])
def test_policy_file_round_trips(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tree = parse(text, str(path))
    assert parse(format_policy(tree)) == tree


@pytest.mark.parametrize(
    "src",
    [
        'rule r { on deposit where market == "MGA" when score > 1 and mode != "x" }',
        "define x = player.market + d.score\ndefine y = count(e by market) as score",
        'test "t" { at 0s deposit market="MGA" amount=5 }',
        "define x = f(a, (where))",
        "define s = sequence { a where (5) b within (1) c: !d }",
        "market M { a = 1 b = 2; c = 3 }\ndecide { else -> allow }",
    ],
)
def test_hand_written_sources_round_trip(src: str) -> None:
    assert_source_round_trips("policy p version 1\n" + src)


# ---- known formatter/lexer bugs --------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        # `sequence { a within 0 B }` reads back as `within 0 B` (money), one step
        ast.Sequence((ast.Step(ast.Ident("a"), within=ast.Number(0)), ast.Step(ast.Ident("B")))),
        # `sequence { a where x > 5 D: c }` fails to parse
        ast.Sequence(
            (
                ast.Step(ast.Ident("a"), where=ast.Compare(">", ast.Name("x"), ast.Number(5))),
                ast.Step(ast.Ident("c"), name=ast.Ident("D")),
            )
        ),
    ],
)
def test_upper_case_step_after_a_number_round_trips(expr: ast.Expr) -> None:
    assert parse_expr(format_expr(expr)) == expr


@pytest.mark.parametrize(
    "src",
    [
        "define s = sequence { a within (0) B }",
        'test "t" { at 0s e a=(5) B=1 }',
    ],
)
def test_upper_case_name_after_a_number_source_round_trips(src: str) -> None:
    assert_source_round_trips("policy p version 1\n" + src)


@pytest.mark.parametrize("word", ["by", "over", "where", "within"])
def test_clause_keyword_as_first_argument_round_trips(word: str) -> None:
    assert_source_round_trips(f"policy p version 1\ndefine x = f(({word}))")
