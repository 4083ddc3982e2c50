"""The gateway judges exactly what it forwards: no spelling of a path reaches the model
API without every check.

The model API here normalises paths the way common servers do (escapes decoded,
`\\` read as `/`, `//` merged, `.` and `..` resolved, `;params` dropped), and records
the raw path of every request it receives. Bob tries every spelling of every route
against Alice's job, and a create with a prompt the policy denies: none of it may
reach the model API. Alice's own requests, in the spellings the gateway accepts, must
reach it as exactly the canonical path her request was judged on.
"""

from __future__ import annotations

import json
import posixpath
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.mockmodel.app import create_mock_app
from tests.conftest import MOCK_JOB_SECONDS, Gateway, GatewayFactory
from tests.support.servers import AppServer

# Refused by every tier's rules: a real public figure for studios, a denied prompt for all.
DENIED_PROMPT = "sexual content with a child"
VIDEO = {"model": "sora-2", "prompt": "A paper boat drifting down a rainy street", "seconds": "4"}


def server_normalised(raw: bytes) -> str:
    """What a lenient server makes of a raw path before routing it."""
    path = unquote_to_bytes(raw).decode("utf-8", "replace").replace("\\", "/")
    path = "/".join(segment.split(";", 1)[0] for segment in path.split("/"))
    path = re.sub("/+", "/", path)
    normalised = posixpath.normpath(path) if path else "/"
    return "/" + normalised.lstrip("/")


class NormalisingRecorder:
    """An ASGI wrapper around the mock model API: records each raw path, then routes the
    request by its normalised path, as a lenient server would."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raw: bytes = scope.get("raw_path") or scope["path"].encode()
            with self._lock:
                self.received.append((scope["method"], raw))
            scope = {**scope, "path": server_normalised(raw), "raw_path": None}
        await self.app(scope, receive, send)

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def since(self, start: int) -> list[tuple[str, bytes]]:
        with self._lock:
            return self.received[start:]


@dataclass
class Setup:
    gateway: Gateway
    model: NormalisingRecorder
    alice: httpx.Client
    bob: httpx.Client
    alice_job: str

    def token(self, client: httpx.Client) -> str:
        return client.headers["authorization"].removeprefix("Bearer ")


@pytest.fixture
def setup(start_gateway: GatewayFactory) -> Iterator[Setup]:
    model = NormalisingRecorder(create_mock_app(job_seconds=MOCK_JOB_SECONDS))
    with AppServer(model) as server:
        gateway = start_gateway(server.url)
        alice, bob = gateway.client("alice"), gateway.client("bob")
        created = alice.post("/v1/videos", json=VIDEO)
        assert created.status_code == 200, created.text
        yield Setup(gateway, model, alice, bob, created.json()["id"])


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    @property
    def code(self) -> str | None:
        try:
            return str(json.loads(self.body)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None


def send_raw(url: str, method: str, target: bytes, token: str, body: bytes = b"") -> Answer:
    """One request with its target exactly as given (no client normalises it), on a
    connection of its own that the server closes after answering."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        method.encode()
        + b" "
        + target
        + b" HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n"
        + f"Authorization: Bearer {token}\r\n".encode()
        + (
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
            if body
            else b"Content-Length: 0"
        )
        + b"\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head + body)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    status = int(response.split(b" ", 2)[1])
    return Answer(status, response.partition(b"\r\n\r\n")[2])


# Each spelling turns a canonical path into another way of writing it.
SPELLINGS: dict[str, Callable[[str], str]] = {
    "dot segment": lambda p: p.replace("/v1/", "/v1/./", 1),
    "leading dot segment": lambda p: "/." + p,
    "dot-dot through a detour": lambda p: p.replace("/v1/", "/v1/x/../", 1),
    "dot-dot at the front": lambda p: "/x/.." + p,
    "escaped dot": lambda p: p.replace("/v1/", "/v1/%2e/", 1),
    "escaped dot, capital": lambda p: p.replace("/v1/", "/v1/%2E/", 1),
    "escaped dot-dot": lambda p: p.replace("/v1/", "/v1/x/%2e%2e/", 1),
    "mixed dot-dot": lambda p: p.replace("/v1/", "/v1/x/.%2E/", 1),
    "mixed dot-dot, other way": lambda p: p.replace("/v1/", "/v1/x/%2e./", 1),
    "trailing dot": lambda p: p + "/.",
    "trailing dot-dot": lambda p: p + "/x/..",
    "double slash at the front": lambda p: "/" + p,
    "double slash inside": lambda p: p.replace("/v1/", "/v1//", 1),
    "trailing slash": lambda p: p + "/",
    "escaped slash": lambda p: p.replace("/videos", "%2Fvideos", 1),
    "escaped slash, lower case": lambda p: p.replace("/videos", "%2fvideos", 1),
    "backslash": lambda p: p.replace("/videos", "\\videos", 1),
    "escaped backslash": lambda p: p.replace("/videos", "%5Cvideos", 1),
    "escaped backslash, lower case": lambda p: p.replace("/videos", "%5cvideos", 1),
    "escaped NUL": lambda p: p + "%00",
    "escaped newline": lambda p: p + "%0A",
    "escaped tab": lambda p: p.replace("/videos", "/videos%09", 1),
    "broken escape": lambda p: p + "%zz",
    "truncated escape": lambda p: p + "%2",
    "overlong UTF-8 dot": lambda p: p.replace("/v1/", "/v1/%C0%AE/", 1),
    "IIS unicode escape": lambda p: p.replace("/v1/", "/v1/%u002e/", 1),
    "full-width dot": lambda p: p.replace("/v1/", "/v1/%EF%BC%8E/", 1),
    "path parameter": lambda p: p.replace("/videos", "/videos;x=1", 1),
    "path parameter on the last segment": lambda p: p + ";x=1",
    "upper case": lambda p: p.upper(),
    "escaped space": lambda p: p + "%20",
    "escaped hash": lambda p: p + "%23",
    "escaped question mark": lambda p: p + "%3F",
    "non-UTF-8 escape": lambda p: p + "%FF",
    "escaped letters": lambda p: p.replace("/videos", "/vid%65os", 1),
    "every letter escaped": lambda p: p.replace("/videos", "/%76%69%64%65%6f%73", 1),
    "absolute form": lambda p: "http://gateway" + p,
}
# Spellings that mean exactly the canonical path: the gateway reads them as such.
SAME_MEANING = {"escaped letters", "every letter escaped", "absolute form"}
GATEWAY_REFUSALS = {"invalid_path", "unknown_route", "not_found", "invalid_request"}


