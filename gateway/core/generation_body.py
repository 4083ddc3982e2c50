"""A generation request's body, read the same way whether it came as JSON or multipart.

Strict on purpose: anything that two parsers could read differently is refused, so no
prompt can slip past the policy while the model API reads another one — a repeated JSON
key or form field, JSON in another encoding than UTF-8 or behind a byte order mark,
`NaN`, text that is not valid Unicode (a lone surrogate escape, invalid UTF-8 in a
form part), a form part in a transfer encoding or with parameters some parsers honour
and others ignore. The HTTP edge, the review commands and the review lookup all read
stored and live bodies through here, so all of them see one request. A JSON body's
`input_reference` object is read by `input_reference`, as strictly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from gateway.core import header_params
from gateway.core.errors import BadRequest, BodyTooLarge, UnsupportedMediaType
from gateway.core.input_reference import decode_data_url, read_json_reference
from gateway.core.policy.request import GenerationRequest, InputReference, ParamValue

JSON = "application/json"
MULTIPART = "multipart/form-data"
MEDIA_TYPES = (JSON, MULTIPART)

_TEXT_FIELDS_LIMIT = 64
_PART_HEADERS_LIMIT = 8
_PART_HEADERS = frozenset({b"content-disposition", b"content-type", b"content-transfer-encoding"})
_REFERENCE = "input_reference"
_IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})
# Transfer encodings a text part may come in (RFC 2045): judged as sent and decoded, so
# the policy reads what either kind of parser, one that decodes them or one that does not,
# would hand the model.
_TEXT_ENCODINGS = frozenset({"base64", "quoted-printable"})
_TEXT_CHARSETS = frozenset({"utf-8", "us-ascii"})
_BOM = "\ufeff"
_NAMED = frozenset({"prompt", "model", _REFERENCE})
# The OpenAI video API's bounds on a prompt (create and remix alike), in characters.
MAX_PROMPT = 32_000


def media_type(content_type: str) -> str:
    """The media type alone, lower-cased (`""` when the header is unreadable)."""
    try:
        return header_params.parse(content_type).value
    except header_params.MalformedHeader:
        return ""


def parse_generation(
    body: bytes, content_type: str, *, is_remix: bool, max_reference: int
) -> GenerationRequest:
    try:
        declared = header_params.parse(content_type)
    except header_params.MalformedHeader as exc:
        raise BadRequest(f"The Content-Type header is malformed: {exc}.") from None
    if declared.value == MULTIPART:
        return from_multipart(body, declared.params, is_remix=is_remix, max_reference=max_reference)
    if declared.value == JSON:
        charset = declared.params.get("charset", "utf-8").lower()
        if charset != "utf-8" or set(declared.params) - {"charset"}:
            raise UnsupportedMediaType(
                "JSON generation requests are taken in UTF-8 only "
                "(Content-Type: application/json or application/json; charset=utf-8)."
            )
        return from_json(body, is_remix=is_remix, max_reference=max_reference)
    raise UnsupportedMediaType("Generation requests take application/json or multipart/form-data.")


# --- JSON -----------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


class _NotANumber(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(key)
        document[key] = value
    return document


def _no_constants(name: str) -> Any:
    raise _NotANumber(name)


def _reject_unencodable(value: Any, where: str) -> None:
    """JSON escapes can spell lone surrogates, which no UTF-8 encoder (the model API's,
    the audit log's) can write back: refuse them, naming the field they are in."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(
                f"{where!r} holds text that is not valid Unicode (a lone surrogate).",
                param=where,
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_unencodable(key, where)
            _reject_unencodable(item, where)
    elif isinstance(value, list):
        for item in value:
            _reject_unencodable(item, where)


def _json_document(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The JSON body is not valid UTF-8.") from None
    if text.startswith(_BOM):
        raise BadRequest("The JSON body starts with a byte order mark; send plain UTF-8.")
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except _DuplicateKey as exc:
        raise BadRequest(
            f"The JSON body repeats the key {exc.args[0]!r}.", param=str(exc)
        ) from None
    except _NotANumber as exc:
        raise BadRequest(f"The JSON body holds {exc.args[0]}, which is not a number.") from None
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise BadRequest("The JSON body must be an object.")
    for key, value in document.items():
        _reject_unencodable(key, "body")
        _reject_unencodable(value, key)
    return document


def from_json(body: bytes, *, is_remix: bool, max_reference: int) -> GenerationRequest:
    document = _json_document(body)
    prompt = _checked_prompt(document.get("prompt"))
    model = document.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("model must be a string.", param="model")
    reference = None
    if _REFERENCE in document:
        reference = read_json_reference(document[_REFERENCE], max_reference=max_reference)
    params = {key: _scalar(key, value) for key, value in document.items() if key not in _NAMED}
    return GenerationRequest(
        prompt=prompt, model=model, params=params, input_reference=reference, is_remix=is_remix
    )


def _checked_prompt(prompt: Any) -> str:
    if not isinstance(prompt, str):
        raise BadRequest("prompt is required and must be a string.", param="prompt")
    if not 1 <= len(prompt) <= MAX_PROMPT:
        raise BadRequest(
            f"prompt must be 1 to {MAX_PROMPT} characters long; it has {len(prompt)}.",
            param="prompt",
        )
    return prompt


def _scalar(name: str, value: Any) -> ParamValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise BadRequest(f"{name!r} must be a string or a number.", param=name)


# --- multipart ------------------------------------------------------------------------


@dataclass(slots=True)
class _Part:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    transfer_encoding: str = "7bit"
    data: bytearray = field(default_factory=bytearray)
    size: int = 0
    digest: Any = None


@dataclass(frozen=True, slots=True)
class _Form:
    fields: dict[str, str]
    reference: InputReference | None
    reference_bytes: bytes | None
    transfer_encodings: dict[str, str]


class _FormReader:
    """Collects a form's parts from the parser's callbacks, judging each as it ends."""

    def __init__(self, *, max_reference: int, keep_reference: bool) -> None:
        self._max_reference = max_reference
        self._keep_reference = keep_reference
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._part = _Part()
        self.fields: dict[str, str] = {}
        self.transfer_encodings: dict[str, str] = {}
        self.reference: InputReference | None = None
        self.reference_bytes: bytes | None = None
        self.ended = False

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
            "on_end": self._form_end,
        }

    def _begin(self) -> None:
        self._part = _Part()

    def _header_end(self) -> None:
        self._part.headers.append((bytes(self._header_field).lower(), bytes(self._header_value)))
        self._header_field.clear()
        self._header_value.clear()
        if len(self._part.headers) > _PART_HEADERS_LIMIT:
            raise BadRequest("A form part has too many headers.")

    def _headers_finished(self) -> None:
        part = self._part
        headers = _part_headers(part.headers)
        part.name, part.filename = _disposition(headers)
        part.content_type = headers.get(b"content-type")
        encoding = headers.get(b"content-transfer-encoding", "7bit").strip().lower()
        part.transfer_encoding = encoding
        if encoding not in _IDENTITY_ENCODINGS and (
            part.filename is not None or encoding not in _TEXT_ENCODINGS
        ):
            raise BadRequest(
                f"The form part {part.name!r} has a Content-Transfer-Encoding of {encoding!r};"
                " text fields take base64 or quoted-printable, files none.",
                param=part.name,
            )
        if part.filename is not None:
            if part.name != _REFERENCE:
                raise BadRequest(
                    f"{part.name!r} must be a text field, not a file.", param=part.name
                )
            if self.reference is not None:
                raise BadRequest(f"The form repeats the field {part.name!r}.", param=part.name)
            part.digest = hashlib.sha256()
            return
        if part.name == _REFERENCE:
            raise BadRequest("input_reference must be a file.", param=_REFERENCE)
        if part.name in self.fields:
            raise BadRequest(f"The form repeats the field {part.name!r}.", param=part.name)
        if len(self.fields) >= _TEXT_FIELDS_LIMIT:
            raise BadRequest(f"The form has more than {_TEXT_FIELDS_LIMIT} fields.")
        _check_text_type(part.name, part.content_type)

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        chunk = data[start:end]
        if part.digest is None:
            part.data.extend(chunk)
            return
        part.size += len(chunk)
        if part.size > self._max_reference:
            raise BodyTooLarge(
                f"input_reference is larger than the limit of {self._max_reference} bytes.",
                param=_REFERENCE,
            )
        part.digest.update(chunk)
        if self._keep_reference:
            part.data.extend(chunk)

    def _end(self) -> None:
        part = self._part
        if part.digest is None:
            self.fields[part.name] = _utf8(bytes(part.data), part.name)
            if part.transfer_encoding in _TEXT_ENCODINGS:
                self.transfer_encodings[part.name] = part.transfer_encoding
            return
        self.reference = InputReference(
            size=part.size,
            sha256=part.digest.hexdigest(),
            content_type=part.content_type,
            filename=part.filename,
        )
        if self._keep_reference:
            self.reference_bytes = bytes(part.data)

    def _form_end(self) -> None:
        self.ended = True


def _part_headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, str]:
    """A part's headers, each once, each one the gateway knows how every parser reads."""
    names = [name for name, _ in raw]
    if len(set(names)) != len(names):
        raise BadRequest("A form part repeats a header.")
    headers = {name: _utf8(value, "a form part's header") for name, value in raw}
    unknown = set(headers) - _PART_HEADERS
    if unknown:
        raise BadRequest(
            f"A form part has the header {sorted(unknown)[0].decode('latin-1')!r}, "
            "which generation requests do not take."
        )
    return headers


