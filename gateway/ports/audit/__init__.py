"""The audit sink and its adapters."""

from __future__ import annotations

from gateway.ports.audit.base import AuditSink, AuditUnavailable
from gateway.ports.audit.jsonl import JsonlSink

__all__ = ["AuditSink", "AuditUnavailable", "JsonlSink"]
