"""A report run for the regulator client's tests: one CSV file, its signature, a signed
manifest, all by a fixed key, so that the same bytes come out on every run (the contract
holds them as examples)."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from regapi import periods
from regapi.reports import signing

PERIOD, MARKET = "monthly/2026-01", "MGA"
STEM = "MGA_monthly_2026-01"
CSV_NAME, MANIFEST_NAME = f"{STEM}.csv", f"{STEM}.manifest.json"
CSV_HEADER = b"section,item,label,detail,currency,count,amount_minor,amount_base_minor,value\r\n"
CSV = CSV_HEADER + b"metadata,market,Market,,,,,,MGA\r\n"
SIGNER = signing.ReportSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
MANIFEST = signing.build_manifest(
    market=MARKET, period=periods.parse(PERIOD), revision=1,
    generated_at=datetime(2026, 2, 1, 4, 0, 7, tzinfo=UTC), files=[(CSV_NAME, CSV)], signer=SIGNER,
)  # fmt: skip
FILES = {
    CSV_NAME: CSV,
    CSV_NAME + ".sig": SIGNER.sign(CSV),
    MANIFEST_NAME: MANIFEST,
    MANIFEST_NAME + ".sig": SIGNER.sign(MANIFEST),
}
