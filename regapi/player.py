"""A regulator's view of one player (`GET /regulator/player/{id}`): profile, KYC state,
limits, restrictions, recent transactions, alerts and cases.

Never a suspicious activity report, nor anything that shows one exists. Reporting is
done through the FIU, and whatever a regulator is sent may travel further (an inspection
file, a licensee letter), so tipping-off protection holds here too. Concretely:
- cases are bare facts; their title, resolution, notes, evidence and timeline are never
  read, and the three outcomes (cleared, escalated to a SAR, restricted) all read
  `decided`, so escalation cannot be told apart from the others;
- alerts carry no label (a label tells a cleared case from an escalated one);
- restrictions show their kind and parameters, never the reason staff recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias
from urllib.parse import quote

import asyncpg
import msgspec

from engine.events import KycUpdate, LimitChange, SelfExclusion, decode_event, to_epoch_ms
from engine.store import restrictions as restriction_store
from regapi import audit, players
from regapi.keys import Keys
from regapi.players import DocumentMeta, PlayerProfile
from regapi.store import player_view as store
from regapi.store.logs import AlertRow, TransactionRow

RECENT_TRANSACTIONS: Final = 20
MAX_ALERTS: Final = 200
MAX_CASES: Final = 200

CaseState: TypeAlias = Literal["open", "investigating", "decided", "closed"]
# Every outcome reads the same (see the module's docstring).
_CASE_STATES: Final[dict[str, CaseState]] = {
    "open": "open",
    "investigating": "investigating",
    "cleared": "decided",
    "escalated": "decided",
    "restricted": "decided",
    "closed": "closed",
}


class Kyc(msgspec.Struct, kw_only=True):
    level: int | None
    status: str | None
    # The player's KYC record, or (without one) the latest kyc_update event.
    source: Literal["profile", "events"]
    updated_at: datetime | None
    doc_country: str | None = None
    doc_match: bool | None = None
    documents: list[DocumentMeta] = msgspec.field(default_factory=list)  # on file, metadata


class Limit(msgspec.Struct, kw_only=True):
    """A responsible-gambling limit the player set (their latest of its kind)."""

    limit_kind: str | None
    value: int | None
    until: datetime | None
    set_at: datetime
    event_id: str


class SelfExclusionState(msgspec.Struct, kw_only=True):
    in_force: bool
    since: datetime
    until: datetime | None  # None: indefinite
    event_id: str


class Restriction(msgspec.Struct, kw_only=True):
    """A restriction the operator placed, without the reason staff recorded."""

    id: int
    kind: str
    params: dict[str, Any]
    active: bool
    created_at: datetime
    lifted_at: datetime | None


class Case(msgspec.Struct, kw_only=True):
    id: int
    subject_kind: str
    subject_id: str
    state: CaseState
    priority: int
    opened_at: datetime
    decided_at: datetime | None
    closed_at: datetime | None
    alert_ids: list[int]


class Transactions(msgspec.Struct, kw_only=True):
    recent: list[TransactionRow]  # newest first
    log: str  # every transaction of the player, paged: the transactions log


class PlayerView(msgspec.Struct, kw_only=True):
    player_id: str
    profile: PlayerProfile | None  # None: no profile recorded
    kyc: Kyc | None
    self_exclusion: SelfExclusionState | None
    limits: list[Limit]
    restrictions: list[Restriction]
    transactions: Transactions
    alerts: list[AlertRow]  # newest first
    cases: list[Case]  # newest first


def _time(value: datetime | int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(to_epoch_ms(value) / 1000, tz=UTC)


def transactions_link(player_id: str, prefix: str = "/regulator") -> str:
    return f"{prefix}/logs/transactions?player={quote(player_id, safe='')}"


async def kyc_from_events(conn: asyncpg.Connection, player_id: str) -> Kyc | None:
    """The KYC state the player's latest `kyc_update` event reported."""
    found = await store.latest_event(conn, player_id, "kyc_update")
    if found is None:
        return None
    ts, body = found
    event = decode_event(body)
    assert isinstance(event, KycUpdate)
    return Kyc(
        level=event.kyc_level,
        status=event.status,
        source="events",
        updated_at=ts,
        doc_country=event.doc_country,
        doc_match=event.doc_match,
    )


async def _limits(
    conn: asyncpg.Connection, player_id: str, now: datetime
) -> tuple[list[Limit], SelfExclusionState | None]:
    limits, excluded = [], None
    for row in await store.limit_events(conn, player_id):
        event = decode_event(row.body)
        if isinstance(event, SelfExclusion):
            until = _time(event.until)
            excluded = SelfExclusionState(
                in_force=until is None or until > now,
                since=row.ts,
                until=until,
                event_id=row.event_id,
            )
        elif isinstance(event, LimitChange):
            limits.append(
                Limit(
                    limit_kind=event.limit_kind,
                    value=event.value,
                    until=_time(event.until),
                    set_at=row.ts,
                    event_id=row.event_id,
                )
            )
    return limits, excluded


async def kyc_from_profile(conn: asyncpg.Connection, profile: PlayerProfile) -> Kyc:
    # When the KYC state last changed is the audit trail's to say: the profile's own
    # `updated_at` moves with any edit of it.
    changed = await audit.latest(conn, "kyc_state", profile.player_id)
    return Kyc(
        level=profile.kyc_level,
        status=profile.kyc_status,
        source="profile",
        updated_at=profile.updated_at if changed is None else changed.at,
        documents=await players.documents(conn, profile.player_id),
    )


async def view(
    conn: asyncpg.Connection,
    keys: Keys,
    player_id: str,
    *,
    now: datetime,
    prefix: str = "/regulator",
) -> PlayerView | None:
    """The player as a regulator sees them; None if the service knows nothing of them.

    The profile (opened with the personal-data keys) and the KYC state come from the
    player's record when there is one; without it the latest `kyc_update` event gives the
    KYC state."""
    profile = await players.profile_of(conn, keys, player_id)
    if profile is None and not await store.known(conn, player_id):
        return None
    kyc = await (
        kyc_from_events(conn, player_id) if profile is None else kyc_from_profile(conn, profile)
    )
    limits, excluded = await _limits(conn, player_id, now)
    restrictions = [
        Restriction(
            id=r.id,
            kind=r.kind,
            params=r.params,
            active=r.active,
            created_at=r.created_at,
            lifted_at=r.lifted_at,
        )
        for r in await restriction_store.listing(conn, player_id)
    ]
    cases = [
        Case(
            id=c.id,
            subject_kind=c.subject_kind,
            subject_id=c.subject_id,
            state=_CASE_STATES.get(c.state, "open"),
            priority=c.priority,
            opened_at=c.opened_at,
            # An outcome's time is shown, never which outcome it was.
            decided_at=c.decided_at,
            closed_at=c.closed_at,
            alert_ids=c.alert_ids,
        )
        for c in await store.cases(conn, player_id, MAX_CASES)
    ]
    return PlayerView(
        player_id=player_id,
        profile=profile,
        kyc=kyc,
        self_exclusion=excluded,
        limits=limits,
        restrictions=restrictions,
        transactions=Transactions(
            recent=await store.recent_transactions(conn, player_id, RECENT_TRANSACTIONS),
            log=transactions_link(player_id, prefix),
        ),
        alerts=await store.alerts(conn, player_id, MAX_ALERTS),
        cases=cases,
    )
