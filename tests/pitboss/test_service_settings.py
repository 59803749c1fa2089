"""Service settings: validated at construction, read from the environment at the edge, and
every bad value named by the setting (or the variable) it came from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pitboss.service.settings import Settings, SettingsError, WebhookProvider, parse_providers

SECRET = "s" * 16
POSITIVE = [
    "max_pending_events",
    "max_inflight_requests",
    "max_batch_events",
    "max_body_bytes",
    "commit_max_events",
    "pool_size",
    "webhook_tolerance_s",
    "alert_window_s",
    "notify_max_attempts",
]


def provider(name: str = "acmepay", kind: str = "psp", secret: str = SECRET) -> WebhookProvider:
    return WebhookProvider(name=name, kind=kind, secret=secret)


def test_the_defaults_are_valid() -> None:
    s = Settings()
    assert s.database_url is None
    assert s.port == 8080
    assert s.webhook_providers == ()


@pytest.mark.parametrize("name", POSITIVE)
@pytest.mark.parametrize("value", [0, -1])
def test_limits_must_be_positive(name: str, value: int) -> None:
    with pytest.raises(SettingsError, match=rf"^{name}: must be positive, got {value}$"):
        Settings(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_the_port_is_a_tcp_port(port: int) -> None:
    with pytest.raises(SettingsError, match=r"^port: "):
        Settings(port=port)
    Settings(port=65535)


@pytest.mark.parametrize("port", [0, 65536])
def test_the_smtp_port_is_a_tcp_port(port: int) -> None:
    with pytest.raises(SettingsError, match=r"^smtp_port: "):
        Settings(smtp_port=port)


def test_the_log_level_is_one_logging_knows() -> None:
    with pytest.raises(SettingsError, match=r"^log_level: "):
        Settings(log_level="chatty")
    assert Settings(log_level="DEBUG").log_level == "DEBUG"


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ((provider(), provider()), "webhook_providers: a provider is named twice"),
        ((provider(kind="bank"),), "webhook_providers: acmepay: kind must be one of"),
        ((provider(secret="s" * 15),), "webhook_providers: acmepay: secret shorter than 16"),
    ],
)
def test_webhook_providers_are_checked(
    providers: tuple[WebhookProvider, ...], message: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{message}"):
        Settings(webhook_providers=providers)


def test_an_incident_webhook_needs_its_secret() -> None:
    with pytest.raises(SettingsError, match=r"^incident_webhook_secret: "):
        Settings(incident_webhook_url="https://hooks.example/pitboss")
    s = Settings(incident_webhook_url="https://hooks.example/pitboss", incident_webhook_secret="x")
    assert s.incident_webhook_url


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().port = 1  # type: ignore[misc]


# --- from_env -------------------------------------------------------------------------


def test_from_env_reads_every_variable() -> None:
    env = {
        "PITBOSS_HOST": "0.0.0.0",
        "PITBOSS_PORT": "9000",
        "DATABASE_URL": "postgresql://db/pitboss",
        "PITBOSS_DATA_DIR": "/var/lib/pitboss",
        "PITBOSS_POLICY_DIR": "/etc/pitboss/policies",
        "PITBOSS_MAX_PENDING_EVENTS": "20000",
        "PITBOSS_MAX_INFLIGHT_REQUESTS": "50",
        "PITBOSS_POOL_SIZE": "4",
        "PITBOSS_ALERT_WINDOW_S": "3600",
        "PITBOSS_SMTP_HOST": "mail.example",
        "PITBOSS_SMTP_PORT": "2525",
        "PITBOSS_MAIL_FROM": "aml@casino.example",
        "PITBOSS_INCIDENT_EMAILS": " mlro@casino.example, ,ops@casino.example ",
        "PITBOSS_INCIDENT_WEBHOOK_URL": "https://hooks.example/pitboss",
        "PITBOSS_INCIDENT_WEBHOOK_SECRET": "hook-secret",
        "PITBOSS_WEBHOOK_PROVIDERS": f"acmepay:psp:{SECRET},idcheck:kyc:{SECRET}",
        "PITBOSS_LOG_FORMAT": "console",
        "PITBOSS_LOG_LEVEL": "debug",
    }
    s = Settings.from_env(env)
    assert (s.host, s.port, s.database_url) == ("0.0.0.0", 9000, "postgresql://db/pitboss")
    assert s.data_dir == Path("/var/lib/pitboss")
    assert s.policy_dir == Path("/etc/pitboss/policies")
    assert (s.max_pending_events, s.max_inflight_requests, s.pool_size) == (20000, 50, 4)
    assert s.alert_window_s == 3600
    assert (s.smtp_host, s.smtp_port, s.mail_from) == ("mail.example", 2525, "aml@casino.example")
    assert s.incident_emails == ("mlro@casino.example", "ops@casino.example")
    assert s.incident_webhook_url == "https://hooks.example/pitboss"
    assert s.incident_webhook_secret == "hook-secret"
    assert [p.name for p in s.webhook_providers] == ["acmepay", "idcheck"]
    assert s.log_json is False
    assert s.log_level == "debug"


def test_from_env_with_nothing_set_is_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_empty_variables_are_unset() -> None:
    assert Settings.from_env({"PITBOSS_PORT": "", "DATABASE_URL": ""}) == Settings()


def test_overrides_win_over_the_environment() -> None:
    s = Settings.from_env({"PITBOSS_PORT": "9000"}, port=9001, data_dir=Path("x"))
    assert s.port == 9001
    assert s.data_dir == Path("x")


def test_log_format_json_is_the_default() -> None:
    assert Settings.from_env({"PITBOSS_LOG_FORMAT": "json"}).log_json is True


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PITBOSS_PORT": "80a"}, "PITBOSS_PORT"),
        ({"PITBOSS_PORT": "70000"}, "PITBOSS_PORT"),
        ({"PITBOSS_POOL_SIZE": "1.5"}, "PITBOSS_POOL_SIZE"),
        ({"PITBOSS_POOL_SIZE": "0"}, "PITBOSS_POOL_SIZE"),
        ({"PITBOSS_MAX_PENDING_EVENTS": "-5"}, "PITBOSS_MAX_PENDING_EVENTS"),
        ({"PITBOSS_MAX_INFLIGHT_REQUESTS": "0"}, "PITBOSS_MAX_INFLIGHT_REQUESTS"),
        ({"PITBOSS_ALERT_WINDOW_S": "week"}, "PITBOSS_ALERT_WINDOW_S"),
        ({"PITBOSS_SMTP_PORT": "0"}, "PITBOSS_SMTP_PORT"),
        ({"PITBOSS_LOG_LEVEL": "chatty"}, "PITBOSS_LOG_LEVEL"),
        ({"PITBOSS_LOG_FORMAT": "xml"}, "PITBOSS_LOG_FORMAT"),
        ({"PITBOSS_WEBHOOK_PROVIDERS": "acmepay:psp"}, "PITBOSS_WEBHOOK_PROVIDERS"),
        ({"PITBOSS_WEBHOOK_PROVIDERS": f"acmepay:bank:{SECRET}"}, "PITBOSS_WEBHOOK_PROVIDERS"),
        ({"PITBOSS_WEBHOOK_PROVIDERS": "acmepay:psp:short"}, "PITBOSS_WEBHOOK_PROVIDERS"),
        ({"PITBOSS_INCIDENT_WEBHOOK_URL": "https://h.example"}, "PITBOSS_INCIDENT_WEBHOOK_SECRET"),
    ],
)
def test_a_bad_variable_is_named(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}: "):
        Settings.from_env(env)


def test_a_bad_override_is_named_as_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"^pool_size: "):
        Settings.from_env({"PITBOSS_POOL_SIZE": "4"}, pool_size=0)


# --- parse_providers ------------------------------------------------------------------


def test_parse_providers() -> None:
    got = parse_providers(f" acmepay:psp:{SECRET} ,, idcheck:kyc:a:b:{SECRET},")
    assert got == (
        WebhookProvider(name="acmepay", kind="psp", secret=SECRET),
        # The secret is everything after the second colon.
        WebhookProvider(name="idcheck", kind="kyc", secret=f"a:b:{SECRET}"),
    )
    assert parse_providers("") == ()


@pytest.mark.parametrize(
    ("spec", "named"),
    [("acmepay:psp", "'acmepay'"), ("acmepay::x", "'acmepay'"), (":psp:x", "''"),
     (f"idcheck:kyc:{SECRET},acmepay", "item 2")],
)  # fmt: skip
def test_parse_providers_names_the_bad_item(spec: str, named: str) -> None:
    with pytest.raises(SettingsError, match=f"^PITBOSS_WEBHOOK_PROVIDERS: {named} is not"):
        parse_providers(spec)


def test_a_bad_provider_item_does_not_echo_its_secret() -> None:
    with pytest.raises(SettingsError) as info:
        parse_providers("acmepay-secret-0123456789")
    assert "acmepay-secret" not in str(info.value)


def test_a_batch_limit_above_the_pending_limit_is_refused() -> None:
    with pytest.raises(SettingsError, match="max_batch_events"):
        Settings(max_pending_events=100, max_batch_events=1_000)


def test_report_settings_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "reports.toml").write_text("")
    (tmp_path / "key.pem").write_text("")
    s = Settings.from_env(
        {
            "PITBOSS_REPORTS_CONFIG": str(tmp_path / "reports.toml"),
            "PITBOSS_REPORT_SIGNING_KEY_FILE": str(tmp_path / "key.pem"),
            "PITBOSS_REPORT_SCHEDULE": "off",
        }
    )
    assert s.reports_config == tmp_path / "reports.toml"
    assert s.report_signing_key_file == tmp_path / "key.pem"
    assert s.report_schedule is False
    assert Settings.from_env({}).report_schedule is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PITBOSS_REPORTS_CONFIG": "/nonexistent.toml"}, "PITBOSS_REPORTS_CONFIG: "),
        ({"PITBOSS_REPORT_SIGNING_KEY_FILE": "/nonexistent.pem"}, "PITBOSS_REPORT_SIGNING_KEY"),
        ({"PITBOSS_REPORT_SCHEDULE": "sometimes"}, "PITBOSS_REPORT_SCHEDULE: must be on or off"),
    ],
)
def test_bad_report_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
