"""What the regulator routes read, per mount: the live service's database, keys and report
signer at `/regulator`, the sandbox's at `/sandbox/regulator`.

The same handlers serve both mounts (the sandbox mirrors every route); each sub-app holds
a slot for its data, filled when the service has started, so a handler never reaches past
its own mount: a sandbox request cannot read live data because nothing live is in its slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiohttp import web

from pitboss.service.http import ProblemError
from pitboss.service.regulator_requests import RequestWorker
from regapi.keys import Keys
from regapi.reports.signing import ReportSigner


@dataclass(frozen=True)
class RegulatorData:
    pool: asyncpg.Pool
    keys: Keys  # personal-data keys of that database's player records
    signer: ReportSigner  # signs that database's report files
    requests: RequestWorker  # works that database's file requests
    prefix: str  # where the regulator routes are mounted: /regulator or /sandbox/regulator
    webhook_prefix: str  # and the file requests: /webhook/regulator or /sandbox/webhook/…


class DataSlot:
    """Set on a sub-app when the app is built; filled by the app's lifetime."""

    def __init__(self) -> None:
        self.data: RegulatorData | None = None


SLOT = web.AppKey("regulator_data", DataSlot)


def regulator_data(request: web.Request) -> RegulatorData:
    """The data of the mount that answers `request`."""
    data = request.app[SLOT].data
    if data is None:
        raise ProblemError(503, "Unavailable", "the regulator API is starting; retry shortly")
    return data
