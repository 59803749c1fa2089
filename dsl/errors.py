"""Problems found in a policy, and the one error type the dsl package raises.

Every problem has a stable code (documented in docs/policy-language.md, never reused for
another meaning), a severity and a location, so tools and people can act on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from dsl.ast import Span


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Code(StrEnum):
    # 1xx — the text cannot be read
    SYNTAX = "PB100"
    UNEXPECTED_CHAR = "PB101"
    UNEXPECTED_END = "PB102"
    DUPLICATE_CLAUSE = "PB103"
    BAD_NUMBER = "PB104"
    BAD_STRING = "PB105"
    # 2xx — a name that does not exist
    UNKNOWN_NAME = "PB200"
    UNKNOWN_EVENT = "PB201"
    UNKNOWN_FIELD = "PB202"
    UNKNOWN_PARAM = "PB203"
    UNKNOWN_LIST = "PB204"
    UNKNOWN_MARKET = "PB205"
    UNKNOWN_KEY = "PB206"
    UNKNOWN_RULE = "PB207"
    UNKNOWN_PLACEHOLDER = "PB208"
    UNKNOWN_CURRENCY = "PB209"
    UNKNOWN_FUNCTION = "PB210"
    UNKNOWN_VALUE = "PB211"
    UNKNOWN_TYPE = "PB212"
    UNKNOWN_ACTION = "PB213"
    UNKNOWN_SEVERITY = "PB214"
    UNKNOWN_MODE = "PB215"
    # 3xx — types
    TYPE_MISMATCH = "PB300"
    MONEY_VS_NUMBER = "PB301"
    CURRENCY_MISMATCH = "PB302"
    DURATION_WITHOUT_UNIT = "PB303"
    INVALID_COUNTRY = "PB304"
    STRING_ORDERING = "PB305"
    NOT_A_CONDITION = "PB306"
    OVERRIDE_TYPE = "PB307"
    MONEY_PRECISION = "PB308"
    BAD_ARGUMENTS = "PB309"
    # 4xx — windows, aggregates and sequences
    AGGREGATE_WITHOUT_WINDOW = "PB401"
    SEQUENCE_WITHOUT_WINDOW = "PB402"
    ABSENCE_WITHOUT_WITHIN = "PB403"
    NON_POSITIVE_WINDOW = "PB404"
    WINDOW_FILTER_SCOPE = "PB405"
    KEY_NOT_ON_EVENT = "PB406"
    SEQUENCE_END = "PB407"
    AGGREGATE_MISUSE = "PB408"
    WINDOW_TOO_LONG = "PB409"
    # 5xx — rules, decisions and tests
    DUPLICATE_NAME = "PB501"
    BANDS_NOT_MONOTONIC = "PB502"
    UNREACHABLE_CONDITION = "PB503"
    UNREACHABLE_BAND = "PB504"
    ALWAYS_TRUE = "PB505"
    MISSING_CLAUSE = "PB506"
    RECURSIVE_DEFINE = "PB507"
    UNTESTED_FIRES = "PB508"
    UNTESTED_QUIET = "PB509"
    AMBIGUOUS_PLACEHOLDER = "PB510"
    BAD_TEST = "PB511"
    INERT_RULE = "PB512"
    UNUSED_DEFINE = "PB513"
    # 6xx — files a policy reads
    LIST_FILE = "PB601"
    TOO_MANY_PROBLEMS = "PB699"


@dataclass(frozen=True, slots=True)
class Location:
    path: str
    span: Span

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def col(self) -> int:
        return self.span.col


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem. `markets` names the markets it applies to when not all of them."""

    code: Code
    severity: Severity
    message: str
    location: Location
    hint: str | None = None
    markets: tuple[str, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def with_markets(self, markets: Iterable[str]) -> Issue:
        return replace(self, markets=tuple(markets))

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.location.path, self.location.line, self.location.col, self.code.value)


class PolicyError(Exception):
    """The root error of the dsl package: a policy that cannot be used, with its problems."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = tuple(issues)
        first = self.issues[0] if self.issues else None
        summary = (
            f"{first.location.path}:{first.location.line}:{first.location.col}: "
            f"{first.code.value} {first.message}"
            if first
            else "invalid policy"
        )
        more = len(self.issues) - 1
        super().__init__(summary + (f" (and {more} more)" if more > 0 else ""))


class PolicySyntaxError(PolicyError):
    """The text is not a policy at all; no semantic check ran."""
