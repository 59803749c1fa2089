"""The Pitboss policy language: parse, check and format policies.

>>> result = check_source(text, "policies/aml_core.pol")
>>> result.ok, result.issues
"""

from __future__ import annotations

from pathlib import Path

from dsl.checks import PASSES, CheckResult, check
from dsl.diagnostics import render, render_all
from dsl.errors import Code, Issue, Location, PolicyError, PolicySyntaxError, Severity
from dsl.format import format_expr, format_policy
from dsl.parser import parse, parse_expr


def check_source(text: str, path: str = "<policy>", base_dir: Path | None = None) -> CheckResult:
    """Parse and check policy text. Syntax errors raise `PolicySyntaxError`."""
    return check(parse(text, path), path, base_dir)


def check_file(path: Path) -> CheckResult:
    return check_source(path.read_text(encoding="utf-8"), str(path), path.parent)


def load_policy(path: Path) -> CheckResult:
    """A policy ready to compile: raises `PolicyError` with every error if it has any."""
    result = check_file(path)
    if not result.ok:
        raise PolicyError([i for i in result.issues if i.is_error])
    return result


__all__ = [
    "PASSES",
    "CheckResult",
    "Code",
    "Issue",
    "Location",
    "PolicyError",
    "PolicySyntaxError",
    "Severity",
    "check",
    "check_file",
    "check_source",
    "format_expr",
    "format_policy",
    "load_policy",
    "parse",
    "parse_expr",
    "render",
    "render_all",
]
