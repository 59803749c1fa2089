"""The service as a regulator or an operator reaches it: `pitboss serve` in a child process on
fresh databases (the live one and the sandbox's, seeded small), with an OAuth2 client
holding every role, registered as an operator registers one (`pitboss clients create`)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec
import pytest

from regapi.auth import roles
from tests.service.conftest import PACK, REPO, pg_server, run_sql, with_database

__all__ = ["pg_server"]  # fixtures

READY_TIMEOUT_S = 120.0
# The smallest sandbox that still has reports of every kind of period: seeded in seconds.
SANDBOX_PLAYERS = 20
SANDBOX_DAYS = 3


@dataclass(frozen=True)
class Served:
    url: str
    client_id: str
    client_secret: str
    log: Path  # the service's output, for a failure's message

    def log_tail(self, chars: int = 6_000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _register(env: dict[str, str]) -> dict[str, Any]:
    every = [arg for role in sorted(roles.ALL) for arg in ("--role", role)]
    made = subprocess.run(
        [sys.executable, "-m", "pitboss.cli", "clients", "create", "--name", "contract fuzz",
         *every, "--json"],
        cwd=REPO, env=env, capture_output=True, check=True,
    )  # fmt: skip
    return msgspec.json.decode(made.stdout, type=dict[str, Any])


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"pitboss serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"pitboss serve not ready after {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`pitboss serve` with the sandbox on, each on a database of its own, dropped after."""
    name = "pitboss_c_" + uuid.uuid4().hex[:12]
    names = (name, name + "_sandbox")
    for n in names:
        asyncio.run(run_sql(pg_server, f'CREATE DATABASE "{n}"'))
    folder = tmp_path_factory.mktemp("served")
    env = {
        **os.environ,
        "DATABASE_URL": with_database(pg_server, name),
        "PITBOSS_DATA_DIR": str(folder / "data"),
        "PITBOSS_LOG_LEVEL": "warning",
        "PITBOSS_REPORT_SCHEDULE": "off",
        "PITBOSS_SANDBOX": "on",
        "PITBOSS_SANDBOX_DATABASE_URL": with_database(pg_server, names[1]),
        "PITBOSS_SANDBOX_PLAYERS": str(SANDBOX_PLAYERS),
        "PITBOSS_SANDBOX_DAYS": str(SANDBOX_DAYS),
    }
    log = folder / "serve.log"
    out: IO[bytes] = log.open("wb")
    proc: subprocess.Popen[bytes] | None = None
    try:
        client = _register(env)
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "pitboss.cli", "serve", "--port", str(port),
             "--policy-dir", str(PACK)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        _wait_ready(proc, url, log)
        yield Served(url, client["client_id"], client["client_secret"], log)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()
        for n in names:
            asyncio.run(run_sql(pg_server, f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'))
