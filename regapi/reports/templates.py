"""Each regulator's report template: what its return is called, how its licences are
written, the words it uses, and the XML schema its file must pass.

The XML schemas are Pitboss's own (in `schemas/`), modelled on what each regulator's
periodic return asks for; none of the three publishes an XSD for operators' returns. They
share one namespace of common types and differ in the root element and the licence header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from dsl.vocabulary import MARKETS, Market


@dataclass(frozen=True)
class Template:
    market: Market
    title: str  # on the PDF's first page
    schema: str  # file name under regapi/reports/schemas/
    namespace: str
    root: str  # the XML root element
    licence_label: str  # how the regulator calls the licence identifier
    licence: re.Pattern[str]
    licence_example: str
    ggr_label: str  # UKGC says gross gambling yield (GGY); MGA and Curaçao say GGR


TEMPLATES: Final[dict[str, Template]] = {
    "MGA": Template(
        market=MARKETS["MGA"],
        title="Malta Gaming Authority: periodic gaming return",
        schema="mga-return-1.xsd",
        namespace="urn:pitboss:report:mga:1",
        root="MGAReturn",
        licence_label="Licence number",
        licence=re.compile(r"MGA/(B2C|B2B)/[0-9]{1,4}/[0-9]{4}"),
        licence_example="MGA/B2C/123/2019",
        ggr_label="GGR",
    ),
    "UKGC": Template(
        market=MARKETS["UKGC"],
        title="UK Gambling Commission: regulatory return",
        schema="ukgc-return-1.xsd",
        namespace="urn:pitboss:report:ukgc:1",
        root="RegulatoryReturn",
        licence_label="Account number",
        licence=re.compile(r"[0-9]{4,6}"),
        licence_example="000123",
        ggr_label="GGY",
    ),
    "CW": Template(
        market=MARKETS["CW"],
        title="Curaçao Gaming Authority: periodic report",
        schema="curacao-return-1.xsd",
        namespace="urn:pitboss:report:curacao:1",
        root="CuracaoReturn",
        licence_label="Licence number",
        licence=re.compile(r"OGL/[0-9]{4}/[0-9]{1,6}/[0-9]{1,6}"),
        licence_example="OGL/2024/123/0456",
        ggr_label="GGR",
    ),
}

COMMON_NAMESPACE: Final = "urn:pitboss:report:common:1"
COMMON_SCHEMA: Final = "report-common-1.xsd"
FORMATS: Final = ("csv", "xml", "pdf")


def template(market: str) -> Template:
    """The market's template; `KeyError` naming the known markets if there is none."""
    try:
        return TEMPLATES[market]
    except KeyError:
        raise KeyError(
            f"{market!r} has no report template (known: {', '.join(sorted(TEMPLATES))})"
        ) from None


def file_stem(market: str, period_kind: str, label: str, revision: int) -> str:
    """`MGA_monthly_2026-01`, with `_r2`… for a revision after the first."""
    stem = f"{market}_{period_kind}_{label}"
    return stem if revision == 1 else f"{stem}_r{revision}"
