"""Regulator-facing API, access security, reports and delivery, audit trail."""
