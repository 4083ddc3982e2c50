"""The moderation port against real services on loopback: the mock classifier, a slow
one, and ones that fail in each way a service can; and the cache in front of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.core.policy import Action
from gateway.core.policy.moderation import (
    ModerationFailure,
    ModerationScores,
    ModerationService,
)
from gateway.mockmoderation import create_mock_moderation_app
from gateway.ports.moderation import CachedModerator
from gateway.ports.moderation.aiohttp_client import AiohttpModerator
from tests.support.servers import AppServer, RawPeer, free_port, read_request_head

KEY = "sk-moderation-test-key"


def service(url: str, timeout: float = 2.0) -> ModerationService:
    return ModerationService(f"{url}/v1/moderations", timeout, Action.HOLD)


def seen(server: AppServer) -> list[dict[str, object]]:
    calls: list[dict[str, object]] = httpx.get(f"{server.url}/_mock/requests").json()["data"]
    return calls


async def classify(
    url: str, prompt: str, *, key: str | None = None, seconds: float = 2.0
) -> ModerationScores | ModerationFailure:
    moderator = AiohttpModerator(key)
    try:
        return await moderator.classify(service(url, seconds), prompt)
    finally:
        await moderator.close()


async def test_scores_come_back_from_the_mock_service_with_the_key() -> None:
    """The prompt goes out in the OpenAI shape with the bearer key; the scores come back."""
    with AppServer(create_mock_moderation_app(key=KEY)) as mock:
        answer = await classify(mock.url, "a gore-soaked battlefield, blood", key=KEY)
        assert isinstance(answer, ModerationScores)
        assert answer.flagged
        assert answer.score("violence/graphic") >= 0.8
        assert answer.score("sexual") == 0.0
        assert seen(mock) == [{"input": "a gore-soaked battlefield, blood", "authorized": True}]
        refused = await classify(mock.url, "a kite", key=None)
        assert refused == ModerationFailure("the service answered 401")


async def test_a_slow_service_is_given_up_at_the_timeout() -> None:
    with AppServer(create_mock_moderation_app(delay=5.0)) as slow:
        started = time.monotonic()
        answer = await classify(slow.url, "a kite", seconds=0.3)
        waited = time.monotonic() - started
    assert answer == ModerationFailure("no answer within 0.3s")
    assert waited < 2.0  # the bound is the promise: 0.3 s, with a generous margin


def _app(respond: Callable[[Request], Response]) -> Starlette:
    async def endpoint(request: Request) -> Response:
        return respond(request)

    return Starlette(routes=[Route("/v1/moderations", endpoint, methods=["POST"])])


@pytest.mark.parametrize(
    ("respond", "reason"),
    [
        (lambda _: Response("boom", 500), "the service answered 500"),
        (lambda _: Response("<html>not json</html>", 200), "unreadable answer:"),
        (
            lambda _: Response('{"results": []}', 200, media_type="application/json"),
            "unreadable answer: the answer has no results",
        ),
        (lambda _: Response("", 302, headers={"location": "/elsewhere"}), "answered 302"),
    ],
)
async def test_an_error_status_or_an_answer_that_is_no_result_is_a_failure(
    respond: Callable[[Request], Response], reason: str
) -> None:
    with AppServer(_app(respond)) as failing:
        answer = await classify(failing.url, "a kite")
    assert isinstance(answer, ModerationFailure)
    assert reason in answer.reason


async def test_garbage_on_the_wire_and_a_refused_connection_are_failures() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    with RawPeer(garbage) as peer:
        answer = await classify(peer.url, "a kite")
    assert isinstance(answer, ModerationFailure)
    assert "cannot be reached" in answer.reason
    nobody = await classify(f"http://127.0.0.1:{free_port()}", "a kite")
    assert isinstance(nobody, ModerationFailure)
    assert "cannot be reached" in nobody.reason


class Counting:
    """A moderator that counts calls and answers after `delay`, failing if told to."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.delay = delay
        self.fail = fail

    async def classify(
        self, service: ModerationService, prompt: str
    ) -> ModerationScores | ModerationFailure:
        self.calls.append(prompt)
        await asyncio.sleep(self.delay)
        if self.fail:
            return ModerationFailure("down")
        return ModerationScores({"violence": len(prompt) / 100})

    async def close(self) -> None:
        return None


async def test_one_call_per_distinct_prompt_even_while_in_flight() -> None:
    counting = Counting(delay=0.05)
    cached = CachedModerator(counting, capacity=2)
    target = service("http://127.0.0.1:9")
    first, second = await asyncio.gather(
        cached.classify(target, "a kite"), cached.classify(target, "a kite")
    )
    assert first == second
    await cached.classify(target, "a kite")
    assert counting.calls == ["a kite"]
    await cached.classify(target, "a boat")
    await cached.classify(target, "a train")  # the oldest, "a kite", leaves the cache
    await cached.classify(target, "a kite")
    assert counting.calls == ["a kite", "a boat", "a train", "a kite"]


async def test_a_failure_is_not_kept() -> None:
    counting = Counting(fail=True)
    cached = CachedModerator(counting)
    target = service("http://127.0.0.1:9")
    assert isinstance(await cached.classify(target, "a kite"), ModerationFailure)
    counting.fail = False
    assert isinstance(await cached.classify(target, "a kite"), ModerationScores)
    assert counting.calls == ["a kite", "a kite"]


async def test_a_caller_giving_up_does_not_cancel_the_call_others_wait_on() -> None:
    counting = Counting(delay=0.1)
    cached = CachedModerator(counting)
    target = service("http://127.0.0.1:9")
    impatient = asyncio.ensure_future(cached.classify(target, "a kite"))
    await asyncio.sleep(0.01)
    patient = asyncio.ensure_future(cached.classify(target, "a kite"))
    impatient.cancel()
    assert isinstance(await patient, ModerationScores)
    assert counting.calls == ["a kite"]
