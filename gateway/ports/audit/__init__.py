"""The audit sink and its adapters, picked by URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from gateway.core.audit.chain import Signer
from gateway.ports.audit.base import AuditSink, AuditUnavailable
from gateway.ports.audit.jsonl import JsonlSink

__all__ = ["AuditSink", "AuditUnavailable", "JsonlSink", "open_audit_sink"]


def open_audit_sink(url: str, *, signer: Signer | None) -> AuditSink:
    """`file:///dir` (JSONL segments); other sinks are not available yet."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return JsonlSink(Path(unquote(parts.path)), signer=signer)
    raise ValueError(f"audit sink {parts.scheme}:// is not available yet; use file:///DIR")
