"""Idempotency-Key on generation requests, through the running gateway in front of the mock
model API: a retry gets the first answer and creates nothing."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import MOCK_JOB_SECONDS, Gateway, GatewayFactory
from tests.support.servers import AppServer, RawPeer, read_request_head

VIDEO = {"model": "sora-2", "prompt": "A kite over dunes", "seconds": "4"}
LIMITS_POLICIES = Path(__file__).resolve().parents[2] / "fixtures" / "limits_policies"


def _clear(mock_model: AppServer) -> None:
    httpx.delete(f"{mock_model.url}/_mock/requests").raise_for_status()


def _creations(mock_model: AppServer, path: str = "/v1/videos") -> int:
    """How many generation requests the mock model API received since the last clear."""
    seen = httpx.get(f"{mock_model.url}/_mock/requests").json()["data"]
    return sum(1 for entry in seen if entry["method"] == "POST" and entry["path"] == path)


def _post(
    client: httpx.Client, key: str | None, body: dict[str, str] = VIDEO, path: str = "/v1/videos"
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(path, json=body, headers=headers)


def _completed(client: httpx.Client, video_id: str) -> None:
    deadline = time.monotonic() + MOCK_JOB_SECONDS + 5
    while client.get(f"/v1/videos/{video_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_retry_with_the_same_key_replays_the_first_answer(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """The same key and body twice give one job, the second answer marked as a replay."""
    alice = gateway.client("alice")
    _clear(mock_model)
    first = _post(alice, "order-1")
    second = _post(alice, "order-1")
    assert first.status_code == second.status_code == 200, second.text
    assert second.json() == first.json()
    assert second.json()["id"] == first.json()["id"]
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"] == "application/json"
    assert _creations(mock_model) == 1
    assert alice.get(f"/v1/videos/{first.json()['id']}").status_code == 200


def test_a_key_is_bound_to_the_meaning_not_the_bytes(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """Reordered JSON, JSON as a form, a fresh boundary, `seconds` as a number: one job."""
    alice = gateway.client("alice")
    _clear(mock_model)
    headers = {"Idempotency-Key": "meaning-1"}
    first = alice.post("/v1/videos", json=VIDEO, headers=headers)
    assert first.status_code == 200, first.text
    reordered = alice.post(
        "/v1/videos",
        content=b'{"seconds": 4, "prompt": "A kite over dunes", "model": "sora-2"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    as_form = [
        alice.post("/v1/videos", files={k: (None, v) for k, v in VIDEO.items()}, headers=headers)
        for _ in range(2)  # httpx draws a new boundary for each
    ]
    for retry in (reordered, *as_form):
        assert retry.status_code == 200, retry.text
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json()["id"] == first.json()["id"]
    assert _creations(mock_model) == 1
    reused = alice.post(
        "/v1/videos",
        files={**{k: (None, v) for k, v in VIDEO.items()}, "seconds": (None, "8")},
        headers=headers,
    )
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert reused.headers["x-should-retry"] == "false"
    assert _creations(mock_model) == 1


def test_replays_consume_nothing(mock_model: AppServer, start_gateway: GatewayFactory) -> None:
    """Many more replays than a burst of 3 all succeed, unforwarded, and the burst is intact."""
    gateway = start_gateway(mock_model.url, policies=LIMITS_POLICIES)
    alice = gateway.client("alice", "burst3")
    _clear(mock_model)
    first = _post(alice, "once")
    assert first.status_code == 200, first.text
    replays = [_post(alice, "once") for _ in range(12)]
    assert {(r.status_code, r.json()["id"]) for r in replays} == {(200, first.json()["id"])}
    assert _creations(mock_model) == 1
    # The caller's budget lost one unit, to the first request: two more pass, then 429.
    assert [_post(alice, key).status_code for key in ("b", "c", "d")] == [200, 200, 429]
    assert _creations(mock_model) == 3


def test_the_same_key_with_another_body_is_refused(gateway: Gateway, mock_model: AppServer) -> None:
    """Reusing a key for a different request is a 409 idempotency_key_reused, not forwarded."""
    alice = gateway.client("alice")
    _clear(mock_model)
    assert _post(alice, "order-1").status_code == 200
    reused = _post(alice, "order-1", {**VIDEO, "prompt": "A kite over the sea"})
    assert reused.status_code == 409
    error = reused.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "Idempotency-Key"
    assert _creations(mock_model) == 1


def test_keys_belong_to_their_principal(gateway: Gateway, mock_model: AppServer) -> None:
    """Another principal's request with the same key and body is a job of its own."""
    alice, bob = gateway.client("alice"), gateway.client("bob")
    _clear(mock_model)
    mine, theirs = _post(alice, "shared"), _post(bob, "shared")
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers
    assert _creations(mock_model) == 2
    assert bob.get(f"/v1/videos/{mine.json()['id']}").status_code == 404


