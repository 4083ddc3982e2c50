"""Settings: flags over variables over defaults, each bad value named as the operator wrote it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway.edges.settings import OPTIONS, Settings, SettingsError, load_settings


def test_defaults() -> None:
    """With nothing given, the documented defaults apply."""
    settings = load_settings({}, {})
    assert settings.upstream_timeout == 60
    assert settings.upstream_connect_timeout == 5
    assert settings.max_body == 50 * 1024 * 1024
    assert settings.body_timeout == 30
    assert settings.token_ttl == 900
    assert settings.audience == "phasegate"
    assert settings.store_url == "sqlite:///.phasegate/state.db"
    assert settings.limits_url == "memory://"
    assert settings.audit_url == f"file://{Path.cwd() / '.phasegate' / 'audit'}"


def test_flag_beats_variable_beats_default() -> None:
    """A command-line value wins over the environment, which wins over the default."""
    environ = {
        "PHASEGATE_PORT": "9001",
        "PHASEGATE_MAX_BODY": "1MiB",
        "PHASEGATE_BODY_TIMEOUT": "15s",
    }
    settings = load_settings({"port": "9002", "body_timeout": "500ms"}, environ)
    assert settings.port == 9002
    assert settings.max_body == 1024 * 1024
    assert settings.body_timeout == 0.5


def test_settings_are_frozen() -> None:
    """Settings cannot change once read."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_settings({}, {}).port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("port", "http", "--port"),
        ("port", "70000", "--port"),
        ("port", "\u00b9", "--port"),
        ("workers", "\u0663", "--workers"),
        ("upstream", "ftp://x", "--upstream"),
        ("upstream", "http://", "--upstream"),
        ("upstream_timeout", "5", "--upstream-timeout"),
        ("upstream_connect_timeout", "0s", "--upstream-connect-timeout"),
        ("max_body", "lots", "--max-body"),
        ("body_timeout", "30", "--body-timeout"),
        ("body_timeout", "0s", "--body-timeout"),
        ("store", "postgres://db", "--store"),
        ("store", "redis+cluster://a:7000,b:port", "--store"),
        ("limits", "redis+cluster://a:7000,,b:7001", "--limits"),
        ("audit", "s3://bucket", "--audit"),
        ("workers", "0", "--workers"),
        ("access_log", "maybe", "--access-log"),
        ("log_level", "loud", "--log-level"),
    ],
)
def test_bad_flag_is_named(field: str, value: str, named: str) -> None:
    """A bad value is refused with a message that starts with the flag's name."""
    with pytest.raises(SettingsError, match=f"^{named}: "):
        load_settings({field: value}, {})


def test_redis_store_urls_are_accepted_and_a_bad_one_never_echoes_its_password() -> None:
    """Every Redis store URL form loads; a malformed cluster URL is refused without
    repeating the password it carries."""
    for url in (
        "redis://cache:6379/0",
        "rediss://:pw@cache:6380/1",
        "redis+cluster://a:7000,b:7001,[::1]:7002,c",
    ):
        assert load_settings({"store": url}, {}).store == url
    with pytest.raises(SettingsError) as refused:
        load_settings({"store": "redis+cluster://:hunter2@a:7000,b:port"}, {})
    assert "hunter2" not in str(refused.value)


def test_bad_variable_is_named_with_its_flag() -> None:
    """A bad environment value names the variable and the matching flag."""
    with pytest.raises(
        SettingsError, match=r"^PHASEGATE_UPSTREAM_TIMEOUT \(--upstream-timeout\): "
    ):
        load_settings({}, {"PHASEGATE_UPSTREAM_TIMEOUT": "soon"})


def test_upstream_key_never_shows_in_repr() -> None:
    """The upstream credential stays out of reprs, and thus out of logs and tracebacks."""
    settings = load_settings({"upstream_key": "sk-very-secret"}, {})
    assert settings.upstream_key == "sk-very-secret"
    assert "sk-very-secret" not in repr(settings)


def test_redis_store_shares_its_limits_by_default() -> None:
    """With a Redis store and no --limits, limits live in the same Redis."""
    settings = load_settings({"store": "redis://127.0.0.1:6379/0"}, {})
    assert settings.limits_url == "redis://127.0.0.1:6379/0"


def test_every_option_has_a_settings_field() -> None:
    """The option table and the settings object agree field for field."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert {option.field for option in OPTIONS} == fields


def test_data_dir_moves_embedded_state(tmp_path: Path) -> None:
    """--data-dir relocates the state file and the audit folder."""
    settings = load_settings({"data_dir": str(tmp_path)}, {})
    assert settings.store_url == f"sqlite:///{tmp_path / 'state.db'}"
    assert settings.audit_url == f"file://{tmp_path / 'audit'}"
