"""Suspicious activity reports: goAML XML built from an escalated case, validated against
Pitboss's schema of the goAML elements it fills, stored append-only and audited.

Never shown to a player, nor to a regulator's view of a player: tipping off is an offence.
"""
