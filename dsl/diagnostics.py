"""Issues as a compliance author reads them: `path:line:col: error CODE message`, the
source line, and a caret under the spot."""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz.distance import Levenshtein

from dsl.errors import Issue


def render(issue: Issue, source: str | None) -> str:
    loc = issue.location
    message = issue.message
    if issue.hint:
        message += f"; did you mean `{issue.hint.strip('`')}`?"
    if issue.markets:
        message += f" (in {', '.join(issue.markets)})"
    head = f"{loc.path}:{loc.line}:{loc.col}: {issue.severity.value} {issue.code.value} {message}"
    lines = source.splitlines() if source is not None else []
    if not 1 <= loc.line <= len(lines):
        return head
    text = lines[loc.line - 1].expandtabs(1)
    span = loc.span
    width = span.end_col - span.col if span.end_line == span.line else len(text) - span.col + 1
    caret = " " * (loc.col - 1) + "^" + "~" * max(0, min(width, len(text) - loc.col + 1) - 1)
    return f"{head}\n    {text}\n    {caret}"


def render_all(issues: Iterable[Issue], source: str | None) -> str:
    return "\n".join(render(i, source) for i in issues)


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The nearest candidate by edit distance, if close enough to be a typo.

    Ties go to a candidate that differs only in case, then alphabetically, so the hint
    never depends on the order candidates come in."""
    pool = sorted({c for c in candidates if c != word})
    if not pool:
        return None
    lowered = word.lower()
    ranked = sorted((Levenshtein.distance(word, c), c.lower() != lowered, c) for c in pool)
    distance, case_only_differs, candidate = ranked[0][0], not ranked[0][1], ranked[0][2]
    limit = max(1, min(3, len(word) // 3 + 1))
    if distance <= limit or case_only_differs:
        return candidate
    return None
