"""The audit trail: an append-only, hash-chained log of every change to the entities that
matter, which the database refuses to rewrite; sealed segments; WORM export.

    entry = await record(conn, entity="bonusRule", entity_id="123", action="update",
                         actor=principal.name, before=old, after=new)
    entries = await history(conn, "bonusRule", "123")   # operator, time, RFC 6902 patch

Entities in use: game, payment_method, kyc_state, bonusRule, limit, flag, policy.
"""

from regapi.audit.chain import AuditEntry, Break, Segment
from regapi.audit.trail import (
    AuditError,
    ChainBrokenError,
    Report,
    history,
    latest,
    purge,
    record,
    seal,
    verify,
)

__all__ = [
    "AuditEntry",
    "AuditError",
    "Break",
    "ChainBrokenError",
    "Report",
    "Segment",
    "history",
    "latest",
    "purge",
    "record",
    "seal",
    "verify",
]
