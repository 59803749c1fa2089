"""Regulators' asynchronous requests (`POST /webhook/regulator/request`): what may be
asked, and the file that answers it.

A request names a type, its parameters and a callback URL. It is accepted at once
(`202`); its file is prepared in the background and POSTed, signed, to the callback
(`pitboss.service.regulator_requests`). The file is JSON or CSV:

- `player_report` (`player_id`): the player as `GET /regulator/player/{id}` shows them;
- `transactions`, `decisions`, `alerts`, `incidents` (`from`, `to` in RFC 3339, `player`
  optional): the rows of that log in the range.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Final, Literal, TypeAlias
from urllib.parse import urlsplit

import asyncpg
import msgspec
from msgspec import Meta

from regapi import logs
from regapi.logs import LogQuery, LogType
from regapi.player import PlayerView
from regapi.reports.render_csv import neutralise
from regapi.store import logs as log_store

RequestType: TypeAlias = Literal[
    "player_report", "transactions", "decisions", "alerts", "incidents"
]
REQUEST_TYPES: Final = ("player_report", "transactions", "decisions", "alerts", "incidents")
Format: TypeAlias = Literal["json", "csv"]
STATES: Final = ("queued", "delivering", "delivered", "failed")

_ENCODER = msgspec.json.Encoder()
PlayerId: TypeAlias = Annotated[str, Meta(min_length=1, max_length=256)]


class RequestError(ValueError):
    """A request that cannot be taken; `field` names what is wrong in it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class TooLargeError(Exception):
    """The file would hold more rows than a request may ask for."""


class RequestIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    type: RequestType
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    callback_url: Annotated[str, Meta(min_length=1, max_length=2_000)]
    format: Format = "json"


class PlayerReportParameters(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    player_id: PlayerId


class RangeParameters(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    start: Annotated[str, Meta(max_length=64)] = msgspec.field(name="from")
    to: Annotated[str, Meta(max_length=64)]
    player: PlayerId | None = None


Parameters: TypeAlias = PlayerReportParameters | RangeParameters


def parameters(kind: RequestType, given: dict[str, Any]) -> Parameters:
    """The parameters of a request of `kind`, checked (errors name `parameters.<name>`)."""
    target: type[Parameters] = (
        PlayerReportParameters if kind == "player_report" else RangeParameters
    )
    try:
        parsed = msgspec.convert(given, type=target)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).rpartition(" - at `$")
        name = path.rstrip("`").lstrip(".") if message else ""
        if not message:
            message = str(exc)
            if "field `" in message:
                name = message.split("field `", 1)[1].split("`", 1)[0]
        raise RequestError(message, field=f"parameters.{name}" if name else "parameters") from None
    if isinstance(parsed, RangeParameters):
        try:
            logs.time_range(parsed.start, parsed.to)
        except logs.LogQueryError as exc:
            raise RequestError(str(exc), field=f"parameters.{exc.field}") from None
    return parsed


def check_callback(url: str, allowed_hosts: Sequence[str] = ()) -> None:
    """An http(s) URL, and when `allowed_hosts` is given, to one of them: a host name, or
    `*.example.org` for any name under it. The allow-list keeps a regulator's client (or
    whoever holds its credentials) from making the service call into its own network."""
    if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
        raise RequestError("must be an http:// or https:// URL", field="callback_url")
    if not allowed_hosts:
        return
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        raise RequestError("not a URL with a host", field="callback_url") from None
    for allowed in allowed_hosts:
        allowed = allowed.lower()
        if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
            return
    raise RequestError(
        f"{host!r} is not a host callbacks may go to; ask the operator to allow it",
        field="callback_url",
    )


# --- the file -------------------------------------------------------------------------


class Prepared(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    content: bytes
    rows: int
    media_type: str


class _Envelope(msgspec.Struct, kw_only=True):
    request_id: str
    type: str
    parameters: dict[str, Any]
    generated_at: datetime
    rows: int
    data: Any


ViewLoader: TypeAlias = Callable[[asyncpg.Connection, str], Awaitable[PlayerView | None]]


def media_type(fmt: str) -> str:
    return "text/csv; charset=utf-8" if fmt == "csv" else "application/json"


async def prepare(
    conn: asyncpg.Connection,
    *,
    request_id: str,
    kind: str,
    given: dict[str, Any],
    fmt: str,
    now: datetime,
    max_rows: int,
    view: ViewLoader,
) -> Prepared:
    """Build the file that answers a request (`TooLargeError` past `max_rows` rows)."""
    checked = parameters(kind, given)  # type: ignore[arg-type]
    data: object
    table: list[dict[str, str]]
    if isinstance(checked, PlayerReportParameters):
        found = await view(conn, checked.player_id)
        rows, data = (0, None) if found is None else (1, found)
        table = _view_rows(found) if found is not None and fmt == "csv" else []
    else:
        start, end = logs.time_range(checked.start, checked.to)
        log: LogType = logs.log_type(kind)
        q = LogQuery(log=log, start=start, end=end, player=checked.player, limit=max_rows + 1)
        found_rows = [r async for r in log_store.stream(conn, q)]
        if len(found_rows) > max_rows:
            raise TooLargeError(
                f"more than {max_rows} rows; ask for a shorter range, or read "
                f"GET /regulator/logs/{kind} with format=ndjson"
            )
        rows, data = len(found_rows), found_rows
        table = [_flat(r) for r in found_rows] if fmt == "csv" else []
    if fmt == "csv":
        content = _csv(table)
    else:
        content = _ENCODER.encode(
            _Envelope(
                request_id=request_id,
                type=kind,
                parameters=given,
                generated_at=now,
                rows=rows,
                data=data,
            )
        )
    return Prepared(
        name=f"{kind}-{request_id}.{fmt}", content=content, rows=rows, media_type=media_type(fmt)
    )


def _cell(value: object) -> str:
    """A value as a CSV cell: text as is (but never as a formula a spreadsheet would run),
    times in RFC 3339, anything else as JSON (so a negative number stays a number)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, msgspec.Raw):
        return bytes(value).decode()
    return _ENCODER.encode(value).decode()


def _flat(row: msgspec.Struct) -> dict[str, str]:
    return {name: _cell(value) for name, value in msgspec.structs.asdict(row).items()}


def _view_rows(found: PlayerView) -> list[dict[str, str]]:
    """A player view as `section, item, field, value` rows, one per field."""
    out: list[dict[str, str]] = []
    # Through JSON rather than to_builtins: the view holds events as raw JSON.
    for section, value in msgspec.json.decode(_ENCODER.encode(found)).items():
        for n, item in enumerate(value if isinstance(value, list) else [value]):
            fields = item.items() if isinstance(item, dict) else [("", item)]
            out.extend(
                {"section": section, "item": str(n), "field": key, "value": _cell(v)}
                for key, v in fields
            )
    return out


def _csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue().encode()
