"""Issues as a compliance author reads them: `path:line:col: error CODE message`, the
source line, and a caret under the spot."""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import process
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
    """The nearest candidate by edit distance, if it is close enough to be a typo."""
    pool = [c for c in candidates if c != word]
    if not pool:
        return None
    candidate, distance, _ = process.extractOne(word, pool, scorer=Levenshtein.distance)
    limit = max(1, min(3, len(word) // 3 + 1))
    if distance <= limit or candidate.lower() == word.lower():
        return str(candidate)
    return None
