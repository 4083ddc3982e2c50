"""Generation requests held for a person to review, and the video objects the caller sees.

The review's states and transitions are in `review_state`; this module is the request
itself and how it reads to the client while it waits and once it failed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.core.policy.request import GenerationRequest


def new_held_video_id() -> str:
    # The same shape as the model API's ids, so clients cannot tell them apart.
    return "video_" + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class HeldRequest:
    video_id: str
    principal: str
    client_id: str
    tier: str
    target: str
    content_type: str
    body: bytes = field(repr=False)
    rule_ids: tuple[str, ...]
    policy_version: str
    created_at: float


def queued_video(request: GenerationRequest, video_id: str, created_at: float) -> dict[str, Any]:
    """The OpenAI video object a held request answers with: queued, like any new job."""
    params: Mapping[str, Any] = request.params
    return {
        "id": video_id,
        "object": "video",
        "model": request.model or "sora-2",
        "status": "queued",
        "progress": 0,
        "created_at": int(created_at),
        "completed_at": None,
        "expires_at": None,
        "size": str(params.get("size", "720x1280")),
        "seconds": str(params.get("seconds", "4")),
        "quality": "standard",
        "prompt": request.prompt,
        "remixed_from_video_id": None,
        "error": None,
    }


def failed_video(
    request: GenerationRequest,
    video_id: str,
    created_at: float,
    *,
    failed_at: float,
    code: str,
    message: str,
) -> dict[str, Any]:
    """The video object of a held request that ended without a job (rejected, expired, or
    refused by the model): failed, like a job the model gave up on, with the reason."""
    return {
        **queued_video(request, video_id, created_at),
        "status": "failed",
        "progress": 100,
        "completed_at": int(failed_at),
        "error": {"code": code, "message": message},
    }
