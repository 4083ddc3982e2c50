from __future__ import annotations

from typing import Any

from gateway.core.credentials import new_secret
from gateway.edges.logging import REDACTED, redact_secrets

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


def _redacted(**event: Any) -> dict[str, Any]:
    return dict(redact_secrets(None, "info", dict(event)))


def test_credentials_inside_free_text_are_masked() -> None:
    """A secret quoted in a message, an exception text or a header dump is masked."""
    secret = new_secret()
    event = _redacted(
        event="token_request_failed",
        detail=f"client said Authorization: Bearer {JWT} and secret {secret}!",
        header="Basic cGdjX2FiYzpwZ3NfdGhlLXNlY3JldA==",
    )
    text = repr(event)
    assert JWT not in text
    assert secret not in text
    assert "cGdjX2FiYzpwZ3Nf" not in text
    assert event["detail"].startswith("client said Authorization: ")
    assert event["event"] == "token_request_failed"


def test_secret_keys_are_masked_at_any_depth() -> None:
    event = _redacted(headers={"Cookie": "session=abc", "Accept": "video/mp4"}, client_secret="x")
    assert event["headers"] == {"Cookie": REDACTED, "Accept": "video/mp4"}
    assert event["client_secret"] == REDACTED


def test_ordinary_values_are_left_alone() -> None:
    """Ids and prompts that merely look technical keep their value."""
    event = _redacted(client_id="pgc_0123456789abcdef01234567", prompt="a basic shot of a bear")
    assert event == {
        "client_id": "pgc_0123456789abcdef01234567",
        "prompt": "a basic shot of a bear",
    }
