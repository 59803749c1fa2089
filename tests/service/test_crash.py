"""`kill -9` under load: no acknowledged event is lost, and the restarted service decides
exactly as if it had never stopped.

The service runs as a real `pitboss serve` subprocess on a fresh database. 32 clients send
simulated casino events (each client owns some players and sends their events in time
order, as a casino's own services would); one of them hangs up after each send without
reading the reply, as a client whose timeout fires does. The process is killed with
SIGKILL while requests are in flight, then started again on the same database. Then:

(a) every acknowledged event is stored, with the reply bytes the client got;
(b) re-sending every event that got no reply is safe: one that was committed answers
    with its stored reply, one that was not is decided now;
(c) an in-process `StreamEngine` on the same pack, fed every stored event in `seq` order,
    made the same decisions as the ones stored before and after the crash, and makes the
    same decisions as the restarted service for a tail of further events.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg
import msgspec
import pyarrow as pa
import pytest

from engine.events import decode_event
from engine.runtime import StreamEngine, load_pack
from simulator.generate import simulate
from simulator.render import LABEL_COLUMNS
from simulator.scenario import load_scenario
from tests.service.conftest import REPO

SENDERS = 32
# Acknowledged events before the kill: enough that many group commits are behind it and
# the service is well into the run, few enough that the test stays quick.
KILL_AFTER = 2_000
TAIL = 600
READY_TIMEOUT_S = 90.0
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Sent:
    index: int  # position in the simulated stream (time order)
    event_id: str
    player_id: str
    body: bytes


def _simulated_events() -> list[Sent]:
    """A week of a small simulated casino: every player in a typology (structuring,
    pass-through, multi-accounting, chargeback and bonus abuse, …) and some honest ones."""
    scn = load_scenario(overrides={"scenario": {"players": 600, "days": 7, "block_players": 200}})
    table = pa.Table.from_batches(list(simulate(scn)))
    rows = table.to_pylist()
    label = LABEL_COLUMNS[0]
    flagged = {r["player_id"] for r in rows if r[label] is not None}
    honest = sorted({r["player_id"] for r in rows} - flagged)[::12]
    keep = flagged | set(honest)
    out: list[Sent] = []
    for row in rows:
        if row["player_id"] not in keep:
            continue
        body = {k: v for k, v in row.items() if v is not None and k not in LABEL_COLUMNS}
        if isinstance(body.get("dob"), date):
            body["dob"] = body["dob"].isoformat()
        out.append(Sent(len(out), body["event_id"], body["player_id"], msgspec.json.encode(body)))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Process:
    """`pitboss serve` as a child process, its output in a log file."""

    def __init__(
        self, database_url: str, data_dir: Path, log_path: Path, client: dict[str, Any]
    ) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = client  # OAuth2 client id and secret
        self.headers = dict(JSON)  # with a bearer token once ready
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PITBOSS_DATA_DIR": str(data_dir),
            "PITBOSS_LOG_LEVEL": "warning",
        }
        self._log: IO[bytes] = log_path.open("ab")
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pitboss.cli", "serve", "--port", str(self.port),
             "--policy-dir", str(REPO / "policies")],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    async def ready(self, session: aiohttp.ClientSession) -> None:
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
        while asyncio.get_running_loop().time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"pitboss serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                async with session.get(f"{self.url}/readyz") as resp:
                    if resp.status == 200:
                        self.headers["Authorization"] = await _token(session, self.url, self.client)
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        pytest.fail(f"pitboss serve not ready after {READY_TIMEOUT_S} s:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@dataclass
class _Load:
    acked: dict[str, bytes] = field(default_factory=dict)  # event_id → reply bytes
    unanswered: list[Sent] = field(default_factory=list)  # in flight when the service died
    hung_up: list[Sent] = field(default_factory=list)  # sent, the reply never read
    unsent: list[Sent] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


async def _load_until_killed(
    session: aiohttp.ClientSession, service: _Process, events: list[Sent]
) -> _Load:
    """Send from `SENDERS` clients; SIGKILL the service once `KILL_AFTER` are acknowledged."""
    players = sorted({e.player_id for e in events})
    owner = {p: i % SENDERS for i, p in enumerate(players)}
    queues: list[list[Sent]] = [[] for _ in range(SENDERS)]
    for e in events:
        queues[owner[e.player_id]].append(e)
    load = _Load()
    killed = asyncio.Event()

    async def sender(queue: list[Sent], hangs_up: bool) -> None:
        for i, e in enumerate(queue):
            if killed.is_set():
                load.unsent.extend(queue[i:])
                return
            if hangs_up:
                try:
                    await _send_and_hang_up(service.port, e.body, service.headers)
                except OSError:
                    load.unsent.extend(queue[i + 1 :])
                    return
                finally:
                    load.hung_up.append(e)
                continue
            try:
                async with session.post(
                    f"{service.url}/v1/events", data=e.body, headers=service.headers
                ) as resp:
                    reply = await resp.read()
                    load.statuses[resp.status] += 1
            except (aiohttp.ClientError, TimeoutError):
                load.unanswered.append(e)
                load.unsent.extend(queue[i + 1 :])
                return
            if resp.status != 200:
                # Not acknowledged; sent again after the restart like one that got no reply.
                load.unanswered.append(e)
                continue
            load.acked[e.event_id] = reply
            if len(load.acked) >= KILL_AFTER and not killed.is_set():
                killed.set()
                service.kill()

    await asyncio.gather(*(sender(q, hangs_up=n == 0) for n, q in enumerate(queues)))
    return load


async def _send_and_hang_up(port: int, body: bytes, headers: dict[str, str]) -> None:
    """POST an event and close the connection without reading the reply, as a client
    whose timeout fired would: the service commits it, the client never hears."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (
            "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {headers['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        await asyncio.sleep(0.02)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _stored_replies(conn: asyncpg.Connection, ids: list[str]) -> dict[str, bytes]:
    rows = await conn.fetch(
        "SELECT event_id, reply FROM decisions WHERE event_id = ANY($1::text[])", ids
    )
    return {r["event_id"]: r["reply"].encode() for r in rows}


