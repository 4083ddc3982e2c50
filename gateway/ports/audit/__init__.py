"""The audit sink and its adapters, picked by URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from gateway.core.audit.chain import Signer
from gateway.ports.audit.base import AuditSink, AuditSource, AuditUnavailable, Chain
from gateway.ports.audit.jsonl import JsonlSink
from gateway.ports.audit.jsonl_source import JsonlSource
from gateway.ports.audit.redis_location import SCHEMES as REDIS_SCHEMES
from gateway.ports.audit.redis_location import parse_stream_url
from gateway.ports.audit.redis_stream import RedisStreamSink
from gateway.ports.audit.redis_stream_source import RedisStreamSource
from gateway.ports.audit.stdout import StdoutSink

__all__ = [
    "AuditSink",
    "AuditSource",
    "AuditUnavailable",
    "Chain",
    "JsonlSink",
    "JsonlSource",
    "RedisStreamSink",
    "RedisStreamSource",
    "StdoutSink",
    "check_audit_url",
    "open_audit_sink",
    "open_audit_source",
]


def check_audit_url(url: str) -> None:
    """Raise ValueError when `url` names no audit sink this gateway can open (the message
    never quotes the URL: a Redis URL may carry a password)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return
    if scheme in REDIS_SCHEMES:
        parse_stream_url(url)
        return
    if scheme == "stdout":
        if parts.netloc or parts.path.strip("/") or parts.query:
            raise ValueError("the standard output audit sink is stdout:// with nothing after it")
        return
    raise ValueError(
        "unsupported audit URL; expected file:///DIR, redis://, rediss://, "
        "redis+cluster:// or stdout://"
    )


def open_audit_sink(url: str, *, signer: Signer | None, stdout_fd: int = 1) -> AuditSink:
    """`file:///dir` (JSONL segments), `redis://…`, `rediss://…` or `redis+cluster://…`
    (a Redis stream), `stdout://` (JSON lines on standard output). Nothing connects yet."""
    check_audit_url(url)
    scheme = urlsplit(url).scheme.lower()
    if scheme in REDIS_SCHEMES:
        return RedisStreamSink.from_url(url, signer=signer)
    if scheme == "stdout":
        return StdoutSink(signer=signer, fd=stdout_fd)
    return JsonlSink(Path(unquote(urlsplit(url).path)), signer=signer)


def open_audit_source(url: str) -> AuditSource:
    """The log at `url`, to read back: `file:///dir` (JSONL segments), or a Redis stream
    (`redis://…`, `rediss://…`, `redis+cluster://…`)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        return JsonlSource(Path(unquote(urlsplit(url).path)))
    if scheme in REDIS_SCHEMES:
        return RedisStreamSource.from_url(url)
    raise ValueError(f"the audit log at {scheme}:// cannot be read back yet; use file:///DIR")
