"""Judging a load run (`load/sla.py`): per-route statistics from the samples
`load/locustfile.py` writes, and verdicts against the regulatory rule and the DESIGN
budgets ("Numbers we hold ourselves to").

- the rule: FAIL if any regulator query (`/regulator/*`, `/webhook/regulator/*`) took
  over 30 s, or failed;
- the budget: FAIL if the p99 of those queries, all together, is over 1 s (routes over
  1 s on their own are named);
- callbacks: FAIL if a file asked for by callback was not delivered;
- ingest: FAIL if single-event POSTs failed, or their p99 is over 25 ms at 1,000 rps;
  "not comparable" under 90 % of that rate.

Percentiles are nearest-rank over every sample (no histogram buckets): a p99 is a
latency some request actually had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from bench_service import TARGET_P99_MS, TARGET_RATE

# --- DESIGN targets ("Numbers we hold ourselves to") ---------------------------------------

RULE_MS = 30_000.0  # the regulatory rule: a live query answered within 30 s
REGULATOR_P99_MS = 1_000.0  # regulator live queries, p99, 50 inspectors over 10 M events
INGEST_P99_MS = TARGET_P99_MS  # single-event ingest p99 at 1,000 rps
INGEST_RATE = float(TARGET_RATE)
COMPARABLE_SHARE = 0.9  # below 90 % of the target rate, an ingest p99 says little

LIVE_PREFIXES = ("/regulator/", "/webhook/regulator/")
INGEST_ROUTE = "POST /v1/events"
CALLBACK_ROUTE = "CALLBACK /webhook/regulator/request → callback"

# --- statistics and verdicts -----------------------------------------------------------------


@dataclass(frozen=True)
class RouteStats:
    route: str  # "GET /regulator/player/{id}"
    requests: int
    failures: int
    rps: float
    p50: float  # milliseconds
    p95: float
    p99: float
    max: float


@dataclass(frozen=True)
class Summary:
    seconds: float
    routes: list[RouteStats]
    regulator: RouteStats | None  # every regulator live query together


Status = Literal["PASS", "FAIL", "NOT COMPARABLE"]


@dataclass(frozen=True)
class Verdict:
    what: str
    status: Status
    detail: str


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank: the smallest sample with at least `q` of the samples at or below it."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def route_stats(route: str, times: list[float], failures: int, seconds: float) -> RouteStats:
    ordered = sorted(times)
    return RouteStats(
        route=route,
        requests=len(ordered),
        failures=failures,
        rps=len(ordered) / seconds if seconds > 0 else math.nan,
        p50=percentile(ordered, 0.50),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        max=ordered[-1] if ordered else math.nan,
    )


def is_live_query(route: str) -> bool:
    """A regulator's request answered on the spot (the callback's delivery is not)."""
    method, _, path = route.partition(" ")
    return method in ("GET", "POST") and path.startswith(LIVE_PREFIXES)


def summarize(samples: dict[str, Any]) -> Summary:
    """Per-route statistics from the locustfile's samples (`routes`: route → `times` in
    ms and `failures`; `seconds`: how long they were recorded)."""
    seconds = float(samples["seconds"])
    routes = [
        route_stats(route, r["times"], int(r["failures"]), seconds)
        for route, r in sorted(samples["routes"].items())
    ]
    live = [r for r in sorted(samples["routes"]) if is_live_query(r)]
    regulator = None
    if live:
        regulator = route_stats(
            "regulator live queries, all",
            [t for r in live for t in samples["routes"][r]["times"]],
            sum(int(samples["routes"][r]["failures"]) for r in live),
            seconds,
        )
    return Summary(seconds=seconds, routes=routes, regulator=regulator)


def verdicts(summary: Summary, *, target_rps: float = INGEST_RATE) -> list[Verdict]:
    """The run against the rule and the DESIGN budgets."""
    out: list[Verdict] = []
    live = [r for r in summary.routes if is_live_query(r.route)]
    reg = summary.regulator
    if reg is None:
        out.append(
            Verdict(
                "regulator: every query within 30 s, none failed",
                "FAIL",
                "no regulator query was measured",
            )
        )
    else:
        slow = [f"{r.route} (max {r.max / 1000:.1f} s)" for r in live if r.max > RULE_MS]
        failed = [f"{r.route} ({r.failures} failed)" for r in live if r.failures]
        bad = slow + failed
        out.append(
            Verdict(
                "regulator: every query within 30 s, none failed",
                "FAIL" if bad else "PASS",
                "; ".join(bad) or f"{reg.requests:,} queries, slowest {reg.max:,.0f} ms",
            )
        )
        over = [f"{r.route} {r.p99:,.0f} ms" for r in live if r.p99 > REGULATOR_P99_MS]
        detail = f"p99 {reg.p99:,.0f} ms over {reg.requests:,} queries"
        if over:
            detail += "; routes over 1 s at p99: " + ", ".join(over)
        out.append(
            Verdict(
                "regulator: p99 ≤ 1 s", "FAIL" if reg.p99 > REGULATOR_P99_MS else "PASS", detail
            )
        )
    callback = next((r for r in summary.routes if r.route == CALLBACK_ROUTE), None)
    if callback is not None:
        out.append(
            Verdict(
                "callbacks: every requested file delivered",
                "FAIL" if callback.failures else "PASS",
                f"{callback.requests - callback.failures} of {callback.requests} delivered; "
                f"time to answer p50 {callback.p50:,.0f} ms, p99 {callback.p99:,.0f} ms",
            )
        )
    ingest = next((r for r in summary.routes if r.route == INGEST_ROUTE), None)
    if ingest is not None:
        what = f"ingest: p99 ≤ {INGEST_P99_MS:.0f} ms at {target_rps:,.0f} rps"
        detail = (
            f"p99 {ingest.p99:.1f} ms at {ingest.rps:,.0f} rps; the load generator "
            "shares the cores with the service and PostgreSQL"
        )
        status: Status
        if ingest.failures:
            status, detail = "FAIL", f"{ingest.failures} failed; " + detail
        elif ingest.rps < COMPARABLE_SHARE * target_rps:
            status = "NOT COMPARABLE"
            detail += f" (under {COMPARABLE_SHARE:.0%} of the target rate)"
        else:
            status = "FAIL" if ingest.p99 > INGEST_P99_MS else "PASS"
        out.append(Verdict(what, status, detail))
    return out


def print_report(summary: Summary, found: list[Verdict]) -> None:
    columns = ("route", "requests", "failures", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms")
    widths = (52, 9, 9, 8, 9, 9, 9, 9)

    def line(cells: tuple[str, ...]) -> str:
        return "".join(
            f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    def row(r: RouteStats) -> str:
        return line(
            (
                r.route,
                f"{r.requests:,}",
                f"{r.failures:,}",
                f"{r.rps:,.1f}",
                f"{r.p50:,.1f}",
                f"{r.p95:,.1f}",
                f"{r.p99:,.1f}",
                f"{r.max:,.1f}",
            )
        )

    head = line(columns)
    print(head)
    print("-" * len(head))
    for r in summary.routes:
        print(row(r))
    if summary.regulator is not None:
        print("-" * len(head))
        print(row(summary.regulator))
    print()
    for v in found:
        print(f"{v.status:<15} {v.what}: {v.detail}")


def problems(samples: dict[str, Any]) -> list[str]:
    """What makes the run less than it should be, beyond the verdicts."""
    out = []
    if samples.get("events_exhausted"):
        out.append("the ingesters ran out of fresh events (raise the margin)")
    if samples.get("pending_callbacks"):
        out.append(f"{samples['pending_callbacks']} callback request(s) still open at the end")
    if samples.get("unanswered"):
        out.append(f"{samples['unanswered']} request(s) unanswered after the drain")
    for e in samples.get("task_errors", []):
        out.append(f"locust task error ×{e['count']}: {e['msg']}")
    for route, r in samples["routes"].items():
        for error, n in r["errors"].items():
            out.append(f"{route}: {n} × {error}")
    return out


def slowest(samples: dict[str, Any], n: int = 10) -> list[dict[str, Any]]:
    """The `n` slowest requests: route, milliseconds, and when each was sent (seconds from
    the start of the measurement), to tell a stall of everything from one slow route."""
    found = [
        {"route": route, "ms": round(ms, 1), "sent_s": sent}
        for route, r in samples["routes"].items()
        for ms, sent in zip(r["times"], r.get("starts") or [None] * len(r["times"]), strict=True)
    ]
    return sorted(found, key=lambda x: -x["ms"])[:n]