async def _reference_pack_folder(conn: asyncpg.Connection, folder: Path) -> Path:
    """The live policy version's files as the service stored them (not the working tree,
    which someone may be editing while this runs)."""
    files = await conn.fetchval(
        "SELECT v.files FROM policy_activations a JOIN policy_versions v ON v.id = a.version_id "
        "ORDER BY a.id DESC LIMIT 1"
    )
    for name, text in msgspec.json.decode(files, type=dict[str, str]).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _register_client(database_url: str, data_dir: Path) -> dict[str, Any]:
    """An `ingest` client made as an operator makes one: `pitboss clients create`."""
    env = {**os.environ, "DATABASE_URL": database_url, "PITBOSS_DATA_DIR": str(data_dir)}
    made = subprocess.run(
        [sys.executable, "-m", "pitboss.cli", "clients", "create", "--name", "crash test",
         "--role", "ingest", "--json"],
        cwd=REPO, env=env, capture_output=True, check=True,
    )  # fmt: skip
    return msgspec.json.decode(made.stdout, type=dict[str, Any])


async def _token(session: aiohttp.ClientSession, url: str, client: dict[str, Any]) -> str:
    form = {"grant_type": "client_credentials", "client_id": client["client_id"],
            "client_secret": client["client_secret"]}  # fmt: skip
    async with session.post(f"{url}/oauth2/token", data=form) as resp:
        assert resp.status == 200, await resp.text()
        return f"Bearer {(await resp.json())['access_token']}"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=SENDERS * 2)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as s:
        yield s


