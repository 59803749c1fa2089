"""Restrictions placed on a player, as recorded actions: their kinds, the parameters each
needs, and how each is put to the player.

What the player is told is worded from the restriction's kind and parameters only, never
from its reason or the case behind it: telling a player that they are being investigated
or reported (tipping off) is an offence under AML law.

Pure domain: no I/O. `engine.store.restrictions` records and lifts them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final, Literal, TypeAlias

import msgspec
from msgspec import Meta

from dsl.vocabulary import currencies, minor_units
from engine.cases import CaseError

LOWER_LIMITS: Final = "lower_limits"
WITHDRAWAL_FREEZE: Final = "withdrawal_freeze"
DOCUMENT_REQUEST: Final = "document_request"
WITHDRAWAL_COOLING_OFF: Final = "withdrawal_cooling_off"
KINDS: Final = (LOWER_LIMITS, WITHDRAWAL_FREEZE, DOCUMENT_REQUEST, WITHDRAWAL_COOLING_OFF)

LimitKind: TypeAlias = Literal["deposit", "loss", "wager", "session_time"]
Period: TypeAlias = Literal["day", "week", "month"]
DocumentKind: TypeAlias = Literal[
    "proof_of_identity",
    "proof_of_address",
    "proof_of_payment_method",
    "source_of_funds",
    "source_of_wealth",
]
LIMIT_KINDS: Final = ("deposit", "loss", "wager", "session_time")
DOCUMENT_KINDS: Final = (
    "proof_of_identity",
    "proof_of_address",
    "proof_of_payment_method",
    "source_of_funds",
    "source_of_wealth",
)
# A cooling-off longer than a month is a freeze in all but name; record a freeze instead.
MAX_COOLING_OFF_HOURS: Final = 720


class _Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class LowerLimits(_Params, frozen=True):
    """A lower limit than the player chose. `value` is in minor units of `currency`, or in
    minutes for `session_time` (which takes no currency)."""

    limit_kind: LimitKind
    value: Annotated[int, Meta(ge=0)]
    period: Period = "day"
    currency: str | None = None


class WithdrawalFreeze(_Params, frozen=True):
    pass


class DocumentRequest(_Params, frozen=True):
    documents: Annotated[list[DocumentKind], Meta(min_length=1)]


class WithdrawalCoolingOff(_Params, frozen=True):
    """Withdrawals of `min_amount` (minor units of `currency`) or more wait `hours`."""

    min_amount: Annotated[int, Meta(gt=0)]
    currency: str
    hours: Annotated[int, Meta(ge=1, le=MAX_COOLING_OFF_HOURS)]


Params: TypeAlias = LowerLimits | WithdrawalFreeze | DocumentRequest | WithdrawalCoolingOff
_TYPES: Final[dict[str, type[Params]]] = {
    LOWER_LIMITS: LowerLimits,
    WITHDRAWAL_FREEZE: WithdrawalFreeze,
    DOCUMENT_REQUEST: DocumentRequest,
    WITHDRAWAL_COOLING_OFF: WithdrawalCoolingOff,
}
_KIND_OF: Final = {v: k for k, v in _TYPES.items()}
# What an invalid enum value should have been, per field, for the error message.
_CHOICES: Final = {
    "limit_kind": LIMIT_KINDS,
    "period": ("day", "week", "month"),
    "documents": DOCUMENT_KINDS,
}


class RestrictionError(CaseError):
    """Restriction parameters that do not fit the kind; `field` is e.g. `params.value`."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def parse(kind: str, params: dict[str, Any]) -> Params:
    """The parameters of a restriction of `kind`, checked; `RestrictionError` if unfit."""
    if kind not in _TYPES:
        raise RestrictionError(
            "kind", f"{kind!r} is not a restriction (one of: {', '.join(KINDS)})"
        )
    try:
        parsed = msgspec.convert(params, type=_TYPES[kind])
    except msgspec.ValidationError as exc:
        raise _error(str(exc)) from exc
    if isinstance(parsed, LowerLimits):
        money = parsed.limit_kind != "session_time"
        if money and parsed.currency is None:
            raise RestrictionError(
                "params.currency", f"a {parsed.limit_kind} limit needs a currency"
            )
        if not money and parsed.currency is not None:
            raise RestrictionError(
                "params.currency", "a session time limit is in minutes, no currency"
            )
    currency = getattr(parsed, "currency", None)
    if currency is not None and currency not in currencies():
        raise RestrictionError("params.currency", f"{currency!r} is not an ISO 4217 currency code")
    return parsed


