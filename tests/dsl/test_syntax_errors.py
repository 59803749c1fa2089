"""Bad policy text gives one located `PolicySyntaxError` issue with a stable code, a clear
message and, for keyword typos, a hint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsl.diagnostics import suggest
from dsl.errors import Code, Issue, PolicySyntaxError, Severity
from dsl.parser import SYNTAX_LABELS, parse, parse_expr

REPO = Path(__file__).resolve().parents[2]

P = "policy p version 1\n"


def first_issue(text: str) -> Issue:
    with pytest.raises(PolicySyntaxError) as info:
        parse(text, "bad.pol")
    issues = info.value.issues
    assert issues, "a syntax error carries at least one issue"
    issue = issues[0]
    assert issue.severity is Severity.ERROR
    assert issue.location.path == "bad.pol"
    return issue


# ---- every known mistake gets its own label --------------------------------------------

LABELLED = [
    pytest.param(label, example, id=f"label{i}-ex{j}")
    for i, (label, examples) in enumerate(SYNTAX_LABELS.items())
    for j, example in enumerate(examples)
]


def test_labels_have_examples() -> None:
    assert SYNTAX_LABELS
    assert all(examples for examples in SYNTAX_LABELS.values())


@pytest.mark.parametrize(("label", "example"), LABELLED)
def test_each_label_example_yields_its_own_label(label: str, example: str) -> None:
    issue = first_issue(example)
    assert issue.code is Code.SYNTAX
    assert issue.message.startswith(f"{label} (found `")
    # exactly this label, not another one whose text happens to share a prefix
    others = [other for other in SYNTAX_LABELS if other != label]
    assert not any(issue.message.startswith(f"{other} (found") for other in others)
    # and the position is that of the token it quotes
    found = issue.message[len(label) + len(" (found `") : -len("`)")]
    line = example.splitlines()[issue.location.line - 1]
    assert line[issue.location.col - 1 :].startswith(found)
    assert issue.location.span.end_col - issue.location.col == len(found)


# Labelled mistakes (the label examples and more) with the exact position of the token.
POSITIONED = [
    (P + "param x = 5", 2, 9, "a param needs a type"),
    (P + "rule r { on deposit when amount = 5 }", 2, 33, "use `==` to compare"),
    (P + "define x = amount = 5", 2, 19, "use `==` to compare"),
    (P + "rule r { on deposit where amount = 5 }", 2, 34, "use `==` to compare"),
    (P + "decide { score >= 100 block }", 2, 23, "a decision band reads"),
    (P + 'rule "x" {', 2, 6, "a rule's name comes before its description"),
    (P + 'test "t" { at 10 deposit }', 2, 15, "a test event starts with a time with a unit"),
    (P + 'test "t" { deposit amount=5 EUR }', 2, 12, "a test event starts with a time"),
    (P + 'test "t" { expect r fire }', 2, 21, "an expectation reads"),
    (P + 'test "t" { expect r }', 2, 21, "an expectation reads"),
    (P + 'test "t" { expect r does fire }', 2, 26, "an expectation reads"),
    (P + "define x = count(deposit over 24h where amount > 5)", 2, 35, "`where` comes first"),
    (P + "define x = count(deposit by device where amount > 5)", 2, 36, "`where` comes first"),
    (P + "define x = count(deposit over 24h by device)", 2, 35, "`where` comes first"),
    (
        P + "rule r { on deposit when count(deposit over 24h where amount > 5) > 1 }",
        2,
        49,
        "`where` comes first",
    ),
    (
        P + "rule r { on deposit when count(deposit by device where amount > 5) > 1 }",
        2,
        50,
        "`where` comes first",
    ),
    (
        P + "rule r { on deposit when count(deposit over 24h by device) > 1 }",
        2,
        49,
        "`where` comes first",
    ),
    (P + "param x: money = 2000 eur", 2, 23, "upper-case ISO currency code"),
    (P + "market UKGC { x: 5 }", 2, 16, "lists overrides as `name = value`"),
    # the labels apply to other text that fails in the same parser state
    (P + "rule r {\n  on withdrawal\n  when amount = 10 EUR\n}", 4, 15, "use `==` to compare"),
    (P + "param limit = 2000 EUR", 2, 13, "a param needs a type"),
    (P + "decide {\n  score >= 50 review\n}", 3, 15, "a decision band reads"),
    (P + "param y: money = 10 usd", 2, 21, "upper-case ISO currency code"),
]


@pytest.mark.parametrize(("text", "line", "col", "fragment"), POSITIONED)
def test_labelled_mistake_position(text: str, line: int, col: int, fragment: str) -> None:
    issue = first_issue(text)
    assert (issue.code, issue.location.line, issue.location.col) == (Code.SYNTAX, line, col)
    assert fragment in issue.message


# ---- keyword typos ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment", "hint"),
    [
        (P + "rule r { on deposit whn amount > 5 }", 2, 21, "unexpected `whn`", "when"),
        (P + "rule r { on deposit sevrity high }", 2, 21, "unexpected `sevrity`", "severity"),
        (P + "rul r { }", 2, 1, "unexpected `rul`", "rule"),
        (P + "rule r {\n  on deposit\n  acton review\n}", 4, 3, "unexpected `acton`", "action"),
        (P + "rule r { on deposit exept x }", 2, 21, "unexpected `exept`", "except"),
        (P + "defne x = 1", 2, 1, "unexpected `defne`", "define"),
        ("policy p vesion 1", 1, 10, "unexpected `vesion`", "version"),
        (P + "rule r { on deposit WHEN x }", 2, 21, "unexpected `WHEN`", "when"),
        (P + "Rule r { }", 2, 1, "unexpected `Rule`", "rule"),
    ],
)
def test_keyword_typo_gets_a_hint(text: str, line: int, col: int, fragment: str, hint: str) -> None:
    issue = first_issue(text)
    assert (issue.code, issue.location.line, issue.location.col) == (Code.SYNTAX, line, col)
    assert fragment in issue.message
    assert issue.hint == hint


@pytest.mark.parametrize(
    ("word", "pool", "expected"),
    [
        ("whn", ["when", "on", "where"], "when"),
        ("sevrity", ["severity", "score"], "severity"),
        ("Rule", ["rule", "param"], "rule"),
        ("banana", ["when", "score"], None),
        ("when", ["when"], None),
    ],
)
def test_suggest(word: str, pool: list[str], expected: str | None) -> None:
    assert suggest(word, pool) == expected


def test_suggest_finds_case_only_typo_among_ties() -> None:
    assert suggest("WHEN", ["on", "when"]) == "when"


def test_suggest_does_not_depend_on_candidate_order() -> None:
    assert suggest("wher", ["when", "where"]) == suggest("wher", ["where", "when"])


HINT_SCRIPT = """
from dsl.errors import PolicySyntaxError
from dsl.parser import parse
for text in ["rule r { on deposit wher x > 1 }", "rule r { on deposit WHEN x }"]:
    try:
        parse("policy p version 1\\n" + text)
    except PolicySyntaxError as exc:
        print(exc.issues[0].hint)
