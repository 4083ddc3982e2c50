"""An Idempotency-Key is bound to the request's meaning, not its bytes.

Bodies are parsed by the same strict reader the gateway uses, then fingerprinted: the
same fields and values replay in any JSON key order, in JSON or multipart, with any
boundary, files by digest and type; any change of meaning is another fingerprint.
"""

from __future__ import annotations

import base64
import json

import pytest

from gateway.core.generation_body import parse_generation
from gateway.core.idempotency import fingerprint
from gateway.core.policy.request import GenerationRequest

JSON = "application/json"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(64))


def form(
    fields: list[tuple[str, str]],
    *,
    boundary: str = "b0undary",
    file: tuple[bytes, str | None] | None = None,
) -> tuple[bytes, str]:
    """A multipart body and its Content-Type, with an optional reference file."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields
    ]
    if file is not None:
        data, content_type = file
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="input_reference"; '
        head += 'filename="ref"\r\n'
        if content_type is not None:
            head += f"Content-Type: {content_type}\r\n"
        parts.append(head.encode() + b"\r\n" + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def read(body: bytes | str, content_type: str = JSON, *, remix: bool = False) -> GenerationRequest:
    raw = body.encode() if isinstance(body, str) else body
    return parse_generation(raw, content_type, is_remix=remix, max_reference=1024)


def of(body: bytes | str, content_type: str = JSON, target: str = "/v1/videos") -> str:
    return fingerprint("POST", target, read(body, content_type))


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


BASE = '{"model": "sora-2", "prompt": "a kite over dunes", "seconds": "8", "size": "720x1280"}'


def test_json_key_order_and_whitespace_do_not_matter() -> None:
    reordered = (
        '{ "size":"720x1280",\n "seconds":"8", "prompt":"a kite over dunes","model":"sora-2"}'
    )
    assert of(BASE) == of(reordered)


def test_a_fresh_multipart_boundary_is_the_same_request() -> None:
    """A client that rebuilds its form for a retry (as OpenAI's SDKs do) replays."""
    fields = [("prompt", "a kite over dunes"), ("seconds", "8")]
    first, second = form(fields, boundary="aaaa1111"), form(fields, boundary="zzzz9999")
    assert first[0] != second[0]
    assert of(*first) == of(*second)


def test_form_field_order_does_not_matter() -> None:
    fields = [("prompt", "a kite over dunes"), ("seconds", "8"), ("model", "sora-2")]
    assert of(*form(fields)) == of(*form(list(reversed(fields))))


def test_json_and_multipart_with_the_same_fields_are_the_same_request() -> None:
    fields = [("model", "sora-2"), ("prompt", "a kite over dunes"), ("seconds", "8")]
    fields.append(("size", "720x1280"))
    assert of(BASE) == of(*form(fields))


@pytest.mark.parametrize("seconds", ["8", '"8"', "8.0", '"8.0"', "8.00", '"08"'])
def test_seconds_is_read_as_a_number(seconds: str) -> None:
    """JSON 8 and form text "8" (and other spellings of eight) are one meaning."""
    body = f'{{"prompt": "a kite over dunes", "seconds": {seconds}}}'
    assert of(body) == of(*form([("prompt", "a kite over dunes"), ("seconds", "8")]))


def test_other_numbers_compare_by_value_but_never_equal_text() -> None:
    one, one_point_o = '{"prompt": "p", "n": 1}', '{"prompt": "p", "n": 1.0}'
    assert of(one) == of(one_point_o)
    assert of(one) != of('{"prompt": "p", "n": "1"}')
    assert of('{"prompt": "p", "n": true}') != of('{"prompt": "p", "n": "true"}')
    assert of('{"prompt": "p", "n": null}') != of('{"prompt": "p", "n": "null"}')


FIELDS = json.loads(BASE)


@pytest.mark.parametrize(
    "changed",
    [
        {**FIELDS, "prompt": "a kite over dunes!"},
        {**FIELDS, "prompt": "A kite over dunes"},
        {**FIELDS, "model": "sora-2-pro"},
        {**FIELDS, "seconds": "4"},
        {**FIELDS, "size": "1280x720"},
        {name: value for name, value in FIELDS.items() if name != "size"},
        {name: value for name, value in FIELDS.items() if name != "model"},
        {**FIELDS, "extra": "x"},
    ],
)
def test_any_change_of_meaning_is_another_request(changed: dict[str, str]) -> None:
    """Another prompt (even one letter's case), model, parameter, or a field more or less."""
    assert of(json.dumps(changed)) != of(BASE)


def test_text_is_compared_exactly_without_normalisation() -> None:
    """Composed and decomposed accents are different text to the model API too."""
    assert of('{"prompt": "caf\\u00e9"}') != of('{"prompt": "cafe\\u0301"}')


def test_method_target_and_remix_are_part_of_the_request() -> None:
    request = read(BASE)
    base = fingerprint("POST", "/v1/videos", request)
    assert fingerprint("PUT", "/v1/videos", request) != base
    assert fingerprint("POST", "/v1/videos?x=1", request) != base
    remix = read('{"prompt": "a kite over dunes"}', remix=True)
    plain = read('{"prompt": "a kite over dunes"}')
    target = "/v1/videos/video_1/remix"
    assert fingerprint("POST", target, remix) != fingerprint("POST", target, plain)


def test_a_file_is_its_digest_and_declared_type_not_its_name() -> None:
    fields = [("prompt", "a kite")]
    same = of(*form(fields, file=(PNG, "image/png")))
    assert of(*form(fields, boundary="other", file=(PNG, "image/png"))) == same
    assert of(*form(fields, file=(PNG, "IMAGE/PNG"))) == same
    assert of(*form(fields, file=(PNG + b"\x00", "image/png"))) != same
    assert of(*form(fields, file=(PNG, "application/octet-stream"))) != same
    assert of(*form(fields, file=(PNG, None))) != same
    assert of(*form(fields)) != same


def test_the_same_image_as_a_data_url_or_a_file_is_the_same_request() -> None:
    """Files by content digest: the form it travels in does not change the meaning."""
    as_json = json.dumps({"prompt": "a kite", "input_reference": {"image_url": data_url(PNG)}})
    assert of(as_json) == of(*form([("prompt", "a kite")], file=(PNG, "image/png")))
    other = json.dumps(
        {"prompt": "a kite", "input_reference": {"image_url": data_url(JPEG, "image/jpeg")}}
    )
    assert of(other) != of(as_json)


def test_urls_and_file_ids_are_compared_as_given() -> None:
    def body(reference: dict[str, str]) -> str:
        return json.dumps({"prompt": "a kite", "input_reference": reference})

    url = body({"image_url": "https://images.example/kite.png"})
    assert of(url) == of(body({"image_url": "https://images.example/kite.png"}))
    assert of(url) != of(body({"image_url": "https://images.example/kite.png?v=2"}))
    assert of(url) != of(body({"file_id": "kite.png"}))
    file_id = body({"file_id": "file-abc123"})
    assert of(file_id) != of(body({"file_id": "file-abc124"}))
    assert of(file_id) != of('{"prompt": "a kite"}')


def test_the_fingerprint_is_a_sha256_in_hex() -> None:
    value = of(BASE)
    assert len(value) == 64
    assert set(value) <= set("0123456789abcdef")
