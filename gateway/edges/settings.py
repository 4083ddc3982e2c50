"""Settings: command-line options over `PHASEGATE_*` variables over defaults, read once.

Each option is declared once in `OPTIONS`; the CLI builds its flags from the same
table, so a flag, its variable and its validation can never drift apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.core.client_address import NO_TRUSTED_PROXIES, TrustedProxies
from gateway.core.identity import RECONCILE_AFTER_SECONDS
from gateway.core.numbers import whole_number
from gateway.core.units import parse_duration, parse_duration_or_zero, parse_size

MiB = 1024 * 1024


class SettingsError(ValueError):
    """A bad setting, named as the operator wrote it (flag or variable)."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    upstream: str = "http://127.0.0.1:8081"
    upstream_key: str | None = dataclasses.field(default=None, repr=False)
    moderation_key: str | None = dataclasses.field(default=None, repr=False)
    upstream_connect_timeout: float = 5.0
    upstream_timeout: float = 60.0
    max_body: int = 50 * MiB
    body_timeout: float = 30.0
    max_reference: int = 20 * MiB
    policies: Path = Path("policies")
    policy_poll: float = 1.0
    data_dir: Path = Path(".phasegate")
    store: str | None = None
    limits: str | None = None
    audit: str | None = None
    workers: int = 1
    drain_delay: float = 5.0
    shutdown_timeout: float = 30.0
    header_timeout: float = 10.0
    lease_ttl: float = 3600.0
    reconcile_after: float = RECONCILE_AFTER_SECONDS
    review_ttl: float = 259_200.0
    token_ttl: float = 900.0
    issuer: str | None = None
    audience: str = "phasegate"
    metrics_port: int | None = None
    trusted_proxies: TrustedProxies = NO_TRUSTED_PROXIES
    access_log: bool = True
    log_level: str = "info"

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{self.data_dir / 'state.db'}"

    @property
    def limits_url(self) -> str:
        if self.limits:
            return self.limits
        return self.store_url if self.store_url.startswith("redis") else "memory://"

    @property
    def issuer_url(self) -> str:
        if self.issuer:
            return self.issuer
        # A wildcard listen address is no address anyone can reach; name the local host.
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def audit_url(self) -> str:
        return self.audit or f"file://{(self.data_dir / 'audit').resolve()}"


def _port(text: str) -> int:
    number = whole_number(text)
    if number is None or not 0 <= number <= 65535:
        raise ValueError(f"{text!r} is not a port number (0-65535)")
    return number


def _positive_int(text: str) -> int:
    number = whole_number(text)
    if number is None or number < 1:
        raise ValueError(f"{text!r} is not a whole number of at least 1")
    return number


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        parts = urlsplit(text)
        if parts.scheme not in schemes:
            raise ValueError(f"{text!r} must be a URL with scheme {' or '.join(schemes)}")
        if parts.scheme.startswith(("http", "redis")) and not parts.hostname:
            raise ValueError(f"{text!r} names no host")
        if parts.scheme == "redis+cluster" and not _cluster_ports_ok(parts.netloc):
            # Not echoed: the URL may carry a password.
            raise ValueError("a redis+cluster URL lists host:port[,host:port...]")
        return text

    return parse


def _cluster_ports_ok(netloc: str) -> bool:
    for node in netloc.rpartition("@")[2].split(","):
        _, colon, port = node.rpartition(":") if not node.endswith("]") else ("", "", "")
        if not node or (colon and whole_number(port) is None):
            return False
    return True


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _positive_size(text: str) -> int:
    size = parse_size(text)
    if size < 1:
        raise ValueError(f"{text!r} must be at least one byte")
    return size


