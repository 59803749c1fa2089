"""Composition root: the `pitboss` command line, the service's settings and app wiring."""

__version__ = "0.1.0"
