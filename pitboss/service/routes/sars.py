"""Suspicious activity reports over HTTP: a compliance officer files one from an escalated
case (`regapi.sar.filing`) and downloads its goAML XML; analysts see that one was filed.

No player-facing nor regulator role reaches any of these routes, and nothing else reads
the `sars` table: tipping a player off about a report is an offence.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import structlog
from aiohttp import web
from msgspec import Meta

from pitboss.service.auth import actor_of
from pitboss.service.http import (
    FieldError,
    ProblemError,
    Routes,
    json_response,
    path_id,
    read_body,
    register_error,
    register_status,
)
from pitboss.service.reports import REPORTS
from pitboss.service.state import SERVICE
from regapi.auth import roles
from regapi.reports.config import ReportsConfig
from regapi.sar import filing
from regapi.sar.filing import (
    REASON_MAX,
    InvalidSarError,
    NotConfiguredError,
    NotEscalatedError,
    NotFoundError,
    SarError,
)
from regapi.sar.goaml import ReportCode, ReportingPerson
from regapi.store.sars import SarRecord

log = structlog.get_logger("pitboss.sars")
ROUTES = Routes()

# Filing and reading a report: the MLRO's team only. Analysts may see that a case's
# reports exist (the case timeline says so too), never what they say.
_FILE = (roles.COMPLIANCE_OFFICER,)
_LIST = roles.ANALYSIS
_PRIVATE = {"Cache-Control": "no-store"}


def _invalid(exc: InvalidSarError) -> ProblemError:
    errors = [
        FieldError(field=p.path or f"line {p.line}", message=str(p)) for p in exc.problems[:100]
    ]
    detail = f"the report built from the case does not validate ({len(exc.problems)} problems)"
    return ProblemError(422, "Invalid SAR", detail + "; nothing was filed", errors=errors)


# Along the MRO: the subclasses first; a bad argument is the client's to fix.
register_status(SarError, 422, "Invalid request")
register_status(NotFoundError, 404, "Not found")
register_status(NotEscalatedError, 409, "Conflict")
register_status(NotConfiguredError, 409, "Not configured")
register_error(InvalidSarError, _invalid)


class SarIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, Meta(min_length=1, max_length=REASON_MAX)]  # the narrative
    reporting_person: ReportingPerson
    report_code: ReportCode = "SAR"


class SarList(msgspec.Struct, kw_only=True):
    sars: list[SarRecord]  # oldest first


def _reports_config(request: web.Request) -> ReportsConfig:
    # The configuration the service started with (the development defaults have no FIU
    # entity id, so a SAR cannot be filed until one is configured).
    return request.app[REPORTS].reporter.config


@ROUTES.add("POST", "/v1/cases/{id}/sar",
            summary="File a suspicious activity report (goAML XML) from an escalated case",
            tag="cases", body=SarIn, response=SarRecord, status=201,
            errors=(400, 404, 409, 415, 422), roles=_FILE)  # fmt: skip
async def file_sar(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    case_id = path_id(request, "id", "case")
    body = await read_body(request, SarIn)
    config = _reports_config(request)
    async with service.pool.acquire() as conn:
        record = await filing.file_sar(
            conn,
            service.keys,
            case_id=case_id,
            reason=body.reason,
            actor=actor_of(request),
            reporting_person=body.reporting_person,
            config=config,
            report_code=body.report_code,
        )
    log.info("sar_filed", sar_id=record.id, case_id=case_id, market=record.market)
    response = json_response(record, 201)
    response.headers.update(_PRIVATE)
    response.headers["Location"] = f"/v1/sars/{record.id}/xml"
    return response


@ROUTES.add("GET", "/v1/cases/{id}/sars", summary="The reports filed from a case",
            tag="cases", response=SarList, errors=(404,), roles=_LIST)  # fmt: skip
async def list_sars(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    case_id = path_id(request, "id", "case")
    async with service.pool.acquire() as conn:
        found = await filing.list_for_case(conn, case_id)
    response = json_response(SarList(sars=found))
    response.headers.update(_PRIVATE)
    return response


@ROUTES.add("GET", "/v1/sars/{id}/xml", summary="Download a filed report's goAML XML",
            tag="cases", errors=(404,), content_type="application/xml",
            roles=_FILE)  # fmt: skip
async def get_sar_xml(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    sar_id = path_id(request, "id", "SAR")
    async with service.pool.acquire() as conn:
        record, content = await filing.xml_of(conn, sar_id)
    log.info("sar_downloaded", sar_id=sar_id, by=actor_of(request))
    return web.Response(
        body=content,
        content_type="application/xml",
        charset="utf-8",
        headers={
            **_PRIVATE,
            "Content-Disposition": f'attachment; filename="{record.reference}.xml"',
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{record.sha256}"',
        },
    )
