"""A generation request as the policy sees it, whatever shape (JSON or multipart) it came in."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ParamValue = str | int | float | bool | None


class ReferenceSource(enum.StrEnum):
    """How an `input_reference` arrived, which decides what the gateway knows of it."""

    FILE = "file"  # a multipart file part: digested
    DATA_URL = "data_url"  # JSON `image_url` holding the image itself: decoded and digested
    URL = "url"  # JSON `image_url` naming an https address: recorded, never fetched
    FILE_ID = "file_id"  # JSON `file_id` of a file uploaded to the model API: recorded


@dataclass(frozen=True, slots=True)
class InputReference:
    """What the gateway knows of a reference: the bytes' digest, size and type when it
    saw the bytes (a file or a data URL), else the address or file id it was given."""

    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None
    source: ReferenceSource = ReferenceSource.FILE
    url: str | None = None
    file_id: str | None = None
    # The name a multipart file part gave (a caller may write words into it too).
    filename: str | None = None

    def described(self) -> dict[str, Any]:
        """Every field, for records and reviewers (the bytes themselves never); the file
        name only when the caller gave one."""
        described = {
            "source": self.source.value,
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
            "url": self.url,
            "file_id": self.file_id,
        }
        if self.filename is not None:
            described["filename"] = self.filename
        return described


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    prompt: str
    model: str | None = None
    # Every other field as sent (seconds, size, ...), before any defaulting.
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    input_reference: InputReference | None = None
    is_remix: bool = False
    # Form fields sent in a Content-Transfer-Encoding that changes their bytes
    # (`base64`, `quoted-printable`), by field name: judged as sent and decoded.
    transfer_encodings: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_input_reference(self) -> bool:
        return self.input_reference is not None