def _disposition(headers: dict[bytes, str]) -> tuple[str, str | None]:
    """The part's field name and, for a file, its file name."""
    disposition = headers.get(b"content-disposition")
    if disposition is None:
        raise BadRequest("A form part has no Content-Disposition.")
    try:
        parsed = header_params.parse(disposition, allowed=frozenset({"name", "filename"}))
    except header_params.MalformedHeader as exc:
        raise BadRequest(f"A form part's Content-Disposition is malformed: {exc}.") from None
    if parsed.value != "form-data" or "name" not in parsed.params:
        raise BadRequest("A form part's Content-Disposition must be form-data with a name.")
    return parsed.params["name"], parsed.params.get("filename")


def _utf8(raw: bytes, param: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"{param!r} is not valid UTF-8.", param=param) from None


def _check_text_type(name: str, content_type: str | None) -> None:
    """A text field is text/plain in UTF-8 (or says nothing): a part in another charset
    would be decoded one way here and another way by the model API."""
    if content_type is None:
        return
    try:
        declared = header_params.parse(content_type)
    except header_params.MalformedHeader as exc:
        raise BadRequest(f"The Content-Type of {name!r} is malformed: {exc}.", param=name) from None
    charset = declared.params.get("charset", "utf-8").lower()
    if declared.value != "text/plain" or charset not in _TEXT_CHARSETS:
        raise BadRequest(f"{name!r} must be text/plain in UTF-8.", param=name)