def test_keys_belong_to_their_route(gateway: Gateway, mock_model: AppServer) -> None:
    """A key used to create a video is a fresh key on a remix of it."""
    alice = gateway.client("alice")
    created = _post(alice, "k")
    assert created.status_code == 200
    _completed(alice, created.json()["id"])
    _clear(mock_model)
    remix_path = f"/v1/videos/{created.json()['id']}/remix"
    remix = _post(alice, "k", {"prompt": "at night"}, path=remix_path)
    assert remix.status_code == 200, remix.text
    assert "idempotent-replayed" not in remix.headers
    assert _creations(mock_model, remix_path) == 1


def test_a_client_error_from_the_model_api_is_kept(gateway: Gateway, mock_model: AppServer) -> None:
    """A 4xx answer is replayed to a retry even once the request would now succeed."""
    alice = gateway.client("alice")
    source = _post(alice, None).json()["id"]
    remix_path = f"/v1/videos/{source}/remix"
    _clear(mock_model)
    early = _post(alice, "too-soon", {"prompt": "at night"}, path=remix_path)
    assert early.status_code == 400, early.text
    _completed(alice, source)
    retry = _post(alice, "too-soon", {"prompt": "at night"}, path=remix_path)
    assert retry.status_code == 400
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == early.json()
    assert _creations(mock_model, remix_path) == 1


def test_without_a_key_every_request_is_a_new_job(gateway: Gateway, mock_model: AppServer) -> None:
    """Two identical requests without a key create two jobs, as before."""
    alice = gateway.client("alice")
    _clear(mock_model)
    first, second = _post(alice, None), _post(alice, None)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] != second.json()["id"]
    assert _creations(mock_model) == 2


@pytest.mark.parametrize("key", [b"", b"x" * 256, "caf\u00e9".encode()])
def test_a_malformed_key_is_a_bad_request(
    gateway: Gateway, mock_model: AppServer, key: bytes
) -> None:
    """An empty, overlong or non-ASCII key gets 400 naming the header, and is not forwarded."""
    alice = gateway.client("alice")
    _clear(mock_model)
    response = alice.post("/v1/videos", json=VIDEO, headers=[(b"Idempotency-Key", key)])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["param"] == "Idempotency-Key"
    assert _creations(mock_model) == 0


