"""Request validation mirroring the OpenAI video API's rules and error envelope.

Everything here is pure: callers hand in already-decoded fields, so the same rules
apply to JSON and multipart bodies alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from gateway.mockmodel.jobs import InputReference, Order

KNOWN_MODELS: Final = frozenset({"sora-2", "sora-2-pro"})
ALLOWED_SIZES: Final = frozenset({"720x1280", "1280x720", "1024x1792", "1792x1024"})
ALLOWED_SECONDS: Final = ("4", "8", "12")
VARIANT_MEDIA_TYPES: Final = {
    "video": "video/mp4",
    "thumbnail": "image/webp",
    "spritesheet": "image/jpeg",
}
DEFAULT_MODEL: Final = "sora-2"
DEFAULT_SIZE: Final = "720x1280"
DEFAULT_SECONDS: Final = "4"
DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100
MAX_PROMPT: Final = 32_000

_CREATE_FIELDS: Final = frozenset({"model", "prompt", "seconds", "size"})
_REMIX_FIELDS: Final = frozenset({"prompt"})

BodyKind = Literal["json", "multipart"]


class ApiError(Exception):
    """An error that renders as the OpenAI envelope with the given HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type_

    def envelope(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def not_found(video_id: str) -> ApiError:
    return ApiError(404, f"Video '{video_id}' not found", code="video_not_found")


@dataclass(frozen=True, slots=True)
class CreateParams:
    model: str
    prompt: str
    seconds: str
    size: str
    # A JSON body's reference object; a multipart file is read by the app itself.
    input_reference: InputReference | None = None


@dataclass(frozen=True, slots=True)
class ListParams:
    after: str | None
    limit: int
    order: Order


def body_kind(content_type: str | None) -> BodyKind:
    """Classify the request body by media type, ignoring parameters such as charset."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        return "json"
    if media_type == "multipart/form-data":
        return "multipart"
    raise ApiError(
        415,
        f"Unsupported content type {media_type or '(none)'!r}; "
        "expected application/json or multipart/form-data",
        code="unsupported_media_type",
    )


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "Request body must be a JSON object", code="invalid_json")
    return value


def _reject_unknown(fields: Mapping[str, object], allowed: frozenset[str]) -> None:
    # The real service rejects unrecognised arguments, which also surfaces proxies
    # that inject or rename body fields.
    for name in fields:
        if name not in allowed:
            raise ApiError(
                400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
            )


def _require_prompt(fields: Mapping[str, object]) -> str:
    prompt = fields.get("prompt")
    if prompt is None:
        raise ApiError(
            400,
            "Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )
    if not isinstance(prompt, str):
        raise ApiError(400, "'prompt' must be a string", param="prompt", code="invalid_type")
    if not prompt.strip():
        raise ApiError(400, "'prompt' must not be empty", param="prompt", code="invalid_value")
    if len(prompt) > MAX_PROMPT:
        raise ApiError(
            400,
            f"'prompt' is longer than {MAX_PROMPT} characters",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def _choice(fields: Mapping[str, object], name: str, default: str, allowed: frozenset[str]) -> str:
    value = fields.get(name, default)
    if not isinstance(value, str):
        raise ApiError(400, f"'{name}' must be a string", param=name, code="invalid_type")
    if value not in allowed:
        options = ", ".join(sorted(allowed))
        raise ApiError(
            400,
            f"Invalid value for '{name}': {value!r}. Supported values are: {options}.",
            param=name,
            code="invalid_value",
        )
    return value


def _seconds(fields: Mapping[str, object]) -> str:
    raw = fields.get("seconds", DEFAULT_SECONDS)
    number: float | None = None
    # bool is an int subclass, but `true` is never a meaningful duration.
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        number = float(raw)
    elif isinstance(raw, str):
        try:
            number = float(raw)
        except ValueError:
            number = None
    if number is not None and math.isfinite(number):
        for allowed in ALLOWED_SECONDS:
            if number == int(allowed):
                return allowed
    raise ApiError(
        400,
        f"Invalid value for 'seconds': {raw!r}. Supported values are: "
        f"{', '.join(ALLOWED_SECONDS)}.",
        param="seconds",
        code="invalid_value",
    )


def validate_create(fields: Mapping[str, object]) -> CreateParams:
    """Validate create fields; the caller removes a genuine file part beforehand."""
    reference = None
    if "input_reference" in fields:
        reference = _reference_object(fields["input_reference"])
    _reject_unknown({k: v for k, v in fields.items() if k != "input_reference"}, _CREATE_FIELDS)
    prompt = _require_prompt(fields)
    return CreateParams(
        model=_choice(fields, "model", DEFAULT_MODEL, KNOWN_MODELS),
        prompt=prompt,
        seconds=_seconds(fields),
        size=_choice(fields, "size", DEFAULT_SIZE, ALLOWED_SIZES),
        input_reference=reference,
    )


def _reference_error(message: str) -> ApiError:
    return ApiError(400, message, param="input_reference", code="invalid_value")


def _reference_object(value: object) -> InputReference:
    """A JSON `input_reference`: exactly one of `image_url` (an https or a base64 data
    URL) and `file_id`, as the video API takes it."""
    if not isinstance(value, dict):
        raise input_reference_not_a_file()
    if set(value) not in ({"image_url"}, {"file_id"}):
        raise _reference_error("Provide exactly one of 'image_url' or 'file_id'.")
    if "file_id" in value:
        file_id = value["file_id"]
        if not isinstance(file_id, str) or not file_id:
            raise _reference_error("'file_id' must be a non-empty string.")
        return InputReference(file_id=file_id)
    url = value["image_url"]
    if not isinstance(url, str):
        raise _reference_error("'image_url' must be a string.")
    if url[:8].lower() == "https://":
        return InputReference(url=url)
    header, comma, payload = url.partition(",")
    if not (url.startswith("data:") and comma and header.endswith(";base64")):
        raise _reference_error("'image_url' must be an https URL or a base64 data URL.")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _reference_error("'image_url' holds invalid base64.") from None
    return InputReference(
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=header[len("data:") : -len(";base64")] or None,
    )


def validate_remix(fields: Mapping[str, object]) -> str:
    _reject_unknown(fields, _REMIX_FIELDS)
    return _require_prompt(fields)


def input_reference_not_a_file() -> ApiError:
    return ApiError(
        400,
        "'input_reference' must be uploaded as a file part of a multipart/form-data body",
        param="input_reference",
        code="invalid_type",
    )


def validate_variant(value: str | None) -> str:
    variant = "video" if value is None else value
    if variant not in VARIANT_MEDIA_TYPES:
        options = ", ".join(VARIANT_MEDIA_TYPES)
        raise ApiError(
            400,
            f"Invalid value for 'variant': {variant!r}. Supported values are: {options}.",
            param="variant",
            code="invalid_value",
        )
    return variant


def validate_list(query: Mapping[str, str]) -> ListParams:
    raw_limit = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = -1
        if not 0 <= limit <= MAX_LIMIT:
            raise ApiError(
                400,
                f"Invalid value for 'limit': {raw_limit!r}. "
                f"Expected an integer from 0 to {MAX_LIMIT}.",
                param="limit",
                code="invalid_value",
            )
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(
            400,
            f"Invalid value for 'order': {order!r}. Supported values are: asc, desc.",
            param="order",
            code="invalid_value",
        )
    after = query.get("after") or None
    return ListParams(after=after, limit=limit, order="asc" if order == "asc" else "desc")
