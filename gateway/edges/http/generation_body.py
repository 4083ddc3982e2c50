"""A generation request's body, read the same way whether it came as JSON or multipart.

Strict on purpose: anything that two parsers could read differently (a repeated JSON
key, a repeated form field) is refused, so no prompt can slip past the policy while
the model API reads another one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator
from typing import Any

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from gateway.core.errors import BadRequest, BodyTooLarge
from gateway.core.policy.request import GenerationRequest, InputReference, ParamValue

_TEXT_FIELDS_LIMIT = 64
_REFERENCE_CHUNK = 64 * 1024


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(key)
        document[key] = value
    return document


def _scalar(name: str, value: Any) -> ParamValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise BadRequest(f"{name!r} must be a string or a number.", param=name)


def from_json(body: bytes, *, is_remix: bool) -> GenerationRequest:
    try:
        document = json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise BadRequest(
            f"The JSON body repeats the key {exc.args[0]!r}.", param=str(exc)
        ) from None
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise BadRequest("The JSON body must be an object.")
    prompt = document.get("prompt")
    if not isinstance(prompt, str):
        raise BadRequest("prompt is required and must be a string.", param="prompt")
    if "input_reference" in document:
        raise BadRequest(
            "input_reference is a file: send it as multipart/form-data.", param="input_reference"
        )
    model = document.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("model must be a string.", param="model")
    params = {
        key: _scalar(key, value)
        for key, value in document.items()
        if key not in ("prompt", "model")
    }
    return GenerationRequest(prompt=prompt, model=model, params=params, is_remix=is_remix)


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def from_multipart(
    body: bytes, content_type: str, *, is_remix: bool, max_reference: int
) -> GenerationRequest:
    parser = MultiPartParser(
        Headers({"content-type": content_type}),
        _once(body),
        max_files=1,
        max_fields=_TEXT_FIELDS_LIMIT,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"The multipart body is malformed: {exc.message}") from None
    try:
        fields: dict[str, str] = {}
        reference: InputReference | None = None
        for name, value in form.multi_items():
            if name in fields or (name == "input_reference" and reference is not None):
                raise BadRequest(f"The form repeats the field {name!r}.", param=name)
            if isinstance(value, UploadFile):
                if name != "input_reference":
                    raise BadRequest(f"{name!r} must be a text field, not a file.", param=name)
                reference = await _reference(value, max_reference)
            elif name == "input_reference":
                raise BadRequest("input_reference must be a file.", param="input_reference")
            else:
                fields[name] = value
    finally:
        await form.close()
    if "prompt" not in fields:
        raise BadRequest("prompt is required.", param="prompt")
    params: dict[str, ParamValue] = {
        key: value for key, value in fields.items() if key not in ("prompt", "model")
    }
    return GenerationRequest(
        prompt=fields["prompt"],
        model=fields.get("model"),
        params=params,
        input_reference=reference,
        is_remix=is_remix,
    )


async def _reference(upload: UploadFile, limit: int) -> InputReference:
    digest = hashlib.sha256()
    size = 0
    while chunk := await upload.read(_REFERENCE_CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"input_reference is larger than the limit of {limit} bytes.")
        digest.update(chunk)
    return InputReference(size=size, sha256=digest.hexdigest(), content_type=upload.content_type)


async def reference_file(body: bytes, content_type: str) -> bytes | None:
    """The `input_reference` file of a multipart generation body (None if it has none),
    read by the same parser that judged the request, for a reviewer to look at."""
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        return None
    parser = MultiPartParser(
        Headers({"content-type": content_type}),
        _once(body),
        max_files=1,
        max_fields=_TEXT_FIELDS_LIMIT,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"The multipart body is malformed: {exc.message}") from None
    try:
        upload = form.get("input_reference")
        return await upload.read() if isinstance(upload, UploadFile) else None
    finally:
        await form.close()


async def parse_generation(
    body: bytes, content_type: str, *, is_remix: bool, max_reference: int
) -> GenerationRequest:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return await from_multipart(
            body, content_type, is_remix=is_remix, max_reference=max_reference
        )
    return from_json(body, is_remix=is_remix)
