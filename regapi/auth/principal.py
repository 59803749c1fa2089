"""Who is calling: what a verified token says about its holder."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    client_id: str  # the token's `sub`
    name: str  # the client's name when it was registered, for logs and the audit trail
    roles: frozenset[str]

    def may(self, allowed: tuple[str, ...]) -> bool:
        """True if any of the principal's roles is among `allowed`."""
        return not self.roles.isdisjoint(allowed)
