"""Service settings: explicit, validated at construction; the environment is read here only."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_PROVIDER_KINDS = ("psp", "kyc")
_ENVS = ("development", "production")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it."""


@dataclass(frozen=True, kw_only=True)
class WebhookProvider:
    """An inbound webhook sender: its name in the URL, what it may send, its shared secret."""

    name: str
    kind: str  # psp | kyc
    secret: str


@dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    # None: start the embedded PostgreSQL in `data_dir`.
    database_url: str | None = None
    data_dir: Path = Path(".pitboss")
    # The pack installed as version 1 when the database holds no policy version yet.
    policy_dir: Path = Path("policies")
    # Events decided but not yet committed; past this the service answers 503.
    max_pending_events: int = 50_000
    # Requests being handled at once; past this the service answers 429.
    max_inflight_requests: int = 2_000
    max_batch_events: int = 10_000
    max_body_bytes: int = 16 * 1024 * 1024
    # Largest group commit; a commit takes whatever has queued up to this many events.
    commit_max_events: int = 20_000
    pool_size: int = 8
    webhook_providers: tuple[WebhookProvider, ...] = ()
    webhook_tolerance_s: int = 300
    # One open alert per subject and family while hits keep coming within this window.
    alert_window_s: int = 7 * 86_400
    # Where P1 incidents are announced.
    smtp_host: str | None = None
    smtp_port: int = 25
    mail_from: str = "pitboss@localhost"
    incident_emails: tuple[str, ...] = ()
    incident_webhook_url: str | None = None
    incident_webhook_secret: str | None = None
    notify_max_attempts: int = 8
    # A failed notification is retried after notify_backoff_s, doubling with each attempt up
    # to notify_backoff_max_s, with jitter so that retries after an outage spread out.
    notify_backoff_s: float = 5.0
    notify_backoff_max_s: float = 3_600.0
    # The longest one send (SMTP conversation or webhook POST) may take.
    notify_timeout_s: float = 10.0
    # How often the outbox is looked at without being woken: rows queued by another process
    # or left from before a restart are sent within this time.
    notify_poll_s: float = 5.0
    log_json: bool = True
    log_level: str = "info"
    # Access (docs/regulator-access.md). `production` refuses to start without TLS, a client
    # CA and a regulator allow-list; `development` starts without them, warning loudly.
    env: str = "development"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # The CA that issues regulators' client certificates: /regulator/* then needs one.
    tls_client_ca: Path | None = None
    # Addresses /regulator/* answers; empty: any (development only).
    regulator_allow: tuple[Network, ...] = ()
    # Client-certificate names (subject CN or a subjectAltName) let into /regulator/*;
    # empty: any certificate the client CA issued.
    regulator_cert_names: tuple[str, ...] = ()
    token_issuer: str = "pitboss"
    token_audience: str = "pitboss"
    token_ttl_s: int = 900
    # The key that seals token signing keys in the database, kept out of it (a file);
    # None: <data_dir>/keys/signing.kek.
    signing_kek_file: Path | None = None
    # Personal-data keys (docs/regulator-pii.md), never in the database: a key file per
    # purpose, or its JSON text. Neither, in development: generated under <data_dir>/keys/.
    pii_key_file: Path | None = None
    kyc_media_key_file: Path | None = None
    pii_keys: str | None = field(default=None, repr=False)
    kyc_media_keys: str | None = field(default=None, repr=False)
    # Regulators' requests (docs/regulator.md): the secret each client's callbacks are
    # signed with (client id → secret; "*" for any client without its own), the most rows
    # one request's file may hold, and how deliveries are retried (as notifications are).
    regulator_callback_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    regulator_request_max_rows: int = 100_000
    # Hosts regulators' callbacks may go to (`*.example.org` for a domain); empty: any.
    regulator_callback_hosts: tuple[str, ...] = ()
    regulator_callback_max_attempts: int = 8
    regulator_callback_backoff_s: float = 5.0
    regulator_callback_backoff_max_s: float = 3_600.0
    regulator_callback_timeout_s: float = 30.0
    regulator_request_poll_s: float = 5.0
    # Scheduled reports (docs/reports.md): where each market's reports go (a TOML file;
    # none: development defaults, delivered nowhere), the Ed25519 key that signs them
    # (none, in development: generated under <data_dir>/keys/), and whether this process
    # runs the schedule.
    reports_config: Path | None = None
    report_signing_key_file: Path | None = None
    report_schedule: bool = True
    # The regulator sandbox (docs/sandbox.md): /sandbox/regulator/* over a database of its
    # own (none: the live server's `<live database>_sandbox`, made if missing), filled by
    # the simulator with this seed, players and days when it is empty.
    sandbox: bool = False
    sandbox_database_url: str | None = None
    sandbox_seed: int = 20260105
    sandbox_players: int = 200
    sandbox_days: int = 28
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise SettingsError(f"port: {self.port} is not a TCP port")
        if not 0 < self.smtp_port < 65536:
            raise SettingsError(f"smtp_port: {self.smtp_port} is not a TCP port")
        if self.log_level.upper() not in logging.getLevelNamesMapping():
            raise SettingsError(f"log_level: {self.log_level!r} is not a logging level")
        for name in (
            "max_pending_events",
            "max_inflight_requests",
            "max_batch_events",
            "max_body_bytes",
            "commit_max_events",
            "pool_size",
            "webhook_tolerance_s",
            "alert_window_s",
            "notify_max_attempts",
            "notify_backoff_s",
            "notify_backoff_max_s",
            "notify_timeout_s",
            "notify_poll_s",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.max_batch_events > self.max_pending_events:
            # A batch larger than the pending limit could never be taken: 503 forever.
            raise SettingsError(
                f"max_batch_events: {self.max_batch_events} is more than "
                f"max_pending_events ({self.max_pending_events})"
            )
        names = [p.name for p in self.webhook_providers]
        if len(set(names)) != len(names):
            raise SettingsError("webhook_providers: a provider is named twice")
        for p in self.webhook_providers:
            if p.kind not in _PROVIDER_KINDS:
                raise SettingsError(
                    f"webhook_providers: {p.name}: kind must be one of {_PROVIDER_KINDS}"
                )
            if len(p.secret) < 16:
                raise SettingsError(f"webhook_providers: {p.name}: secret shorter than 16 chars")
        if self.incident_webhook_url and not self.incident_webhook_secret:
            raise SettingsError("incident_webhook_secret: needed with incident_webhook_url")
        if self.incident_webhook_url and not self.incident_webhook_url.startswith(
            ("http://", "https://")
        ):
            raise SettingsError("incident_webhook_url: must be an http:// or https:// URL")
        if self.incident_emails and not self.smtp_host:
            raise SettingsError("smtp_host: needed with incident_emails")
        if self.notify_backoff_max_s < self.notify_backoff_s:
            raise SettingsError("notify_backoff_max_s: must not be less than notify_backoff_s")
        self._check_access()
        self._check_pii_keys()
        self._check_reports()
        self._check_sandbox()
        self._check_regulator_requests()

    @property
    def kek_path(self) -> Path:
        from regapi.auth.keys import default_kek_path  # brings cryptography: only when used

        return self.signing_kek_file or default_kek_path(self.data_dir)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def _check_access(self) -> None:
        if self.env not in _ENVS:
            raise SettingsError(f"env: must be one of {_ENVS}, got {self.env!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("tls_key: tls_cert and tls_key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise SettingsError("tls_client_ca: needs tls_cert and tls_key")
        for name in ("tls_cert", "tls_key", "tls_client_ca"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise SettingsError(f"{name}: no such file: {path}")
        if self.regulator_cert_names and self.tls_client_ca is None:
            raise SettingsError("regulator_cert_names: needs tls_client_ca")
        if not 60 <= self.token_ttl_s <= 86_400:
            raise SettingsError(f"token_ttl_s: must be 60..86400, got {self.token_ttl_s}")
        if not self.token_issuer or not self.token_audience:
            raise SettingsError("token_audience: token_issuer and token_audience must be set")
        if self.env == "production":
            # Named by variable: that is what an operator sets.
            missing = [
                var
                for var, value in (
                    ("PITBOSS_TLS_CERT", self.tls_cert),
                    ("PITBOSS_TLS_KEY", self.tls_key),
                    ("PITBOSS_TLS_CLIENT_CA", self.tls_client_ca),
                    ("PITBOSS_REGULATOR_ALLOW", self.regulator_allow),
                )
                if not value
            ]
            if missing:
                raise SettingsError(
                    f"env: production refuses to start without {', '.join(missing)}"
                )

    def _check_regulator_requests(self) -> None:
        for name in (
            "regulator_request_max_rows",
            "regulator_callback_max_attempts",
            "regulator_callback_backoff_s",
            "regulator_callback_timeout_s",
            "regulator_request_poll_s",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.regulator_callback_backoff_max_s < self.regulator_callback_backoff_s:
            raise SettingsError(
                "regulator_callback_backoff_max_s: must not be less than "
                "regulator_callback_backoff_s"
            )
        for host in self.regulator_callback_hosts:
            name = host.removeprefix("*.")
            if not name or "*" in name or "/" in name or ":" in name or name != name.strip():
                raise SettingsError(
                    f"regulator_callback_hosts: {host!r} is not a host name or *.domain"
                )
        for client, secret in self.regulator_callback_secrets.items():
            if not client or len(secret) < 16:
                raise SettingsError(
                    f"regulator_callback_secrets: {client!r}: secret shorter than 16 chars"
                )

    def _check_pii_keys(self) -> None:
        for purpose in ("pii", "kyc_media"):
            file, text = getattr(self, f"{purpose}_key_file"), getattr(self, f"{purpose}_keys")
            if file is not None and text is not None:
                raise SettingsError(f"{purpose}_keys: give {purpose}_key_file or this, not both")
            if file is not None and not Path(file).is_file():
                raise SettingsError(f"{purpose}_key_file: no such file: {file}")
            if self.env == "production" and file is None and text is None:
                raise SettingsError(
                    f"{purpose}_key_file: production refuses to start without {purpose} keys"
                )

    def _check_sandbox(self) -> None:
        if not 0 <= self.sandbox_seed < 2**63:
            raise SettingsError(f"sandbox_seed: 0 or more, got {self.sandbox_seed}")
        if not 10 <= self.sandbox_players <= 100_000:
            raise SettingsError(f"sandbox_players: 10 to 100000, got {self.sandbox_players}")
        if not 1 <= self.sandbox_days <= 366:
            raise SettingsError(f"sandbox_days: 1 to 366, got {self.sandbox_days}")
        if self.sandbox_database_url is not None and (
            self.sandbox_database_url == self.database_url
        ):
            # The sandbox's credentials must never reach live data.
            raise SettingsError("sandbox_database_url: must not be the live database")

    def _check_reports(self) -> None:
        for name in ("reports_config", "report_signing_key_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise SettingsError(f"{name}: no such file: {path}")
            if self.env == "production" and path is None:
                # Placeholder licences and a key made on the spot are for development.
                raise SettingsError(f"{name}: production refuses to start without it")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from `PITBOSS_*` variables (and `DATABASE_URL`); keyword overrides win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        # setting → the variable it is read from, to name in errors
        variables = {
            "data_dir": "PITBOSS_DATA_DIR",
            "policy_dir": "PITBOSS_POLICY_DIR",
            "incident_emails": "PITBOSS_INCIDENT_EMAILS",
            "webhook_providers": "PITBOSS_WEBHOOK_PROVIDERS",
        }

        def text(key: str, name: str) -> None:
            variables[name] = key
            if env.get(key):
                values[name] = env[key]

        def number(key: str, name: str) -> None:
            variables[name] = key
            if env.get(key):
                try:
                    values[name] = int(env[key])
                except ValueError:
                    raise SettingsError(f"{key}: not a whole number: {env[key]!r}") from None

        text("PITBOSS_HOST", "host")
        number("PITBOSS_PORT", "port")
        text("DATABASE_URL", "database_url")
        if env.get("PITBOSS_DATA_DIR"):
            values["data_dir"] = Path(env["PITBOSS_DATA_DIR"])
        if env.get("PITBOSS_POLICY_DIR"):
            values["policy_dir"] = Path(env["PITBOSS_POLICY_DIR"])
        number("PITBOSS_MAX_PENDING_EVENTS", "max_pending_events")
        number("PITBOSS_MAX_INFLIGHT_REQUESTS", "max_inflight_requests")
        number("PITBOSS_POOL_SIZE", "pool_size")
        number("PITBOSS_ALERT_WINDOW_S", "alert_window_s")
        text("PITBOSS_SMTP_HOST", "smtp_host")
        number("PITBOSS_SMTP_PORT", "smtp_port")
        text("PITBOSS_MAIL_FROM", "mail_from")
        if env.get("PITBOSS_INCIDENT_EMAILS"):
            values["incident_emails"] = tuple(
                a.strip() for a in env["PITBOSS_INCIDENT_EMAILS"].split(",") if a.strip()
            )
        text("PITBOSS_INCIDENT_WEBHOOK_URL", "incident_webhook_url")
        text("PITBOSS_INCIDENT_WEBHOOK_SECRET", "incident_webhook_secret")
        if env.get("PITBOSS_WEBHOOK_PROVIDERS"):
            values["webhook_providers"] = parse_providers(env["PITBOSS_WEBHOOK_PROVIDERS"])
        if env.get("PITBOSS_LOG_FORMAT"):
            if env["PITBOSS_LOG_FORMAT"] not in ("json", "console"):
                raise SettingsError("PITBOSS_LOG_FORMAT: must be json or console")
            values["log_json"] = env["PITBOSS_LOG_FORMAT"] != "console"
        text("PITBOSS_LOG_LEVEL", "log_level")
        text("PITBOSS_ENV", "env")
        for key, name in (
            ("PITBOSS_TLS_CERT", "tls_cert"),
            ("PITBOSS_TLS_KEY", "tls_key"),
            ("PITBOSS_TLS_CLIENT_CA", "tls_client_ca"),
            ("PITBOSS_SIGNING_KEK_FILE", "signing_kek_file"),
            ("PITBOSS_REPORTS_CONFIG", "reports_config"),
            ("PITBOSS_REPORT_SIGNING_KEY_FILE", "report_signing_key_file"),
        ):
            variables[name] = key
            if env.get(key):
                values[name] = Path(env[key])
        if env.get("PITBOSS_REGULATOR_ALLOW"):
            values["regulator_allow"] = parse_networks(env["PITBOSS_REGULATOR_ALLOW"])
        if env.get("PITBOSS_REGULATOR_CERT_NAMES"):
            values["regulator_cert_names"] = tuple(
                n.strip() for n in env["PITBOSS_REGULATOR_CERT_NAMES"].split(",") if n.strip()
            )
        variables["regulator_cert_names"] = "PITBOSS_REGULATOR_CERT_NAMES"
        text("PITBOSS_TOKEN_ISSUER", "token_issuer")
        text("PITBOSS_TOKEN_AUDIENCE", "token_audience")
        number("PITBOSS_TOKEN_TTL_S", "token_ttl_s")
        for purpose in ("pii", "kyc_media"):
            key = f"PITBOSS_{purpose.upper()}_KEY_FILE"
            variables[f"{purpose}_key_file"] = key
            if env.get(key):
                values[f"{purpose}_key_file"] = Path(env[key])
            text(f"PITBOSS_{purpose.upper()}_KEYS", f"{purpose}_keys")
        if env.get("PITBOSS_REGULATOR_CALLBACK_SECRETS"):
            values["regulator_callback_secrets"] = parse_callback_secrets(
                env["PITBOSS_REGULATOR_CALLBACK_SECRETS"]
            )
        variables["regulator_callback_secrets"] = "PITBOSS_REGULATOR_CALLBACK_SECRETS"
        number("PITBOSS_REGULATOR_REQUEST_MAX_ROWS", "regulator_request_max_rows")
        variables["regulator_callback_hosts"] = "PITBOSS_REGULATOR_CALLBACK_HOSTS"
        if env.get("PITBOSS_REGULATOR_CALLBACK_HOSTS"):
            values["regulator_callback_hosts"] = tuple(
                h.strip() for h in env["PITBOSS_REGULATOR_CALLBACK_HOSTS"].split(",") if h.strip()
            )
        number("PITBOSS_REGULATOR_CALLBACK_MAX_ATTEMPTS", "regulator_callback_max_attempts")
        for key, name in (("PITBOSS_REPORT_SCHEDULE", "report_schedule"),
                          ("PITBOSS_SANDBOX", "sandbox")):  # fmt: skip
            variables[name] = key
            if env.get(key):
                flag = env[key].lower()
                if flag not in ("on", "off", "true", "false", "1", "0"):
                    raise SettingsError(f"{key}: must be on or off")
                values[name] = flag in ("on", "true", "1")
        text("PITBOSS_SANDBOX_DATABASE_URL", "sandbox_database_url")
        number("PITBOSS_SANDBOX_SEED", "sandbox_seed")
        number("PITBOSS_SANDBOX_PLAYERS", "sandbox_players")
        number("PITBOSS_SANDBOX_DAYS", "sandbox_days")
        values.update(overrides)
        try:
            return cls(**values)  # type: ignore[arg-type]
        except SettingsError as exc:
            name = str(exc).partition(":")[0]
            if name not in variables or name in overrides:
                raise
            raise SettingsError(f"{variables[name]}: {exc}") from None


def parse_providers(spec: str) -> tuple[WebhookProvider, ...]:
    """`name:kind:secret,...`, e.g. `acmepay:psp:…,idcheck:kyc:…`."""
    providers = []
    for n, item in enumerate(spec.split(","), 1):
        if not item.strip():
            continue
        parts = item.strip().split(":", 2)
        if len(parts) != 3 or not all(parts):
            # An item without a colon may be a bare secret: never echo it.
            what = repr(parts[0]) if len(parts) > 1 else f"item {n}"
            raise SettingsError(f"PITBOSS_WEBHOOK_PROVIDERS: {what} is not name:kind:secret")
        providers.append(WebhookProvider(name=parts[0], kind=parts[1], secret=parts[2]))
    return tuple(providers)


def parse_networks(spec: str) -> tuple[Network, ...]:
    """`10.0.0.0/8,203.0.113.7,2001:db8::/32`: addresses or CIDRs, comma-separated."""
    networks = []
    for item in spec.split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise SettingsError(
                f"PITBOSS_REGULATOR_ALLOW: {item.strip()!r} is not an address or CIDR"
            ) from None
    return tuple(networks)


def parse_callback_secrets(spec: str) -> dict[str, str]:
    """`client_id:secret,…` (`*` as the client: any client without its own)."""
    secrets: dict[str, str] = {}
    for n, item in enumerate(spec.split(","), 1):
        if not item.strip():
            continue
        client, colon, secret = item.strip().partition(":")
        if not colon or not client or not secret:
            # An item without a colon may be a bare secret: never echo it.
            raise SettingsError(
                f"PITBOSS_REGULATOR_CALLBACK_SECRETS: item {n} is not client:secret"
            )
        secrets[client] = secret
    return secrets
