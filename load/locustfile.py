"""Locust scenarios for the live service: inspectors reading the regulator API, the
operator's platform sending events, and regulators asking for files by callback.

    PITBOSS_LOAD_CONFIG=plan.json locust -f load/locustfile.py --headless -t 60s
    .venv/bin/python load/locustfile.py plan.json samples.json   # what load/sla.py runs

The plan (a JSON object, `Plan` below) names the service, the bearer tokens and the data
to ask about: report periods, players that exist, audited entities, the time range the
stored events cover, and a file of events (one contract JSON per line) not sent yet.
`load/sla.py` makes a database, a service and a plan, runs this file as a child process
and judges the samples it writes (per route: each request's time in ms, when it was sent,
in seconds from the start of the measurement, and the failures) against the DESIGN
numbers.

Requests are named by route pattern (`/regulator/player/{id}`), so that locust's stats
and the samples group per route; the logs are named per log type, the five values of
`/regulator/logs/{type}`. A regulator's request answered by callback also records its
time to answer, from the POST until the signed file reached the receiver this process
runs (request type `CALLBACK`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

# locust patches the standard library for gevent when it is imported: before anything
# opens a socket.
import gevent  # type: ignore[import-untyped]
import msgspec
from gevent.pywsgi import WSGIServer  # type: ignore[import-untyped]
from locust import User, between, constant, constant_throughput, events, task
from locust.contrib.fasthttp import FastHttpUser, ResponseContextManager
from locust.env import Environment

CONFIG_ENV = "PITBOSS_LOAD_CONFIG"
LOG_TYPES = ("transactions", "decisions", "alerts", "incidents", "access")
CALLBACK = "CALLBACK"
TIME_TO_ANSWER = "/webhook/regulator/request → callback"
# Single events to batches, by task weight: the single POSTs are what the ingest target
# ("p99 ≤ 25 ms at 1,000 rps") is about; a batch now and then is the platform catching up.
SINGLE_WEIGHT, BATCH_WEIGHT = 19, 1
_DAY = timedelta(days=1)


class Users(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    inspectors: int = 50
    ingesters: int = 100
    requesters: int = 2


class Plan(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What to load and with what: written by `load/sla.py`, or by hand."""

    host: str  # http://127.0.0.1:8080
    # Authorization header values ("Bearer …"): regulator_read for inspectors and
    # requesters, ingest for the ingester.
    inspector_token: str
    requester_token: str
    ingest_token: str
    periods: list[str]  # monthly/2026-01 …: periods with report files
    players: list[str]  # players the service has events of (some with profiles)
    audit: list[tuple[str, str]]  # (entity, id) with recorded changes
    window_from: datetime  # the stored events' time range, for the logs
    window_to: datetime
    events_file: str  # contract JSON, one event per line, never sent before
    users: Users = msgspec.field(default_factory=Users)
    ingest_rps: float = 1_000.0  # single-event POSTs per second, all ingesters together
    batch_size: int = 20
    think_s: float = 1.0  # an inspector's mean pause between queries (0: none)
    callback_secret: str = ""  # PITBOSS_REGULATOR_CALLBACK_SECRETS' secret for requesters
    poll_s: float = 0.25  # how often a requester asks for its request's state
    callback_timeout_s: float = 120.0
    warmup_s: float = 3.0
    duration_s: float = 60.0


def load_plan(path: str | Path) -> Plan:
    """The plan in `path`; a field that is missing or wrong is named in the error."""
    try:
        return msgspec.json.decode(Path(path).read_bytes(), type=Plan)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"{path}: {exc}") from None


# --- what the users share (one process, one thread: gevent switches only on I/O) --------


class _Shared:
    def __init__(self) -> None:
        self.plan: Plan | None = None
        self.events: Iterator[bytes] = iter(())
        self.exhausted = False
        self.recording = False
        self.draining = False
        self.inflight = 0
        self.pending_callbacks = 0
        self.callback_url = ""
        # request id → (when it arrived, perf_counter; body size; what was wrong, or None)
        self.arrived: dict[str, tuple[float, int, str | None]] = {}
        self.samples: dict[str, list[float]] = {}
        self.starts: dict[str, list[float]] = {}
        self.started_at = 0.0  # time.time() when the measurement began
        self.failures: Counter[str] = Counter()
        self.errors: dict[str, Counter[str]] = {}


SHARED = _Shared()


def plan() -> Plan:
    if SHARED.plan is None:
        raise RuntimeError(f"no plan: set {CONFIG_ENV} or call configure()")
    return SHARED.plan


