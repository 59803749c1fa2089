"""Typed syntax tree of a policy file.

One frozen dataclass per construct. Every node carries the `Span` it was parsed from;
spans never take part in equality, so a tree parsed from formatted source compares equal
to the tree it was formatted from (the round-trip property the tests hold us to).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from decimal import Decimal
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Span:
    """1-based line and column of the first character, and of one past the last."""

    line: int
    col: int
    end_line: int
    end_col: int

    @staticmethod
    def unknown() -> Span:
        return Span(0, 0, 0, 0)


NOWHERE = Span(0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Ident:
    """A name written in the source (event type, market, action, ...), with its position."""

    name: str
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


# ---- expressions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Number:
    value: int | float
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Money:
    """A money literal: a decimal amount in major units and an ISO 4217 currency."""

    amount: Decimal
    currency: str
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Duration:
    millis: int
    span: Span = _field(default=NOWHERE, compare=False, repr=False)
    # As the author wrote it (`24h`, not `1d`), so messages quote their own words back.
    text: str = _field(default="", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class String:
    value: str
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Name:
    """A bare name: a field of the event in scope, a param, a list, a define or a step."""

    name: str
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Attr:
    """`base.name`: `player.kyc_level`, `deposit.amount`, `d.amount`."""

    base: str
    name: str
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * /
    left: Expr
    right: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class In:
    item: Expr
    container: Expr
    negated: bool = False
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # and | or
    left: Expr
    right: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Expr, ...]
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    """`name(args) [where …] [by KEY] [over WINDOW] [within SYNC] [as alias]`.

    Aggregates (`count`, `sum`, `avg`, `min`, `max`, `distinct`, `shared`) use the clauses
    (`within` only `shared`); plain functions (`present`, `abs`, `fx`) take arguments only.
    Which is which is a check.
    """

    func: Ident
    args: tuple[Expr, ...] = ()
    where: Expr | None = None
    by: Ident | None = None
    over: Expr | None = None
    within: Expr | None = None
    alias: Ident | None = None
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a sequence; `absent` steps assert that no such event happened."""

    event: Ident
    name: Ident | None = None
    absent: bool = False
    where: Expr | None = None
    within: Expr | None = None
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Sequence:
    steps: tuple[Step, ...]
    within: Expr | None = None
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


Expr: TypeAlias = (
    Number
    | Money
    | Duration
    | String
    | Bool
    | Name
    | Attr
    | Neg
    | Binary
    | Compare
    | In
    | Not
    | Logical
    | ListLit
    | Call
    | Sequence
)

# ---- declarations ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeRef:
    """`int`, `money`, … or `list of country`."""

    name: Ident
    is_list: bool = False
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Param:
    name: Ident
    type: TypeRef
    default: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Override:
    name: Ident
    value: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class MarketBlock:
    market: Ident
    overrides: tuple[Override, ...]
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListDecl:
    """A named list, written inline (`items`) or read from a file (`file`)."""

    name: Ident
    elem_type: Ident | None = None
    items: tuple[Expr, ...] | None = None
    file: String | None = None
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Define:
    """A named condition or value, expanded where it is used."""

    name: Ident
    body: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OnClause:
    events: tuple[Ident, ...]
    where: Expr | None = None
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Rule:
    name: Ident
    description: String | None = None
    on: OnClause | None = None
    when: Expr | None = None
    except_: Expr | None = None
    score: Expr | None = None
    severity: Ident | None = None
    action: Ident | None = None
    reason: String | None = None
    mode: Ident | None = None
    family: Ident | None = None
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Band:
    op: str  # >= or >
    threshold: Expr
    action: Ident
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Decide:
    bands: tuple[Band, ...]
    otherwise: Ident | None = None
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


# ---- inline tests ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assign:
    field: Ident
    value: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """`at 10m deposit amount=900 GBP player_id="p2"` — time is an offset from the start."""

    at: Duration
    event: Ident
    fields: tuple[Assign, ...] = ()
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ExpectFires:
    """`expect R fires` / `does not fire` (on the latest event) / `never fires` (on none)."""

    rule: Ident
    mode: str  # fires | not | never
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ExpectDecision:
    action: Ident
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ExpectScore:
    op: str
    value: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ExpectValue:
    """`expect structuring.count == 4`: a value in the rule's explanation."""

    rule: Ident
    name: Ident
    op: str
    value: Expr
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


Expectation: TypeAlias = ExpectFires | ExpectDecision | ExpectScore | ExpectValue
TimelineStep: TypeAlias = TimelineEvent | Expectation


@dataclass(frozen=True, slots=True)
class PolicyTest:
    name: String
    market: Ident | None = None
    start: String | None = None
    steps: tuple[TimelineStep, ...] = ()
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Policy:
    name: Ident
    version: Number
    markets: tuple[Ident, ...] = ()
    description: String | None = None
    params: tuple[Param, ...] = ()
    market_blocks: tuple[MarketBlock, ...] = ()
    lists: tuple[ListDecl, ...] = ()
    defines: tuple[Define, ...] = ()
    rules: tuple[Rule, ...] = ()
    decide: Decide | None = None
    tests: tuple[PolicyTest, ...] = ()
    span: Span = _field(default=NOWHERE, compare=False, repr=False)


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of `expr`, in source order."""
    match expr:
        case Number() | Money() | Duration() | String() | Bool() | Name() | Attr():
            return ()
        case Neg(operand=o) | Not(operand=o):
            return (o,)
        case Binary(left=a, right=b) | Compare(left=a, right=b) | Logical(left=a, right=b):
            return (a, b)
        case In(item=a, container=b):
            return (a, b)
        case ListLit(items=items):
            return items
        case Call(args=args, where=where, over=over, within=within):
            return args + tuple(e for e in (where, over, within) if e is not None)
        case Sequence(steps=steps, within=within):
            subs: list[Expr] = [] if within is None else [within]
            for step in steps:
                subs.extend(e for e in (step.where, step.within) if e is not None)
            return tuple(subs)


def walk(expr: Expr) -> list[Expr]:
    """`expr` and every expression inside it, pre-order."""
    out = [expr]
    for sub in children(expr):
        out.extend(walk(sub))
    return out