@pytest.mark.crash
async def test_kill_9_under_load_loses_no_acknowledged_event_and_decides_the_same(
    database_url: str, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    events = _simulated_events()
    by_id = {e.event_id: e for e in events}
    data_dir = tmp_path / "data"
    log_path = tmp_path / "serve.log"

    client = _register_client(database_url, data_dir)
    first = _Process(database_url, data_dir, log_path, client)
    try:
        await first.ready(session)
        load = await _load_until_killed(session, first, events)
    finally:
        first.kill()
    assert first.proc.returncode == -signal.SIGKILL
    assert set(load.statuses) == {200}, load.statuses
    assert len(load.acked) >= KILL_AFTER
    # Requests in flight at the kill (`load.unanswered`) are usually a dozen or more, but
    # replies already in the socket buffers count as acknowledged, so no number is certain.

    second = _Process(database_url, data_dir, log_path, client)
    conn = await asyncpg.connect(database_url)
    try:
        await second.ready(session)

        # (a) Every acknowledged event is stored, with the very reply the client got.
        stored = await _stored_replies(conn, list(load.acked))
        assert stored == load.acked
        bodies = await conn.fetch(
            "SELECT event_id, body FROM events WHERE event_id = ANY($1::text[])", list(load.acked)
        )
        assert len(bodies) == len(load.acked)
        for r in bodies:
            assert decode_event(r["body"]) == decode_event(by_id[r["event_id"]].body)

        # (b) Resending what got no reply: a committed event answers with its stored
        # reply (not decided twice), the others are decided now.
        lost = sorted(load.unanswered + load.hung_up, key=lambda e: e.index)
        committed = await _stored_replies(conn, [e.event_id for e in lost])
        assert committed.keys() & {e.event_id for e in load.hung_up}
        for e in lost:
            async with session.post(
                f"{second.url}/v1/events", data=e.body, headers=second.headers
            ) as resp:
                assert resp.status == 200, await resp.text()
                reply = await resp.read()
            if e.event_id in committed:
                assert reply == committed[e.event_id]
        after = await _stored_replies(conn, [e.event_id for e in lost])
        assert set(after) == {e.event_id for e in lost}
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM events) AS events, "
            "(SELECT count(DISTINCT event_id) FROM events) AS ids, "
            "(SELECT count(*) FROM decisions) AS decisions, "
            "(SELECT min(seq) FROM decisions) AS lo, (SELECT max(seq) FROM decisions) AS hi"
        )
        n = len(load.acked) + len(lost)
        assert (counts["events"], counts["ids"], counts["decisions"]) == (n, n, n)
        # Groups commit in order, so what survived is a prefix of the decision order.
        assert (counts["lo"], counts["hi"]) == (1, n)

        # (c) A reference engine fed the stored events in decision order made the stored
        # decisions, before and after the crash, and then decides the tail as the
        # restarted service does.
        folder = await _reference_pack_folder(conn, tmp_path / "pack")
        reference = StreamEngine(load_pack([folder]))
        history = await conn.fetch(
            "SELECT e.event_id, e.body, d.reply FROM events e JOIN decisions d USING (event_id) "
            "ORDER BY e.seq"
        )
        fired = 0
        for r in history:
            expected = msgspec.json.encode(reference.process(decode_event(r["body"])))
            assert r["reply"].encode() == expected, r["event_id"]
            fired += b'"hits":[]' not in expected
        assert fired > 0, "the history should make rules fire"

        tail = sorted(load.unsent, key=lambda e: e.index)[:TAIL]
        assert len(tail) == TAIL
        tail_fired = 0
        for e in tail:
            async with session.post(
                f"{second.url}/v1/events", data=e.body, headers=second.headers
            ) as resp:
                assert resp.status == 200, await resp.text()
                reply = await resp.read()
            expected = msgspec.json.encode(reference.process(decode_event(e.body)))
            assert _decision(reply) == _decision(expected), e.event_id
            assert reply == expected, e.event_id
            tail_fired += b'"hits":[]' not in expected
        assert tail_fired > 0, "the tail should make rules fire"
    finally:
        await conn.close()
        second.stop()
    assert second.proc.returncode == 0, second.log_tail()


def _decision(reply: bytes) -> tuple[Any, ...]:
    """The parts that matter, compared first for a readable failure."""
    d = msgspec.json.decode(reply)
    return d["event_id"], d["action"], d["score"], d["hits"], d["shadow"]
