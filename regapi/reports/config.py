"""Where and how each market's reports go: a TOML file (`PITBOSS_REPORTS_CONFIG`).

```toml
[operator]
name = "Example Casino Ltd"
public_url = "https://pitboss.example.com"   # links in notices point here

[markets.MGA]
licence = "MGA/B2C/123/2019"
periods = ["daily", "weekly", "monthly"]
sftp = { host = "sftp.example.mt", username = "casino", key_file = "/run/keys/mga_sftp",
         host_key = "ssh-ed25519 AAAA…", directory = "/incoming" }
emails = ["returns@example.mt"]
webhook_url = "https://regulator.example.mt/hooks/returns"
webhook_secret_file = "/run/keys/mga_webhook"
```

A mistake is refused at start with the dotted key that holds it
(`markets.MGA.sftp.host: …`). Without a file, development generates every market's
reports with placeholder licences and delivers them nowhere (they are still listed at
`/regulator/reports`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import urlsplit

import msgspec

from regapi.periods import KINDS, PeriodKind
from regapi.reports.templates import FORMATS, TEMPLATES

_T = TypeVar("_T")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+")
_HOST_KEY: Final = re.compile(r"(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]+( .*)?")


class ReportsConfigError(ValueError):
    """A reports configuration that cannot be used; `field` is the dotted key."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class _Sftp(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: str
    username: str
    key_file: str
    host_key: str
    port: int = 22
    directory: str = "/"


