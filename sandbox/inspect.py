"""An inspection of the regulator API end to end, as an inspector would run it: authenticate,
list and pull a report and check its signatures, read a player, an entity's change history
and a page of a log, then ask for a file by callback and take it at a small HTTP receiver
started here, checking the callback's signature, timestamp, nonce and digest.

    python -m sandbox.inspect --url https://pitboss:8443 --client-id pbc_… \\
        --client-secret … --period monthly/2026-01 --market MGA --player p-1 \\
        --entity bonusRule --entity-id welcome --callback-secret … \\
        --cert inspector.crt --key inspector.key --ca regulators-ca.crt

Each step prints one line with its outcome and time; the exit status is 1 if any step
failed (2 for bad arguments). A step whose input was not given is skipped, and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, TextIO

from regapi import periods
from regapi.periods import Period, PeriodError
from regapi.reports.signing import MANIFEST_SUFFIX, SIGNATURE_SUFFIX
from sandbox.callbacks import Callback, CallbackReceiver
from sandbox.client import (
    LIVE_PREFIX,
    SANDBOX_PREFIX,
    IntegrityError,
    RegulatorClient,
    RegulatorClientError,
    ReportListing,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
REQUEST_TYPES: Final = ("transactions", "decisions", "alerts", "incidents", "player_report")
_SECRET_ENV: Final = {"client": "PITBOSS_CLIENT_SECRET", "callback": "PITBOSS_CALLBACK_SECRET"}
Status = Literal["ok", "FAIL", "skip"]
_Step = tuple[str, Callable[[], Awaitable[str]], str | None, str | None]


class UsageError(Exception):
    """Arguments that cannot be used; the message names the option."""


class StepFailedError(Exception):
    """A step got its answers, and they are wrong; the message says how."""


@dataclass(frozen=True)
class Options:
    url: str
    client_id: str
    client_secret: str
    prefix: str
    period: Period | None
    market: str | None
    player: str | None
    entity: str | None
    entity_id: str | None
    request_type: str
    request_format: str
    callback_host: str
    callback_port: int
    callback_secret: str | None
    timeout_s: float
    ssl: ssl.SSLContext | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Outcome:
    step: str
    status: Status
    ms: float
    detail: str


# --- the inspection -----------------------------------------------------------------------


class Inspection:
    """The steps, in order, each timed and printed as it ends."""

    def __init__(self, options: Options, out: TextIO) -> None:
        self.o = options
        self.out = out
        self.outcomes: list[Outcome] = []
        self._listing: ReportListing | None = None
        self._request_id: str | None = None
        self._callback: Callback | None = None
        self._receiver: CallbackReceiver | None = None
        self._receiver_error = ""

    async def run(self) -> int:
        o = self.o
        started = time.perf_counter()
        print(f"Inspecting {o.url} ({o.prefix}) as {o.client_id}", file=self.out, flush=True)
        if o.callback_secret is not None:
            receiver = CallbackReceiver(o.callback_secret, o.callback_host, o.callback_port)
            try:
                await receiver.start()
                self._receiver = receiver
            except OSError as exc:
                self._receiver_error = (
                    f"the callback receiver cannot listen on {o.callback_host}:"
                    f"{o.callback_port}: {exc.strerror or exc}"
                )
        try:
            async with RegulatorClient(
                o.url, o.client_id, o.client_secret, prefix=o.prefix, ssl=o.ssl
            ) as api:
                for name, action, needs, skip in self._plan(api):
                    await self.step(name, action, needs=needs, skip=skip)
        finally:
            if self._receiver is not None:
                await self._receiver.stop()
        counts = {s: sum(x.status == s for x in self.outcomes) for s in ("ok", "FAIL", "skip")}
        print(
            f"{len(self.outcomes)} steps: {counts['ok']} ok, {counts['FAIL']} failed, "
            f"{counts['skip']} skipped ({time.perf_counter() - started:.1f} s)",
            file=self.out,
            flush=True,
        )
        return EXIT_FAILED if counts["FAIL"] else EXIT_OK

    def _plan(self, api: RegulatorClient) -> list[_Step]:
        """Each step: its name, what it does, the step it needs, why it is skipped."""
        o = self.o
        period = None if o.period else "no --period given"
        player = None if o.player else "no --player given"
        entity = None if o.entity and o.entity_id else "no --entity and --entity-id given"
        secret = (
            None if o.callback_secret else "no --callback-secret: its callback cannot be checked"
        )
        auth = "authenticate"
        return [
            ("authenticate", lambda: self._authenticate(api), None, None),
            ("signing keys", lambda: self._signing_keys(api), auth, None),
            ("list reports", lambda: self._list(api), auth, period),
            ("download report", lambda: self._download(api), "list reports", period),
            ("verify signatures", lambda: self._signatures(api), "list reports", period),
            ("player", lambda: self._player(api), auth, player),
            ("audit history", lambda: self._audit(api), auth, entity),
            ("logs", lambda: self._logs(api), auth, None),
            ("file request", lambda: self._request(api), auth, secret),
            ("callback", self._await_callback, "file request", secret),
            ("request state", lambda: self._delivered(api), "callback", secret),
        ]

    async def step(
        self,
        name: str,
        action: Callable[[], Awaitable[str]],
        *,
        needs: str | None = None,
        skip: str | None = None,
    ) -> None:
        """Run `action` (its result is the line's detail) unless `skip` says why not or the
        step it needs did not pass; any failure is the line's detail."""
        if skip is None and needs is not None and self._status(needs) != "ok":
            skip = f"needs {needs}"
        if skip is not None:
            self._record(Outcome(name, "skip", 0.0, skip))
            return
        began = time.perf_counter()
        status: Status = "ok"
        try:
            detail = await action()
        except (RegulatorClientError, StepFailedError) as exc:
            status, detail = "FAIL", str(exc)
        except TimeoutError:
            status, detail = "FAIL", f"no answer within {self.o.timeout_s:g} s"
        self._record(Outcome(name, status, (time.perf_counter() - began) * 1000, detail))

    def _status(self, name: str) -> Status | None:
        return next((x.status for x in self.outcomes if x.step == name), None)

    def _record(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        line = f"{outcome.status:<4}  {outcome.step:<17} {outcome.ms:>9.1f} ms  {outcome.detail}"
        print(line, file=self.out, flush=True)

    # --- the steps (each returns its line's detail) -------------------------------------------

    async def _authenticate(self, api: RegulatorClient) -> str:
        await api.token()
        granted = api.granted
        assert granted is not None
        return (
            f"token for {api.client_id}: scope {granted.scope or '-'}, expires in "
            f"{granted.expires_in} s"
        )

    async def _signing_keys(self, api: RegulatorClient) -> str:
        found = await api.signing_keys()
        keys = [k for k in found.get("keys", []) if isinstance(k, dict)]
        if not keys:
            raise StepFailedError("the service publishes no report-signing key")
        return f"{_n(len(keys), 'key')}: " + ", ".join(
            f"{k.get('kid')} ({k.get('crv')})" for k in keys
        )

    async def _list(self, api: RegulatorClient) -> str:
        assert self.o.period is not None
        listing = await api.reports(str(self.o.period), self.o.market)
        where = f"{listing.period}{' ' + self.o.market if self.o.market else ''}"
        if not listing.files:
            raise StepFailedError(f"no report files for {where}")
        self._listing = listing
        formats = sorted({f.format for f in listing.files})
        return (
            f"{where}: {_n(len(listing.files), 'file')} ({', '.join(formats)}), "
            f"{listing.start} to {listing.end}"
        )

    async def _download(self, api: RegulatorClient) -> str:
        assert self._listing is not None
        reports = [
            f
            for f in self._listing.files
            if not f.name.endswith((SIGNATURE_SUFFIX, MANIFEST_SUFFIX))
        ] or self._listing.files
        chosen = next((f for f in reports if f.format == "csv"), reports[0])
        content = await api.download(self._listing.period, chosen.name)
        digest = hashlib.sha256(content).hexdigest()
        if digest != chosen.sha256 or len(content) != chosen.size:
            raise IntegrityError(f"{chosen.name}: differs from the listing's size and sha256")
        return (
            f"{chosen.name}: {len(content):,} bytes, sha-256 {digest[:16]}… matches the "
            "Content-Digest and the listing"
        )

    async def _signatures(self, api: RegulatorClient) -> str:
        assert self._listing is not None
        assert self.o.period is not None
        problems = await api.verify_report_files(str(self.o.period), self.o.market)
        if problems:
            shown = "; ".join(problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise StepFailedError(f"{_n(len(problems), 'problem')}: {shown}{more}")
        runs = sum(f.name.endswith(MANIFEST_SUFFIX) for f in self._listing.files)
        return (
            f"{_n(runs, 'run')}, {_n(len(self._listing.files), 'file')}: every "
            "signature and digest verifies against the published key"
        )

    async def _player(self, api: RegulatorClient) -> str:
        assert self.o.player is not None
        view = await api.player(self.o.player)
        kyc = view.get("kyc") or {}
        recent = (view.get("transactions") or {}).get("recent") or []
        return (
            f"{view.get('player_id')}: profile {'yes' if view.get('profile') else 'none'}, "
            f"KYC level {kyc.get('level', '-')} {kyc.get('status') or ''}".rstrip()
            + f", {_n(len(recent), 'recent transaction')}, "
            f"{_n(len(view.get('alerts') or []), 'alert')}, "
            f"{_n(len(view.get('cases') or []), 'case')}"
        )

    async def _audit(self, api: RegulatorClient) -> str:
        assert self.o.entity is not None
        assert self.o.entity_id is not None
        history = await api.audit(self.o.entity, self.o.entity_id)
        changes = history.get("changes") or []
        if not changes:
            raise StepFailedError(f"{self.o.entity} {self.o.entity_id}: an empty history")
        last = changes[-1]
        return (
            f"{self.o.entity} {self.o.entity_id}: {_n(len(changes), 'change')}, the last "
            f"({last.get('action')}) by {last.get('operator')} at {last.get('at')}"
        )

    async def _logs(self, api: RegulatorClient) -> str:
        start, end = self._range()
        page = await api.logs("transactions", start, end, 10, player=self.o.player)
        items = page.get("items") or []
        more = "more on the next page" if page.get("next_cursor") else "the whole range"
        return f"transactions {start} to {end}: {_n(len(items), 'row')}, {more}"

    async def _request(self, api: RegulatorClient) -> str:
        o, receiver = self.o, self._receiver
        if receiver is None:
            raise StepFailedError(self._receiver_error)
        if o.request_type == "player_report":
            assert o.player is not None
            parameters: dict[str, str] = {"player_id": o.player}
        else:
            start, end = self._range()
            parameters = {"from": start, "to": end}
            if o.player is not None:
                parameters["player"] = o.player
        self._request_id = await api.request_file(
            o.request_type, parameters, callback_url=receiver.url, fmt=o.request_format
        )
        return (
            f"{self._request_id}: {o.request_type} {json.dumps(parameters)} as "
            f"{o.request_format}, to {receiver.url}"
        )

    async def _await_callback(self) -> str:
        assert self._request_id is not None
        assert self._receiver is not None
        callback = await self._receiver.wait_for(self._request_id, self.o.timeout_s)
        if callback.problems:
            raise StepFailedError("; ".join(callback.problems))
        self._callback = callback
        kind = callback.headers.get("Content-Type", "?")
        return (
            f"{len(callback.body):,} bytes ({kind}, {_rows(callback)} rows): signature, "
            f"timestamp (skew {callback.skew_s:+.0f} s), nonce and digest verified"
        )

    async def _delivered(self, api: RegulatorClient) -> str:
        assert self._request_id is not None
        assert self._callback is not None
        async with asyncio.timeout(self.o.timeout_s):
            while True:
                state = await api.request_state(self._request_id)
                if state.get("state") in ("delivered", "failed"):
                    break
                await asyncio.sleep(0.2)
        if state["state"] != "delivered":
            raise StepFailedError(f"failed: {state.get('last_error')}")
        file = state.get("file") or {}
        if file.get("sha256") != hashlib.sha256(self._callback.body).hexdigest():
            raise StepFailedError("the request's file is not the body the callback brought")
        attempts = state.get("attempts")
        return (
            f"delivered after {_n(attempts, 'attempt')}; its file "
            f"{file.get('name')} is the callback's body"
        )

    def _range(self) -> tuple[str, str]:
        """The period's days (as UTC), or the last 24 hours."""
        if self.o.period is not None:
            p = self.o.period
            return f"{p.start.isoformat()}T00:00:00Z", f"{p.end.isoformat()}T00:00:00Z"
        end = datetime.now(UTC).replace(microsecond=0)
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return (end - timedelta(days=1)).strftime(fmt), end.strftime(fmt)


def _n(count: object, noun: str) -> str:
    """`1 file`, `2 files`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _rows(callback: Callback) -> int | str:
    if callback.headers.get("Content-Type", "").startswith("application/json"):
        try:
            rows = json.loads(callback.body).get("rows")
        except (ValueError, AttributeError):
            return "?"
        return rows if isinstance(rows, int) else "?"
    return max(callback.body.count(b"\n") - 1, 0)


# --- the command --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="the service, e.g. https://pitboss:8443")
    parser.add_argument("--client-id", required=True, help="the OAuth2 client id (pbc_…)")
    parser.add_argument(
        "--client-secret",
        help=f"its secret (default: ${_SECRET_ENV['client']}, which keeps it out of `ps`)",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help=f"inspect the sandbox ({SANDBOX_PREFIX}) instead of {LIVE_PREFIX}",
    )
    parser.add_argument(
        "--period", help="a report period: daily/2026-01-05, weekly/2026-W02, monthly/2026-01"
    )
    parser.add_argument("--market", help="only this market's reports (MGA, UKGC, CW)")
    parser.add_argument("--player", help="a player to look up")
    parser.add_argument("--entity", help="an audited entity kind (bonusRule, game, …)")
    parser.add_argument("--entity-id", help="the entity's id")
    parser.add_argument(
        "--request-type",
        choices=REQUEST_TYPES,
        default="transactions",
        help="the file to ask for by callback (default transactions over the "
        "period, or the last 24 hours)",
    )
    parser.add_argument("--request-format", choices=("json", "csv"), default="json")
    parser.add_argument(
        "--callback-host",
        default="127.0.0.1",
        help="where the callback receiver listens, as the service reaches it (default 127.0.0.1)",
    )
    parser.add_argument("--callback-port", type=int, default=0, help="default: any free port")
    parser.add_argument(
        "--callback-secret",
        help="the secret the operator set for this client's callbacks (default: "
        f"${_SECRET_ENV['callback']}); without one the request steps are skipped",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the callback and its delivery (default 60)",
    )
    parser.add_argument("--cert", help="client certificate (PEM) for mutual TLS")
    parser.add_argument("--key", help="its private key (PEM), if not in --cert")
    parser.add_argument("--ca", help="the CA that signed the service's certificate (PEM)")


def add_parser(sub: Any) -> None:
    """`pitboss inspect …`, for the `pitboss` command's subparsers."""
    parser = sub.add_parser(
        "inspect",
        help="inspect the regulator API end to end, as a regulator would",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    add_arguments(parser)
    parser.set_defaults(run=cmd_inspect)


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.key and not args.cert:
        raise UsageError("--key: needs --cert")
    if not (args.cert or args.ca):
        return None
    for option in ("cert", "key", "ca"):
        path = getattr(args, option)
        if path and not Path(path).is_file():
            raise UsageError(f"--{option}: no such file {path}")
    try:
        context = ssl.create_default_context(cafile=args.ca)
        if args.cert:
            context.load_cert_chain(args.cert, args.key)
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"--cert/--key/--ca: cannot be used: {exc}") from None
    return context


def options_of(args: argparse.Namespace, env: dict[str, str] | None = None) -> Options:
    """Checked options; `UsageError` naming the option at fault."""
    env = dict(os.environ) if env is None else env
    secret = args.client_secret or env.get(_SECRET_ENV["client"])
    if not secret:
        raise UsageError(f"--client-secret: required (or set ${_SECRET_ENV['client']})")
    period = None
    if args.period is not None:
        try:
            period = periods.parse(args.period)
        except PeriodError as exc:
            raise UsageError(f"--period: {exc}") from None
    if bool(args.entity) != bool(args.entity_id):
        raise UsageError("--entity and --entity-id: give both or neither")
    if args.request_type == "player_report" and not args.player:
        raise UsageError("--request-type player_report: needs --player")
    if not 0 <= args.callback_port <= 65535:
        raise UsageError("--callback-port: 0 to 65535")
    if not args.timeout > 0:
        raise UsageError("--timeout: a number of seconds above 0")
    if not args.url.startswith(("http://", "https://")):
        raise UsageError(f"--url: {args.url!r} is not an http(s) URL")
    return Options(
        url=args.url,
        client_id=args.client_id,
        client_secret=secret,
        prefix=SANDBOX_PREFIX if args.sandbox else LIVE_PREFIX,
        period=period,
        market=args.market,
        player=args.player,
        entity=args.entity,
        entity_id=args.entity_id,
        request_type=args.request_type,
        request_format=args.request_format,
        callback_host=args.callback_host,
        callback_port=args.callback_port,
        callback_secret=args.callback_secret or env.get(_SECRET_ENV["callback"]) or None,
        timeout_s=args.timeout,
        ssl=_ssl_context(args),
    )


def cmd_inspect(args: argparse.Namespace) -> int:
    try:
        options = options_of(args)
    except UsageError as exc:
        print(f"inspect: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(Inspection(options, sys.stdout).run())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.inspect",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return cmd_inspect(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