def _read_form(
    body: bytes, params: dict[str, str], *, max_reference: int, keep_reference: bool
) -> _Form:
    boundary = params.get("boundary")
    if not boundary or set(params) - {"boundary", "charset"}:
        raise BadRequest("A multipart/form-data body needs exactly one boundary parameter.")
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise UnsupportedMediaType("Multipart generation requests are taken in UTF-8 only.")
    reader = _FormReader(max_reference=max_reference, keep_reference=keep_reference)
    parser = MultipartParser(boundary.encode("latin-1"), reader.callbacks())  # type: ignore[arg-type]
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError:
        raise BadRequest("The multipart body is malformed.") from None
    if not reader.ended:
        raise BadRequest("The multipart body ends before its closing boundary.")
    if "_charset_" in reader.fields:
        raise BadRequest("The form field '_charset_' is not accepted: text is UTF-8.")
    return _Form(reader.fields, reader.reference, reader.reference_bytes, reader.transfer_encodings)


def from_multipart(
    body: bytes, params: dict[str, str], *, is_remix: bool, max_reference: int
) -> GenerationRequest:
    form = _read_form(body, params, max_reference=max_reference, keep_reference=False)
    if "prompt" not in form.fields:
        raise BadRequest("prompt is required.", param="prompt")
    prompt = _checked_prompt(form.fields["prompt"])
    extra: dict[str, ParamValue] = {
        key: value for key, value in form.fields.items() if key not in ("prompt", "model")
    }
    return GenerationRequest(
        prompt=prompt,
        model=form.fields.get("model"),
        params=extra,
        input_reference=form.reference,
        is_remix=is_remix,
        transfer_encodings=form.transfer_encodings,
    )


def reference_file(body: bytes, content_type: str) -> bytes | None:
    """The reference image of a generation body (None if it has none, or only names one
    by URL or file id), read by the same parser that judged the request, for a reviewer
    to look at: a multipart file, or the image a JSON data URL holds."""
    try:
        declared = header_params.parse(content_type)
    except header_params.MalformedHeader:
        return None
    if declared.value == JSON:
        reference = _json_document(body).get(_REFERENCE)
        image_url = reference.get("image_url") if isinstance(reference, dict) else None
        if not isinstance(image_url, str) or image_url[:5].lower() != "data:":
            return None
        return decode_data_url(image_url, max_reference=len(body))[1]
    if declared.value != MULTIPART:
        return None
    form = _read_form(body, declared.params, max_reference=len(body), keep_reference=True)
    return form.reference_bytes