def _next_events(n: int) -> list[bytes]:
    out = list(itertools.islice(SHARED.events, n))
    if len(out) < n:
        SHARED.exhausted = True
    return out


def _send(
    user: FastHttpUser, method: str, path: str, *, name: str, **kwargs: Any
) -> ResponseContextManager | None:
    """One request, counted as failed unless it is answered 2xx; None once the run drains
    (no new requests then, so that every one started is answered and measured)."""
    if SHARED.draining:
        return None
    SHARED.inflight += 1
    try:
        with user.client.request(method, path, name=name, catch_response=True, **kwargs) as resp:
            if resp.status_code is not None and 200 <= resp.status_code < 300:
                resp.success()
            else:
                detail = (resp.text or "")[:200] if resp.status_code else str(resp.error)
                resp.failure(f"HTTP {resp.status_code}: {detail}")
        answered: ResponseContextManager = resp
        return answered
    finally:
        SHARED.inflight -= 1


def _ok(resp: ResponseContextManager | None) -> bool:
    return resp is not None and resp.status_code is not None and 200 <= resp.status_code < 300


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _random_day(p: Plan) -> tuple[datetime, datetime]:
    span = max(0.0, (p.window_to - p.window_from - _DAY).total_seconds())
    start = p.window_from + timedelta(seconds=random.uniform(0, span))
    return start, start + _DAY


# --- inspectors ------------------------------------------------------------------------


class Inspector(FastHttpUser):
    """A regulator's inspector (regulator_read) reading reports, logs, players, audit."""

    network_timeout = 120.0  # long enough to see a query break the 30-second rule
    connection_timeout = 30.0
    wait_time = between(0.5, 1.5)

    @task(2)
    def report(self) -> None:
        period = random.choice(plan().periods)
        resp = _send(
            self, "GET", f"/regulator/reports/{period}", name="/regulator/reports/{period}"
        )
        if resp is None or not _ok(resp):
            return
        files = resp.json()["files"]
        if files:
            f = random.choice(files)
            _send(self, "GET", f["url"], name="/regulator/reports/{period}/{file}")

    @task(5)
    def logs(self) -> None:
        p = plan()
        kind = random.choice(LOG_TYPES)
        if kind == "access":
            # The access log grows with this very run: the last hour of it.
            now = datetime.now(UTC)
            start, end = now - timedelta(hours=1), now + timedelta(minutes=1)
        elif random.random() < 0.3:
            start, end = p.window_from, p.window_to
        else:
            start, end = _random_day(p)
        query = {"from": _rfc3339(start), "to": _rfc3339(end), "limit": "100"}
        if kind != "access" and random.random() < 0.25:
            query["player"] = random.choice(p.players)
        name = f"/regulator/logs/{kind}"
        resp = _send(self, "GET", f"{name}?{urlencode(query)}", name=name)
        # A third of the time the inspector reads on: the next page, by cursor.
        if resp is not None and _ok(resp) and random.random() < 1 / 3:
            cursor = resp.json().get("next_cursor")
            if cursor:
                query["cursor"] = cursor
                _send(self, "GET", f"{name}?{urlencode(query)}", name=name)

    @task(3)
    def player(self) -> None:
        player = random.choice(plan().players)
        _send(
            self,
            "GET",
            f"/regulator/player/{quote(player, safe='')}",
            name="/regulator/player/{id}",
        )

    @task(2)
    def audit(self) -> None:
        entity, entity_id = random.choice(plan().audit)
        query = urlencode({"entity": entity, "id": entity_id})
        _send(self, "GET", f"/regulator/audit?{query}", name="/regulator/audit")

    @task(1)
    def signing_keys(self) -> None:
        _send(self, "GET", "/regulator/signing-keys", name="/regulator/signing-keys")


# --- the operator's platform -------------------------------------------------------------


class Ingester(FastHttpUser):
    """The operator's platform (ingest): single events from the simulated stream, and now
    and then a batch. The rate is set per user (`configure`)."""

    network_timeout = 60.0
    connection_timeout = 30.0
    wait_time = constant(1.0)

    @task(SINGLE_WEIGHT)
    def single(self) -> None:
        bodies = _next_events(1)
        if bodies:
            _send(
                self,
                "POST",
                "/v1/events",
                name="/v1/events",
                data=bodies[0],
                headers={"Content-Type": "application/json"},
            )

    @task(BATCH_WEIGHT)
    def batch(self) -> None:
        bodies = _next_events(plan().batch_size)
        if bodies:
            payload = b'{"events":[' + b",".join(bodies) + b"]}"
            _send(
                self,
                "POST",
                "/v1/events/batch",
                name="/v1/events/batch",
                data=payload,
                headers={"Content-Type": "application/json"},
            )