def routes(job: str) -> list[tuple[str, str, bytes]]:
    create = json.dumps({**VIDEO, "prompt": DENIED_PROMPT}).encode()
    remix = json.dumps({"prompt": DENIED_PROMPT}).encode()
    return [
        ("GET", f"/v1/videos/{job}", b""),
        ("GET", f"/v1/videos/{job}/content", b""),
        ("DELETE", f"/v1/videos/{job}", b""),
        ("POST", f"/v1/videos/{job}/remix", remix),
        ("POST", "/v1/videos", create),
        ("GET", "/v1/videos", b""),
    ]


def test_every_spelling_of_every_route_is_judged_before_anything_is_forwarded(
    setup: Setup,
) -> None:
    """Bob reaches neither Alice's job nor the model with a denied prompt, however he
    writes the path: every answer is the gateway's own refusal or its own listing."""
    assert len(SPELLINGS) >= 30
    token = setup.token(setup.bob)
    before = setup.model.count()
    outcomes: dict[tuple[str, str, str], tuple[int, str | None]] = {}
    for method, path, body in routes(setup.alice_job):
        for name, spell in SPELLINGS.items():
            answer = send_raw(setup.gateway.url, method, spell(path).encode(), token, body)
            outcomes[(method, path, name)] = (answer.status, answer.code)
    assert setup.model.since(before) == []
    for (method, path, name), (status, code) in outcomes.items():
        listing = method == "GET" and path == "/v1/videos" and name in SAME_MEANING
        # Bob's own (empty) listing is answered by the gateway from its own records.
        assert listing or code in GATEWAY_REFUSALS | {"policy_violation"}, (method, path, name)
        assert status in (200, 400, 403, 404), (method, path, name, status)


# What Alice gets for her own job spelled each way (None: the HTTP server itself refused
# the request line, before the gateway saw it).
EXPECTED: dict[str, set[tuple[int, str | None]]] = {
    name: {(400, "invalid_path")} for name in SPELLINGS if name not in SAME_MEANING
}
EXPECTED.update(
    {
        "backslash": {(400, "invalid_path"), (400, None)},
        "trailing slash": {(404, "unknown_route")},
        "full-width dot": {(404, "unknown_route")},
        "path parameter": {(404, "unknown_route")},
        "upper case": {(404, "unknown_route")},
        "path parameter on the last segment": {(404, "not_found")},
        "escaped space": {(404, "not_found")},
        "escaped hash": {(404, "not_found")},
        "escaped question mark": {(404, "not_found")},
    }
)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_spelling_is_refused_with_the_gateways_own_answer(setup: Setup, name: str) -> None:
    """Alice's own job, spelled oddly: refused by the gateway, never forwarded — even
    though the model API would have served it. Paths with no single meaning are 400
    `invalid_path`; well-formed paths that are no route 404 `unknown_route`; a job
    segment that cannot be a job id 404 `not_found`."""
    token = setup.token(setup.alice)
    before = setup.model.count()
    answer = send_raw(
        setup.gateway.url, "GET", SPELLINGS[name](f"/v1/videos/{setup.alice_job}").encode(), token
    )
    assert (answer.status, answer.code) in EXPECTED[name], answer
    assert setup.model.since(before) == []


