"""The `pitboss` command. Thin: parse arguments, call the domain, print, set the exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

import dsl
from dsl.errors import Issue, PolicyError, PolicySyntaxError
from engine.events import BaseEvent, EventError, decode_events_jsonl, event_type

# The engine brings numpy and numba, which take longer to import than `check` takes to
# run; `test` and `explain` import it when they start.
if TYPE_CHECKING:
    from dsl.testing import TestOutcome
    from engine.decisions import Decision, Hit, Scalar

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


def _print_policy_errors(exc: PolicyError) -> None:
    """Print a policy's errors as `check` does, each under its own file's source line."""
    sources: dict[str, str | None] = {}
    for issue in exc.issues:
        path = issue.location.path
        if path not in sources:
            try:
                sources[path] = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                sources[path] = None
        print(dsl.render(issue, sources[path]))


def _outcome_lines(outcome: TestOutcome) -> list[str]:
    head = f"{'PASS' if outcome.passed else 'FAIL'} {outcome.path}:{outcome.line}  {outcome.name}"
    return [head, *(textwrap.indent(reason, "    ") for reason in outcome.failures)]


def _outcome_json(outcome: TestOutcome) -> str:
    return json.dumps(
        {
            "path": outcome.path,
            "line": outcome.line,
            "policy": outcome.policy,
            "name": outcome.name,
            "passed": outcome.passed,
            "failures": outcome.failures,
        }
    )


def cmd_test(args: argparse.Namespace) -> int:
    """Run the tests written inside policies, on the compiled engine."""
    from dsl.compiler import CompileError
    from dsl.testing import run_tests

    files = _policy_files(args.paths)
    passed = failed = broken = 0
    for path in files:
        try:
            outcomes = run_tests(dsl.load_policy(path))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: error cannot read the file: {_reason(exc)}", file=sys.stderr)
            broken += 1
            continue
        except PolicyError as exc:
            if args.json:
                for issue in exc.issues:
                    print(_issue_json(issue))
            else:
                _print_policy_errors(exc)
            broken += 1
            continue
        except CompileError as exc:
            # The checks passed, so this is a gap in the compiler, not the author's mistake.
            print(f"{path}: error cannot compile the policy: {exc}", file=sys.stderr)
            broken += 1
            continue
        if args.k is not None:
            outcomes = [o for o in outcomes if args.k.casefold() in o.name.casefold()]
        for outcome in outcomes:
            print(_outcome_json(outcome) if args.json else "\n".join(_outcome_lines(outcome)))
        passed += sum(o.passed for o in outcomes)
        failed += sum(not o.passed for o in outcomes)
    if args.k is not None and passed + failed == 0 and not broken:
        raise UsageError(f"no test name contains {args.k!r}")
    if args.json:
        summary = {"passed": passed, "failed": failed, "files_with_errors": broken}
        print(json.dumps({"summary": summary}))
    else:
        not_run = f", {broken} file{'s' * (broken != 1)} not run" if broken else ""
        print(f"{passed} passed, {failed} failed{not_run}")
    return EXIT_PROBLEMS if failed or broken else EXIT_OK


def _time(ms: int) -> str:
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    text = at.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def _scalar(value: Scalar) -> str:
    if value is None:
        return "?"  # as a reason shows a missing value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _hit_lines(hit: Hit) -> list[str]:
    tags = ", ".join(t for t in (hit.policy, hit.severity) if t)
    line = f"  {hit.score:+d} {hit.rule} [{tags}]"
    if hit.shadow:
        line += " (shadow)"
    if hit.action != "allow":  # "allow" is a rule without an action of its own
        line += f" {hit.action}"
    if hit.reason:
        line += f": {hit.reason}"
    lines = [line]
    if hit.values:
        lines.append("      " + ", ".join(f"{k}={_scalar(v)}" for k, v in hit.values.items()))
    return lines


def _decision_lines(event: BaseEvent, decision: Decision) -> list[str]:
    head = (
        f"{_time(decision.ts)}  {event_type(event)}  {decision.event_id}  "
        f"player {decision.player_id}  {decision.market}  "
        f"→ {decision.action}  (score {decision.score})"
    )
    return [head, *(line for hit in (*decision.hits, *decision.shadow) for line in _hit_lines(hit))]


def _event_problem(name: str, exc: EventError) -> str:
    where = name if exc.line is None else f"{name}:{exc.line}"
    message = exc.message
    if exc.field is not None and f"`{exc.field}`" not in message:
        message = f"field `{exc.field}`: {message}"
    return f"{where}: {message}"


def cmd_explain(args: argparse.Namespace) -> int:
    """Decide each event of a JSONL file and show which rules fired and why."""
    from dsl.compiler import CompileError
    from engine.runtime import StreamEngine, load_pack

    files = _policy_files([args.policy])
    if args.events != "-" and not Path(args.events).exists():
        raise UsageError(f"no such file: {args.events}")
    try:
        data = sys.stdin.buffer.read() if args.events == "-" else Path(args.events).read_bytes()
    except OSError as exc:
        print(f"{args.events}: error cannot read the file: {_reason(exc)}", file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        pack = load_pack(files)
    except (OSError, UnicodeDecodeError) as exc:
        where = getattr(exc, "filename", None) or args.policy
        print(f"{where}: error cannot read the file: {_reason(exc)}", file=sys.stderr)
        return EXIT_PROBLEMS
    except PolicyError as exc:
        _print_policy_errors(exc)
        return EXIT_PROBLEMS
    except CompileError as exc:
        print(f"{args.policy}: error {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    # Every line is decoded before the first is decided: a bad file gives no output but
    # the problem, rather than a run that stops partway.
    try:
        events = decode_events_jsonl(data)
    except EventError as exc:
        print(_event_problem(args.events, exc), file=sys.stderr)
        return EXIT_PROBLEMS
    engine = StreamEngine(pack)
    for event in events:
        decision = engine.process(event)
        if args.only_hits and not (decision.hits or decision.shadow):
            continue
        if args.json:
            print(msgspec.json.encode(decision).decode())
        else:
            print("\n".join(_decision_lines(event, decision)))
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    """Generate a synthetic casino with labelled typologies into a folder."""
    from simulator.generate import DEFAULT_CHUNK_PLAYERS
    from simulator.progress import Bar
    from simulator.scenario import ScenarioError, load_scenario
    from simulator.writer import write_simulation

    run = {
        key: value
        for key, value in (("seed", args.seed), ("players", args.players), ("days", args.days))
        if value is not None
    }
    path = None if args.scenario == "default" else Path(args.scenario)
    if path is not None and not path.exists():
        raise UsageError(f"no such file: {args.scenario}")
    try:
        scenario = load_scenario(path, overrides={"scenario": run} if run else None)
    except ScenarioError as exc:
        print(f"error {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    bar = None if args.quiet or not sys.stderr.isatty() else Bar(sys.stderr)
    try:
        written = write_simulation(
            scenario,
            args.out,
            chunk_players=args.chunk_players or DEFAULT_CHUNK_PLAYERS,
            workers=args.workers,
            progress=bar,
        )
    except OSError as exc:
        print(f"{args.out}: error cannot write: {_reason(exc)}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        if bar is not None:
            bar.close()
    typologies = sum(written.typology_players.values())
    print(
        f"simulated {written.players:,} players ({typologies:,} in typologies) over "
        f"{written.days} days from {written.start}: {written.events:,} events in "
        f"{written.seconds:.1f} s ({written.events_per_second:,.0f} events/s)"
    )
    for name, file in written.files.items():
        print(f"  {name:<9}{file}")
    return EXIT_OK


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

    test = sub.add_parser("test", help="run the tests written inside policies")
    test.add_argument(
        "paths", nargs="*", default=["policies"], help="policy files or folders (default: policies)"
    )
    test.add_argument("-k", metavar="TEXT", help="only tests whose name contains TEXT (any case)")
    test.add_argument("--json", action="store_true", help="one JSON object per test")
    test.set_defaults(run=cmd_test)

    explain = sub.add_parser("explain", help="decide events and show which rules fired and why")
    explain.add_argument("policy", help="a policy file, or a folder of .pol files run together")
    explain.add_argument("events", help="a JSONL file of events, one per line; - for stdin")
    explain.add_argument("--json", action="store_true", help="one JSON decision per event")
    explain.add_argument(
        "--only-hits", action="store_true", help="leave out events where no rule fired"
    )
    explain.set_defaults(run=cmd_explain)

    simulate = sub.add_parser(
        "simulate", help="generate a synthetic casino with labelled typologies"
    )
    simulate.add_argument(
        "scenario", help="a scenario file (TOML, laid over the default), or `default`"
    )
    simulate.add_argument("--out", required=True, help="folder for the Parquet files")
    simulate.add_argument("--seed", type=int, help="override the scenario's seed")
    simulate.add_argument("--players", type=int, help="override the number of players")
    simulate.add_argument("--days", type=int, help="override the number of days")
    simulate.add_argument(
        "--chunk-players", type=int, help="players held in memory at once (memory only)"
    )
    simulate.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="processes generating chunks, threads sorting them (default: the cores, up to 4)",
    )
    simulate.add_argument("--quiet", action="store_true", help="no progress bar")
    simulate.set_defaults(run=cmd_simulate)

    from pitboss import backtest_command

    backtest_command.add_parser(sub)

    from pitboss import serve_command

    serve_command.add_parser(sub)

    from pitboss import keys_command

    keys_command.add_parser(sub)

    from pitboss import clients_command

    clients_command.add_parser(sub)  # `clients`, and `keys rotate|list|retire` beside the above

    from pitboss import audit_command

    audit_command.add_parser(sub)

    from pitboss import report_command

    report_command.add_parser(sub)

    from pitboss import sandbox_command

    sandbox_command.add_parser(sub)

    from sandbox import inspect as inspect_command

    inspect_command.add_parser(sub)  # `pitboss inspect`: the regulator's end-to-end check
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
