from __future__ import annotations

import pytest

from gateway.mockmodel.validation import ApiError, body_kind, validate_create, validate_list


@pytest.mark.parametrize(
    ("raw", "stored"),
    [(4, "4"), ("8", "8"), (12.0, "12"), ("12.0", "12"), (" 8 ", "8")],
)
def test_seconds_compare_numerically_and_store_canonical_strings(raw: object, stored: str) -> None:
    """Numbers and numeric strings are accepted and stored as the canonical string."""
    assert validate_create({"prompt": "x", "seconds": raw}).seconds == stored


@pytest.mark.parametrize("raw", [5, "5", True, "four", "nan", "inf", None, [4]])
def test_seconds_outside_the_allowed_set_are_rejected(raw: object) -> None:
    """Anything but 4, 8 or 12 (including booleans) is an invalid seconds value."""
    with pytest.raises(ApiError) as caught:
        validate_create({"prompt": "x", "seconds": raw})
    assert (caught.value.status, caught.value.param) == (400, "seconds")


def test_defaults_fill_optional_fields() -> None:
    """Only the prompt is required; model, seconds and size take the documented defaults."""
    params = validate_create({"prompt": "x"})
    assert (params.model, params.seconds, params.size) == ("sora-2", "4", "720x1280")


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/json", "json"),
        ("Application/JSON; charset=utf-8", "json"),
        ("multipart/form-data; boundary=x", "multipart"),
    ],
)
def test_body_kind_ignores_case_and_parameters(content_type: str, kind: str) -> None:
    """Media types match case-insensitively and regardless of parameters like charset."""
    assert body_kind(content_type) == kind


def test_other_bodies_are_unsupported() -> None:
    """A body that is neither JSON nor a form is an unsupported media type."""
    with pytest.raises(ApiError) as caught:
        body_kind("text/plain")
    assert caught.value.status == 415


@pytest.mark.parametrize(
    ("query", "param"),
    [({"limit": "-1"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "x"}, "limit")],
)
def test_list_limits_outside_0_to_100_are_rejected(query: dict[str, str], param: str) -> None:
    """The page size must be an integer from 0 to 100, as the OpenAI spec says."""
    with pytest.raises(ApiError) as caught:
        validate_list(query)
    assert caught.value.param == param


def test_list_defaults() -> None:
    """Listing defaults to 20 newest-first items with no cursor."""
    params = validate_list({})
    assert (params.after, params.limit, params.order) == (None, 20, "desc")