def test_concurrent_duplicates_create_one_job(gateway: Gateway, mock_model: AppServer) -> None:
    """Two requests with one key at once make one job; the other replays it or is told to wait."""
    clients = [gateway.client("alice"), gateway.client("alice")]
    _clear(mock_model)
    start = threading.Barrier(len(clients))
    answers: list[httpx.Response] = []

    def send(client: httpx.Client) -> None:
        start.wait()
        answers.append(_post(client, "at-once"))

    threads = [threading.Thread(target=send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(answers) == 2
    assert _creations(mock_model) == 1
    fresh = [a for a in answers if a.status_code == 200 and "idempotent-replayed" not in a.headers]
    assert len(fresh) == 1, [a.text for a in answers]
    (other,) = (a for a in answers if a is not fresh[0])
    if other.status_code == 200:
        assert other.headers["idempotent-replayed"] == "true"
        assert other.json()["id"] == fresh[0].json()["id"]
    else:
        assert other.status_code == 409
        assert other.json()["error"]["code"] == "idempotency_key_in_use"


def _failing_model(attempts: list[str], answer: bytes | None) -> RawPeer:
    """A model API that fails every request: it answers `answer` (a whole HTTP response),
    or with None cuts the connection unanswered. Each attempt's X-Request-ID is kept."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await read_request_head(reader)).decode("latin-1")
        fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        headers = {name.lower(): value for name, value in fields.items()}
        attempts.append(headers["x-request-id"])
        await reader.readexactly(int(headers["content-length"]))
        if answer is not None:
            writer.write(answer)
            await writer.drain()

    return RawPeer(handle)


_OVERLOADED = b'{"error": {"type": "server_error", "message": "overloaded", "code": null}}'
# How the model API fails (a whole HTTP answer, or None: the connection cut unanswered),
# and the status the caller gets for it.
UPSTREAM_FAILURES: dict[str, tuple[bytes | None, int]] = {
    "connection-cut": (None, 502),
    "answers-503": (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_OVERLOADED), _OVERLOADED),
        503,
    ),
}


@pytest.mark.parametrize("failure", sorted(UPSTREAM_FAILURES))
def test_a_failed_upstream_call_frees_the_key(start_gateway: GatewayFactory, failure: str) -> None:
    """When the model API gives no answer (502) or fails the request itself (5xx), a retry
    with the same key is sent to it again: not replayed, not 409, under a request id of
    its own."""
    answer, status = UPSTREAM_FAILURES[failure]
    attempts: list[str] = []
    with _failing_model(attempts, answer) as model:
        gateway = start_gateway(model.url)
        alice = gateway.client("alice")
        first = _post(alice, "retry-me")
        assert first.status_code == status, first.text
        retry = _post(alice, "retry-me")
    assert retry.status_code == status, retry.text
    assert "idempotent-replayed" not in retry.headers, "the failed answer was replayed"
    ids = [first.headers["x-request-id"], retry.headers["x-request-id"]]
    assert attempts == ids, "the retry never reached the model API"
    assert ids[0] != ids[1]
    if answer is None:
        errors = [first.json()["error"], retry.json()["error"]]
        assert [error["code"] for error in errors] == ["upstream_unavailable"] * 2
        assert [error["request_id"] for error in errors] == ids


def test_a_refused_request_frees_the_key(gateway: Gateway, mock_model: AppServer) -> None:
    """A request a later step refuses keeps nothing: the same retry is refused the same way."""
    alice = gateway.client("alice")
    _clear(mock_model)
    forbidden = {**VIDEO, "model": "sora-3"}
    for _ in range(2):
        refused = _post(alice, "not-allowed", forbidden)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "model_not_allowed"
    assert _creations(mock_model) == 0


def test_a_held_request_replays_its_queued_answer(gateway: Gateway, mock_model: AppServer) -> None:
    """A retry of a request held for review gets the same queued video, not a second hold."""
    gateway.set_phase("limited_preview")
    studio = gateway.client("studio-h", "studios")
    body = {"model": "sora-2", "prompt": "photorealistic documentary of a port", "seconds": "12"}
    headers = {"Idempotency-Key": "hold-once"}
    first = studio.post("/v1/videos", json=body, headers=headers)
    again = studio.post("/v1/videos", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"


def test_the_callers_key_stays_at_the_gateway(gateway: Gateway, mock_model: AppServer) -> None:
    """Two principals using one key get two jobs: the key is scoped to the caller here and
    never reaches the model API, which would scope it to the gateway's own credential."""
    _clear(mock_model)
    alice = _post(gateway.client("alice"), "shared-key")
    bob = _post(gateway.client("bob"), "shared-key")
    assert alice.status_code == bob.status_code == 200
    assert alice.json()["id"] != bob.json()["id"]
    seen = httpx.get(f"{mock_model.url}/_mock/requests").json()["data"]
    assert all(name.lower() != "idempotency-key" for entry in seen for name, _ in entry["headers"])
