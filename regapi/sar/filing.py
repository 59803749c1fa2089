"""Filing a suspicious activity report from a case: gather what the case holds, build the
goAML XML, validate it, store it, note it on the case's timeline and audit it, all in one
transaction; a report that does not validate is not filed.

A report is filed from a case whose outcome was escalation: one in `escalated`, or one
that went on to `restricted` or `closed` after it was escalated. A case cleared, or
restricted without ever being escalated, is refused (`NotEscalatedError`).

What a report holds: the involved players (the case's subject and the players of its
alerts; personal data from their profiles, opened with the PII keys), every deposit,
withdrawal and chargeback of theirs from 30 days before the first alert up to the filing
(amounts converted to the market's currency at the rate of their time), the payment
instruments those used, and the ids of the rules that fired as indicators.

What goes where:
- the XML and the narrative stay in `sars`, read only by compliance officers;
- the case's timeline gets `sar_filed` with the reference (analysts work the case, and
  the timeline is never shown to a player or in a regulator's view of a player);
- the audit trail gets the reference, case, market, digest and who filed, never the
  narrative nor personal data: the audit log cannot be erased, and `sar` is not among the
  entities `/regulator/audit` serves.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg

from dsl.vocabulary import MARKETS
from engine import cases
from engine.events import Chargeback, Deposit, Withdrawal, decode_event, to_epoch_ms
from engine.fx import FxError, RateTable
from engine.store import cases as case_store
from engine.store.cases import AlertRow
from regapi import audit, player, players
from regapi.keys import Keys
from regapi.reports.config import ReportsConfig
from regapi.sar import goaml
from regapi.sar.goaml import (
    REPORT_CODES,
    Instrument,
    Player,
    Problem,
    ReportCode,
    ReportingEntity,
    ReportingPerson,
    SarInput,
    Transaction,
    TransactionKind,
)
from regapi.store import sars as store
from regapi.store.sars import CaseFacts, EventRow, SarRecord

REASON_MAX: Final = 4_000  # goAML 4's limit on its comment fields
# Transactions before the first alert that still belong to the story: the longest window
# of the AML pack's rules (cumulative deposits, instruments shared over 30 days).
LOOKBACK: Final = timedelta(days=30)
MAX_TRANSACTIONS: Final = 2_000  # the latest ones, beside those the alerts name
MAX_PLAYERS: Final = 100
MONEY_TYPES: Final = ("deposit", "withdrawal", "chargeback")
# The jurisdiction of each market: the country of the accounts the operator holds there.
MARKET_COUNTRY: Final = {"MGA": "MT", "UKGC": "GB", "CW": "CW"}
ENTRY_KIND: Final = "sar_filed"
AUDIT_ENTITY: Final = "sar"


class SarError(Exception):
    """What filing refuses; `field` names what is at fault when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(SarError):
    pass


class NotEscalatedError(SarError):
    """The case's outcome was not escalation."""


class NotConfiguredError(SarError):
    """The service lacks what the FIU needs (the reporting-entity id, an FX rate)."""


