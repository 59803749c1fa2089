"""Hypothesis strategies for random, syntactically valid `dsl.ast` trees.

Every node type of `dsl.ast` is generated, nested the way the grammar allows. Trees carry
no spans (spans never take part in equality). Values stay in the parser's image:
identifiers are never keywords of the grammar, numbers are non-negative (a minus sign is a
`Neg` node), floats are finite with few decimals, money has at most two decimal places and
durations are whole non-negative milliseconds.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from dsl import ast
from dsl.parser import _lark


def grammar_keywords() -> frozenset[str]:
    """Every literal word of the grammar (`policy`, `when`, `not`, ...)."""
    return frozenset(
        t.pattern.value
        for t in _lark().terminals
        if t.pattern.type == "str" and t.pattern.value.isidentifier()
    )


KEYWORDS = grammar_keywords()

# Generated names are short so shrunk examples stay readable.
_ANY_CASE = r"[A-Za-z_][A-Za-z0-9_]{0,6}"
_LOWER_START = r"[a-z_][A-Za-z0-9_]{0,6}"


def _names(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True).filter(lambda s: s not in KEYWORDS)


names = _names(_ANY_CASE)
# Names written directly after an expression with no separator: a sequence step's name and
# event, a test event's field. A number followed by an upper-case word lexes as money
# (`5 B`), which the formatter guards against with parentheses; any case is generated.
after_expr_names = _names(_ANY_CASE)


def idents(strategy: st.SearchStrategy[str] = names) -> st.SearchStrategy[ast.Ident]:
    return strategy.map(ast.Ident)


CURRENCIES = ("EUR", "GBP", "USD", "SEK", "CAD", "JPY", "CHF")
COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")

# ---- leaves -----------------------------------------------------------------------------

ints = st.integers(min_value=0, max_value=10**12)
floats = st.builds(
    lambda whole, frac: float(f"{whole}.{frac:03d}"),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=999),
)
numbers = st.one_of(ints, floats).map(ast.Number)

amounts = st.decimals(
    min_value=Decimal(0),
    max_value=Decimal(10**9),
    places=2,
    allow_nan=False,
    allow_infinity=False,
) | st.integers(min_value=0, max_value=10**9).map(Decimal)
moneys = st.builds(ast.Money, amount=amounts, currency=st.sampled_from(CURRENCIES))

durations = st.integers(min_value=0, max_value=10 * 604_800_000).map(ast.Duration)
# Any text: quotes, backslashes, newlines, tabs, `#`, non-ASCII.
texts = st.text(max_size=12)
strings = texts.map(ast.String)
bools = st.booleans().map(ast.Bool)
plain_names = names.map(ast.Name)
attrs = st.builds(ast.Attr, base=names, name=names)

leaves: st.SearchStrategy[ast.Expr] = st.one_of(
    numbers, moneys, durations, strings, bools, plain_names, attrs
)


# ---- expressions ------------------------------------------------------------------------


def _opt(strategy: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr | None]:
    return st.none() | strategy


def _opt_ident(strategy: st.SearchStrategy[str] = names) -> st.SearchStrategy[ast.Ident | None]:
    return st.none() | idents(strategy)


def steps(sub: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Step]:
    return st.builds(
        ast.Step,
        event=idents(after_expr_names),
        name=_opt_ident(after_expr_names),
        absent=st.booleans(),
        where=_opt(sub),
        within=_opt(sub),
    )


def _extend(sub: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    """One level of every compound expression over `sub`."""
    return st.one_of(
        st.builds(ast.Neg, sub),
        st.builds(ast.Not, sub),
        st.builds(ast.Binary, st.sampled_from("+-*/"), sub, sub),
        st.builds(ast.Compare, st.sampled_from(COMPARE_OPS), sub, sub),
        st.builds(ast.In, sub, sub, st.booleans()),
        st.builds(ast.Logical, st.sampled_from(("and", "or")), sub, sub),
        st.builds(ast.ListLit, st.lists(sub, max_size=3).map(tuple)),
        st.builds(
            ast.Call,
            func=idents(),
            args=st.lists(sub, max_size=3).map(tuple),
            where=_opt(sub),
            by=_opt_ident(),
            over=_opt(sub),
            within=_opt(sub),
            alias=_opt_ident(),
        ),
        st.builds(
            ast.Sequence,
            steps=st.lists(steps(sub), min_size=1, max_size=3).map(tuple),
            within=_opt(sub),
        ),
    )


exprs: st.SearchStrategy[ast.Expr] = st.recursive(leaves, _extend, max_leaves=12)


# ---- declarations -----------------------------------------------------------------------

type_refs = st.builds(ast.TypeRef, name=idents(), is_list=st.booleans())
params = st.builds(ast.Param, name=idents(), type=type_refs, default=exprs)
overrides = st.builds(ast.Override, name=idents(), value=exprs)
market_blocks = st.builds(
    ast.MarketBlock, market=idents(), overrides=st.lists(overrides, max_size=3).map(tuple)
)
list_decls = st.one_of(
    st.builds(
        ast.ListDecl,
        name=idents(),
        elem_type=_opt_ident(),
        items=st.lists(exprs, max_size=3).map(tuple),
        file=st.none(),
    ),
    st.builds(ast.ListDecl, name=idents(), elem_type=_opt_ident(), items=st.none(), file=strings),
)
defines = st.builds(ast.Define, name=idents(), body=exprs)

on_clauses = st.builds(
    ast.OnClause,
    events=st.lists(idents(), min_size=1, max_size=3).map(tuple),
    where=_opt(exprs),
)
rules = st.builds(
    ast.Rule,
    name=idents(),
    description=st.none() | strings,
    on=st.none() | on_clauses,
    when=_opt(exprs),
    except_=_opt(exprs),
    score=_opt(exprs),
    severity=_opt_ident(),
    action=_opt_ident(),
    reason=st.none() | strings,
    mode=_opt_ident(),
    family=_opt_ident(),
)
bands = st.builds(ast.Band, op=st.sampled_from(COMPARE_OPS), threshold=exprs, action=idents())
decides = st.builds(
    ast.Decide, bands=st.lists(bands, max_size=3).map(tuple), otherwise=_opt_ident()
)

# ---- inline tests -----------------------------------------------------------------------

# `market` is a keyword the grammar also takes as a test event's field name.
field_names = after_expr_names | st.just("market")
assigns = st.builds(ast.Assign, field=idents(field_names), value=exprs)
timeline_events = st.builds(
    ast.TimelineEvent,
    at=durations,
    event=idents(),
    fields=st.lists(assigns, max_size=3).map(tuple),
)
expectations: st.SearchStrategy[ast.Expectation] = st.one_of(
    st.builds(ast.ExpectFires, rule=idents(), mode=st.sampled_from(("fires", "not", "never"))),
    st.builds(ast.ExpectDecision, action=idents()),
    st.builds(ast.ExpectScore, op=st.sampled_from(COMPARE_OPS), value=exprs),
    st.builds(
        ast.ExpectValue,
        rule=idents(),
        name=idents(),
        op=st.sampled_from(COMPARE_OPS),
        value=exprs,
    ),
)
policy_tests = st.builds(
    ast.PolicyTest,
    name=strings,
    market=_opt_ident(),
    start=st.none() | strings,
    steps=st.lists(st.one_of(timeline_events, expectations), max_size=4).map(tuple),
)

# ---- the whole file ---------------------------------------------------------------------


def _few(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[tuple[object, ...]]:
    return st.lists(strategy, max_size=2).map(tuple)


policies: st.SearchStrategy[ast.Policy] = st.builds(
    ast.Policy,
    name=idents(),
    version=ints.map(ast.Number),
    markets=st.lists(idents(), max_size=3).map(tuple),
    description=st.none() | strings,
    params=_few(params),
    market_blocks=_few(market_blocks),
    lists=_few(list_decls),
    defines=_few(defines),
    rules=_few(rules),
    decide=st.none() | decides,
    tests=_few(policy_tests),
)
