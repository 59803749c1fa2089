"""`dsl.render`: the `path:line:col: severity CODE message` head, the source line, and a
caret with tildes under exactly the span, plus "did you mean" and the markets."""

from __future__ import annotations

import re

import pytest

import dsl
from dsl import Code, Issue, Location, Severity
from dsl.ast import Span

H = "policy p version 1 for MGA\n"
HEAD = re.compile(
    r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning) "
    r"(?P<code>PB\d{3}) (?P<message>.+)$"
)


def issues_of(text: str) -> tuple[Issue, ...]:
    try:
        return dsl.check_source(text, "p.pol").issues
    except dsl.PolicySyntaxError as exc:
        return exc.issues


def only(issues: tuple[Issue, ...], code: Code) -> Issue:
    (issue,) = [i for i in issues if i.code is code]
    return issue


def make(
    span: Span,
    *,
    message: str = "something is wrong",
    hint: str | None = None,
    markets: tuple[str, ...] = (),
    severity: Severity = Severity.ERROR,
) -> Issue:
    return Issue(
        Code.TYPE_MISMATCH, severity, message, Location("p.pol", span), hint=hint, markets=markets
    )


def test_unknown_field_renders_head_line_caret_and_hint() -> None:
    text = H + "rule r { on deposit when amout > 5 EUR score 10 }\n"
    issue = only(issues_of(text), Code.UNKNOWN_FIELD)
    assert dsl.render(issue, text) == (
        "p.pol:2:26: error PB202 unknown field or name `amout`; did you mean `amount`?\n"
        "    rule r { on deposit when amout > 5 EUR score 10 }\n"
        "                             ^~~~~"
    )


def test_warning_renders_with_its_severity() -> None:
    text = H + "rule shared { on login when count(login over 1h) >= 0 score 10 }\n"
    issue = only(issues_of(text), Code.ALWAYS_TRUE)
    head, line, caret = dsl.render(issue, text).split("\n")
    assert head == (
        "p.pol:2:29: warning PB505 `count(login over 1h) >= 0` is always true "
        "(the left side is never below 0), so it filters nothing"
    )
    assert line == "    rule shared { on login when count(login over 1h) >= 0 score 10 }"
    assert caret == "    " + " " * 28 + "^" + "~" * 24


def test_markets_are_named_after_the_message() -> None:
    text = "policy p version 1 for MGA, UKGC\nrule r { on deposit when amount > 5 EUR score 10 }\n"
    issue = only(issues_of(text), Code.CURRENCY_MISMATCH)
    head = dsl.render(issue, text).split("\n")[0]
    assert head.startswith("p.pol:2:26: error PB302 `amount` is in GBP but `5 EUR` is in EUR")
    assert head.endswith("convert with fx(…) (in UKGC)")


def test_hint_comes_before_markets_and_loses_its_backticks() -> None:
    issue = make(Span(1, 1, 1, 4), message="bad", hint="`amount`", markets=("UKGC", "CW"))
    assert dsl.render(issue, None) == (
        "p.pol:1:1: error PB300 bad; did you mean `amount`? (in UKGC, CW)"
    )


def test_country_hint_renders_as_in_the_docs() -> None:
    # docs/policy-language.md §3: `"mt"` is PB304 with "did you mean `MT`?".
    text = H + 'list cs: country = ["mt"]\nrule r { on deposit when ip_country in cs score 10 }\n'
    issue = only(issues_of(text), Code.INVALID_COUNTRY)
    head, line, caret = dsl.render(issue, text).split("\n")
    assert head == (
        'p.pol:2:21: error PB304 "mt" is not an ISO 3166 country code (two capital letters, '
        'e.g. "MT"); did you mean `MT`?'
    )
    assert line == '    list cs: country = ["mt"]'
    assert caret == "    " + " " * 20 + "^~~~"


def test_without_source_only_the_head_is_rendered() -> None:
    text = H + "rule r { on deposit when amout > 5 EUR score 10 }\n"
    issue = only(issues_of(text), Code.UNKNOWN_FIELD)
    rendered = dsl.render(issue, None)
    assert "\n" not in rendered
    assert rendered.startswith("p.pol:2:26: error PB202 unknown field or name `amout`")


@pytest.mark.parametrize("line", [0, 3, 99])
def test_a_line_outside_the_source_renders_only_the_head(line: int) -> None:
    rendered = dsl.render(make(Span(line, 1, line, 2)), "one\ntwo\n")
    assert rendered == f"p.pol:{line}:1: error PB300 something is wrong"


def test_a_span_over_several_lines_is_underlined_to_the_end_of_its_first() -> None:
    text = H + "rule r { on withdrawal when sequence {\n  deposit\n  withdrawal } score 10 }\n"
    issue = only(issues_of(text), Code.SEQUENCE_WITHOUT_WINDOW)
    assert (issue.location.span.line, issue.location.span.end_line) == (2, 4)
    _, line, caret = dsl.render(issue, text).split("\n")
    assert line == "    rule r { on withdrawal when sequence {"
    assert caret == "    " + " " * 28 + "^" + "~" * 9  # `sequence {` to the end of the line


