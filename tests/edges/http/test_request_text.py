"""Numbers and text in requests, read strictly at the edge: a 4xx naming what was wrong,
never a 500 and never a request the model API would read otherwise than the gateway."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway
from tests.support.servers import AppServer

VIDEO = {"model": "sora-2", "prompt": "A paper boat on a rainy street"}
# Digits to Python's int(), float() or str.isdigit(), none of them digits in HTTP.
OTHER_DIGITS = ["\u00b9", "\u0663", "\uff14", "1_0"]


def _forwarded(mock_model: AppServer) -> int:
    seen: list[dict[str, Any]] = httpx.get(f"{mock_model.url}/_mock/requests").json()["data"]
    return len(seen)


def _assert_refused(response: httpx.Response, param: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["param"] == param


@pytest.mark.parametrize("limit", ["%C2%B9", "%D9%A3", "%EF%BC%94", "1_0", "9" * 5000, ""])
def test_a_list_limit_in_other_digits_is_400(gateway: Gateway, limit: str) -> None:
    """`limit` spelled in other scripts' digits, too long to read or empty names `limit`."""
    _assert_refused(gateway.client().get(f"/v1/videos?limit={limit}"), "limit")


@pytest.mark.parametrize("seconds", OTHER_DIGITS)
def test_seconds_in_other_digits_is_400_and_not_forwarded(
    gateway: Gateway, mock_model: AppServer, seconds: str
) -> None:
    """`seconds` in other digits is no number to the policy, in JSON and in a form alike,
    so it is refused here rather than judged as one number and read as another."""
    client = gateway.client()
    before = _forwarded(mock_model)
    _assert_refused(client.post("/v1/videos", json={**VIDEO, "seconds": seconds}), "seconds")
    form = {"prompt": (None, VIDEO["prompt"]), "seconds": (None, seconds)}
    _assert_refused(client.post("/v1/videos", files=form), "seconds")
    assert _forwarded(mock_model) == before


def test_a_header_in_other_bytes_is_400_and_not_forwarded(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """A header value with bytes beyond ASCII would reach the model API re-encoded: it is
    refused, naming the header."""
    client = gateway.client()
    before = _forwarded(mock_model)
    note = "caf\u00e9".encode("latin-1")
    noted = {b"X-Video-Note": note}
    _assert_refused(client.post("/v1/videos", json=VIDEO, headers=noted), "X-Video-Note")
    _assert_refused(client.get("/v1/videos", headers=noted), "X-Video-Note")
    assert _forwarded(mock_model) == before


def test_a_boundary_in_other_bytes_cannot_split_a_form_two_ways(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """A multipart boundary in Latin-1 bytes is read as one byte by the gateway and sent as
    two (UTF-8) to the model API, which would then read another form hidden inside the
    first one's file: refused before anything is parsed or forwarded."""
    gateway_boundary, model_boundary = b"\xe9", "\u00e9".encode()
    hidden = (
        b"--" + model_boundary + b'\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n'
        b"a prompt the policy never saw\r\n--" + model_boundary + b"--\r\n"
    )
    body = (
        b"--" + gateway_boundary + b'\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n'
        b"a paper boat\r\n--" + gateway_boundary + b"\r\n"
        b'Content-Disposition: form-data; name="input_reference"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + hidden + b"\r\n--" + gateway_boundary + b"--\r\n"
    )
    before = _forwarded(mock_model)
    response = gateway.client().post(
        "/v1/videos",
        content=body,
        headers={b"Content-Type": b'multipart/form-data; boundary="' + gateway_boundary + b'"'},
    )
    _assert_refused(response, "Content-Type")
    assert _forwarded(mock_model) == before


@pytest.mark.parametrize(
    "credentials",
    [b"Basic " + base64.b64encode(b"\xff\xfe:secret"), b"Basic \xe9\xe9"],
    ids=["not-utf-8", "not-base64"],
)
def test_unreadable_basic_credentials_are_an_oauth_401(
    gateway: Gateway, credentials: bytes
) -> None:
    """Basic credentials that are not base64 of UTF-8 are a client that failed to
    authenticate (RFC 6749 section 5.2), not a failure of the gateway."""
    response = httpx.post(
        f"{gateway.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={b"Authorization": credentials},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == "Basic"
