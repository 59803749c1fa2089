"""The roles a token can carry, and which of them each kind of route admits.

A route declares the roles that may call it (`Routes.add(..., roles=...)`); a token
passes if it holds any of them. The tuples below are the ones routes use, so that what an
analyst may do is written once. `compliance_officer` may do whatever an analyst and a
policy admin may, plus the sensitive routes; `regulator_read` only reads sensitive routes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

# Regulators and inspectors: the sensitive routes, reading only.
REGULATOR_READ: Final = "regulator_read"
# The operator's MLRO and compliance team: everything analysts and policy admins may
# do, plus the sensitive routes.
COMPLIANCE_OFFICER: Final = "compliance_officer"
# Operator services and staff.
INGEST: Final = "ingest"  # the casino platform sending events
ANALYST: Final = "analyst"  # alerts, cases, restrictions, incidents, rule quality
POLICY_ADMIN: Final = "policy_admin"  # policy versions
PLAYER_FRONTEND: Final = "player_frontend"  # only what a player may be told
OPS: Final = "ops"  # metrics
# Regulators trying the API before going live: the sandbox's mirror of the regulator
# routes (synthetic data) and its validators, nothing else.
SANDBOX: Final = "sandbox"

ALL: Final = frozenset(
    {
        REGULATOR_READ,
        COMPLIANCE_OFFICER,
        INGEST,
        ANALYST,
        POLICY_ADMIN,
        PLAYER_FRONTEND,
        OPS,
        SANDBOX,
    }
)
OPERATOR: Final = frozenset({INGEST, ANALYST, POLICY_ADMIN, PLAYER_FRONTEND, OPS})

# What routes declare.
PUBLIC: Final[tuple[str, ...]] = ()  # no token: probes, the token endpoint, JWKS, HMAC webhooks
EVENTS_WRITE: Final = (INGEST,)
DECISIONS_READ: Final = (INGEST, ANALYST, COMPLIANCE_OFFICER)
ANALYSIS: Final = (ANALYST, COMPLIANCE_OFFICER)
POLICY: Final = (POLICY_ADMIN, COMPLIANCE_OFFICER)
PLAYER_STATUS: Final = (PLAYER_FRONTEND, ANALYST, COMPLIANCE_OFFICER)
METRICS: Final = (OPS,)
# Everything under /regulator/*, audit and config history, player profile and KYC detail.
SENSITIVE_READ: Final = (COMPLIANCE_OFFICER, REGULATOR_READ)
SENSITIVE_WRITE: Final = (COMPLIANCE_OFFICER,)
# Everything under /sandbox/*: sandbox clients only, so that their credentials can never
# read live data and live credentials are never sent to the sandbox by mistake.
SANDBOX_ONLY: Final = (SANDBOX,)


def unknown(roles: Iterable[str]) -> list[str]:
    """The names in `roles` that are not roles, in order (for error messages)."""
    return [r for r in roles if r not in ALL]
