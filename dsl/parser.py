"""Text to syntax tree. Parses only: names, types and meaning are the checks' business.

Lark's errors are translated once, here, into `PolicySyntaxError` with a stable code, a
position and the expected tokens in words; known mistakes get a label of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any, cast

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from dsl import ast
from dsl.diagnostics import suggest
from dsl.errors import Code, Issue, Location, PolicySyntaxError, Severity

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


class _WholeWords:
    """Post-lexer that only asks the contextual lexer to keep NAME in every state.

    Where no name is expected, a keyword would otherwise match the start of a longer word
    (`whenever` read as `when` `ever`); with NAME always in play, a whole word is a keyword
    only if it is exactly one, and anything else is reported as the word it is."""

    always_accept = ("NAME",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return stream


@cache
def _lark() -> Lark:
    grammar = files("dsl").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        start=["start", "expr_only"],
        postlex=_WholeWords(),
        propagate_positions=True,
        maybe_placeholders=True,
        cache=False,
    )


def parse(text: str, path: str = "<policy>") -> ast.Policy:
    """Parse policy source. Raises `PolicySyntaxError` with one located issue."""
    policy = _parse(text, path, "start")
    assert isinstance(policy, ast.Policy)
    return policy


def parse_expr(text: str, path: str = "<expr>") -> ast.Expr:
    """Parse a lone expression (for tools and tests); positions are within `text`."""
    return cast(ast.Expr, _parse(text, path, "expr_only"))


def _parse(text: str, path: str, start: str) -> Any:
    try:
        tree = _lark().parse(text, start=start)
    except UnexpectedInput as exc:
        raise PolicySyntaxError([_syntax_issue(exc, text, path, start)]) from None
    builder = _Builder(path)
    try:
        node = builder.transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, _BuildError):
            raise PolicySyntaxError([exc.orig_exc.issue]) from None
        raise
    if builder.issues:
        raise PolicySyntaxError(builder.issues)
    return node


def parse_duration(text: str) -> int:
    """`1h30m` → milliseconds."""
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(text))


# ---- tree → AST ------------------------------------------------------------------------


class _BuildError(Exception):
    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def _tok_span(tok: Token) -> ast.Span:
    return ast.Span(tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


def _meta_span(meta: Any) -> ast.Span:
    if getattr(meta, "empty", True):
        return ast.Span.unknown()
    return ast.Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _ident(tok: Token) -> ast.Ident:
    return ast.Ident(str(tok), _tok_span(tok))


def _opt_ident(tok: Token | None) -> ast.Ident | None:
    return None if tok is None else _ident(tok)


_RULE_CLAUSES = {
    "on_clause": "on",
    "when_clause": "when",
    "except_clause": "except_",
    "score_clause": "score",
    "severity_clause": "severity",
    "action_clause": "action",
    "reason_clause": "reason",
    "mode_clause": "mode",
    "family_clause": "family",
}


@v_args(meta=True)
class _Builder(Transformer[Token, Any]):
    """Builds `dsl.ast` nodes bottom-up. Structural slips (a clause written twice) are
    collected as issues rather than stopping at the first."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.issues: list[Issue] = []

    def _fail(self, code: Code, message: str, span: ast.Span) -> _BuildError:
        return _BuildError(Issue(code, Severity.ERROR, message, Location(self.path, span)))

    # -- literals
    def _number_value(self, tok: Token) -> int | float:
        text = str(tok).replace("_", "")
        return float(text) if "." in text else int(text)

    def number(self, meta: Any, c: list[Token]) -> ast.Number:
        return ast.Number(self._number_value(c[0]), _meta_span(meta))

    def money(self, meta: Any, c: list[Token]) -> ast.Money:
        amount = Decimal(str(c[0]).replace("_", ""))
        return ast.Money(amount, str(c[1]), _meta_span(meta))

    def duration(self, meta: Any, c: list[Token]) -> ast.Duration:
        return ast.Duration(parse_duration(str(c[0])), _meta_span(meta), str(c[0]))

    def _string(self, tok: Token) -> ast.String:
        raw = str(tok)[1:-1]
        out: list[str] = []
        chars = iter(enumerate(raw))
        for i, ch in chars:
            if ch != "\\":
                out.append(ch)
                continue
            _, nxt = next(chars)
            if nxt not in _ESCAPES:
                span = _tok_span(tok)
                col = span.col + 1 + i
                raise self._fail(
                    Code.BAD_STRING,
                    f'unknown escape `\\{nxt}` in a string; use \\" \\\\ \\n or \\t',
                    ast.Span(span.line, col, span.line, col + 2),
                )
            out.append(_ESCAPES[nxt])
        return ast.String("".join(out), _tok_span(tok))

    def string(self, meta: Any, c: list[Token]) -> ast.String:
        return self._string(c[0])

    def true(self, meta: Any, c: list[Token]) -> ast.Bool:
        return ast.Bool(True, _meta_span(meta))

    def false(self, meta: Any, c: list[Token]) -> ast.Bool:
        return ast.Bool(False, _meta_span(meta))

    def name(self, meta: Any, c: list[Token]) -> ast.Name:
        return ast.Name(str(c[0]), _meta_span(meta))

    def attr(self, meta: Any, c: list[Token]) -> ast.Attr:
        return ast.Attr(str(c[0]), str(c[1]), _meta_span(meta))

    # -- operators
    def neg(self, meta: Any, c: list[Any]) -> ast.Expr:
        return ast.Neg(c[0], _meta_span(meta))

    def binary(self, meta: Any, c: list[Any]) -> ast.Binary:
        return ast.Binary(str(c[1]), c[0], c[2], _meta_span(meta))

    def compare(self, meta: Any, c: list[Any]) -> ast.Compare:
        return ast.Compare(str(c[1]), c[0], c[2], _meta_span(meta))

    def in_(self, meta: Any, c: list[Any]) -> ast.In:
        return ast.In(c[0], c[1], False, _meta_span(meta))

    def not_in(self, meta: Any, c: list[Any]) -> ast.In:
        return ast.In(c[0], c[1], True, _meta_span(meta))

    def not_(self, meta: Any, c: list[Any]) -> ast.Not:
        return ast.Not(c[0], _meta_span(meta))

    def and_(self, meta: Any, c: list[Any]) -> ast.Logical:
        return ast.Logical("and", c[0], c[1], _meta_span(meta))

    def or_(self, meta: Any, c: list[Any]) -> ast.Logical:
        return ast.Logical("or", c[0], c[1], _meta_span(meta))

    def list_lit(self, meta: Any, c: list[Any]) -> ast.ListLit:
        return ast.ListLit(tuple(x for x in c if x is not None), _meta_span(meta))

    # -- calls and aggregates
    def agg_where(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("where", c[0])

    def agg_by(self, meta: Any, c: list[Token]) -> tuple[str, Any]:
        return ("by", _ident(c[0]))

    def agg_over(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("over", c[0])

    def agg_within(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("within", c[0])

    def agg_alias(self, meta: Any, c: list[Token]) -> tuple[str, Any]:
        return ("alias", _ident(c[0]))

    def call(self, meta: Any, c: list[Any]) -> ast.Call:
        func, *rest = c
        clauses: dict[str, Any] = dict(x for x in rest if isinstance(x, tuple))
        args = tuple(x for x in rest if x is not None and not isinstance(x, tuple))
        return ast.Call(
            func=_ident(func),
            args=args,
            where=clauses.get("where"),
            by=clauses.get("by"),
            over=clauses.get("over"),
            within=clauses.get("within"),
            alias=clauses.get("alias"),
            span=_meta_span(meta),
        )

    def step(self, meta: Any, c: list[Any]) -> ast.Step:
        name, bang, event, where, within = c
        return ast.Step(
            event=_ident(event),
            name=_opt_ident(name),
            absent=bang is not None,
            where=where,
            within=within,
            span=_meta_span(meta),
        )

    def sequence(self, meta: Any, c: list[Any]) -> ast.Sequence:
        within, *steps = c
        return ast.Sequence(tuple(steps), within, _meta_span(meta))

    # -- declarations
    def header(self, meta: Any, c: list[Any]) -> tuple[Any, ...]:
        name, version, markets, description = c
        number = self._number_value(version)
        if not isinstance(number, int):
            raise self._fail(
                Code.BAD_NUMBER,
                f"a policy version is a whole number, not {version}",
                _tok_span(version),
            )
        desc = None if description is None else self._string(description)
        return (_ident(name), ast.Number(number, _tok_span(version)), markets or (), desc)

    def for_markets(self, meta: Any, c: list[Token]) -> tuple[ast.Ident, ...]:
        return tuple(_ident(t) for t in c)

    def simple_type(self, meta: Any, c: list[Token]) -> ast.TypeRef:
        return ast.TypeRef(_ident(c[0]), False, _meta_span(meta))

    def list_type(self, meta: Any, c: list[Token]) -> ast.TypeRef:
        return ast.TypeRef(_ident(c[0]), True, _meta_span(meta))

    def param(self, meta: Any, c: list[Any]) -> ast.Param:
        return ast.Param(_ident(c[0]), c[1], c[2], _meta_span(meta))

    def override(self, meta: Any, c: list[Any]) -> ast.Override:
        return ast.Override(_ident(c[0]), c[1], _meta_span(meta))

    def market_block(self, meta: Any, c: list[Any]) -> ast.MarketBlock:
        return ast.MarketBlock(_ident(c[0]), tuple(c[1:]), _meta_span(meta))

    def list_file(self, meta: Any, c: list[Token]) -> ast.String:
        return self._string(c[0])

    def list_decl(self, meta: Any, c: list[Any]) -> ast.ListDecl:
        name, elem, source = c
        span = _meta_span(meta)
        if isinstance(source, ast.String):
            return ast.ListDecl(_ident(name), _opt_ident(elem), None, source, span)
        return ast.ListDecl(_ident(name), _opt_ident(elem), source.items, None, span)

    def define(self, meta: Any, c: list[Any]) -> ast.Define:
        return ast.Define(_ident(c[0]), c[1], _meta_span(meta))

    # -- rules
    def on_clause(self, meta: Any, c: list[Any]) -> tuple[str, Any, ast.Span]:
        *events, where = c
        span = _meta_span(meta)
        return ("on", ast.OnClause(tuple(_ident(e) for e in events), where, span), span)

    def _clause(self, key: str, value: Any, meta: Any) -> tuple[str, Any, ast.Span]:
        return (key, value, _meta_span(meta))

    def when_clause(self, meta: Any, c: list[Any]) -> tuple[str, Any, ast.Span]:
        return self._clause("when", c[0], meta)

    def except_clause(self, meta: Any, c: list[Any]) -> tuple[str, Any, ast.Span]:
        return self._clause("except_", c[0], meta)

    def score_clause(self, meta: Any, c: list[Any]) -> tuple[str, Any, ast.Span]:
        return self._clause("score", c[0], meta)

    def severity_clause(self, meta: Any, c: list[Token]) -> tuple[str, Any, ast.Span]:
        return self._clause("severity", _ident(c[0]), meta)

    def action_clause(self, meta: Any, c: list[Token]) -> tuple[str, Any, ast.Span]:
        return self._clause("action", _ident(c[0]), meta)

    def reason_clause(self, meta: Any, c: list[Token]) -> tuple[str, Any, ast.Span]:
        return self._clause("reason", self._string(c[0]), meta)

    def mode_clause(self, meta: Any, c: list[Token]) -> tuple[str, Any, ast.Span]:
        return self._clause("mode", _ident(c[0]), meta)

    def family_clause(self, meta: Any, c: list[Token]) -> tuple[str, Any, ast.Span]:
        return self._clause("family", _ident(c[0]), meta)

    def rule(self, meta: Any, c: list[Any]) -> ast.Rule:
        name, description, *clauses = c
        fields: dict[str, Any] = {}
        for key, value, span in clauses:
            if key in fields:
                word = "except" if key == "except_" else key
                self.issues.append(
                    Issue(
                        Code.DUPLICATE_CLAUSE,
                        Severity.ERROR,
                        f"rule `{name}` has a second `{word}` clause; a rule has at most one",
                        Location(self.path, span),
                    )
                )
                continue
            fields[key] = value
        desc = None if description is None else self._string(description)
        return ast.Rule(name=_ident(name), description=desc, span=_meta_span(meta), **fields)

    def band(self, meta: Any, c: list[Any]) -> ast.Band:
        return ast.Band(str(c[0]), c[1], _ident(c[2]), _meta_span(meta))

    def else_band(self, meta: Any, c: list[Token]) -> ast.Ident:
        return _ident(c[0])

    def decide(self, meta: Any, c: list[Any]) -> ast.Decide:
        *bands, otherwise = c
        return ast.Decide(tuple(bands), otherwise, _meta_span(meta))

    # -- tests
    def expr_only(self, meta: Any, c: list[Any]) -> ast.Expr:
        return cast(ast.Expr, c[0])

    def assign(self, meta: Any, c: list[Any]) -> ast.Assign:
        return ast.Assign(_ident(c[0]), c[1], _meta_span(meta))

    def test_event(self, meta: Any, c: list[Any]) -> ast.TimelineEvent:
        at, event, *assigns = c
        when = ast.Duration(parse_duration(str(at)), _tok_span(at), str(at))
        return ast.TimelineEvent(when, _ident(event), tuple(assigns), _meta_span(meta))

    def expect_fires(self, meta: Any, c: list[Token]) -> ast.ExpectFires:
        return ast.ExpectFires(_ident(c[0]), "fires", _meta_span(meta))

    def expect_not_fires(self, meta: Any, c: list[Token]) -> ast.ExpectFires:
        return ast.ExpectFires(_ident(c[0]), "not", _meta_span(meta))

    def expect_never_fires(self, meta: Any, c: list[Token]) -> ast.ExpectFires:
        return ast.ExpectFires(_ident(c[0]), "never", _meta_span(meta))

    def expect_decision(self, meta: Any, c: list[Token]) -> ast.ExpectDecision:
        return ast.ExpectDecision(_ident(c[0]), _meta_span(meta))

    def expect_score(self, meta: Any, c: list[Any]) -> ast.ExpectScore:
        return ast.ExpectScore(str(c[0]), c[1], _meta_span(meta))

    def expect_value(self, meta: Any, c: list[Any]) -> ast.ExpectValue:
        return ast.ExpectValue(_ident(c[0]), _ident(c[1]), str(c[2]), c[3], _meta_span(meta))

    def test_market(self, meta: Any, c: list[Token]) -> ast.Ident:
        return _ident(c[0])

    def test_start(self, meta: Any, c: list[Token]) -> ast.String:
        return self._string(c[0])

    def test(self, meta: Any, c: list[Any]) -> ast.PolicyTest:
        name, market, start, *steps = c
        return ast.PolicyTest(self._string(name), market, start, tuple(steps), _meta_span(meta))

    # -- the file
    def start(self, meta: Any, c: list[Any]) -> ast.Policy:
        (name, version, markets, description), *items = c
        by_kind: dict[type, list[Any]] = {}
        decides: list[ast.Decide] = []
        for item in items:
            if isinstance(item, ast.Decide):
                decides.append(item)
            by_kind.setdefault(type(item), []).append(item)
        for extra in decides[1:]:
            self.issues.append(
                Issue(
                    Code.DUPLICATE_CLAUSE,
                    Severity.ERROR,
                    "a policy has one `decide` block; merge the bands into the first",
                    Location(self.path, extra.span),
                )
            )

        def of(kind: type) -> tuple[Any, ...]:
            return tuple(by_kind.get(kind, ()))

        return ast.Policy(
            name=name,
            version=version,
            markets=markets,
            description=description,
            params=of(ast.Param),
            market_blocks=of(ast.MarketBlock),
            lists=of(ast.ListDecl),
            defines=of(ast.Define),
            rules=of(ast.Rule),
            decide=decides[0] if decides else None,
            tests=of(ast.PolicyTest),
            span=_meta_span(meta),
        )


# ---- syntax errors in words -------------------------------------------------------------

_P = "policy p version 1\n"

# Known mistakes and the label a compliance author should read instead of a token list.
# Each example must fail at the same parser state as the mistake it names (tested).
SYNTAX_LABELS: dict[str, list[str]] = {
    "a param needs a type: `param large_deposit: money = 2000 EUR`": [
        _P + "param x = 5",
    ],
    "use `==` to compare; `=` only sets a param, an override or a test event's field": [
        _P + "rule r { on deposit when amount = 5 }",
        _P + "define x = amount = 5",
        _P + "rule r { on deposit where amount = 5 }",
    ],
    "a decision band reads `score >= 100 -> block`": [
        _P + "decide { score >= 100 block }",
    ],
    'a rule\'s name comes before its description: `rule structuring "…" {`': [
        _P + 'rule "x" {',
    ],
    "a test event starts with a time with a unit, e.g. `at 10m deposit amount=900 EUR`": [
        _P + 'test "t" { at 10 deposit }',
        _P + 'test "t" { deposit amount=5 EUR }',
    ],
    "an expectation reads `expect RULE fires`, `expect RULE does not fire`, "
    "`expect RULE never fires`, `expect decision ACTION`, `expect score >= N` "
    "or `expect RULE.value == N`": [
        _P + 'test "t" { expect r fire }',
        _P + 'test "t" { expect r }',
        _P + 'test "t" { expect r does fire }',
    ],
    "inside an aggregate, `where` comes first, then `by`, then `over`: "
    "`count(deposit where amount < 1000 EUR by device over 24h)`": [
        _P + "define x = count(deposit over 24h where amount > 5)",
        _P + "define x = count(deposit by device where amount > 5)",
        _P + "define x = count(deposit over 24h by device)",
        _P + "rule r { on deposit when count(deposit over 24h where amount > 5) > 1 }",
        _P + "rule r { on deposit when count(deposit by device where amount > 5) > 1 }",
        _P + "rule r { on deposit when count(deposit over 24h by device) > 1 }",
    ],
    "money is an amount then an upper-case ISO currency code, e.g. `2000 EUR`": [
        _P + "param x: money = 2000 eur",
    ],
    "a market block lists overrides as `name = value`": [
        _P + "market UKGC { x: 5 }",
    ],
}

_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "DURATION": "a duration such as 24h",
    "STRING": 'a quoted "string"',
    "CURRENCY": "a currency code such as EUR",
    "COMP_OP": "a comparison (==, !=, <, <=, >, >=)",
    "ADD_OP": "+ or -",
    "MUL_OP": "* or /",
    "BANG": "`!`",
    "$END": "the end of the file",
}


def _describe(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    try:
        pattern = _lark().get_terminal(terminal).pattern
    except KeyError:
        return terminal.lower()
    return f"`{pattern.value}`"


@cache
def keywords() -> frozenset[str]:
    """Every keyword of the grammar (built with the parser, on first use)."""
    return frozenset(_keywords({t.name for t in _lark().terminals}))


def _keywords(expected: set[str]) -> list[str]:
    out = []
    for term in expected:
        try:
            value = _lark().get_terminal(term).pattern.value
        except KeyError:
            continue
        if isinstance(value, str) and value.isidentifier():
            out.append(value)
    return out


def _expected_words(expected: set[str]) -> str:
    words = sorted({_describe(t) for t in expected if t not in {"COMMENT", "WS"}})
    if len(words) > 14:
        words = [*words[:14], "…"]
    return ", ".join(words)


def _label(exc: UnexpectedInput) -> str | None:
    def parse_fn(text: str) -> Tree[Token]:
        return _lark().parse(text, start="start")

    try:
        label = exc.match_examples(parse_fn, SYNTAX_LABELS, use_accepts=True)
    except UnexpectedInput:
        return None
    return label if isinstance(label, str) else None


def _syntax_issue(exc: UnexpectedInput, text: str, path: str, start: str) -> Issue:
    line, col = exc.line, exc.column
    hint: str | None = None
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        line, col = _end_position(text)
        expected = set(exc.accepts or exc.expected)
        message = f"the file ends too early; expected {_expected_words(expected)}"
        code = Code.UNEXPECTED_END
        span = ast.Span(line, col, line, col + 1)
    elif isinstance(exc, UnexpectedToken):
        tok = exc.token
        expected = set(exc.accepts or exc.expected)
        message = f"unexpected `{tok}`; expected {_expected_words(expected)}"
        code = Code.SYNTAX
        span = _tok_span(tok)
        label = _label(exc) if start == "start" else None
        if label:
            message = f"{label} (found `{tok}`)"
        if tok.type in {"NAME", "CURRENCY"}:
            keywords = _keywords(expected)
            hint = suggest(str(tok), keywords) or next(
                (k for k in sorted(keywords, key=len, reverse=True) if str(tok).startswith(k)),
                None,
            )
    else:
        assert isinstance(exc, UnexpectedCharacters)
        char = exc.char
        code = Code.UNEXPECTED_CHAR
        span = ast.Span(line, col, line, col + 1)
        if char in "&|":
            message = f"`{char}` is not an operator here; join conditions with `and` / `or`"
        elif char == "'":
            message = 'strings use double quotes: "like this"'
        else:
            allowed = set(exc.allowed or ())
            tail = f"; expected {_expected_words(allowed)}" if allowed else ""
            message = f"unexpected character `{char}`{tail}"
    return Issue(code, Severity.ERROR, message, Location(path, span), hint=hint)


def _end_position(text: str) -> tuple[int, int]:
    lines = text.rstrip().splitlines() or [""]
    return len(lines), len(lines[-1]) + 1
