"""The `pitboss` command. Thin: parse arguments, call the domain, print, set the exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import dsl
from dsl.errors import Issue, PolicySyntaxError

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def _policy_files(paths: Sequence[str]) -> list[Path]:
    """The files named, and the .pol files under the folders named."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(path.rglob("*.pol")))
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"no such file or folder: {raw}")
    if not files:
        raise UsageError(f"no .pol files in {' '.join(paths)}")
    return files


def _issues_of(path: Path, text: str) -> list[Issue]:
    try:
        return list(dsl.check_source(text, str(path), path.parent).issues)
    except PolicySyntaxError as exc:
        return list(exc.issues)


def _issue_json(issue: Issue) -> str:
    loc = issue.location
    return json.dumps(
        {
            "path": loc.path,
            "line": loc.line,
            "col": loc.col,
            "end_line": loc.span.end_line,
            "end_col": loc.span.end_col,
            "severity": issue.severity.value,
            "code": issue.code.value,
            "message": issue.message,
            "hint": issue.hint,
            "markets": list(issue.markets),
        }
    )


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    return exc.strerror or str(exc)


def cmd_check(args: argparse.Namespace) -> int:
    files = _policy_files(args.paths)
    errors = warnings = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: error cannot read the file: {_reason(exc)}", file=sys.stderr)
            errors += 1
            continue
        issues = _issues_of(path, text)
        for issue in issues:
            print(_issue_json(issue) if args.json else dsl.render(issue, text))
        errors += sum(i.is_error for i in issues)
        warnings += sum(not i.is_error for i in issues)
    if not args.json:
        print(
            f"checked {len(files)} file{'s' * (len(files) != 1)}: "
            f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
        )
    failed = errors > 0 or (args.strict and warnings > 0)
    return EXIT_PROBLEMS if failed else EXIT_OK


def cmd_fmt(args: argparse.Namespace) -> int:
    """Print policies in canonical layout, or with `--check` list those not in it.

    Comments are not part of the syntax tree, so the formatter never rewrites files: it
    prints, and the author decides."""
    status = EXIT_OK
    for path in _policy_files(args.paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: error cannot read the file: {_reason(exc)}", file=sys.stderr)
            status = EXIT_PROBLEMS
            continue
        try:
            formatted = dsl.format_policy(dsl.parse(text, str(path)))
        except PolicySyntaxError as exc:
            print(dsl.render_all(exc.issues, text))
            status = EXIT_PROBLEMS
            continue
        if not args.check:
            print(formatted, end="")
        elif formatted != text:
            print(f"{path}: not in canonical layout")
            status = EXIT_PROBLEMS
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pitboss", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check policy files and report every problem")
    check.add_argument("paths", nargs="+", help="policy files or folders of .pol files")
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.add_argument("--json", action="store_true", help="one JSON object per problem")
    check.set_defaults(run=cmd_check)

    fmt = sub.add_parser("fmt", help="print policies in canonical layout")
    fmt.add_argument("paths", nargs="+")
    fmt.add_argument("--check", action="store_true", help="only report files that would change")
    fmt.set_defaults(run=cmd_fmt)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except UsageError as exc:
        print(f"pitboss {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader (`| head`) went away; what it wanted it has. Silence the flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return status


if __name__ == "__main__":
    sys.exit(main())