class InvalidSarError(SarError):
    """The document built does not validate; nothing was filed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        listed = "; ".join(str(p) for p in self.problems[:20])
        more = f" (and {len(self.problems) - 20} more)" if len(self.problems) > 20 else ""
        super().__init__(f"the report does not validate, so it was not filed: {listed}{more}")


# --- checking what the officer gave -------------------------------------------------------


def _text(value: str, field: str, *, limit: int, lines: bool = False) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise SarError(f"{field}: must not be blank", field=field)
    if len(value) > limit:
        raise SarError(f"{field}: at most {limit} characters", field=field)
    allowed = "\n\t" if lines else ""
    if any(not c.isprintable() and c not in allowed for c in value.replace("\r\n", "\n")):
        raise SarError(f"{field}: must not hold control characters", field=field)
    return value.replace("\r\n", "\n")


def check_reason(reason: str) -> str:
    """The narrative as filed: trimmed, not blank, printable (line breaks allowed)."""
    return _text(reason, "reason", limit=REASON_MAX, lines=True)


def check_reporting_person(person: ReportingPerson) -> ReportingPerson:
    where = "reporting_person."
    email = person.email
    if email is not None:
        email = _text(email, where + "email", limit=255)
        if email.count("@") != 1 or any(c.isspace() for c in email):
            raise SarError(f"{where}email: not an email address", field=where + "email")
    occupation = person.occupation
    if occupation is not None:
        occupation = _text(occupation, where + "occupation", limit=255)
    return ReportingPerson(
        first_name=_text(person.first_name, where + "first_name", limit=100),
        last_name=_text(person.last_name, where + "last_name", limit=100),
        email=email,
        occupation=occupation,
    )


def check_report_code(code: str) -> ReportCode:
    for known in REPORT_CODES:
        if code == known:
            return known
    raise SarError(f"report_code: one of {', '.join(REPORT_CODES)}", field="report_code")


# --- the case ------------------------------------------------------------------------------


async def _check_escalated(conn: asyncpg.Connection, case: CaseFacts) -> None:
    if case.state == cases.ESCALATED:
        return
    if case.state in (cases.RESTRICTED, cases.CLOSED) and await store.was_escalated(conn, case.id):
        return
    raise NotEscalatedError(
        f"state: case {case.id} is {case.state} and was never escalated; a SAR is filed "
        "from a case escalated to one (escalated, or restricted or closed after an "
        "escalation)",
        field="state",
    )


async def _market_of(conn: asyncpg.Connection, alerts: Sequence[AlertRow]) -> str:
    """The market of the case's first alert's first event: a report goes to one FIU."""
    first = min(alerts, key=lambda a: a.id)
    market = await store.event_market(conn, first.first_event)
    if market is None:
        # Alerts are written with their events: this is damage, the operator's to see.
        raise RuntimeError(f"the event {first.first_event!r} of alert {first.id} is not stored")
    return market


def _entity(config: ReportsConfig, market: str) -> ReportingEntity:
    found = config.markets.get(market)
    if found is None:
        raise NotConfiguredError(
            f"markets.{market}: the reports configuration has no market {market}",
            field=f"markets.{market}",
        )
    if found.fiu_entity_id < 1:
        raise NotConfiguredError(
            f"markets.{market}.fiu_entity_id: the operator's goAML reporting-entity id at "
            f"the {market} FIU is not set in the reports configuration",
            field=f"markets.{market}.fiu_entity_id",
        )
    return ReportingEntity(
        rentity_id=found.fiu_entity_id,
        name=config.operator_name,
        licence=found.licence,
        country=MARKET_COUNTRY.get(market, goaml.UNKNOWN_COUNTRY),
    )


# --- gathering -----------------------------------------------------------------------------


async def _money_events(
    conn: asyncpg.Connection, alerts: Sequence[AlertRow], players_: Sequence[str]
) -> list[EventRow]:
    """The alerts' own money events; the players' money events from `LOOKBACK` before the
    first alert up to the filing (what happened since the alerts, a chargeback or the
    cash-out, is part of what the FIU is told); and the deposits the chargebacks among
    them reverse."""
    named = {e for a in alerts for e in (a.first_event, a.last_event)}
    since = min(a.first_seen for a in alerts) - LOOKBACK
    rows = {r.seq: r for r in await store.events_by_id(conn, named, MONEY_TYPES)}
    for r in await store.player_events(conn, players_, MONEY_TYPES, since, MAX_TRANSACTIONS):
        rows.setdefault(r.seq, r)
    known = {r.event_id for r in rows.values()}
    reversed_ = set()
    for r in rows.values():
        if r.type == "chargeback":
            event = decode_event(r.body)
            if (
                isinstance(event, Chargeback)
                and event.ref_event_id
                and (event.ref_event_id not in known)
            ):
                reversed_.add(event.ref_event_id)
    if reversed_:
        for r in await store.events_by_id(conn, reversed_, ("deposit",)):
            rows.setdefault(r.seq, r)
    return sorted(rows.values(), key=lambda r: (r.ts, r.seq))


def _kind(event: Deposit | Withdrawal | Chargeback) -> TransactionKind:
    if isinstance(event, Deposit):
        return "deposit"
    return "withdrawal" if isinstance(event, Withdrawal) else "chargeback"


def _transactions(rows: Sequence[EventRow], local: str, rates: RateTable) -> list[Transaction]:
    out: list[Transaction] = []
    decoded = [(r, decode_event(r.body)) for r in rows]
    payments = {e.event_id: e for _, e in decoded if isinstance(e, Deposit | Withdrawal)}
    for r, event in decoded:
        if not isinstance(event, Deposit | Withdrawal | Chargeback):
            continue
        at_ms = to_epoch_ms(event.ts)
        try:
            local_minor = rates.convert_minor(event.amount, event.currency, local, at_ms)
            rate = rates.rate(event.currency, local, at_ms)
        except FxError as exc:
            raise NotConfiguredError(f"fx: {exc}", field="fx") from None
        # A chargeback reverses a deposit: its instrument is the deposit's.
        pay = payments.get(event.ref_event_id or "") if isinstance(event, Chargeback) else event
        out.append(
            Transaction(
                event_id=event.event_id,
                seq=r.seq,
                kind=_kind(event),
                player_id=event.player_id,
                at=r.ts,
                amount_minor=event.amount,
                currency=event.currency,
                local_minor=local_minor,
                rate=rate,
                method=pay.method if pay else None,
                provider=pay.psp if pay else None,
                instrument_id=pay.instrument_id if pay else None,
                instrument_country=pay.card_country if pay else None,
                ip_country=event.ip_country,
                status=event.status if isinstance(event, Deposit | Withdrawal) else None,
                ref_event_id=event.ref_event_id if isinstance(event, Chargeback) else None,
            )
        )
    return out


def _instruments(transactions: Sequence[Transaction]) -> list[Instrument]:
    """Each instrument a player paid in or out with, as last seen, and how often."""
    seen: dict[tuple[str, str], list[Transaction]] = {}
    for t in transactions:
        if t.instrument_id is not None and t.kind != "chargeback":
            seen.setdefault((t.instrument_id, t.player_id), []).append(t)
    out = []
    for (instrument_id, player_id), used in sorted(seen.items()):
        last = used[-1]
        counts = {k: sum(t.kind == k for t in used) for k in ("deposit", "withdrawal")}
        uses = " and ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in counts.items() if n)
        out.append(
            Instrument(
                instrument_id=instrument_id,
                player_id=player_id,
                provider=next((t.provider for t in reversed(used) if t.provider), None),
                method=last.method,
                currency=last.currency,
                country=next(
                    (t.instrument_country for t in reversed(used) if t.instrument_country), None
                ),
                reason=f"payment instrument of player {player_id}: {uses} in this report",
            )
        )
    return out


async def _players(
    conn: asyncpg.Connection, keys: Keys, case: CaseFacts, alerts: Sequence[AlertRow]
) -> list[Player]:
    # The subject first, so that a case about a very large cluster keeps it.
    others = sorted({a.player_id for a in alerts} - {case.subject_id})
    ids = [case.subject_id, *others][:MAX_PLAYERS]
    out = []
    for player_id in ids:
        mine = [a for a in alerts if player_id in (a.player_id, a.subject_id)]
        role = "subject" if player_id == case.subject_id else "involved player"
        listed = "; ".join(f"alert {a.id} ({a.family}: {', '.join(a.rules)})" for a in mine)
        reason = f"{role} of case {case.id}" + (f"; {listed}" if listed else "")
        profile = await players.profile_of(conn, keys, player_id)
        if profile is None:
            out.append(Player(player_id=player_id, reason=reason))
            continue
        kyc = await player.kyc_from_events(conn, player_id)
        out.append(
            Player(
                player_id=player_id,
                reason=reason,
                full_name=profile.full_name,
                birthdate=profile.date_of_birth,
                # The country of the identity document the player's KYC checked.
                nationality=None if kyc is None else kyc.doc_country,
                email=profile.email,
                id_number=profile.document_number,
                phone=profile.phone,
                address=profile.address,
            )
        )
    return out


def _action(case_id: int, restrictions: Sequence[str]) -> str:
    text = f"Case {case_id} was escalated for this report"
    if restrictions:
        text += "; restrictions in force on the account: " + ", ".join(restrictions)
    return text + "."


# --- filing --------------------------------------------------------------------------------


async def file_sar(
    conn: asyncpg.Connection,
    keys: Keys,
    *,
    case_id: int,
    reason: str,
    actor: str,
    reporting_person: ReportingPerson,
    config: ReportsConfig,
    report_code: str = "SAR",
    rates: RateTable | None = None,
    now: datetime | None = None,
) -> SarRecord:
    """File a SAR (or STR) from an escalated case; see the module's docstring.

    Refused: `NotFoundError` (no such case), `NotEscalatedError`, `NotConfiguredError`,
    `InvalidSarError` (the problems listed), `SarError` for a bad argument (naming it)."""
    reason = check_reason(reason)
    person = check_reporting_person(reporting_person)
    code = check_report_code(report_code)
    rates = rates or RateTable.default()
    async with conn.transaction():
        case = await store.lock_case(conn, case_id)
        if case is None:
            raise NotFoundError(f"no case {case_id}", field="id")
        await _check_escalated(conn, case)
        alerts = await case_store.case_alerts(conn, case_id)
        if not alerts:
            raise NotEscalatedError(f"case {case_id} has no alerts to report", field="id")
        market = await _market_of(conn, alerts)
        entity = _entity(config, market)
        involved = await _players(conn, keys, case, alerts)
        rows = await _money_events(conn, alerts, [p.player_id for p in involved])
        transactions = _transactions(rows, MARKETS[market].currency, rates)
        reference = f"PB-SAR-{market}-{case_id}-{await store.count_for_case(conn, case_id) + 1}"
        filed_at = (now or datetime.now(UTC)).replace(microsecond=0)
        content = goaml.build(
            SarInput(
                reference=reference,
                report_code=code,
                submitted_at=filed_at,
                market=market,
                timezone=MARKETS[market].timezone,
                currency_local=MARKETS[market].currency,
                entity=entity,
                reporting_person=person,
                reason=reason,
                action=_action(case_id, await store.restriction_kinds(conn, case_id)),
                players=involved,
                instruments=_instruments(transactions),
                transactions=transactions,
                indicators=sorted({rule for a in alerts for rule in a.rules}),
            )
        )
        problems = goaml.validate(content)
        if problems:
            raise InvalidSarError(problems)
        digest = hashlib.sha256(content).hexdigest()
        record = await store.insert(
            conn,
            case_id=case_id,
            market=market,
            reference=reference,
            report_code=code,
            reason=reason,
            xml=content,
            sha256=digest,
            filed_by=actor,
            filed_at=filed_at,
        )
        await case_store.add_entry(
            conn, case_id, actor, ENTRY_KIND, {"reference": reference, "sar_id": record.id}
        )
        # Last, so that the audit chain's head is locked briefly.
        await audit.record(
            conn,
            entity=AUDIT_ENTITY,
            entity_id=reference,
            action="create",
            actor=actor,
            before=None,
            after={
                "reference": reference,
                "case_id": case_id,
                "market": market,
                "report_code": code,
                "sha256": digest,
                "filed_by": actor,
            },
        )
    return record


async def list_for_case(conn: asyncpg.Connection, case_id: int) -> list[SarRecord]:
    """A case's reports, oldest first (`NotFoundError` for no such case)."""
    if not await store.case_exists(conn, case_id):
        raise NotFoundError(f"no case {case_id}", field="id")
    return await store.list_by_case(conn, case_id)


async def xml_of(conn: asyncpg.Connection, sar_id: int) -> tuple[SarRecord, bytes]:
    """A report and its XML as filed."""
    found = await store.xml_of(conn, sar_id)
    if found is None:
        raise NotFoundError(f"no SAR {sar_id}", field="id")
    return found
