"""The client's id for a job the gateway submitted itself, and the model API's id for it.

A held request answers with an id the gateway issues; once approved and submitted, the
model API names the job differently. The client keeps its id: paths going to the model
carry the model's id, and the model's answers carry the client's id back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# Where a video object names a job: itself, and the video it was remixed from.
_ID_FIELDS = ("id", "remixed_from_video_id")


@dataclass(frozen=True, slots=True)
class JobAlias:
    client_id: str
    upstream_id: str

    def upstream_target(self, target: str) -> str:
        """`/v1/videos/<client id>[/…][?…]` with the model's id in place of the client's."""
        path, separator, query = target.partition("?")
        parts = path.split("/")
        # ["", "v1", "videos", "<id>", ...]: only the job segment is ever replaced.
        if len(parts) > 3 and parts[3] == self.client_id:
            parts[3] = self.upstream_id
        return "/".join(parts) + separator + query

    def to_client(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """A video object (or deletion answer) of the model with the client's id in it."""
        return {
            key: self.client_id if key in _ID_FIELDS and value == self.upstream_id else value
            for key, value in document.items()
        }

    def client_body(self, body: bytes) -> bytes:
        """A JSON answer of the model rewritten for the client; anything else unchanged."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if not isinstance(document, dict):
            return body
        rewritten = self.to_client(document)
        return body if rewritten == document else orjson.dumps(rewritten)
