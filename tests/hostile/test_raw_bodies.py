"""Hostile request bodies over raw sockets: each is answered with a 4xx that names what
was wrong (or the HTTP parser's own 400), in time, and nothing reaches the model API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Gateway, GatewayFactory
from tests.support.raw_answer import exchange, request_head
from tests.support.servers import AppServer

BODY_TIMEOUT = 0.5
MARGIN = 5.0
BOUNDARY = "hostile"


def _form(*parts: bytes) -> bytes:
    sep = f"--{BOUNDARY}\r\n".encode()
    return b"".join(sep + part + b"\r\n" for part in parts) + f"--{BOUNDARY}--\r\n".encode()


def _field(name: bytes, value: bytes, *, filename: bytes | None = None) -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return disposition + b"\r\n\r\n" + value


JSON = "Content-Type: application/json"
MULTIPART = f"Content-Type: multipart/form-data; boundary={BOUNDARY}"
SURROGATE_UTF8 = b"\xed\xa0\x80"  # U+D800 spelled in UTF-8 bytes: not valid UTF-8

# (id, framing headers, body, status, code, param)
CASES: list[tuple[str, tuple[str, ...], bytes, int, str | None, str | None]] = [
    (
        "json-lone-surrogate",
        (JSON,),
        b'{"prompt": "a \\ud800 boat"}',
        400,
        "invalid_request",
        "prompt",
    ),
    (
        "json-surrogate-in-key",
        (JSON,),
        b'{"prompt": "a boat", "\\udfff": 1}',
        400,
        "invalid_request",
        "body",
    ),
    (
        "json-seconds-arabic-indic",
        (JSON,),
        '{"prompt": "a boat", "seconds": "\u0664"}'.encode(),
        400,
        "invalid_request",
        "seconds",
    ),
    (
        "json-seconds-fullwidth",
        (JSON,),
        '{"prompt": "a boat", "seconds": "\uff14"}'.encode(),
        400,
        "invalid_request",
        "seconds",
    ),
    (
        "form-surrogate-bytes",
        (MULTIPART,),
        _form(_field(b"prompt", b"a " + SURROGATE_UTF8)),
        400,
        "invalid_request",
        "prompt",
    ),
    (
        "form-filename-surrogate-bytes",
        (MULTIPART,),
        _form(
            _field(b"prompt", b"a boat"),
            _field(b"input_reference", b"png", filename=SURROGATE_UTF8),
        ),
        400,
        "invalid_request",
        None,
    ),
    (
        "form-seconds-superscript",
        (MULTIPART,),
        _form(_field(b"prompt", b"a boat"), _field(b"seconds", "\u00b9".encode())),
        400,
        "invalid_request",
        "seconds",
    ),
]


@pytest.fixture
def hostile_gateway(mock_model: AppServer, start_gateway: GatewayFactory) -> Gateway:
    return start_gateway(mock_model.url, body_timeout=BODY_TIMEOUT)


def _forwarded(mock_model: AppServer) -> int:
    seen: list[dict[str, Any]] = httpx.get(f"{mock_model.url}/_mock/requests").json()["data"]
    return len(seen)


@pytest.mark.parametrize(
    ("framing", "body", "status", "code", "param"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_a_hostile_body_is_refused_by_name(
    hostile_gateway: Gateway,
    mock_model: AppServer,
    framing: tuple[str, ...],
    body: bytes,
    status: int,
    code: str | None,
    param: str | None,
) -> None:
    """Text no encoder can write back and numbers in other digits are a 400 naming the
    field, before anything is forwarded."""
    token = hostile_gateway.token(hostile_gateway.grant("artist"))
    before = _forwarded(mock_model)
    head = request_head(
        "POST",
        "/v1/videos",
        f"Authorization: Bearer {token}",
        *framing,
        f"Content-Length: {len(body)}",
    )
    answer = exchange(hostile_gateway.server.port, head + body)
    assert answer.status == status, answer.body
    error = answer.json()["error"]
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    assert _forwarded(mock_model) == before


@pytest.mark.parametrize(
    ("framing", "sent"),
    [
        (("Transfer-Encoding: chunked",), b'5\r\n{"pro\r\n'),
        (("Content-Length: 4096",), b'{"prompt": "a boat"}'),
    ],
    ids=["chunked-never-ending", "content-length-larger-than-sent"],
)
def test_a_body_that_stops_coming_is_408_in_time(
    hostile_gateway: Gateway, mock_model: AppServer, framing: tuple[str, ...], sent: bytes
) -> None:
    """No answer is ever held: a body that stops coming is 408 by the body timeout."""
    token = hostile_gateway.token(hostile_gateway.grant("artist"))
    before = _forwarded(mock_model)
    head = request_head("POST", "/v1/videos", f"Authorization: Bearer {token}", JSON, *framing)
    answer = exchange(hostile_gateway.server.port, head + sent, wait=BODY_TIMEOUT + MARGIN)
    assert answer.status == 408
    assert answer.json()["error"]["code"] == "request_timeout"
    assert answer.closed
    assert _forwarded(mock_model) == before


@pytest.mark.parametrize("length", ["\u0663", "\u00b9", "1_0", "+5", "9" * 40])
def test_a_content_length_that_is_no_ascii_number_is_a_400(
    hostile_gateway: Gateway, mock_model: AppServer, length: str
) -> None:
    """A Content-Length in other digits (or one no parser can hold) is refused as a bad
    request, by the HTTP parser or the gateway, never a 5xx, and nothing is forwarded."""
    token = hostile_gateway.token(hostile_gateway.grant("artist"))
    before = _forwarded(mock_model)
    head = (
        request_head("POST", "/v1/videos", f"Authorization: Bearer {token}", JSON)[:-2]
        + b"Content-Length: "
        + length.encode()
        + b"\r\n\r\n"
    )
    answer = exchange(hostile_gateway.server.port, head + b"{}")
    assert answer.status == 400, answer.body
    assert _forwarded(mock_model) == before
