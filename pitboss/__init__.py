"""Composition root: the `pitboss` command line and, later, settings and app wiring."""
