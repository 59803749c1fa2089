"""Alerts, cases, restrictions, rule quality and the player's status, over HTTP."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from typing import Any, get_args

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine import cases
from pitboss.service.app import make_app
from pitboss.service.routes.cases import State
from pitboss.service.settings import Settings
from tests.service.conftest import event
from tests.service.receivers import eventually, smtp_server
from tests.service.serving import authorize

Client = TestClient[Any, Any]
LARGE = 1_500_000  # 15,000 EUR: fires aml_core's large_transaction on its own
SLA_HOURS = {1: 24, 2: 72, 3: 168, 4: 336}


async def send(client: Client, *events: dict[str, Any]) -> None:
    resp = await client.post("/v1/events/batch", json={"events": list(events)})
    assert resp.status == 200, await resp.text()


async def alerts(client: Client, **query: str) -> list[dict[str, Any]]:
    resp = await client.get("/v1/alerts", params=query)
    assert resp.status == 200, await resp.text()
    found: list[dict[str, Any]] = (await resp.json())["alerts"]
    return found


async def aml_alert(client: Client, player: str, ts: str = "2026-11-01T10:00:00Z") -> int:
    """One open AML alert about `player`, from a large deposit."""
    await send(client, event("deposit", player_id=player, amount=LARGE, ts=ts))
    [found] = await alerts(client, player=player, family="aml", state="open")
    return int(found["id"])


async def post(client: Client, path: str, body: dict[str, Any], status: int) -> Any:
    resp = await client.post(path, json=body)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def open_case(client: Client, *alert_ids: int) -> dict[str, Any]:
    body = {"alert_ids": list(alert_ids), "by": "ana"}
    case: dict[str, Any] = await post(client, "/v1/cases", body, 201)
    return case


async def move(client: Client, case_id: int, *states: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for to in states:
        body = await post(client, f"/v1/cases/{case_id}/transition", {"to": to, "by": "ana"}, 200)
    return body


# --- alerts -------------------------------------------------------------------------


async def test_repeated_hits_are_one_alert_until_the_window_passes(client: Client) -> None:
    await send(
        client,
        event("deposit", player_id="p-d", amount=LARGE, ts="2026-11-01T10:00:00Z"),
        event("deposit", player_id="p-d", amount=LARGE, ts="2026-11-01T11:00:00Z"),
    )
    [alert] = await alerts(client, player="p-d", family="aml")
    assert alert["repeats"] == 2
    assert "large_transaction" in alert["rules"]
    assert alert["subject_kind"] == "player"
    assert alert["subject_id"] == "p-d"
    detail = await (await client.get(f"/v1/alerts/{alert['id']}")).json()
    assert detail["last_event"] != detail["first_event"]
    assert any(h["rule"] == "large_transaction" for h in detail["evidence"])

    # Eight days later, past the seven-day window: a new alert.
    await send(client, event("deposit", player_id="p-d", amount=LARGE, ts="2026-11-09T12:00:00Z"))
    again = await alerts(client, player="p-d", family="aml")
    assert [a["repeats"] for a in again] == [2, 1]


async def test_bonus_hits_of_players_sharing_a_device_are_one_cluster_alert(
    client: Client,
) -> None:
    # UKGC flags the second account on a device (farm_device_n = 2).
    def grant(player: str, minute: int) -> dict[str, Any]:
        return event("bonus_grant", player_id=player, market="UKGC", device_id="dev-farm",
                     bonus_id=f"b-{player}-{minute}", amount=2_000, currency="GBP",
                     ts=f"2026-11-01T10:{minute:02d}:00Z")  # fmt: skip

    await send(client, grant("p-a", 0), grant("p-b", 1), grant("p-a", 2))
    [alert] = await alerts(client, family="bonus")
    assert (alert["subject_kind"], alert["subject_id"]) == ("cluster", "p-a")
    assert alert["repeats"] == 2
    assert alert["rules"] == ["bonus_farm_device"]
    assert [a["id"] for a in await alerts(client, player="p-a", family="bonus")] == [alert["id"]]


async def test_the_queue_filters_and_pages(client: Client) -> None:
    ids = [await aml_alert(client, f"p-q{i}") for i in range(3)]
    first = await (await client.get("/v1/alerts", params={"family": "aml", "limit": "2"})).json()
    assert [a["id"] for a in first["alerts"]] == ids[:2]
    rest = await (
        await client.get(
            "/v1/alerts", params={"family": "aml", "limit": "2", "cursor": first["next_cursor"]}
        )
    ).json()
    assert [a["id"] for a in rest["alerts"]] == ids[2:]
    assert rest["next_cursor"] is None
    await open_case(client, ids[0])
    assert [a["id"] for a in await alerts(client, family="aml", in_case="false")] == ids[1:]
    assert [a["id"] for a in await alerts(client, family="aml", in_case="true")] == ids[:1]
    assert await alerts(client, family="aml", state="closed") == []


# --- cases --------------------------------------------------------------------------


async def test_a_case_lives_from_open_to_closed(client: Client, db: asyncpg.Connection) -> None:
    alert_id = await aml_alert(client, "p-c")
    alert = await (await client.get(f"/v1/alerts/{alert_id}")).json()
    case = await open_case(client, alert_id)
    case_id = case["id"]
    assert case["state"] == "open"
    assert case["allowed"] == ["investigating"]
    assert (case["subject_kind"], case["subject_id"]) == ("player", "p-c")
    assert case["priority"] == alert["priority"]
    assert [a["id"] for a in case["alerts"]] == [alert_id]
    sla = case["sla"]
    due = datetime.fromisoformat(sla["due_at"]) - datetime.fromisoformat(case["opened_at"])
    assert due == timedelta(hours=SLA_HOURS[case["priority"]])
    assert sla["overdue"] is False
    assert 0 < sla["time_left_s"] <= SLA_HOURS[case["priority"]] * 3600

    assigned = await post(client, f"/v1/cases/{case_id}/assign",
                          {"assignee": "bo", "by": "ana"}, 200)  # fmt: skip
    assert assigned["assignee"] == "bo"
    listed = await (await client.get("/v1/cases", params={"assignee": "bo"})).json()
    assert [c["id"] for c in listed["cases"]] == [case_id]

    await move(client, case_id, "investigating")
    await post(client, f"/v1/cases/{case_id}/notes", {"text": "source of funds?", "by": "bo"}, 201)
    await post(client, f"/v1/cases/{case_id}/evidence",
               {"description": "bank statement", "ref": "doc-17", "by": "bo"}, 201)  # fmt: skip
    escalated = await move(client, case_id, "escalated")
    assert escalated["state"] == "escalated"
    assert escalated["sla"]["time_left_s"] is None
    assert escalated["sla"]["met"] is True
    incident = await db.fetchrow("SELECT * FROM incidents WHERE id = $1", escalated["incident_id"])
    assert (incident["kind"], incident["priority"], incident["case_id"]) == (
        "AML_suspect",
        1,
        case_id,
    )
    assert incident["subject"] == "player:p-c"

    closed = await move(client, case_id, "closed")
    assert closed["closed_at"] is not None
    assert closed["resolution"] == "escalated"
    assert closed["allowed"] == []
    [done] = closed["alerts"]
    assert (done["state"], done["label"]) == ("closed", "true_positive")

    timeline = await (await client.get(f"/v1/cases/{case_id}/timeline")).json()
    kinds = [e["kind"] for e in timeline["entries"]]
    assert kinds == ["opened", "assigned", "transition", "note", "evidence", "transition",
                     "transition"]  # fmt: skip
    assert timeline["entries"][-2]["data"]["incident_id"] == escalated["incident_id"]
    assert {e["actor"] for e in timeline["entries"]} == {"ana", "bo"}

    # The alert is closed, so the player's next hit opens a new one.
    await send(client, event("deposit", player_id="p-c", amount=LARGE, ts="2026-11-01T12:00:00Z"))
    assert [a["state"] for a in await alerts(client, player="p-c", family="aml")] == [
        "closed",
        "open",
    ]


async def test_an_escalation_announces_a_p1_incident_at_once(settings: Settings) -> None:
    with smtp_server() as box:
        # A long poll: only the wake-up after the commit gets the mail out in time.
        mine = dataclasses.replace(
            settings, smtp_host="127.0.0.1", smtp_port=box.port,
            incident_emails=("mlro@casino.test",), notify_poll_s=600,
        )  # fmt: skip
        async with TestClient(TestServer(make_app(mine))) as client:
            authorize(client)
            case = await open_case(client, await aml_alert(client, "p-n"))
            moved = await move(client, case["id"], "investigating", "escalated")
            assert moved["incident_id"] is not None

            async def delivered() -> list[Any]:
                return box.mails

            [mail] = await eventually(delivered)
    assert mail.recipients == ["mlro@casino.test"]
    assert "AML_suspect" in mail.message["Subject"]
    assert f"case {case['id']} escalated by ana" in mail.body


async def test_a_case_write_gives_way_to_the_ingest_writer(
    client: Client, db: asyncpg.Connection
) -> None:
    alert_id = await aml_alert(client, "p-busy")
    async with db.transaction():
        # Stands in for a group commit holding the alert's row.
        await db.execute("SELECT 1 FROM alerts WHERE id = $1 FOR UPDATE", alert_id)
        resp = await client.post("/v1/cases", json={"alert_ids": [alert_id], "by": "ana"})
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    assert (await alerts(client, player="p-busy"))[0]["case_id"] is None
    await open_case(client, alert_id)


@pytest.mark.parametrize(
    ("path", "to", "allowed"),
    [
        ([], "cleared", "investigating"),
        (["investigating"], "closed", "cleared, escalated, restricted"),
        (["investigating", "cleared"], "escalated", "closed"),
        (["investigating", "cleared", "closed"], "investigating", "none"),
    ],
)
async def test_a_forbidden_transition_is_a_conflict_naming_the_allowed_ones(
    client: Client, path: list[str], to: str, allowed: str
) -> None:
    case = await open_case(client, await aml_alert(client, "p-f"))
    await move(client, case["id"], *path)
    problem = await post(client, f"/v1/cases/{case['id']}/transition", {"to": to, "by": "x"}, 409)
    assert problem["field"] == "to"
    assert f"allowed: {allowed}" in problem["detail"]


async def test_alerts_join_a_case_once(client: Client) -> None:
    first, second, third = [await aml_alert(client, f"p-j{i}") for i in range(3)]
    case = await open_case(client, first)
    joined = await post(client, f"/v1/cases/{case['id']}/alerts",
                        {"alert_ids": [second, first], "by": "ana"}, 200)  # fmt: skip
    assert [a["id"] for a in joined["alerts"]] == [first, second]
    problem = await post(client, "/v1/cases", {"alert_ids": [third, second], "by": "ana"}, 409)
    assert problem["field"] == "alert_ids"
    assert f"alert {second} is already in case {case['id']}" in problem["detail"]
    problem = await post(client, "/v1/cases", {"alert_ids": [third, 99_999], "by": "a"}, 422)
    assert (problem["field"], problem["detail"]) == ("alert_ids", "no alert 99999")

    other = await open_case(client, third)
    await move(client, other["id"], "investigating", "cleared", "closed")
    problem = await post(client, f"/v1/cases/{case['id']}/alerts",
                         {"alert_ids": [third], "by": "ana"}, 409)  # fmt: skip
    assert "already in case" in problem["detail"]
    problem = await post(client, f"/v1/cases/{other['id']}/assign",
                         {"assignee": "bo", "by": "ana"}, 409)  # fmt: skip
    assert "closed" in problem["detail"]


async def test_overdue_cases(client: Client, db: asyncpg.Connection) -> None:
    late = await open_case(client, await aml_alert(client, "p-o1"))
    on_time = await open_case(client, await aml_alert(client, "p-o2"))
    await db.execute("UPDATE cases SET due_at = now() - interval '1 hour' WHERE id = $1",
                     late["id"])  # fmt: skip
    overdue = await (await client.get("/v1/cases", params={"overdue": "true"})).json()
    assert [c["id"] for c in overdue["cases"]] == [late["id"]]
    assert overdue["cases"][0]["sla"]["overdue"] is True
    assert overdue["cases"][0]["sla"]["time_left_s"] < 0
    fine = await (await client.get("/v1/cases", params={"overdue": "false"})).json()
    assert [c["id"] for c in fine["cases"]] == [on_time["id"]]
    # A decision stops the clock: a late case that was cleared is no longer overdue.
    await move(client, late["id"], "investigating", "cleared")
    overdue = await (await client.get("/v1/cases", params={"overdue": "true"})).json()
    assert overdue["cases"] == []
    cleared = await (await client.get(f"/v1/cases/{late['id']}")).json()
    assert cleared["sla"]["met"] is False


async def test_outcomes_label_alerts_and_give_rule_precision(client: Client) -> None:
    hit, miss, open_ = [await aml_alert(client, f"p-r{i}") for i in range(3)]
    real = await open_case(client, hit)
    await move(client, real["id"], "investigating", "restricted")
    false = await open_case(client, miss)
    await move(client, false["id"], "investigating", "cleared", "closed")
    await open_case(client, open_)

    labels = {a["id"]: a["label"] for a in await alerts(client, family="aml")}
    assert labels == {hit: "true_positive", miss: "false_positive", open_: None}
    quality = await (await client.get("/v1/rules/quality", params={"family": "aml"})).json()
    rule = next(r for r in quality["rules"] if r["rule"] == "large_transaction")
    assert rule == {
        "family": "aml",
        "rule": "large_transaction",
        "alerts": 3,
        "true_positive": 1,
        "false_positive": 1,
        "unlabelled": 1,
        "precision": 0.5,
    }


# --- restrictions and the player's status ---------------------------------------------


async def test_restrictions_are_recorded_listed_and_lifted(client: Client) -> None:
    await send(client, event("deposit", player_id="p-x"))
    base = "/v1/players/p-x/restrictions"
    freeze = await post(client, base, {"kind": "withdrawal_freeze", "reason": "r", "by": "a"}, 201)
    assert freeze["active"] is True
    wanted = {"documents": ["proof_of_address"]}
    docs = await post(client, base, {"kind": "document_request", "reason": "r", "by": "a",
                                     "params": wanted}, 201)  # fmt: skip
    await post(client, base, {"kind": "lower_limits", "reason": "r", "by": "a",
                              "params": {"limit_kind": "deposit", "value": 10_000,
                                         "currency": "EUR", "period": "week"}}, 201)  # fmt: skip
    await post(client, base, {"kind": "withdrawal_cooling_off", "reason": "r", "by": "a",
                              "params": {"min_amount": 200_000, "currency": "EUR",
                                         "hours": 72}}, 201)  # fmt: skip
    status = await (await client.get("/v1/players/p-x/status")).json()
    assert status == {
        "player_id": "p-x",
        "account": "limited",
        "restrictions": [
            {"kind": "document_request", "message": "Please provide: proof of address."},
            {"kind": "lower_limits", "message": "Your weekly deposit limit is 100.00 EUR."},
            {"kind": "withdrawal_cooling_off",
             "message": "Withdrawals of 2,000.00 EUR or more are paid out after 72 hours."},
            {"kind": "withdrawal_freeze", "message": "Withdrawals are temporarily unavailable."},
        ],
    }  # fmt: skip

    lifted = await client.delete(f"{base}/{freeze['id']}", params={"by": "bo"})
    assert lifted.status == 200
    assert (await lifted.json())["lifted_by"] == "bo"
    again = await client.delete(f"{base}/{freeze['id']}", params={"by": "bo"})
    assert again.status == 409
    assert (await client.delete(f"{base}/{freeze['id']}")).status == 422
    assert (await client.delete(f"/v1/players/p-y/restrictions/{docs['id']}",
                                params={"by": "bo"})).status == 404  # fmt: skip
    assert (await client.delete(f"{base}/424242", params={"by": "bo"})).status == 404
    active = await (await client.get(base, params={"active": "true"})).json()
    assert [r["kind"] for r in active["restrictions"]] == [
        "document_request",
        "lower_limits",
        "withdrawal_cooling_off",
    ]
    everything = await (await client.get(base)).json()
    assert len(everything["restrictions"]) == 4
    status = await (await client.get("/v1/players/p-x/status")).json()
    assert "withdrawal_freeze" not in [r["kind"] for r in status["restrictions"]]


async def test_a_restriction_for_a_case_is_on_its_timeline(client: Client) -> None:
    case = await open_case(client, await aml_alert(client, "p-t"))
    body = {"kind": "withdrawal_freeze", "reason": "pending review", "by": "ana",
            "case_id": case["id"]}  # fmt: skip
    restriction = await post(client, "/v1/players/p-t/restrictions", body, 201)
    assert restriction["case_id"] == case["id"]
    await client.delete(f"/v1/players/p-t/restrictions/{restriction['id']}", params={"by": "bo"})
    timeline = await (await client.get(f"/v1/cases/{case['id']}/timeline")).json()
    assert [e["kind"] for e in timeline["entries"]][-2:] == ["restriction", "restriction_lifted"]
    problem = await post(client, "/v1/players/p-t/restrictions", {**body, "case_id": 777}, 422)
    assert problem["field"] == "case_id"


_TIPPING_OFF = re.compile(
    r"alert|case|investigat|escalat|\bsar\b|suspic|report|score|rule|aml|launder|fraud|"
    r"review|risk|monitor|complian|flag|incident|reason|fiu",
    re.IGNORECASE,
)


async def test_the_players_status_never_tips_off(client: Client) -> None:
    watched, quiet = "p-watched", "p-quiet"
    case = await open_case(client, await aml_alert(client, watched))
    await move(client, case["id"], "investigating")
    await post(client, f"/v1/cases/{case['id']}/notes",
               {"text": "SAR to be filed with the FIU", "by": "mlro"}, 201)  # fmt: skip
    await post(client, f"/v1/cases/{case['id']}/evidence",
               {"description": "SAR draft", "ref": "sar-2026-17", "by": "mlro"}, 201)  # fmt: skip
    await move(client, case["id"], "escalated")
    await post(client, f"/v1/players/{watched}/restrictions",
               {"kind": "withdrawal_freeze", "reason": "SAR filed, suspicious deposits",
                "by": "mlro", "case_id": case["id"]}, 201)  # fmt: skip

    await send(client, event("deposit", player_id=quiet))
    await post(client, f"/v1/players/{quiet}/restrictions",
               {"kind": "withdrawal_freeze", "reason": "payment provider outage", "by": "ops"},
               201)  # fmt: skip

    seen = await (await client.get(f"/v1/players/{watched}/status")).read()
    control = await (await client.get(f"/v1/players/{quiet}/status")).read()
    assert seen.replace(watched.encode(), quiet.encode()) == control
    assert not _TIPPING_OFF.search(seen.decode().replace(watched, ""))

    # Without restrictions, too: the same shape, whatever the cases say.
    await send(client, event("deposit", player_id="p-calm"))
    other = await open_case(client, await aml_alert(client, "p-busy"))
    await move(client, other["id"], "investigating", "escalated")
    busy = await (await client.get("/v1/players/p-busy/status")).read()
    calm = await (await client.get("/v1/players/p-calm/status")).read()
    assert busy.replace(b"p-busy", b"p-calm") == calm
    assert b'"account":"active"' in calm


async def test_a_self_excluded_player_is_told_so(client: Client) -> None:
    await send(client, event("self_exclusion", player_id="p-se"))
    status = await (await client.get("/v1/players/p-se/status")).json()
    assert status["account"] == "self_excluded"


# --- bad requests -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"by": "a"}, "alert_ids"),
        ({"alert_ids": [], "by": "a"}, "alert_ids"),
        ({"alert_ids": [0], "by": "a"}, "alert_ids[0]"),
        ({"alert_ids": ["1"], "by": "a"}, "alert_ids[0]"),
        ({"alert_ids": [1]}, "by"),
        ({"alert_ids": [1], "by": ""}, "by"),
        ({"alert_ids": [1], "by": "a", "owner": "b"}, "owner"),
    ],
)
async def test_an_invalid_case_names_the_field(
    client: Client, body: dict[str, Any], field: str
) -> None:
    problem = await post(client, "/v1/cases", body, 422)
    assert problem["field"] == field


async def test_invalid_bodies_and_queries_name_the_field(client: Client) -> None:
    case = await open_case(client, await aml_alert(client, "p-v"))
    path = f"/v1/cases/{case['id']}"

    async def field_of(url: str, body: dict[str, Any]) -> str:
        problem = await post(client, url, body, 422)
        return str(problem["field"])

    assert await field_of(f"{path}/transition", {"to": "done", "by": "a"}) == "to"
    assert await field_of(f"{path}/notes", {"text": "", "by": "a"}) == "text"
    assert await field_of(f"{path}/evidence", {"by": "a"}) == "description"
    assert await field_of(f"{path}/assign", {"by": "a"}) == "assignee"
    restrict = "/v1/players/p-v/restrictions"
    bad: list[tuple[dict[str, Any], str]] = [
        ({"kind": "ban", "reason": "r", "by": "a"}, "kind"),
        ({"kind": "lower_limits", "reason": "r", "by": "a",
          "params": {"limit_kind": "deposit", "currency": "EUR"}}, "params.value"),
        ({"kind": "document_request", "reason": "r", "by": "a",
          "params": {"documents": ["selfie"]}}, "params.documents[0]"),
        ({"kind": "withdrawal_cooling_off", "reason": "r", "by": "a",
          "params": {"min_amount": 1, "currency": "EUR", "hours": 0}}, "params.hours"),
        ({"kind": "withdrawal_freeze", "by": "a"}, "reason"),
    ]  # fmt: skip
    for body, field in bad:
        assert await field_of(restrict, body) == field, body
    for query, field in [
        ({"priority": "9"}, "priority"),
        ({"state": "snoozed"}, "state"),
        ({"in_case": "maybe"}, "in_case"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "-1"}, "cursor"),
    ]:
        resp = await client.get("/v1/alerts", params=query)
        assert resp.status == 422
        assert (await resp.json())["field"] == field
    resp = await client.get("/v1/cases", params={"overdue": "yes"})
    assert (await resp.json())["field"] == "overdue"
    resp = await client.post(
        f"{path}/notes", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/alerts/424242", None),
        ("GET", "/v1/alerts/abc", None),
        ("GET", "/v1/cases/424242", None),
        ("GET", "/v1/cases/99999999999999999999999", None),
        ("GET", "/v1/cases/424242/timeline", None),
        ("POST", "/v1/cases/424242/transition", {"to": "investigating", "by": "a"}),
        ("POST", "/v1/cases/424242/assign", {"assignee": "b", "by": "a"}),
        ("POST", "/v1/cases/424242/alerts", {"alert_ids": [1], "by": "a"}),
        ("POST", "/v1/cases/424242/notes", {"text": "t", "by": "a"}),
        ("POST", "/v1/cases/424242/evidence", {"description": "d", "by": "a"}),
        ("GET", "/v1/players/nobody/status", None),
        ("GET", "/v1/players/nobody/restrictions", None),
        ("POST", "/v1/players/nobody/restrictions",
         {"kind": "withdrawal_freeze", "reason": "r", "by": "a"}),
    ],
)  # fmt: skip
async def test_unknown_ids_are_not_found(
    client: Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    resp = await client.request(method, path, json=body)
    assert resp.status == 404
    assert resp.content_type == "application/problem+json"


def test_the_api_knows_every_case_state() -> None:
    assert get_args(State) == cases.STATES


async def test_the_routes_are_documented(client: Client) -> None:
    doc = await (await client.get("/openapi.json")).json()
    assert "post" in doc["paths"]["/v1/cases/{id}/transition"]
    assert "delete" in doc["paths"]["/v1/players/{id}/restrictions/{rid}"]
    assert "get" in doc["paths"]["/v1/rules/quality"]


async def test_a_hit_after_the_case_cleared_its_alert_is_a_new_alert(client: Client) -> None:
    first = await aml_alert(client, "p-judged")
    case = await open_case(client, first)
    await move(client, case["id"], "investigating", "cleared")  # judged, not closed yet
    await send(
        client, event("deposit", player_id="p-judged", amount=LARGE, ts="2026-11-02T10:00:00Z")
    )
    found = await alerts(client, player="p-judged", family="aml", state="open")
    fresh = [a for a in found if a["id"] != first]
    assert len(fresh) == 1
    assert fresh[0]["repeats"] == 1
    judged = await (await client.get(f"/v1/alerts/{first}")).json()
    assert judged["repeats"] == 1
