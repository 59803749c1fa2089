"""The OpenAPI 3.1 document, generated from the route table and the msgspec types."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from pitboss.service.http import PROBLEM, ProblemBody, Route, Routes

_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_REF = "#/components/schemas/{name}"
_REASONS = {
    400: "Malformed request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    503: "UnavailableError; retry after the time in Retry-After",
}
_PY_TYPES = {int: "integer", str: "string", bool: "boolean", float: "number"}
_SECURITY = {
    "oauth2": {
        "type": "oauth2",
        "description": "Client credentials; a route admits tokens holding any of its roles "
        "(the scopes listed). /regulator/* also needs mutual TLS and an allowed address.",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/oauth2/token",
                "scopes": {
                    "regulator_read": "regulators: read the sensitive routes",
                    "compliance_officer": "analyst and policy admin, plus the sensitive routes",
                    "ingest": "send events, read decisions",
                    "analyst": "alerts, cases, restrictions, incidents, rule quality",
                    "policy_admin": "policy versions",
                    "player_frontend": "a player's status only",
                    "ops": "metrics",
                },
            }
        },
    }
}


def document(
    routes: Iterable[Route],
    *,
    title: str,
    version: str,
    mounted: Iterable[tuple[str, Routes]] = (),
) -> dict[str, Any]:
    """The document for `routes`, and for each sub-app's routes under its prefix."""
    routes = list(routes) + [
        dataclasses.replace(r, path=prefix + r.path)
        for prefix, table in mounted
        for r in table.routes
    ]
    types: list[object] = [ProblemBody]
    for r in routes:
        types.extend(t for t in (r.body, r.response, r.error_body) if t is not None)
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    schema_of = dict(zip(map(id, types), schemas, strict=True))
    problem = schema_of[id(ProblemBody)]
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        path = _PARAM.sub(r"{\1}", r.path)
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": r.handler.__name__,
            "tags": [r.tag],
            "responses": {},
        }
        params = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "string", **r.params.get(name, {})}}
            for name in _PARAM.findall(r.path)
        ]  # fmt: skip
        for name, (kind, doc) in r.query.items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": doc,
                    "schema": {"type": _PY_TYPES.get(kind, "string"), **r.params.get(name, {})},
                }
            )
        for name, doc in r.headers.items():
            params.append(
                {
                    "name": name,
                    "in": "header",
                    "required": False,
                    "description": doc,
                    "schema": {"type": "string", "maxLength": 255},
                }
            )
        if params:
            op["parameters"] = params
        if r.body is not None:
            # A `bytes` body is a file's raw bytes (the report validator), not base64 JSON.
            binary = {"type": "string", "format": "binary"}
            op["requestBody"] = {
                "required": True,
                "content": {
                    r.body_media: {"schema": binary if r.body is bytes else schema_of[id(r.body)]}
                },
            }
        ok: dict[str, Any] = {"description": "OK"}
        if r.response is not None:
            ok["content"] = {r.content_type: {"schema": schema_of[id(r.response)]}}
        elif r.content_type != "application/json":
            ok["content"] = {r.content_type: {"schema": {"type": "string"}}}
        for media in r.also:
            ok.setdefault("content", {})[media] = {"schema": {"type": "string"}}
        op["responses"][str(r.status)] = ok
        # Who may call it: a token with one of its roles (RFC 6750), or nothing (public).
        op["security"] = [{"oauth2": list(r.roles)}] if r.roles else []
        errors = set(r.errors) | ({401, 403} if r.roles else set())
        own: dict[str, Any] = {}
        if r.error_body is not None:
            own = {"application/json": {"schema": schema_of[id(r.error_body)]}}
        for status in sorted(errors | {500} if r.body is not None else errors):
            op["responses"][str(status)] = {
                "description": _REASONS.get(status, "Error"),
                # Only the route's own errors have its own body: the others (access, an
                # unexpected error) are answered before or around it, as problem+json.
                "content": own if own and status in r.errors else {PROBLEM: {"schema": problem}},
            }
        paths.setdefault(path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": _SECURITY},
    }