def _switch(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{text!r} is not on or off")


def _log_level(text: str) -> str:
    if text.lower() not in {"debug", "info", "warning", "error"}:
        raise ValueError(f"{text!r} is not one of debug, info, warning, error")
    return text.lower()


@dataclass(frozen=True, slots=True)
class Option:
    field: str
    parse: Callable[[str], Any]
    help: str
    metavar: str = "VALUE"
    everywhere: bool = False  # accepted by every command, not only by `serve`

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")

    @property
    def variable(self) -> str:
        return "PHASEGATE_" + self.field.upper()


_STORE_SCHEMES = ("sqlite", "redis", "rediss", "redis+cluster")
OPTIONS: tuple[Option, ...] = (
    Option("data_dir", Path, "folder of the embedded state file and audit files", "DIR", True),
    Option("store", _url(*_STORE_SCHEMES), "state store URL (sqlite:///…, redis://…)", "URL", True),
    Option(
        "limits", _url("memory", "redis", "rediss", "redis+cluster"), "limiter URL", "URL", True
    ),
    Option(
        "audit",
        _url("file", "redis", "rediss", "redis+cluster", "stdout"),
        "audit sink URL (file:///DIR, redis://…, stdout://)",
        "URL",
        True,
    ),
    Option("policies", Path, "policy folder", "DIR", True),
    Option("policy_poll", parse_duration, "how often to look for policy file changes", "DURATION"),
    Option("host", _non_empty, "address to listen on", "HOST"),
    Option("port", _port, "port to listen on", "PORT"),
    Option("upstream", _url("http", "https"), "base URL of the model API", "URL"),
    Option("upstream_key", _non_empty, "credential sent to the model API as a Bearer token", "KEY"),
    Option(
        "moderation_key",
        _non_empty,
        "credential sent to the policy's moderation service as a Bearer token",
        "KEY",
    ),
    Option(
        "upstream_connect_timeout", parse_duration, "connect timeout to the model API", "DURATION"
    ),
    Option(
        "upstream_timeout",
        parse_duration,
        "longest wait between bytes from the model API",
        "DURATION",
    ),
    Option("max_body", _positive_size, "largest request body accepted", "SIZE"),
    Option(
        "body_timeout",
        parse_duration,
        "longest a request body may take to arrive (408 after it)",
        "DURATION",
    ),
    Option("max_reference", _positive_size, "largest input_reference image", "SIZE"),
    Option("lease_ttl", parse_duration, "longest a job holds a concurrency slot", "DURATION"),
    Option(
        "reconcile_after",
        parse_duration,
        "how long after a job's creation, and then how often, the gateway asks the model API "
        "whether a job it has not seen end still needs its concurrency slot",
        "DURATION",
    ),
    Option(
        "review_ttl",
        parse_duration,
        "how long a held request waits for a reviewer before it expires",
        "DURATION",
    ),
    Option("workers", _positive_int, "worker processes (needs shared state in Redis)", "N"),
    Option(
        "drain_delay",
        parse_duration_or_zero,
        "on SIGTERM, how long /readyz fails while requests are still taken",
        "DURATION",
    ),
    Option(
        "shutdown_timeout",
        parse_duration,
        "how long in-flight requests may take to finish once the gateway stops",
        "DURATION",
    ),
    Option(
        "header_timeout",
        parse_duration,
        "how long a request line and headers may take to arrive (then 408)",
        "DURATION",
    ),
    Option("token_ttl", parse_duration, "access token lifetime", "DURATION"),
    Option(
        "issuer", _url("http", "https"), "token issuer (default: the gateway's base URL)", "URL"
    ),
    Option("audience", _non_empty, "token audience", "AUDIENCE"),
    Option(
        "trusted_proxies",
        TrustedProxies.parse,
        "proxies whose X-Forwarded-For is believed (addresses or CIDR blocks, comma-separated)",
        "CIDRS",
    ),
    Option("metrics_port", _port, "serve /metrics on this port only", "PORT"),
    Option("access_log", _switch, "one log line per request (on/off)", "on|off"),
    Option("log_level", _log_level, "debug, info, warning or error", "LEVEL"),
)


def load_settings(
    given: Mapping[str, str | None], environ: Mapping[str, str], base: Settings | None = None
) -> Settings:
    """Settings from command-line values (by field name) over the environment over `base`."""
    chosen: dict[str, Any] = {}
    for option in OPTIONS:
        raw = given.get(option.field)
        source = option.flag
        if raw is None and option.variable in environ:
            raw, source = environ[option.variable], f"{option.variable} ({option.flag})"
        if raw is None:
            continue
        try:
            chosen[option.field] = option.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{source}: {exc}") from None
    return dataclasses.replace(base or Settings(), **chosen)
