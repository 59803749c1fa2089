"""The parser builds exactly the expected `dsl.ast` tree for every grammar construct.

Expected trees are built from `dsl.ast` nodes without spans (spans never take part in
equality); a handful of tests pin the exact `Span` as well.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from dsl import ast
from dsl.errors import Code, PolicySyntaxError
from dsl.parser import parse, parse_expr

HEAD = "policy p version 1\n"

# Short aliases keep the expected trees readable.
Id = ast.Ident
N = ast.Name
Num = ast.Number
Str = ast.String
Span = ast.Span


def body(src: str) -> ast.Policy:
    """Parse `src` under a minimal header."""
    return parse(HEAD + src)


def policy(**fields: object) -> ast.Policy:
    """The policy `policy p version 1` with the given items."""
    return ast.Policy(name=Id("p"), version=Num(1), **fields)  # type: ignore[arg-type]


def money(amount: str, currency: str) -> ast.Money:
    return ast.Money(Decimal(amount), currency)


def dur(millis: int) -> ast.Duration:
    return ast.Duration(millis)


def cmp(op: str, left: ast.Expr, right: ast.Expr) -> ast.Compare:
    return ast.Compare(op, left, right)


def binop(op: str, left: ast.Expr, right: ast.Expr) -> ast.Binary:
    return ast.Binary(op, left, right)


def and_(left: ast.Expr, right: ast.Expr) -> ast.Logical:
    return ast.Logical("and", left, right)


def or_(left: ast.Expr, right: ast.Expr) -> ast.Logical:
    return ast.Logical("or", left, right)


def rule_of(src: str) -> ast.Rule:
    (rule,) = body(src).rules
    return rule


def ptest_of(src: str) -> ast.PolicyTest:
    (t,) = body(src).tests
    return t


# ---- header ----------------------------------------------------------------------------


def test_minimal_header() -> None:
    assert parse("policy p version 1") == ast.Policy(name=Id("p"), version=Num(1))


def test_header_with_markets_and_description() -> None:
    p = parse('policy aml_core version 3 for MGA, UKGC, CW "Core AML rules"\n')
    assert p == ast.Policy(
        name=Id("aml_core"),
        version=Num(3),
        markets=(Id("MGA"), Id("UKGC"), Id("CW")),
        description=Str("Core AML rules"),
    )


def test_header_with_one_market_no_description() -> None:
    assert parse("policy p version 2 for MGA") == ast.Policy(
        name=Id("p"), version=Num(2), markets=(Id("MGA"),)
    )


def test_header_with_description_only() -> None:
    assert parse('policy p version 10 "d"') == ast.Policy(
        name=Id("p"), version=Num(10), description=Str("d")
    )


def test_header_version_with_underscores() -> None:
    p = parse("policy p version 1_000")
    assert p.version == Num(1000)
    assert isinstance(p.version.value, int)


def test_header_spans() -> None:
    p = parse('policy aml version 3 for MGA, UKGC "desc"')
    assert p.name.span == Span(1, 8, 1, 11)
    assert p.version.span == Span(1, 20, 1, 21)
    assert [m.span for m in p.markets] == [Span(1, 26, 1, 29), Span(1, 31, 1, 35)]
    assert p.description is not None
    assert p.description.span == Span(1, 36, 1, 42)
    assert p.span == Span(1, 1, 1, 42)


# ---- params ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        (
            "param large_deposit: money = 2000 EUR",
            ast.Param(Id("large_deposit"), ast.TypeRef(Id("money")), money("2000", "EUR")),
        ),
        ("param n: int = 5", ast.Param(Id("n"), ast.TypeRef(Id("int")), Num(5))),
        ("param r: float = 0.25", ast.Param(Id("r"), ast.TypeRef(Id("float")), Num(0.25))),
        (
            'param s: string = "x"',
            ast.Param(Id("s"), ast.TypeRef(Id("string")), Str("x")),
        ),
        (
            "param b: bool = true",
            ast.Param(Id("b"), ast.TypeRef(Id("bool")), ast.Bool(True)),
        ),
        (
            "param w: duration = 24h",
            ast.Param(Id("w"), ast.TypeRef(Id("duration")), dur(86_400_000)),
        ),
        (
            'param c: country = "MT"',
            ast.Param(Id("c"), ast.TypeRef(Id("country")), Str("MT")),
        ),
        (
            'param risky: list of country = ["RU", "KP"]',
            ast.Param(
                Id("risky"),
                ast.TypeRef(Id("country"), is_list=True),
                ast.ListLit((Str("RU"), Str("KP"))),
            ),
        ),
        (
            "param lim: money = 2 * 1000 EUR",
            ast.Param(
                Id("lim"), ast.TypeRef(Id("money")), binop("*", Num(2), money("1000", "EUR"))
            ),
        ),
    ],
)
def test_param(src: str, expected: ast.Param) -> None:
    assert body(src).params == (expected,)


def test_param_type_is_not_a_list_unless_written() -> None:
    (p,) = body("param n: int = 5").params
    assert p.type.is_list is False


def test_params_keep_source_order() -> None:
    p = body("param a: int = 1\nparam b: int = 2\nparam c: int = 3")
    assert [x.name.name for x in p.params] == ["a", "b", "c"]


def test_param_spans() -> None:
    (p,) = body("param risky: list of country = [1]").params
    assert p.span == Span(2, 1, 2, 35)
    assert p.name.span == Span(2, 7, 2, 12)
    assert p.type.span == Span(2, 14, 2, 29)
    assert p.type.name.span == Span(2, 22, 2, 29)
    assert p.default.span == Span(2, 32, 2, 35)


# ---- market blocks ---------------------------------------------------------------------


def test_market_block_with_semicolons() -> None:
    p = body("market UKGC { large_deposit = 1500 GBP; n = 4 }")
    assert p.market_blocks == (
        ast.MarketBlock(
            Id("UKGC"),
            (
                ast.Override(Id("large_deposit"), money("1500", "GBP")),
                ast.Override(Id("n"), Num(4)),
            ),
        ),
    )


def test_market_block_without_semicolons() -> None:
    p = body('market MGA {\n  a = 1\n  b = "x"\n  c = 2h\n}')
    assert p.market_blocks == (
        ast.MarketBlock(
            Id("MGA"),
            (
                ast.Override(Id("a"), Num(1)),
                ast.Override(Id("b"), Str("x")),
                ast.Override(Id("c"), dur(7_200_000)),
            ),
        ),
    )


def test_market_block_trailing_semicolon_and_mixed() -> None:
    p = body("market MGA { a = 1; b = 2 c = 3; }")
    assert p.market_blocks[0].overrides == (
        ast.Override(Id("a"), Num(1)),
        ast.Override(Id("b"), Num(2)),
        ast.Override(Id("c"), Num(3)),
    )


def test_empty_market_block() -> None:
    assert body("market MGA { }").market_blocks == (ast.MarketBlock(Id("MGA"), ()),)


def test_several_market_blocks() -> None:
    p = body("market A { x = 1 }\nmarket B { x = 2 }")
    assert [m.market.name for m in p.market_blocks] == ["A", "B"]


def test_override_span() -> None:
    (m,) = body("market UKGC { large = 1500 GBP; n = 4 }").market_blocks
    assert m.span == Span(2, 1, 2, 40)
    assert m.market.span == Span(2, 8, 2, 12)
    assert [o.span for o in m.overrides] == [Span(2, 15, 2, 31), Span(2, 33, 2, 38)]


# ---- lists -----------------------------------------------------------------------------


def test_inline_list_without_type() -> None:
    p = body('list methods = ["crypto", "voucher"]')
    assert p.lists == (ast.ListDecl(Id("methods"), None, (Str("crypto"), Str("voucher")), None),)


def test_inline_list_with_type() -> None:
    p = body("list asn: int = [1, 2_000]")
    assert p.lists == (ast.ListDecl(Id("asn"), Id("int"), (Num(1), Num(2000)), None),)


def test_empty_inline_list() -> None:
    assert body("list e = []").lists == (ast.ListDecl(Id("e"), None, (), None),)


def test_file_list_with_type() -> None:
    p = body('list high_risk_asn: int = file "lists/high_risk_asn.txt"')
    assert p.lists == (
        ast.ListDecl(Id("high_risk_asn"), Id("int"), None, Str("lists/high_risk_asn.txt")),
    )


def test_file_list_without_type() -> None:
    p = body('list l = file "a.txt"')
    assert p.lists == (ast.ListDecl(Id("l"), None, None, Str("a.txt")),)


# ---- defines ---------------------------------------------------------------------------


def test_define() -> None:
    p = body("define little_play = sum(bet.amount over 24h) < 0.2 * sum(deposit.amount over 24h)")
    over = dur(86_400_000)
    assert p.defines == (
        ast.Define(
            Id("little_play"),
            cmp(
                "<",
                ast.Call(Id("sum"), (ast.Attr("bet", "amount"),), over=over),
                binop(
                    "*", Num(0.2), ast.Call(Id("sum"), (ast.Attr("deposit", "amount"),), over=over)
                ),
            ),
        ),
    )


def test_defines_keep_order() -> None:
    p = body("define a = 1\ndefine b = a")
    assert p.defines == (ast.Define(Id("a"), Num(1)), ast.Define(Id("b"), N("a")))


# ---- rules -----------------------------------------------------------------------------

FULL_RULE = """\
rule structuring "many small deposits" {
  on deposit, withdrawal where status == "approved"
  when count(deposit where amount < 1000 EUR over 24h) >= n
  except player.kyc_level >= 3 or not present(card_country)
  score 40
  severity high
  action review
  reason "{count} deposits"
  mode shadow
  family aml
}"""


def test_rule_with_every_clause() -> None:
    assert rule_of(FULL_RULE) == ast.Rule(
        name=Id("structuring"),
        description=Str("many small deposits"),
        on=ast.OnClause((Id("deposit"), Id("withdrawal")), cmp("==", N("status"), Str("approved"))),
        when=cmp(
            ">=",
            ast.Call(
                Id("count"),
                (N("deposit"),),
                where=cmp("<", N("amount"), money("1000", "EUR")),
                over=dur(86_400_000),
            ),
            N("n"),
        ),
        except_=or_(
            cmp(">=", ast.Attr("player", "kyc_level"), Num(3)),
            ast.Not(ast.Call(Id("present"), (N("card_country"),))),
        ),
        score=Num(40),
        severity=Id("high"),
        action=Id("review"),
        reason=Str("{count} deposits"),
        mode=Id("shadow"),
        family=Id("aml"),
    )


def test_rule_clauses_in_any_order_on_one_line() -> None:
    r = rule_of('rule r { family f mode m reason "x" action a severity s score 1 when w on e }')
    assert r == ast.Rule(
        name=Id("r"),
        on=ast.OnClause((Id("e"),)),
        when=N("w"),
        score=Num(1),
        severity=Id("s"),
        action=Id("a"),
        reason=Str("x"),
        mode=Id("m"),
        family=Id("f"),
    )


def test_empty_rule() -> None:
    assert rule_of("rule r { }") == ast.Rule(name=Id("r"))


@pytest.mark.parametrize(
    ("clause", "field", "value"),
    [
        ("on deposit", "on", ast.OnClause((Id("deposit"),))),
        ("on a, b, c", "on", ast.OnClause((Id("a"), Id("b"), Id("c")))),
        ("on a where x > 1", "on", ast.OnClause((Id("a"),), cmp(">", N("x"), Num(1)))),
        ("when x", "when", N("x")),
        ("except y", "except_", N("y")),
        ("score 2 * s", "score", binop("*", Num(2), N("s"))),
        ("severity low", "severity", Id("low")),
        ("action block", "action", Id("block")),
        ('reason "a \\"b\\""', "reason", Str('a "b"')),
        ("mode live", "mode", Id("live")),
        ("family fraud", "family", Id("fraud")),
    ],
)
def test_rule_single_clause(clause: str, field: str, value: object) -> None:
    r = rule_of(f"rule r {{ {clause} }}")
    assert getattr(r, field) == value
    others = {
        "on",
        "when",
        "except_",
        "score",
        "severity",
        "action",
        "reason",
        "mode",
        "family",
    } - {field}
    assert all(getattr(r, f) is None for f in others)


def test_rule_description_optional() -> None:
    assert rule_of("rule r { }").description is None
    assert rule_of('rule r "d" { }').description == Str("d")


def test_rules_keep_order() -> None:
    p = body("rule a { }\nrule b { }\nrule c { }")
    assert [r.name.name for r in p.rules] == ["a", "b", "c"]


def test_rule_spans() -> None:
    src = 'rule r "d" {\n  on deposit where x > 1\n  score 40  severity high\n}'
    r = rule_of(src)
    assert r.span == Span(2, 1, 5, 2)
    assert r.name.span == Span(2, 6, 2, 7)
    assert r.description is not None
    assert r.description.span == Span(2, 8, 2, 11)
    assert r.on is not None
    assert r.on.span == Span(3, 3, 3, 25)
    assert r.on.events[0].span == Span(3, 6, 3, 13)
    assert r.on.where is not None
    assert r.on.where.span == Span(3, 20, 3, 25)
    assert r.score is not None
    assert r.score.span == Span(4, 9, 4, 11)
    assert r.severity is not None
    assert r.severity.span == Span(4, 22, 4, 26)


# ---- decide ----------------------------------------------------------------------------


def test_decide_with_bands_and_else() -> None:
    p = body("decide { score >= 100 -> block; score > 50 -> review; else allow }")
    assert p.decide == ast.Decide(
        (
            ast.Band(">=", Num(100), Id("block")),
            ast.Band(">", Num(50), Id("review")),
        ),
        Id("allow"),
    )


def test_decide_else_with_arrow_and_no_semicolons() -> None:
    p = body("decide {\n  score >= 30 -> limit\n  else -> allow\n}")
    assert p.decide == ast.Decide((ast.Band(">=", Num(30), Id("limit")),), Id("allow"))


def test_decide_without_else() -> None:
    p = body("decide { score >= 10 -> review; }")
    assert p.decide == ast.Decide((ast.Band(">=", Num(10), Id("review")),), None)


def test_decide_else_only_and_empty() -> None:
    assert body("decide { else allow; }").decide == ast.Decide((), Id("allow"))
    assert body("decide { }").decide == ast.Decide((), None)


def test_decide_threshold_is_an_expression() -> None:
    p = body("decide { score >= 2 * base -> block }")
    assert p.decide == ast.Decide((ast.Band(">=", binop("*", Num(2), N("base")), Id("block")),))


def test_no_decide() -> None:
    assert body("rule r { }").decide is None


def test_band_span() -> None:
    p = body("decide { score >= 100 -> block; else allow }")
    assert p.decide is not None
    assert p.decide.span == Span(2, 1, 2, 45)
    assert p.decide.bands[0].span == Span(2, 10, 2, 31)
    assert p.decide.bands[0].action.span == Span(2, 26, 2, 31)
    assert p.decide.otherwise is not None
    assert p.decide.otherwise.span == Span(2, 38, 2, 43)


# ---- inline tests ----------------------------------------------------------------------

FULL_TEST = """\
test "four small deposits" market UKGC start "2026-01-01T22:00:00Z" {
  at 0m deposit amount=900 GBP
  at 1h30m deposit amount=900 GBP player_id="p2" ip_country="GB"
  at 2d login
  expect structuring fires
  expect structuring does not fire
  expect structuring never fires
  expect decision review
  expect score >= 40
  expect structuring.count == 4
}"""


def test_test_block_with_everything() -> None:
    assert ptest_of(FULL_TEST) == ast.PolicyTest(
        name=Str("four small deposits"),
        market=Id("UKGC"),
        start=Str("2026-01-01T22:00:00Z"),
        steps=(
            ast.TimelineEvent(
                dur(0), Id("deposit"), (ast.Assign(Id("amount"), money("900", "GBP")),)
            ),
            ast.TimelineEvent(
                dur(5_400_000),
                Id("deposit"),
                (
                    ast.Assign(Id("amount"), money("900", "GBP")),
                    ast.Assign(Id("player_id"), Str("p2")),
                    ast.Assign(Id("ip_country"), Str("GB")),
                ),
            ),
            ast.TimelineEvent(dur(172_800_000), Id("login")),
            ast.ExpectFires(Id("structuring"), "fires"),
            ast.ExpectFires(Id("structuring"), "not"),
            ast.ExpectFires(Id("structuring"), "never"),
            ast.ExpectDecision(Id("review")),
            ast.ExpectScore(">=", Num(40)),
            ast.ExpectValue(Id("structuring"), Id("count"), "==", Num(4)),
        ),
    )


def test_test_without_market_or_start() -> None:
    assert ptest_of('test "t" { }') == ast.PolicyTest(Str("t"))


def test_test_with_market_only_and_start_only() -> None:
    assert ptest_of('test "t" market MGA { }') == ast.PolicyTest(Str("t"), market=Id("MGA"))
    assert ptest_of('test "t" start "2026-01-01T00:00:00Z" { }') == ast.PolicyTest(
        Str("t"), start=Str("2026-01-01T00:00:00Z")
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("expect r fires", ast.ExpectFires(Id("r"), "fires")),
        ("expect r does not fire", ast.ExpectFires(Id("r"), "not")),
        ("expect r never fires", ast.ExpectFires(Id("r"), "never")),
        ("expect decision block", ast.ExpectDecision(Id("block"))),
        ("expect score >= 40", ast.ExpectScore(">=", Num(40))),
        ("expect score < 10 + x", ast.ExpectScore("<", binop("+", Num(10), N("x")))),
        (
            "expect r.total == 900 EUR",
            ast.ExpectValue(Id("r"), Id("total"), "==", money("900", "EUR")),
        ),
        ("expect r.n != 1", ast.ExpectValue(Id("r"), Id("n"), "!=", Num(1))),
        ("at 500ms e", ast.TimelineEvent(dur(500), Id("e"))),
        (
            "at 1w bet amount=-5 EUR ok=true",
            ast.TimelineEvent(
                dur(604_800_000),
                Id("bet"),
                (
                    ast.Assign(Id("amount"), ast.Neg(money("5", "EUR"))),
                    ast.Assign(Id("ok"), ast.Bool(True)),
                ),
            ),
        ),
    ],
)
def test_test_step(line: str, expected: ast.TimelineStep) -> None:
    assert ptest_of(f'test "t" {{ {line} }}').steps == (expected,)


def test_timeline_spans() -> None:
    t = ptest_of('test "t" {\n  at 1h30m deposit amount=900 GBP p="x"\n  expect r fires\n}')
    ev, ex = t.steps
    assert isinstance(ev, ast.TimelineEvent)
    assert ev.span == Span(3, 3, 3, 40)
    assert ev.at.span == Span(3, 6, 3, 11)
    assert ev.at.text == "1h30m"
    assert ev.event.span == Span(3, 12, 3, 19)
    assert [a.span for a in ev.fields] == [Span(3, 20, 3, 34), Span(3, 35, 3, 40)]
    assert ev.fields[0].value.span == Span(3, 27, 3, 34)
    assert ex.span == Span(4, 3, 4, 17)
    assert t.span == Span(2, 1, 5, 2)


# ---- whole file ------------------------------------------------------------------------


def test_items_in_any_order_are_grouped_by_kind() -> None:
    p = body(
        'test "t" { }\nrule r { }\ndecide { else allow }\ndefine d = 1\nlist l = []\n'
        "market M { }\nparam x: int = 1\nrule s { }"
    )
    assert p == policy(
        params=(ast.Param(Id("x"), ast.TypeRef(Id("int")), Num(1)),),
        market_blocks=(ast.MarketBlock(Id("M"), ()),),
        lists=(ast.ListDecl(Id("l"), None, (), None),),
        defines=(ast.Define(Id("d"), Num(1)),),
        rules=(ast.Rule(Id("r")), ast.Rule(Id("s"))),
        decide=ast.Decide((), Id("allow")),
        tests=(ast.PolicyTest(Str("t")),),
    )


def test_comments_are_ignored() -> None:
    src = (
        "# leading comment\n"
        "policy p version 1 # after the header\n"
        "# between items\n"
        "rule r {  # after a brace\n"
        '  reason "# not a comment"  # a comment\n'
        "  when x > 1 # trailing\n"
        "}\n"
        "# last line without a newline"
    )
    assert parse(src) == policy(
        rules=(ast.Rule(Id("r"), when=cmp(">", N("x"), Num(1)), reason=Str("# not a comment")),)
    )


def test_comment_inside_an_expression_and_sequence() -> None:
    p = body("define x = a # first operand\n + b\ndefine s = sequence { a # one\n !b # two\n}")
    assert p.defines == (
        ast.Define(Id("x"), binop("+", N("a"), N("b"))),
        ast.Define(
            Id("s"),
            ast.Sequence((ast.Step(Id("a")), ast.Step(Id("b"), absent=True))),
        ),
    )


def test_windows_line_endings_and_tabs() -> None:
    p = parse("policy p version 1\r\n\tdefine x = 1\r\n")
    assert p.defines == (ast.Define(Id("x"), Num(1)),)


# ---- expressions -----------------------------------------------------------------------

a, b, c, d = N("a"), N("b"), N("c"), N("d")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # or < and < not < comparison < + - < * / < unary minus
        ("a or b and c", or_(a, and_(b, c))),
        ("a and b or c", or_(and_(a, b), c)),
        ("a or b or c", or_(or_(a, b), c)),
        ("a and b and c", and_(and_(a, b), c)),
        ("not a and b", and_(ast.Not(a), b)),
        ("not a or not b", or_(ast.Not(a), ast.Not(b))),
        ("not not a", ast.Not(ast.Not(a))),
        ("not a == b", ast.Not(cmp("==", a, b))),
        ("a == b and c != d", and_(cmp("==", a, b), cmp("!=", c, d))),
        ("a + b == c * d", cmp("==", binop("+", a, b), binop("*", c, d))),
        ("a + b * c", binop("+", a, binop("*", b, c))),
        ("a * b + c", binop("+", binop("*", a, b), c)),
        ("a - b - c", binop("-", binop("-", a, b), c)),
        ("a / b * c", binop("*", binop("/", a, b), c)),
        ("a - b + c", binop("+", binop("-", a, b), c)),
        ("-a * b", binop("*", ast.Neg(a), b)),
        ("a * -b", binop("*", a, ast.Neg(b))),
        ("- -a", ast.Neg(ast.Neg(a))),
        ("--a", ast.Neg(ast.Neg(a))),
        ("a - -b", binop("-", a, ast.Neg(b))),
        ("-(a + b)", ast.Neg(binop("+", a, b))),
        ("-5", ast.Neg(Num(5))),
        ("(a or b) and c", and_(or_(a, b), c)),
        ("a * (b + c)", binop("*", a, binop("+", b, c))),
        ("a - (b - c)", binop("-", a, binop("-", b, c))),
        ("((a))", a),
        ("not (a and b)", ast.Not(and_(a, b))),
        ("(a == b) == c", cmp("==", cmp("==", a, b), c)),
        ("a < b", cmp("<", a, b)),
        ("a <= b", cmp("<=", a, b)),
        ("a > b", cmp(">", a, b)),
        ("a >= b", cmp(">=", a, b)),
        ("a != b", cmp("!=", a, b)),
        ("a in b", ast.In(a, b)),
        ("a not in b", ast.In(a, b, negated=True)),
        ("a + 1 in b", ast.In(binop("+", a, Num(1)), b)),
        ("not a in b", ast.Not(ast.In(a, b))),
        ("not a not in b", ast.Not(ast.In(a, b, negated=True))),
        ('country in ["RU", "KP"]', ast.In(N("country"), ast.ListLit((Str("RU"), Str("KP"))))),
        ("a not in list_name and b", and_(ast.In(a, N("list_name"), negated=True), b)),
    ],
)
def test_precedence_and_associativity(text: str, expected: ast.Expr) -> None:
    assert parse_expr(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[]", ast.ListLit(())),
        ("[1]", ast.ListLit((Num(1),))),
        ('[1, "x", a, 2 EUR]', ast.ListLit((Num(1), Str("x"), a, money("2", "EUR")))),
        ("[[1], []]", ast.ListLit((ast.ListLit((Num(1),)), ast.ListLit(())))),
        ("[a or b, -c]", ast.ListLit((or_(a, b), ast.Neg(c)))),
    ],
)
def test_list_literal(text: str, expected: ast.Expr) -> None:
    assert parse_expr(text) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("5", 5),
        ("1_000_000", 1_000_000),
        ("0.25", 0.25),
        ("1_000.5", 1000.5),
        ("3.0", 3.0),
    ],
)
def test_number(text: str, value: int | float) -> None:
    e = parse_expr(text)
    assert e == Num(value)
    assert isinstance(e, ast.Number)
    assert type(e.value) is type(value)


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("2_000.50 EUR", "2000.50", "EUR"),
        ("2000 EUR", "2000", "EUR"),
        ("0.5 GBP", "0.5", "GBP"),
        ("1_000_000 USD", "1000000", "USD"),
    ],
)
def test_money(text: str, amount: str, currency: str) -> None:
    e = parse_expr(text)
    assert e == money(amount, currency)
    assert isinstance(e, ast.Money)
    assert isinstance(e.amount, Decimal)
    assert str(e.amount) == amount


def test_money_is_exact_decimal() -> None:
    e = parse_expr("0.10 EUR")
    assert isinstance(e, ast.Money)
    assert e.amount == Decimal("0.10")
    assert e.amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("1h30m", 5_400_000),
        ("500ms", 500),
        ("2w", 1_209_600_000),
        ("24h", 86_400_000),
        ("90s", 90_000),
        ("7d", 604_800_000),
        ("10m", 600_000),
        ("0s", 0),
        ("1d12h", 129_600_000),
        ("1m500ms", 60_500),
    ],
)
def test_duration(text: str, millis: int) -> None:
    e = parse_expr(text)
    assert e == dur(millis)
    assert isinstance(e, ast.Duration)
    assert e.text == text


def test_10min_is_not_10m_in() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_expr("x in 10min")
    assert info.value.issues[0].code is Code.UNEXPECTED_CHAR
    # ... while `10m in y` with spaces is a duration tested for membership.
    assert parse_expr("10m in y") == ast.In(dur(600_000), N("y"))


def test_duration_beside_number() -> None:
    assert parse_expr("24h * 2") == binop("*", dur(86_400_000), Num(2))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('""', ""),
        ('"plain"', "plain"),
        ('"a\\"b"', 'a"b'),
        ('"back\\\\slash"', "back\\slash"),
        ('"line\\nbreak"', "line\nbreak"),
        ('"tab\\tstop"', "tab\tstop"),
        ('"\\\\n"', "\\n"),
        ('"{count} deposits, # not a comment"', "{count} deposits, # not a comment"),
        ('"ünïcødé €"', "ünïcødé €"),
    ],
)
def test_string(text: str, value: str) -> None:
    assert parse_expr(text) == Str(value)


def test_booleans_names_and_attributes() -> None:
    assert parse_expr("true") == ast.Bool(True)
    assert parse_expr("false") == ast.Bool(False)
    assert parse_expr("amount") == N("amount")
    assert parse_expr("_x1") == N("_x1")
    assert parse_expr("player.kyc_level") == ast.Attr("player", "kyc_level")
    assert parse_expr("d.amount") == ast.Attr("d", "amount")
    assert parse_expr("true_value") == N("true_value")
    assert parse_expr("notes") == N("notes")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("present(x)", ast.Call(Id("present"), (N("x"),))),
        ("now()", ast.Call(Id("now"))),
        ("fx(a, 2 EUR)", ast.Call(Id("fx"), (a, money("2", "EUR")))),
        ("abs(-a)", ast.Call(Id("abs"), (ast.Neg(a),))),
        (
            "count(deposit where amount < 1000 EUR by device over 24h) as n",
            ast.Call(
                Id("count"),
                (N("deposit"),),
                where=cmp("<", N("amount"), money("1000", "EUR")),
                by=Id("device"),
                over=dur(86_400_000),
                alias=Id("n"),
            ),
        ),
        (
            "sum(deposit.amount over 24h)",
            ast.Call(Id("sum"), (ast.Attr("deposit", "amount"),), over=dur(86_400_000)),
        ),
        (
            "distinct(player by device over 7d)",
            ast.Call(Id("distinct"), (N("player"),), by=Id("device"), over=dur(604_800_000)),
        ),
        (
            "shared(bet where amount >= 100 EUR by round over 30m within 3s) as n",
            ast.Call(
                Id("shared"),
                (N("bet"),),
                where=cmp(">=", N("amount"), money("100", "EUR")),
                by=Id("round"),
                over=dur(1_800_000),
                within=dur(3_000),
                alias=Id("n"),
            ),
        ),
        (
            "count(deposit where a or b)",
            ast.Call(Id("count"), (N("deposit"),), where=or_(a, b)),
        ),
        # span aggregates (inside a sequence step) have no window of their own
        ("sum(amount)", ast.Call(Id("sum"), (N("amount"),))),
        ("count(bet) as bets", ast.Call(Id("count"), (N("bet"),), alias=Id("bets"))),
        ("max(amount by game)", ast.Call(Id("max"), (N("amount"),), by=Id("game"))),
        (
            "avg(amount over w)",
            ast.Call(Id("avg"), (N("amount"),), over=N("w")),
        ),
        (
            "count(where x > 1)",
            ast.Call(Id("count"), (), where=cmp(">", N("x"), Num(1))),
        ),
        (
            "sum(deposit.amount over 24h) as total >= limit",
            cmp(
                ">=",
                ast.Call(
                    Id("sum"),
                    (ast.Attr("deposit", "amount"),),
                    over=dur(86_400_000),
                    alias=Id("total"),
                ),
                N("limit"),
            ),
        ),
        (
            "f(g(x), [1])",
            ast.Call(Id("f"), (ast.Call(Id("g"), (N("x"),)), ast.ListLit((Num(1),)))),
        ),
    ],
)
def test_call_and_aggregate(text: str, expected: ast.Expr) -> None:
    assert parse_expr(text) == expected


def test_sequence_with_every_step_form() -> None:
    src = """sequence within 24h {
    d: deposit where amount >= large_deposit
    !bet where sum(amount) >= 0.2 * d.amount      # absence step
    withdrawal where amount >= 0.8 * d.amount within 10m
    w: !login within 1h
  }"""
    assert parse_expr(src) == ast.Sequence(
        (
            ast.Step(Id("deposit"), name=Id("d"), where=cmp(">=", N("amount"), N("large_deposit"))),
            ast.Step(
                Id("bet"),
                absent=True,
                where=cmp(
                    ">=",
                    ast.Call(Id("sum"), (N("amount"),)),
                    binop("*", Num(0.2), ast.Attr("d", "amount")),
                ),
            ),
            ast.Step(
                Id("withdrawal"),
                where=cmp(">=", N("amount"), binop("*", Num(0.8), ast.Attr("d", "amount"))),
                within=dur(600_000),
            ),
            ast.Step(Id("login"), name=Id("w"), absent=True, within=dur(3_600_000)),
        ),
        within=dur(86_400_000),
    )


def test_sequence_without_window_on_one_line() -> None:
    assert parse_expr("sequence { a b !c }") == ast.Sequence(
        (ast.Step(Id("a")), ast.Step(Id("b")), ast.Step(Id("c"), absent=True))
    )


def test_sequence_is_an_operand() -> None:
    assert parse_expr("not sequence { a } and x") == and_(
        ast.Not(ast.Sequence((ast.Step(Id("a")),))), N("x")
    )


def test_sequence_spans() -> None:
    (define,) = body(
        "define s = sequence within 1h {\n  d: deposit where x > 1 within 5m\n}"
    ).defines
    seq = define.body
    assert isinstance(seq, ast.Sequence)
    assert seq.span == Span(2, 12, 4, 2)
    assert seq.within is not None
    assert seq.within.span == Span(2, 28, 2, 30)
    (step,) = seq.steps
    assert step.span == Span(3, 3, 3, 35)
    assert step.name is not None
    assert step.name.span == Span(3, 3, 3, 4)
    assert step.event.span == Span(3, 6, 3, 13)
    assert step.where is not None
    assert step.where.span == Span(3, 20, 3, 25)
    assert step.within is not None
    assert step.within.span == Span(3, 33, 3, 35)


def test_expression_spans() -> None:
    (define,) = body('define x = -a + f(b, "s") * 2 EUR').defines
    e = define.body
    assert isinstance(e, ast.Binary)
    assert e.span == Span(2, 12, 2, 34)
    assert e.left.span == Span(2, 12, 2, 14)
    assert isinstance(e.right, ast.Binary)
    assert e.right.span == Span(2, 17, 2, 34)
    call = e.right.left
    assert isinstance(call, ast.Call)
    assert call.span == Span(2, 17, 2, 26)
    assert call.func.span == Span(2, 17, 2, 18)
    assert [x.span for x in call.args] == [Span(2, 19, 2, 20), Span(2, 22, 2, 25)]
    assert e.right.right.span == Span(2, 29, 2, 34)


def test_aggregate_clause_spans() -> None:
    (define,) = body("define x = count(e where y by k over 1h) as n").defines
    call = define.body
    assert isinstance(call, ast.Call)
    assert call.span == Span(2, 12, 2, 46)
    assert call.where is not None
    assert call.where.span == Span(2, 26, 2, 27)
    assert call.by is not None
    assert call.by.span == Span(2, 31, 2, 32)
    assert call.over is not None
    assert call.over.span == Span(2, 38, 2, 40)
    assert call.alias is not None
    assert call.alias.span == Span(2, 45, 2, 46)


def test_multiline_expression_span() -> None:
    (rule,) = body("rule r {\n  when a\n   and b\n}").rules
    assert rule.when is not None
    assert rule.when.span == Span(3, 8, 4, 9)


# ---- keywords as names -----------------------------------------------------------------


def test_keyword_as_field_in_condition() -> None:
    r = rule_of('rule r { on deposit where market == "MGA" when mode != "x" and score > 1 }')
    assert r.on == ast.OnClause((Id("deposit"),), cmp("==", N("market"), Str("MGA")))
    assert r.when == and_(cmp("!=", N("mode"), Str("x")), cmp(">", N("score"), Num(1)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('market == "MGA"', cmp("==", N("market"), Str("MGA"))),
        ("player.market", ast.Attr("player", "market")),
        ("d.score + d.where", binop("+", ast.Attr("d", "score"), ast.Attr("d", "where"))),
        ("count(deposit by market)", ast.Call(Id("count"), (N("deposit"),), by=Id("market"))),
        ("f(x) as score", ast.Call(Id("f"), (N("x"),), alias=Id("score"))),
        ("action + reason + family", binop("+", binop("+", N("action"), N("reason")), N("family"))),
        ("test in start", ast.In(N("test"), N("start"))),
    ],
)
def test_keyword_as_name_where_unambiguous(text: str, expected: ast.Expr) -> None:
    assert parse_expr(text) == expected


def test_keyword_as_first_test_event_field() -> None:
    t = ptest_of('test "t" { at 0s deposit market="MGA" amount=5 }')
    assert t.steps == (
        ast.TimelineEvent(
            dur(0),
            Id("deposit"),
            (ast.Assign(Id("market"), Str("MGA")), ast.Assign(Id("amount"), Num(5))),
        ),
    )


def test_keyword_as_later_test_event_field() -> None:
    t = ptest_of('test "t" { at 0s deposit amount=5 market="MGA" }')
    assert t.steps == (
        ast.TimelineEvent(
            dur(0),
            Id("deposit"),
            (ast.Assign(Id("amount"), Num(5)), ast.Assign(Id("market"), Str("MGA"))),
        ),
    )


def test_identifier_with_keyword_prefix_where_a_name_is_expected() -> None:
    assert parse_expr("order + android + nothing + within_1") == binop(
        "+",
        binop("+", binop("+", N("order"), N("android")), N("nothing")),
        N("within_1"),
    )


def test_identifier_starting_with_a_keyword_is_not_split() -> None:
    with pytest.raises(PolicySyntaxError):
        body("rule r { on deposit whenever > 5 }")


# ---- uppercase names after a number ----------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="bug: a number followed by an upper-case name always lexes as money, even "
    "where money cannot be the reading (next test event field)",
)
def test_upper_case_field_after_a_number() -> None:
    t = ptest_of('test "t" { at 0s e a=5 B=1 }')
    assert t.steps == (
        ast.TimelineEvent(
            dur(0), Id("e"), (ast.Assign(Id("a"), Num(5)), ast.Assign(Id("B"), Num(1)))
        ),
    )


def test_money_currency_is_read_only_after_a_number() -> None:
    assert parse_expr("EUR") == N("EUR")
    assert parse_expr("[5, EUR]") == ast.ListLit((Num(5), N("EUR")))


# ---- parse_expr ------------------------------------------------------------------------


def test_parse_expr_positions_are_relative() -> None:
    e = parse_expr("a + b")
    assert e.span == Span(1, 1, 1, 6)


def test_parse_expr_rejects_trailing_items() -> None:
    with pytest.raises(PolicySyntaxError):
        parse_expr("1\ndefine y = 2")


def test_parse_uses_path_in_errors() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse("policy p version 1\nrule", "policies/x.pol")
    assert info.value.issues[0].location.path == "policies/x.pol"
    assert str(info.value).startswith("policies/x.pol:2:")