# --- regulators asking for files -----------------------------------------------------------


class Requester(FastHttpUser):
    """A regulator's system (regulator_read) asking for files delivered to its callback,
    following each request until it is delivered."""

    network_timeout = 120.0
    connection_timeout = 30.0
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self._kinds = itertools.cycle(
            ("player_report", "transactions", "decisions", "alerts", "incidents")
        )

    def _body(self) -> dict[str, Any]:
        p = plan()
        kind = next(self._kinds)
        player = random.choice(p.players)
        parameters: dict[str, str]
        if kind == "player_report":
            parameters = {"player_id": player}
        elif kind == "transactions":
            parameters = {
                "from": _rfc3339(p.window_from),
                "to": _rfc3339(p.window_to),
                "player": player,
            }
        elif kind == "decisions":
            # An hour of every player's decisions: thousands of rows at 10 M events.
            start = _random_day(p)[0]
            parameters = {"from": _rfc3339(start), "to": _rfc3339(start + timedelta(hours=1))}
        else:
            parameters = {"from": _rfc3339(p.window_from), "to": _rfc3339(p.window_to)}
        fmt = "csv" if kind in ("transactions", "decisions") else "json"
        return {
            "type": kind,
            "parameters": parameters,
            "callback_url": SHARED.callback_url,
            "format": fmt,
        }

    @task
    def ask(self) -> None:
        p = plan()
        sent_at, started = time.time(), time.perf_counter()
        resp = _send(
            self,
            "POST",
            "/webhook/regulator/request",
            name="/webhook/regulator/request",
            json=self._body(),
        )
        if resp is None or not _ok(resp):
            return
        request_id = resp.json()["id"]
        state = "queued"
        while state in ("queued", "delivering"):
            if time.perf_counter() - started > p.callback_timeout_s:
                break
            gevent.sleep(p.poll_s)
            got = _send(
                self,
                "GET",
                f"/webhook/regulator/request/{request_id}",
                name="/webhook/regulator/request/{id}",
            )
            if got is None:  # the run is draining
                SHARED.pending_callbacks += 1
                return
            if _ok(got):
                state = got.json()["state"]
        arrived = SHARED.arrived.pop(request_id, None)
        error: str | None
        if arrived is None:
            took, size = time.perf_counter() - started, 0
            error = f"request {state}, no callback received"
        else:
            took, size, error = arrived[0] - started, arrived[1], arrived[2]
            if error is None and state != "delivered":
                error = f"callback received, request {state}"
        self.environment.events.request.fire(
            request_type=CALLBACK,
            name=TIME_TO_ANSWER,
            response_time=took * 1000,
            response_length=size,
            response=None,
            context={},
            start_time=sent_at,
            exception=None if error is None else RuntimeError(error),
        )


# --- the callback receiver ---------------------------------------------------------------


def _check_signature(environ: dict[str, Any], body: bytes, secret: str) -> str | None:
    """What is wrong with a delivery (docs/regulator.md, "Requests answered by callback"),
    or None."""
    stamp = environ.get("HTTP_PITBOSS_TIMESTAMP", "")
    nonce = environ.get("HTTP_PITBOSS_NONCE", "")
    signature = environ.get("HTTP_PITBOSS_SIGNATURE", "")
    mac = hmac.new(secret.encode(), f"{stamp}.{nonce}.".encode() + body, hashlib.sha256)
    if not hmac.compare_digest(signature, f"v1={mac.hexdigest()}"):
        return "bad signature"
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if environ.get("HTTP_CONTENT_DIGEST") != f"sha-256=:{digest}:":
        return "Content-Digest does not match the body"
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
        return "timestamp out of tolerance"
    return None


