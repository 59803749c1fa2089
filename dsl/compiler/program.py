"""What the compiler hands to the engine: the kernel's source and the tables it reads.

Everything here is plain data, independent of the process's string interning: strings the
kernel compares with are listed (`strings`) and turned into ids when the program is loaded,
so one compiled kernel on disk serves any process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsl.types import Type
from dsl.values import Value
from engine.layout import Layout


@dataclass(frozen=True)
class StoreSpec:
    """The events one windowed aggregate or sequence reads, kept per key."""

    index: int
    key: str  # the key domain: player, device, round, …
    window_ms: int
    distinct: bool = False
    rows: bool = False  # a sequence store keeps whole event rows for its steps
    events: tuple[str, ...] = ()  # the event types pushed (before the store's filter)


@dataclass(frozen=True)
class ExplainItem:
    """A value a rule reports when it is evaluated: an aggregate or a reason placeholder."""

    name: str
    type: Type


@dataclass(frozen=True)
class RuleInfo:
    """A rule as the engine reports it."""

    index: int  # global, across the pack
    policy: str
    name: str
    description: str | None
    reason: str | None
    action: str  # the rule's own action ("allow" when it has none)
    severity: str | None
    family: str | None
    shadow: bool
    events: tuple[str, ...]
    explain: tuple[ExplainItem, ...]
    scores: dict[str, int]  # market → score


@dataclass(frozen=True)
class Band:
    op: str  # ">=" or ">"
    threshold: int
    action: str


@dataclass(frozen=True)
class PolicyInfo:
    index: int
    name: str
    version: int | float
    path: str
    markets: tuple[str, ...]
    bands: dict[str, tuple[Band, ...]]  # market → bands, top first
    otherwise: str
    params: dict[str, dict[str, Value]]  # market → param → value


@dataclass
class Program:
    """A compiled pack: one fused kernel over every policy in it."""

    source: str
    layout: Layout
    stores: list[StoreSpec]
    policies: list[PolicyInfo]
    rules: list[RuleInfo]
    # Constant tables. `strings[j]` is interned into `KI[j]` at load; `floats` is `KF`.
    strings: list[str] = field(default_factory=list)
    floats: list[float] = field(default_factory=list)
    # Sorted-id list regions in KI: (lo, hi) pairs are sorted after interning.
    id_lists: list[tuple[int, int]] = field(default_factory=list)
    # Param tables: float params `P[market, j]`, interned string params `PS[market, j]`.
    float_params: list[dict[str, float]] = field(default_factory=list)  # j → market → value
    string_params: list[dict[str, str]] = field(default_factory=list)
    fx_currencies: list[str] = field(default_factory=list)
    # Kernel tables: how each store takes an event (`ST`), what each aggregate slot asks
    # (`AQ`), and which slots each event type needs (`by_type[type code]`).
    store_table: list[tuple[int, ...]] = field(default_factory=list)
    aggregate_table: list[tuple[int, ...]] = field(default_factory=list)
    by_type: list[list[int]] = field(default_factory=list)
    uses_profile: bool = False
    max_explain: int = 1
    n_sequence_slots: int = 1