def _error(text: str) -> RestrictionError:
    if " - at `$" not in text:
        # A missing or unknown field is named in the message rather than in a path.
        if "field `" in text:
            name = text.split("field `", 1)[1].split("`", 1)[0]
            return RestrictionError(f"params.{name}", text)
        return RestrictionError("params", text)
    message, _, path = text.rpartition(" - at `$")
    path = path.rstrip("`").lstrip(".")
    name = path.split("[", 1)[0].split(".", 1)[0]
    if message.startswith("Invalid enum value") and name in _CHOICES:
        message += f" (one of: {', '.join(_CHOICES[name])})"
    return RestrictionError(f"params.{path}", message)


def to_dict(params: Params) -> dict[str, Any]:
    """The parameters as stored and shown to staff (defaults filled in)."""
    out: dict[str, Any] = msgspec.to_builtins(params)
    return out


def _money(amount: int, currency: str) -> str:
    places = minor_units(currency)
    value = Decimal(amount).scaleb(-places)
    return f"{value:,.{places}f} {currency}"


_PERIOD_WORDS: Final = {"day": "daily", "week": "weekly", "month": "monthly"}
_LIMIT_WORDS: Final = {
    "deposit": "deposit limit",
    "loss": "loss limit",
    "wager": "wagering limit",
    "session_time": "session time limit",
}


def notice(params: Params) -> str:
    """What the player is told about a restriction: what they can and cannot do, and
    nothing about why."""
    match params:
        case LowerLimits(limit_kind=kind, value=value, period=period, currency=currency):
            amount = f"{value} minutes" if currency is None else _money(value, currency)
            return f"Your {_PERIOD_WORDS[period]} {_LIMIT_WORDS[kind]} is {amount}."
        case WithdrawalFreeze():
            return "Withdrawals are temporarily unavailable."
        case DocumentRequest(documents=documents):
            wanted = ", ".join(d.replace("_", " ") for d in documents)
            return f"Please provide: {wanted}."
        case WithdrawalCoolingOff(min_amount=amount, currency=currency, hours=hours):
            return (
                f"Withdrawals of {_money(amount, currency)} or more are paid out after "
                f"{hours} hours."
            )
    raise AssertionError(f"no wording for {params!r}")  # pragma: no cover


class Notice(msgspec.Struct, frozen=True, kw_only=True, order=True):
    kind: str
    message: str


class PlayerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What a player (or the operator's front end, on their behalf) may be told.

    Built from the account state and the kinds and parameters of active restrictions
    alone, so its shape and wording are the same whether or not anyone is looking into
    the player."""

    player_id: str
    account: Literal["active", "limited", "self_excluded"]
    restrictions: list[Notice]


def status(player_id: str, *, self_excluded: bool, active: list[Params]) -> PlayerStatus:
    # Sorted and deduplicated, so nothing about when or how often a restriction was
    # recorded (which could hint at an investigation's course) shows through.
    notices = sorted({Notice(kind=_KIND_OF[type(p)], message=notice(p)) for p in active})
    account: Literal["active", "limited", "self_excluded"] = (
        "self_excluded" if self_excluded else "limited" if notices else "active"
    )
    return PlayerStatus(player_id=player_id, account=account, restrictions=notices)


def from_stored(kind: str, params: str | bytes) -> Params:
    """Stored parameters back into their type (they were checked when recorded)."""
    return msgspec.json.decode(params, type=_TYPES[kind])
