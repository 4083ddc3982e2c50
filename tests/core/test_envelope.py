"""The OpenAI error envelope."""

from __future__ import annotations

from gateway.core.envelope import error_envelope
from gateway.core.errors import BadRequest, BodyTooLarge


def test_envelope_carries_type_code_message_and_request_id() -> None:
    """Every refusal names its type, code, message and the request id."""
    assert error_envelope(BodyTooLarge("too big"), "req_1") == {
        "error": {
            "type": "invalid_request_error",
            "code": "body_too_large",
            "message": "too big",
            "request_id": "req_1",
        }
    }


def test_envelope_names_the_parameter_and_rule_when_known() -> None:
    """param and rule appear only when the refusal has them."""
    error = error_envelope(BadRequest("bad seconds", param="seconds", rule="r1"), "req_2")["error"]
    assert error["param"] == "seconds"
    assert error["rule"] == "r1"
