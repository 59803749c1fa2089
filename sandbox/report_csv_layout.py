"""The CSV report's layout as `regapi.reports.render_csv` writes it, as data: the
sections in their order, the metadata fields, and the columns each kind of row fills.
`sandbox.report_csv_check` checks files against it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

SECTIONS: Final = (
    "metadata",
    "totals",
    "payments",
    "gaming",
    "daily",
    "fairness",
    "kyc_aml",
    "incidents",
    "responsible_gambling",
)
REQUIRED_METADATA: Final = (
    "market",
    "licence",
    "period",
    "period_kind",
    "start",
    "end",
    "timezone",
    "base_currency",
    "generated_at",
    "revision",
)
# Written by the renderer too, but nothing else depends on them.
OPTIONAL_METADATA: Final = ("market_name", "operator", "events")

GGR: Final = "ggr"  # the key of UKGC's `ggy` rows too


@dataclass(frozen=True)
class Shape:
    """The columns a row fills: "r" required, "o" optional, "" left empty."""

    label: str = ""
    detail: str = ""
    count: str = ""
    money: str = ""  # currency and amount_minor, together
    base: str = ""  # amount_base_minor
    value: str = ""
    signed: bool = False  # the amount may be negative (GGR)
    in_base: bool = False  # in the base currency: amount_minor equals amount_base_minor


_MONEY_IN_BASE: Final = Shape(money="r", base="r", in_base=True)
_COUNTED: Final = Shape(count="r")
ITEMS: Final[dict[str, dict[str, Shape]]] = {
    "totals": {
        "deposits": _MONEY_IN_BASE,
        "withdrawals": _MONEY_IN_BASE,
        "chargebacks": _MONEY_IN_BASE,
        "stakes": _MONEY_IN_BASE,
        "wins": _MONEY_IN_BASE,
        GGR: replace(_MONEY_IN_BASE, signed=True),
    },
    "payments": dict.fromkeys(
        ("deposit", "withdrawal", "chargeback"),
        Shape(label="o", detail="o", count="r", money="r", base="r"),
    ),
    "gaming": {
        "bets": Shape(label="o", count="r"),
        "stakes": Shape(label="o", money="r"),
        "wins": Shape(label="o", money="r"),
        GGR: Shape(label="o", money="r", base="r", signed=True),
    },
    "daily": {GGR: Shape(label="r", money="r", base="r", signed=True, in_base=True)},
    "fairness": {
        "anomaly_threshold": Shape(value="r"),
        "anomaly_incidents": _COUNTED,
        "checks": Shape(label="r", count="r"),
        "anomalies": Shape(label="r", count="r"),
    },
    "kyc_aml": {
        "active_players": _COUNTED,
        "sars_filed": _COUNTED,
        "verifications": Shape(label="r", detail="o", count="r"),
        "alerts": Shape(label="r", detail="r", count="r"),
        "cases": Shape(label="r", count="r"),
    },
    "incidents": dict.fromkeys(("opened", "closed"), Shape(label="r", detail="r", count="r")),
    "responsible_gambling": {
        "self_exclusions": _COUNTED,
        "limit_changes": Shape(label="o", count="r"),
    },
}
# Rows every report has exactly once.
ONCE: Final = frozenset(
    {("totals", item) for item in ITEMS["totals"]}
    | {
        ("fairness", "anomaly_threshold"),
        ("fairness", "anomaly_incidents"),
        ("kyc_aml", "active_players"),
        ("kyc_aml", "sars_filed"),
        ("responsible_gambling", "self_exclusions"),
    }
)