def _receive(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    request_id = environ.get("HTTP_PITBOSS_REQUEST_ID", "")
    error = _check_signature(environ, body, plan().callback_secret)
    if request_id not in SHARED.arrived:  # delivery is at least once: the first counts
        SHARED.arrived[request_id] = (time.perf_counter(), len(body), error)
    start_response("401 Unauthorized" if error else "204 No Content", [])
    return [b""]


def start_receiver() -> WSGIServer:
    """The regulator's callback endpoint, in this process, on a free port."""
    server = WSGIServer(("127.0.0.1", 0), _receive, log=None, error_log=None)
    server.start()
    SHARED.callback_url = f"http://127.0.0.1:{server.server_port}/pitboss"
    return server


# --- configuration and the run -----------------------------------------------------------


def configure(p: Plan) -> list[type[User]]:
    """Apply the plan to the user classes; the classes to run (those with users)."""
    SHARED.plan = p
    SHARED.events = (line for line in Path(p.events_file).read_bytes().splitlines() if line)
    Inspector.default_headers = {"Authorization": p.inspector_token}
    Requester.default_headers = {"Authorization": p.requester_token}
    Ingester.default_headers = {"Authorization": p.ingest_token}
    Inspector.wait_time = (
        between(0.5 * p.think_s, 1.5 * p.think_s) if p.think_s > 0 else constant(0)
    )
    if p.users.ingesters:
        # Task runs per user and second such that the single POSTs, 19 runs in 20, add up
        # to the rate.
        per_user = p.ingest_rps / p.users.ingesters * (SINGLE_WEIGHT + BATCH_WEIGHT) / SINGLE_WEIGHT
        Ingester.wait_time = constant_throughput(per_user)
    counts: dict[type[FastHttpUser], int] = {
        Inspector: p.users.inspectors,
        Ingester: p.users.ingesters,
        Requester: p.users.requesters,
    }
    for cls, n in counts.items():
        cls.fixed_count = n
    return [cls for cls, n in counts.items() if n > 0]


def _record(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    if not SHARED.recording:
        return
    route = f"{request_type} {name}"
    SHARED.samples.setdefault(route, []).append(float(response_time))
    # When it was sent, in seconds from the start of the measurement: where a slow one fell.
    sent = time.time() - response_time / 1000 if start_time is None else start_time
    SHARED.starts.setdefault(route, []).append(round(sent - SHARED.started_at, 3))
    if exception is not None:
        SHARED.failures[route] += 1
        SHARED.errors.setdefault(route, Counter())[str(exception)[:300]] += 1


def run(p: Plan) -> dict[str, Any]:
    """Spawn every user, warm up, record for the plan's duration, then stop sending and
    wait for the requests in flight (so that a slow one is measured, not cut off)."""
    classes = configure(p)
    env = Environment(user_classes=classes, host=p.host, events=events)
    env.events.request.add_listener(_record)  # type: ignore[no-untyped-call]
    receiver = start_receiver()
    runner = env.create_local_runner()
    total = sum(c.fixed_count for c in classes)
    spawn_started = time.perf_counter()
    runner.start(total, spawn_rate=max(total, 1) * 2)
    if runner.spawning_greenlet is not None:
        runner.spawning_greenlet.join()
    spawn_s = time.perf_counter() - spawn_started
    gevent.sleep(p.warmup_s)
    SHARED.recording = True
    SHARED.started_at = time.time()
    started = time.perf_counter()
    gevent.sleep(p.duration_s)
    SHARED.draining = True
    window = time.perf_counter() - started
    deadline = time.perf_counter() + max(Inspector.network_timeout, Requester.network_timeout) + 5
    while SHARED.inflight and time.perf_counter() < deadline:
        gevent.sleep(0.01)
    seconds = time.perf_counter() - started
    SHARED.recording = False
    runner.quit()
    receiver.stop()
    # Exceptions raised in tasks (bugs of this file, not failed requests).
    task_errors = [
        {"msg": str(e["msg"])[:300], "count": e["count"], "traceback": e["traceback"][-2000:]}
        for e in runner.exceptions.values()
    ]
    return {
        "window_s": window,
        "seconds": seconds,
        "spawn_s": spawn_s,
        "users": {c.__name__: c.fixed_count for c in classes},
        "routes": {
            route: {
                "times": times,
                "starts": SHARED.starts[route],
                "failures": SHARED.failures[route],
                "errors": dict(SHARED.errors.get(route, {})),
            }
            for route, times in sorted(SHARED.samples.items())
        },
        "pending_callbacks": SHARED.pending_callbacks,
        "events_exhausted": SHARED.exhausted,
        "unanswered": SHARED.inflight,
        "task_errors": task_errors,
    }


def _from_environment(environment: Environment, **_: Any) -> None:
    """`locust -f load/locustfile.py` with PITBOSS_LOAD_CONFIG: the plan from that file."""
    path = os.environ.get(CONFIG_ENV)
    if path and SHARED.plan is None:
        configure(load_plan(path))
        if environment.host is None:
            environment.host = plan().host
        start_receiver()


events.init.add_listener(_from_environment)  # type: ignore[no-untyped-call]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: locustfile.py PLAN.json SAMPLES.json", file=sys.stderr)
        return 2
    out = run(load_plan(argv[0]))
    Path(argv[1]).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