"""


def test_hints_are_the_same_in_every_run() -> None:
    outputs = set()
    for seed in ("0", "1", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", HINT_SCRIPT],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(run.stdout)
    assert len(outputs) == 1
    tie, case_only = outputs.pop().split()
    assert tie in {"when", "where"}
    assert case_only == "when"


def test_far_off_word_gets_no_hint() -> None:
    issue = first_issue(P + "rule r { on deposit banana x }")
    assert issue.code is Code.SYNTAX
    assert issue.hint is None


@pytest.mark.parametrize(
    ("text", "line", "col", "hint"),
    [
        (P + "definex = 5", 2, 1, "define"),
        (P + "rule r { on deposit whenever > 5 }", 2, 21, "when"),
        (P + "rules r { }", 2, 1, "rule"),
        ("policy p versions 1", 1, 10, "version"),
        (P + 'test "t" { expect r firesx }', 2, 21, "fires"),
    ],
)
def test_word_starting_with_a_keyword_is_reported_whole(
    text: str, line: int, col: int, hint: str
) -> None:
    """`definex` is one unexpected word, not `define` + `x`."""
    issue = first_issue(text)
    assert (issue.code, issue.location.line, issue.location.col) == (Code.SYNTAX, line, col)
    word = text.splitlines()[line - 1][col - 1 :].split()[0]
    assert f"`{word}`" in issue.message
    assert issue.hint == hint


# ---- characters that are not part of the language --------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        (P + "rule r { on deposit when a > 1 && b > 2 }", 2, 32, "join conditions with `and`"),
        (P + "rule r { on deposit when a > 1 || b > 2 }", 2, 32, "join conditions with `and`"),
        (P + "define x = a & b", 2, 14, "`&` is not an operator here"),
        (P + "define x = a |\n b", 2, 14, "`|` is not an operator here"),
        (P + "rule r { on deposit when a == 'x' }", 2, 31, "strings use double quotes"),
        (P + "param s: string = 'abc'", 2, 19, "strings use double quotes"),
        (P + "define x = @", 2, 12, "unexpected character `@`"),
        (P + "define x = a % b", 2, 14, "unexpected character `%`"),
    ],
)
def test_unexpected_character(text: str, line: int, col: int, fragment: str) -> None:
    issue = first_issue(text)
    assert issue.code is Code.UNEXPECTED_CHAR
    assert (issue.location.line, issue.location.col) == (line, col)
    assert fragment in issue.message


def test_unexpected_character_span_is_one_char() -> None:
    issue = first_issue(P + "define x = a && b")
    span = issue.location.span
    assert (span.line, span.col, span.end_line, span.end_col) == (2, 14, 2, 15)


# ---- unexpected end of file ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        ("", 1, 1, "`policy`"),
        ("policy", 1, 7, "a name"),
        ("policy p", 1, 9, "`version`"),
        ("policy p version", 1, 17, "a number"),
        (P + "rule r {", 2, 9, "`}`"),
        (P + "rule r {\n  on deposit when a > 5\n\n\n", 3, 24, "`}`"),
        (P + "rule r { on deposit when a > ", 2, 29, "a name"),
        (P + "define x = (1 + 2", 2, 18, "`)`"),
        (P + 'test "t" {\n  at 0s e\n  expect', 4, 9, "`decision`"),
        (P + "decide {\n  score >= 5 -> block # done\n", 3, 29, "`}`"),
    ],
)
def test_unexpected_end(text: str, line: int, col: int, fragment: str) -> None:
    issue = first_issue(text)
    assert issue.code is Code.UNEXPECTED_END
    assert (issue.location.line, issue.location.col) == (line, col)
    assert issue.message.startswith("the file ends too early; expected ")
    assert fragment in issue.message


# ---- structural mistakes found while building the tree ---------------------------------


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        (P + "rule r { on deposit score 5 score 6 }", 2, 29, "second `score` clause"),
        (P + "rule r {\n  on a\n  on b\n}", 4, 3, "second `on` clause"),
        (P + "rule r { when x except y except z }", 2, 26, "second `except` clause"),
        (P + 'rule r { reason "a" reason "b" }', 2, 21, "second `reason` clause"),
        (P + "rule r { mode a mode b }", 2, 17, "second `mode` clause"),
        (P + "decide { else a }\ndecide { else b }", 3, 1, "one `decide` block"),
    ],
)
def test_duplicate_clause(text: str, line: int, col: int, fragment: str) -> None:
    issue = first_issue(text)
    assert issue.code is Code.DUPLICATE_CLAUSE
    assert (issue.location.line, issue.location.col) == (line, col)
    assert fragment in issue.message


def test_every_duplicate_clause_is_reported() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse(P + "rule r { on a on b when x when y except z except w }")
    found = [(i.code, i.location.col, i.message) for i in info.value.issues]
    assert [(code, col) for code, col, _ in found] == [
        (Code.DUPLICATE_CLAUSE, 15),
        (Code.DUPLICATE_CLAUSE, 27),
        (Code.DUPLICATE_CLAUSE, 43),
    ]
    assert "rule `r`" in found[0][2]


@pytest.mark.parametrize(
    ("text", "col", "fragment"),
    [
        ("policy p version 1.5\n", 18, "not 1.5"),
        ('policy p version 2.0 "d"', 18, "not 2.0"),
    ],
)
def test_fractional_version(text: str, col: int, fragment: str) -> None:
    issue = first_issue(text)
    assert issue.code is Code.BAD_NUMBER
    assert (issue.location.line, issue.location.col) == (1, col)
    assert "whole number" in issue.message
    assert fragment in issue.message


@pytest.mark.parametrize(
    ("text", "line", "col", "escape"),
    [
        (P + 'define x = "ab\\qc"', 2, 15, "\\q"),
        (P + 'rule r { reason "a\\x" }', 2, 19, "\\x"),
        ('policy p version 1 "\\d"', 1, 21, "\\d"),
        (P + 'test "t\\0" { }', 2, 8, "\\0"),
        (P + 'test "t" start "\\r" { }', 2, 17, "\\r"),
        (P + 'list l = file "a\\\\b\\c"', 2, 20, "\\c"),
        (P + 'define x = ["ok", "a\\n\\"\\t\\\\\\ b"]', 2, 29, "\\ "),
        (P + 'test "t" {\n  at 0s e f="\\u00e9"\n}', 3, 14, "\\u"),
    ],
)
def test_bad_string_escape_points_at_the_backslash(
    text: str, line: int, col: int, escape: str
) -> None:
    issue = first_issue(text)
    assert issue.code is Code.BAD_STRING
    span = issue.location.span
    assert (span.line, span.col, span.end_line, span.end_col) == (line, col, line, col + 2)
    assert f"unknown escape `{escape}`" in issue.message


# ---- other syntax errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        (P + "define x = a == b == c", 2, 19, "unexpected `==`"),
        (P + "define x = 5 eur", 2, 14, "unexpected `eur`"),
        (P + "define x = f(a,)", 2, 16, "unexpected `)`"),
        (P + "define x = sequence { }", 2, 23, "unexpected `}`"),
        ("rule r { }", 1, 1, "unexpected `rule`"),
        (P + "policy q version 2", 2, 1, "unexpected `policy`"),
        (P + "decide { else allow; score >= 1 -> block }", 2, 22, "unexpected `score`"),
    ],
)
def test_other_syntax_errors(text: str, line: int, col: int, fragment: str) -> None:
    issue = first_issue(text)
    assert issue.code is Code.SYNTAX
    assert (issue.location.line, issue.location.col) == (line, col)
    assert fragment in issue.message


@pytest.mark.parametrize(
    ("text", "code", "col"),
    [
        ("a +", Code.UNEXPECTED_END, 4),
        ("a && b", Code.UNEXPECTED_CHAR, 3),
        ("a b", Code.SYNTAX, 3),
        ('"a\\q"', Code.BAD_STRING, 3),
    ],
)
def test_expression_errors_are_located_within_the_expression(
    text: str, code: Code, col: int
) -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_expr(text)
    issue = info.value.issues[0]
    assert (issue.code, issue.location.line, issue.location.col) == (code, 1, col)


def test_error_summary_names_file_line_col_and_code() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse(P + "rule r { on deposit whn x }", "policies/aml.pol")
    assert str(info.value).startswith("policies/aml.pol:2:21: PB100 unexpected `whn`")
