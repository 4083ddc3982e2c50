"""A generation request as the policy sees it, whatever shape (JSON or multipart) it came in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ParamValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class InputReference:
    size: int
    sha256: str
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    prompt: str
    model: str | None = None
    # Every other field as sent (seconds, size, ...), before any defaulting.
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    input_reference: InputReference | None = None
    is_remix: bool = False

    @property
    def has_input_reference(self) -> bool:
        return self.input_reference is not None
