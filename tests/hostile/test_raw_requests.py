"""Hostile requests on a raw socket: each gets a 4xx answer in the error envelope, or no
answer at all, and its connection closed, within a bound; never a hang and never a 5xx.

To add a case, add a row to CASES: the bytes to send (in pieces, with a pause between
them, for clients that trickle), the status expected (None: the connection is closed
without an answer), and whether the answer waits for the header timeout.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.hostile.conftest import HEADER_TIMEOUT
from tests.support.processes import Deployment
from tests.support.raw_http import exchange

MiB = 1024 * 1024
# Margins for a loaded machine: the answers come at once, or once the header timeout ends.
AT_ONCE = 5.0
AFTER_HEADER_TIMEOUT = HEADER_TIMEOUT + 5.0

FORM = (
    b"POST /oauth/token HTTP/1.1\r\nHost: gateway\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
)


def head(*lines: bytes) -> bytes:
    return b"GET /healthz HTTP/1.1\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


@dataclass(frozen=True)
class Case:
    name: str
    pieces: tuple[bytes, ...]
    status: int | None
    waits_for_header_timeout: bool = False
    pause: float = 0.0

    @property
    def bound(self) -> float:
        return AFTER_HEADER_TIMEOUT if self.waits_for_header_timeout else AT_ONCE


CASES = [
    # Request line
    Case("http09-request-line", (b"GET /\r\n",), 400),
    Case("http09-then-blank-line", (b"GET /healthz\r\n\r\n",), 400),
    Case("unknown-http-version", (b"GET /healthz HTTP/3.0\r\nHost: gateway\r\n\r\n",), 400),
    Case("lowercase-method", (b"get /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n",), 400),
    Case("nul-in-request-line", (b"GET /heal\x00thz HTTP/1.1\r\nHost: gateway\r\n\r\n",), 400),
    Case(
        "connect-method", (b"CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n",), 400
    ),
    Case("http2-preface", (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",), 400),
    Case("tls-client-hello", (bytes.fromhex("16030100a5010000a10303") + bytes(64),), 400),
    Case("oversized-request-line", (b"GET /" + b"a" * MiB + b" HTTP/1.1\r\n\r\n",), 431),
    # Headers
    Case("nul-in-header-value", (head(b"Host: gateway", b"X-A: a\x00b"),), 400),
    Case("control-character-in-header-name", (head(b"Host: gateway", b"X\x01: a"),), 400),
    Case("space-before-colon", (head(b"Host : gateway"),), 400),
    Case("header-without-colon", (head(b"Host: gateway", b"X-A"),), 400),
    Case("obsolete-line-folding", (head(b"Host: gateway", b"X-A: a", b" b"),), 400),
    Case("bare-lf-line-ends", (b"GET /healthz HTTP/1.1\nHost: gateway\n\n",), 400),
    Case("bare-cr-line-ends", (b"GET /healthz HTTP/1.1\rHost: gateway\r\r",), 400),
    Case("oversized-header", (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * MiB,), 431),
    Case("too-many-headers", (head(b"Host: gateway", *[b"X-A: b"] * 20_000),), 431),
    # Framing of the body
    Case(
        "conflicting-content-length",
        (FORM + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",),
        400,
    ),
    Case(
        "repeated-content-length",
        (FORM + b"Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",),
        400,
    ),
    Case("negative-content-length", (FORM + b"Content-Length: -1\r\n\r\n",), 400),
    Case(
        "content-length-overflow", (FORM + b"Content-Length: 99999999999999999999999\r\n\r\n",), 400
    ),
    Case("content-length-not-a-number", (FORM + b"Content-Length: 4x\r\n\r\nabcd",), 400),
    Case(
        "content-length-and-transfer-encoding",
        (FORM + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",),
        400,
    ),
    Case(
        "transfer-encoding-not-chunked-last",
        (FORM + b"Transfer-Encoding: chunked, gzip\r\n\r\n",),
        400,
    ),
    Case(
        "invalid-chunk-size",
        (FORM + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",),
        400,
    ),
    # Heads that never end
    Case("nothing-sent", (), None, waits_for_header_timeout=True),
    Case("blank-lines-only", (b"\r\n",) * 30, None, waits_for_header_timeout=True, pause=0.1),
    Case(
        "request-line-never-ends", (b"GET /healthz HTTP/1.1",), 408, waits_for_header_timeout=True
    ),
    Case(
        "headers-never-end",
        (b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n",),
        408,
        waits_for_header_timeout=True,
    ),
    Case(
        "headers-trickle-forever",
        (b"GET /healthz HTTP/1.1\r\nX-Slow: ", *[b"a"] * 40),
        408,
        waits_for_header_timeout=True,
        pause=0.1,
    ),
]


def test_the_cases_have_distinct_names() -> None:
    """Every case is reported under its own name."""
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hostile_request_gets_a_4xx_or_a_closed_connection(
    case: Case, hostile_target: Deployment
) -> None:
    """The expected answer (a 4xx in the error envelope, or none), the connection closed by
    the gateway, within the case's bound."""
    port = int(hostile_target.gateway_url.rsplit(":", 1)[1])
    outcome = exchange(port, case.pieces, pause=case.pause)
    assert outcome.status == case.status, outcome.answer[:200]
    assert outcome.ending == "closed"
    assert outcome.seconds < case.bound
    if case.status is not None:
        error = outcome.json()["error"]
        assert error["request_id"] == outcome.headers["x-request-id"]
        assert outcome.headers["connection"] == "close"
    if case.waits_for_header_timeout:
        assert outcome.seconds >= HEADER_TIMEOUT * 0.9