class _Market(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    licence: str
    # The operator's reporting-entity id at the market's FIU (goAML `rentity_id`).
    fiu_entity_id: int = 0
    periods: list[str] = msgspec.field(default_factory=lambda: list(KINDS))
    formats: list[str] = msgspec.field(default_factory=lambda: list(FORMATS))
    sftp: _Sftp | None = None
    emails: list[str] = msgspec.field(default_factory=list)
    webhook_url: str | None = None
    webhook_secret_file: str | None = None


class _Operator(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    public_url: str = "http://127.0.0.1:8080"


class _Document(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    operator: _Operator
    markets: dict[str, object]  # each converted on its own, so errors name the market
    # The earliest period a catch-up generates; none: the first day with events.
    since: date | None = None


@dataclass(frozen=True, kw_only=True)
class SftpTarget:
    host: str
    port: int
    username: str
    key_file: Path
    host_key: str  # the server's public key, OpenSSH form: the only key accepted
    directory: str

    def __str__(self) -> str:
        return f"sftp://{self.username}@{self.host}:{self.port}{self.directory}"


@dataclass(frozen=True, kw_only=True)
class MarketReports:
    market: str
    licence: str
    fiu_entity_id: int
    periods: tuple[PeriodKind, ...]
    formats: tuple[str, ...]
    sftp: SftpTarget | None
    emails: tuple[str, ...]
    webhook_url: str | None
    webhook_secret: str | None


@dataclass(frozen=True, kw_only=True)
class ReportsConfig:
    operator_name: str
    public_url: str
    since: date | None
    markets: dict[str, MarketReports]


def development() -> ReportsConfig:
    """Every market, every period and format, placeholder licences, no delivery."""
    return ReportsConfig(
        operator_name="Pitboss development casino",
        public_url="http://127.0.0.1:8080",
        since=None,
        markets={
            code: MarketReports(
                market=code,
                licence=t.licence_example,
                fiu_entity_id=0,
                periods=KINDS,
                formats=FORMATS,
                sftp=None,
                emails=(),
                webhook_url=None,
                webhook_secret=None,
            )
            for code, t in TEMPLATES.items()
        },
    )


def load(path: Path) -> ReportsConfig:
    """Read and check the file; `ReportsConfigError` names the first bad key."""
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ReportsConfigError(f"cannot read {path}: {exc.strerror}", field="file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ReportsConfigError(f"{path} is not TOML: {exc}", field="file") from None
    return parse(raw, base=path.parent)


def parse(raw: dict[str, object], *, base: Path) -> ReportsConfig:
    """Check a decoded document; relative key paths are taken from `base`."""
    doc = _convert(raw, _Document, "")
    _url(doc.operator.public_url, "operator.public_url")
    if not doc.markets:
        raise ReportsConfigError("name at least one market", field="markets")
    markets = {
        code: _market(code, _convert(m, _Market, f"markets.{code}"), base)
        for code, m in doc.markets.items()
    }
    return ReportsConfig(
        operator_name=doc.operator.name,
        public_url=doc.operator.public_url.rstrip("/"),
        since=doc.since,
        markets=markets,
    )


def _convert(value: object, kind: type[_T], prefix: str) -> _T:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        message, found, where = str(exc).rpartition(" - at `")
        path = where.rstrip("`").removeprefix("$").lstrip(".") if found else ""
        field = ".".join(p for p in (prefix, path) if p) or "file"
        raise ReportsConfigError(message if found else str(exc), field=field) from None


def _market(code: str, m: _Market, base: Path) -> MarketReports:
    key = f"markets.{code}"
    if code not in TEMPLATES:
        raise ReportsConfigError(
            f"no report template for this market (known: {', '.join(sorted(TEMPLATES))})",
            field=key,
        )
    t = TEMPLATES[code]
    if not t.licence.fullmatch(m.licence):
        raise ReportsConfigError(
            f"{m.licence!r} is not a {t.market.name} {t.licence_label.lower()} "
            f"(e.g. {t.licence_example})",
            field=f"{key}.licence",
        )
    for name, values, known in (
        ("periods", m.periods, KINDS),
        ("formats", m.formats, FORMATS),
    ):
        bad = [v for v in values if v not in known]
        if bad or not values or len(set(values)) != len(values):
            raise ReportsConfigError(
                f"{values!r}: a list without repeats of {', '.join(known)}", field=f"{key}.{name}"
            )
    for i, email in enumerate(m.emails):
        if not _EMAIL.fullmatch(email):
            raise ReportsConfigError(
                f"{email!r} is not an email address", field=f"{key}.emails[{i}]"
            )
    secret = None
    if m.webhook_url is not None:
        _url(m.webhook_url, f"{key}.webhook_url")
        if m.webhook_secret_file is None:
            raise ReportsConfigError("needed with webhook_url", field=f"{key}.webhook_secret_file")
        secret = _read_secret(base / m.webhook_secret_file, f"{key}.webhook_secret_file")
    elif m.webhook_secret_file is not None:
        raise ReportsConfigError("given without webhook_url", field=f"{key}.webhook_secret_file")
    if m.fiu_entity_id < 0:
        raise ReportsConfigError(
            "a goAML reporting-entity id, 0 or more", field=f"{key}.fiu_entity_id"
        )
    return MarketReports(
        market=code,
        licence=m.licence,
        fiu_entity_id=m.fiu_entity_id,
        periods=tuple(p for p in KINDS if p in m.periods),
        formats=tuple(f for f in FORMATS if f in m.formats),
        sftp=None if m.sftp is None else _sftp(m.sftp, base, f"{key}.sftp"),
        emails=tuple(m.emails),
        webhook_url=m.webhook_url,
        webhook_secret=secret,
    )


def _sftp(s: _Sftp, base: Path, key: str) -> SftpTarget:
    if not s.host or any(c.isspace() for c in s.host):
        raise ReportsConfigError(f"{s.host!r} is not a host name", field=f"{key}.host")
    if not 0 < s.port < 65536:
        raise ReportsConfigError(f"{s.port} is not a TCP port", field=f"{key}.port")
    if not s.username:
        raise ReportsConfigError("must not be empty", field=f"{key}.username")
    if not _HOST_KEY.fullmatch(s.host_key.strip()):
        raise ReportsConfigError(
            "the server's public key as an OpenSSH line, e.g. 'ssh-ed25519 AAAA…'",
            field=f"{key}.host_key",
        )
    if not s.directory.startswith("/"):
        raise ReportsConfigError(f"{s.directory!r}: an absolute path", field=f"{key}.directory")
    key_file = base / s.key_file
    if not key_file.is_file():
        raise ReportsConfigError(f"no such file: {key_file}", field=f"{key}.key_file")
    return SftpTarget(
        host=s.host,
        port=s.port,
        username=s.username,
        key_file=key_file,
        host_key=s.host_key.strip(),
        directory=s.directory.rstrip("/") or "/",
    )


def _url(url: str, field: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ReportsConfigError(f"{url!r} is not an http:// or https:// URL", field=field)


def _read_secret(path: Path, field: str) -> str:
    try:
        secret = path.read_text("utf-8").strip()
    except OSError as exc:
        raise ReportsConfigError(f"cannot read {path}: {exc.strerror}", field=field) from None
    if len(secret) < 16:
        raise ReportsConfigError("the secret is shorter than 16 characters", field=field)
    return secret