def test_a_span_past_the_end_of_its_line_is_clipped() -> None:
    rendered = dsl.render(make(Span(1, 3, 1, 40)), "abcdef\n")
    assert rendered.split("\n")[2] == "      ^~~~"


def test_an_empty_span_still_gets_a_caret() -> None:
    rendered = dsl.render(make(Span(1, 3, 1, 3)), "abcdef\n")
    assert rendered.split("\n")[2] == "      ^"


def test_syntax_error_renders_like_any_other_issue() -> None:
    text = H + "rule r { on deposit when amount > 5 EUR && amount < 9 EUR score 10 }\n"
    (issue,) = issues_of(text)
    assert dsl.render(issue, text) == (
        "p.pol:2:41: error PB101 `&` is not an operator here; join conditions with "
        "`and` / `or`\n"
        "    rule r { on deposit when amount > 5 EUR && amount < 9 EUR score 10 }\n"
        "                                            ^"
    )


def test_end_of_file_caret_sits_just_after_the_last_character() -> None:
    text = H + "rule r { on deposit when amount > 5 EUR score 10"
    (issue,) = issues_of(text)
    assert issue.code is Code.UNEXPECTED_END
    _, line, caret = dsl.render(issue, text).split("\n")
    assert line == "    rule r { on deposit when amount > 5 EUR score 10"
    assert caret == "    " + " " * len("rule r { on deposit when amount > 5 EUR score 10") + "^"


def test_render_all_renders_each_issue_in_order() -> None:
    text = H + "rule r { on deposot when amount > 10.123 EUR score 10 }\n"
    issues = issues_of(text)
    rendered = dsl.render_all(issues, text)
    assert rendered == "\n".join(dsl.render(i, text) for i in issues)
    heads = [line for line in rendered.split("\n") if HEAD.match(line)]
    assert len(heads) == len(issues)


# The caret must sit under exactly the characters of the span, whatever comes before it on
# the line: multi-byte characters, tabs, Windows line ends.
SOURCES = [
    pytest.param(
        H + 'rule r { on deposit where method == "é€" when amout > 5 EUR score 10 }\n',
        id="non-ascii-before-the-span",
    ),
    pytest.param(H + "rule r {\n\ton deposit when amout > 5 EUR score 10 }\n", id="tab"),
    pytest.param(
        H.replace("\n", "\r\n") + "rule r { on deposit when amout > 5 EUR score 10 }\r\n",
        id="crlf",
    ),
    pytest.param(
        "policy p version 1 for MGA, UKGC\n"
        "param n: int = 5\n"
        "market UKGC { n = 4 EUR }\n"
        "rule r { on deposit when count(deposit by devce over 24) > n and amout > 5 score 10.5\n"
        '  reason "{cnt} deposits" }\n'
        "rule q { on depositt when amount > 1 EUR action reviw }\n"
        "decide { score >= 50 -> review; score >= 100 -> blok }\n",
        id="many-issues",
    ),
]


@pytest.mark.parametrize("text", SOURCES)
def test_caret_sits_under_exactly_the_span(text: str) -> None:
    issues = issues_of(text)
    assert issues
    source_lines = text.splitlines()
    for issue in issues:
        span = issue.location.span
        rendered = dsl.render(issue, text).split("\n")
        head = HEAD.match(rendered[0])
        assert head, rendered[0]
        assert (int(head["line"]), int(head["col"])) == (span.line, span.col)
        assert head["code"] == issue.code.value
        assert head["severity"] == issue.severity.value
        shown, caret = rendered[1][4:], rendered[2][4:]
        original = source_lines[span.line - 1]
        assert len(shown) == len(original)
        assert caret.index("^") == span.col - 1
        assert re.fullmatch(r" *\^~*", caret), caret
        end = span.end_col if span.end_line == span.line else len(original) + 1
        assert len(caret) == max(end, span.col + 1) - 1
        underlined = original[span.col - 1 : end - 1]
        assert underlined == shown[span.col - 1 : len(caret)]


def test_many_issues_source_reports_what_it_should() -> None:
    """The last SOURCES case is only useful if it really produces several issues."""
    text = SOURCES[-1].values[0]
    assert isinstance(text, str)
    codes = {i.code for i in issues_of(text)}
    assert {
        Code.OVERRIDE_TYPE,
        Code.MONEY_VS_NUMBER,
        Code.UNKNOWN_KEY,
        Code.DURATION_WITHOUT_UNIT,
        Code.UNKNOWN_FIELD,
        Code.TYPE_MISMATCH,
        Code.UNKNOWN_PLACEHOLDER,
        Code.UNKNOWN_EVENT,
        Code.UNKNOWN_ACTION,
        Code.BANDS_NOT_MONOTONIC,
        Code.UNREACHABLE_BAND,
        Code.UNTESTED_FIRES,
    } <= codes
