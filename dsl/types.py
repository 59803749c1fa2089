"""The language's value types.

Money carries its currency in the type, so a comparison across currencies is caught when a
policy is checked for a market, not when an event arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    INT = "int"
    FLOAT = "float"
    MONEY = "money"
    DURATION = "duration"
    STRING = "string"
    BOOL = "bool"
    COUNTRY = "country"
    TIME = "time"
    LIST = "list"
    # A value whose type could not be worked out because of an error already reported;
    # it fits anywhere, so one mistake is reported once, not at every use.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Type:
    kind: Kind
    currency: str | None = None  # money only; None while the currency is not yet known
    elem: Type | None = None  # lists only

    def __str__(self) -> str:
        if self.kind is Kind.MONEY and self.currency:
            return f"money ({self.currency})"
        if self.kind is Kind.LIST:
            return f"list of {self.elem}" if self.elem else "list"
        return self.kind.value

    @property
    def is_number(self) -> bool:
        return self.kind in (Kind.INT, Kind.FLOAT)

    @property
    def is_unknown(self) -> bool:
        return self.kind is Kind.UNKNOWN


INT = Type(Kind.INT)
FLOAT = Type(Kind.FLOAT)
DURATION = Type(Kind.DURATION)
STRING = Type(Kind.STRING)
BOOL = Type(Kind.BOOL)
COUNTRY = Type(Kind.COUNTRY)
TIME = Type(Kind.TIME)
UNKNOWN = Type(Kind.UNKNOWN)


def money(currency: str | None) -> Type:
    return Type(Kind.MONEY, currency=currency)


def list_of(elem: Type) -> Type:
    return Type(Kind.LIST, elem=elem)


# Names a policy may use in `param x: TYPE` and `list x: TYPE`.
DECLARABLE: dict[str, Type] = {
    "int": INT,
    "float": FLOAT,
    "money": money(None),
    "duration": DURATION,
    "string": STRING,
    "bool": BOOL,
    "country": COUNTRY,
}

LIST_ELEMENTS = ("int", "float", "string", "country")


def describe(t: Type) -> str:
    """How a type is named in messages to a policy author."""
    if t.kind is Kind.INT:
        return "a whole number"
    if t.kind is Kind.FLOAT:
        return "a number"
    if t.kind is Kind.MONEY:
        return f"money in {t.currency}" if t.currency else "money"
    if t.kind is Kind.LIST:
        return f"a list of {t.elem}" if t.elem else "a list"
    return {
        Kind.DURATION: "a duration",
        Kind.STRING: "a string",
        Kind.BOOL: "a condition (true/false)",
        Kind.COUNTRY: "a country code",
        Kind.TIME: "a point in time",
    }.get(t.kind, t.kind.value)