@pytest.mark.parametrize("name", sorted(SAME_MEANING))
def test_a_spelling_with_the_same_meaning_is_forwarded_as_the_canonical_path(
    setup: Setup, name: str
) -> None:
    token = setup.token(setup.alice)
    path = f"/v1/videos/{setup.alice_job}"
    before = setup.model.count()
    answer = send_raw(setup.gateway.url, "GET", SPELLINGS[name](path).encode(), token)
    assert answer.status == 200
    assert json.loads(answer.body)["id"] == setup.alice_job
    assert setup.model.since(before) == [("GET", path.encode())]


def test_a_denied_create_is_refused_and_audited_in_every_accepted_spelling(
    setup: Setup,
) -> None:
    token = setup.token(setup.alice)
    body = json.dumps({**VIDEO, "prompt": DENIED_PROMPT}).encode()
    before = setup.model.count()
    for target in (b"/v1/vid%65os", b"http://gateway/v1/videos", b"/v1/videos"):
        answer = send_raw(setup.gateway.url, "POST", target, token, body)
        assert (answer.status, answer.code) == (403, "policy_violation"), target
    assert setup.model.since(before) == []


# --- any path at all ------------------------------------------------------------------

PIECES = st.sampled_from(
    [
        "/", "//", "/.", "/..", "v1", "videos", "content", "remix", "models", "sora-2",
        "%2e", "%2E", "%2f", "%2F", "%5c", "\\", ";x", "%00", "%zz", "%", "%e9", "%C3%A9",
        "%76", "?", "?after=x", "?limit=1", "#", "JOB", "x", "-", "_", ".", "%20", "~",
    ]
)  # fmt: skip


# Paths the gateway forwards, to be spelled differently by a few random insertions.
BASES = st.sampled_from(
    ["/v1/videos/JOB", "/v1/videos/JOB/content", "/v1/videos", "/v1/models", "/v1/models/sora-2"]
)


@dataclass
class Forwarded:
    request_id: str
    method: str
    received: bytes


def _audit_records(audit_dir: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for segment in sorted(audit_dir.glob("audit-*.jsonl")):
        for line in segment.read_text().splitlines():
            record = json.loads(line)
            if "request_id" in record:
                found.setdefault(record["request_id"], record)
    return found


def test_any_path_is_refused_or_forwarded_exactly_as_judged(setup: Setup) -> None:
    """For arbitrary paths: either the gateway refuses and nothing reaches the model API,
    or the model API receives one request whose path no server would normalise further,
    for Alice's own job, and the gateway's audit record names that very route and job."""
    token = setup.token(setup.alice)
    forwarded: list[Forwarded] = []
    job = setup.alice_job

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    # No DELETE: Alice's job must outlive every example that may reach it.
    @given(
        st.sampled_from(["GET", "POST"]),
        BASES,
        st.lists(st.tuples(st.integers(0, 40), PIECES), max_size=3),
    )
    def check(method: str, base: str, edits: list[tuple[int, str]]) -> None:
        target = base
        for position, piece in edits:
            at = position % (len(target) + 1)
            target = target[:at] + piece + target[at:]
        target = target.replace("JOB", job)
        if not target.startswith("/"):
            target = "/" + target
        request_id = f"prop-{len(forwarded)}-{time.monotonic_ns()}"
        before = setup.model.count()
        answer = _send_with_id(setup.gateway.url, method, target.encode(), token, request_id)
        received = setup.model.since(before)
        if not received:
            assert answer.status in (200, 400, 403, 404, 405, 413, 415), (target, answer)
            return
        if _is_listing(answer):
            # The gateway's own listing: it reads the caller's jobs from the model API.
            assert received == [("GET", f"/v1/videos/{job}".encode())], (target, received)
            return
        assert len(received) == 1, (target, received)
        got_method, raw = received[0]
        assert got_method == method
        assert raw.decode() == server_normalised(raw), (target, raw)
        forwarded.append(Forwarded(request_id, method, raw))

    check()
    assert forwarded, "no example reached the model API: the property saw nothing forwarded"
    deadline = time.monotonic() + 5
    while True:
        records = _audit_records(setup.gateway.settings.data_dir / "audit")
        missing = [f for f in forwarded if f.request_id not in records]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for item in forwarded:
        path = item.received.decode()
        record = records.get(item.request_id)
        assert record is not None, item
        if record["event"] == "job_access":
            assert record["route"].replace("{id}", record["job_id"]) == path, (record, item)
        else:
            assert (record["event"], record["path"]) == ("passthrough", path), (record, item)


def _is_listing(answer: Answer) -> bool:
    try:
        document = json.loads(answer.body)
        return answer.status == 200 and document.get("object") == "list" and "has_more" in document
    except ValueError:
        return False


def _send_with_id(url: str, method: str, target: bytes, token: str, request_id: str) -> Answer:
    host, port = url.removeprefix("http://").split(":")
    head = (
        method.encode()
        + b" "
        + target
        + b" HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nContent-Length: 0\r\n"
        + f"Authorization: Bearer {token}\r\nX-Request-ID: {request_id}\r\n\r\n".encode()
    )
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    return Answer(int(response.split(b" ", 2)[1]), response.partition(b"\r\n\r\n")[2])
