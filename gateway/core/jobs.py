"""What the gateway knows of the model API's jobs: defaults it applies, states that end a job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.core.policy import ParamValue

# What the model API assumes when a request leaves a parameter out; a cost limit counts
# what the model will actually generate.
MODEL_DEFAULTS: Mapping[str, ParamValue] = {"seconds": "4", "size": "720x1280"}
TERMINAL_STATUSES = frozenset({"completed", "failed"})


def job_id_and_status(document: Any) -> tuple[str | None, str | None]:
    """The `id` and `status` of a video object, where it has them."""
    if not isinstance(document, dict):
        return None, None
    job_id, status = document.get("id"), document.get("status")
    return (
        job_id if isinstance(job_id, str) and job_id else None,
        status if isinstance(status, str) else None,
    )


def video_in(body: bytes | None) -> tuple[str | None, str | None]:
    """The `id` and `status` of a video object sent as JSON bytes; (None, None) otherwise."""
    if not body:
        return None, None
    try:
        return job_id_and_status(orjson.loads(body))
    except orjson.JSONDecodeError:
        return None, None
