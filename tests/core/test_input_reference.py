"""`input_reference` in JSON: every form OpenAI's video API takes, read as strictly as the
rest of a generation body."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from gateway.core.errors import BadRequest, BodyTooLarge, GatewayError
from gateway.core.generation_body import MAX_PROMPT, parse_generation, reference_file
from gateway.core.input_reference import sniff_image_type
from gateway.core.policy.request import GenerationRequest, ReferenceSource

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(100))
JPEG = b"\xff\xd8\xff\xe0" + bytes(100)
GIF = b"GIF89a" + bytes(100)
WEBP = b"RIFF\x40\x00\x00\x00WEBPVP8 " + bytes(100)


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def body(reference: Any, **fields: Any) -> bytes:
    return json.dumps({"prompt": "a fox", **fields, "input_reference": reference}).encode()


def read(raw: bytes, *, max_reference: int = 4096) -> GenerationRequest:
    return parse_generation(raw, "application/json", is_remix=False, max_reference=max_reference)


def refusal(raw: bytes, *, max_reference: int = 4096) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        read(raw, max_reference=max_reference)
    return caught.value


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_a_data_url_is_decoded_digested_and_typed_like_a_file(data: bytes, media_type: str) -> None:
    request = read(body({"image_url": data_url(data, media_type)}, seconds="4"))
    reference = request.input_reference
    assert reference is not None
    assert reference.source is ReferenceSource.DATA_URL
    assert reference.sha256 == hashlib.sha256(data).hexdigest()
    assert reference.size == len(data)
    assert reference.content_type == media_type
    assert request.has_input_reference
    assert request.params == {"seconds": "4"}


def test_an_https_url_is_recorded_not_fetched() -> None:
    url = "https://images.example:8443/refs/fox.png?sig=abc%20def#frag"
    reference = read(body({"image_url": url})).input_reference
    assert reference is not None
    assert (reference.source, reference.url) == (ReferenceSource.URL, url)
    assert (reference.sha256, reference.size) == (None, None)


def test_a_file_id_is_recorded() -> None:
    reference = read(body({"file_id": "file-abc_123.x"})).input_reference
    assert reference is not None
    assert (reference.source, reference.file_id) == (ReferenceSource.FILE_ID, "file-abc_123.x")


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("https://images.example/fox.png", "must be an object"),
        ({}, "exactly one of image_url and file_id"),
        (
            {"image_url": "https://images.example/a.png", "file_id": "file-1"},
            "exactly one of image_url and file_id",
        ),
        ({"image_url": "https://images.example/a.png", "detail": "high"}, "not 'detail'"),
        ({"url": "https://images.example/a.png"}, "not 'url'"),
        ({"image_url": 7}, "must be a string"),
        ({"file_id": ""}, "file_id must be 1 to 128"),
        ({"file_id": "file 1"}, "file_id must be 1 to 128"),
        ({"file_id": "f" * 129}, "file_id must be 1 to 128"),
        ({"file_id": 12}, "file_id must be 1 to 128"),
        ({"image_url": "http://images.example/a.png"}, "https:// URL or a data: URL"),
        ({"image_url": "file:///etc/passwd"}, "https:// URL or a data: URL"),
        ({"image_url": "ftp://images.example/a.png"}, "https:// URL or a data: URL"),
        ({"image_url": "images.example/a.png"}, "https:// URL or a data: URL"),
        ({"image_url": "https:/images.example/a.png"}, "names no host"),
        ({"image_url": "https://"}, "names no valid host"),
        ({"image_url": "https://images.example:99999/a.png"}, "names no valid host"),
        ({"image_url": "https://user:pw@images.example/a.png"}, "credentials"),
        ({"image_url": "https://evil.example@images.example/"}, "credentials"),
        ({"image_url": "https://images.example\\@evil/"}, "backslashes"),
        ({"image_url": "https://images.example/a b.png"}, "printable ASCII"),
        ({"image_url": "https://images.example/caf\u00e9.png"}, "printable ASCII"),
        ({"image_url": "https://images.example/\n.png"}, "printable ASCII"),
        ({"image_url": "https://images.example/" + "a" * 8200}, "longer than 8192"),
        ({"image_url": "data:image/png," + "x"}, "base64 data URL"),
        ({"image_url": "data:image/png;base64"}, "base64 data URL"),
        ({"image_url": data_url(PNG, "")[:5] + ";base64,AAAA"}, "must declare one of"),
        ({"image_url": data_url(PNG, "image/png;name=a")}, "must declare one of"),
        ({"image_url": data_url(PNG, "image/svg+xml")}, "must declare one of"),
        ({"image_url": data_url(PNG, "image/png")[:-2] + "!!"}, "valid base64"),
        ({"image_url": data_url(PNG + b"\x00", "image/png").rstrip("=")}, "valid base64"),
        ({"image_url": data_url(b"<svg></svg>", "image/png")}, "does not hold a PNG"),
        ({"image_url": data_url(b"", "image/png")}, "does not hold a PNG"),
        ({"image_url": data_url(JPEG, "image/png")}, "declares image/png but holds image/jpeg"),
    ],
)
def test_anything_else_is_a_400_naming_the_field(reference: Any, says: str) -> None:
    error = refusal(body(reference))
    assert isinstance(error, BadRequest), error
    assert says in error.message
    assert (error.param or "").startswith("input_reference")


def test_a_data_url_image_over_the_limit_is_413() -> None:
    error = refusal(body({"image_url": data_url(PNG, "image/png")}), max_reference=len(PNG) - 1)
    assert isinstance(error, BodyTooLarge)
    assert error.param == "input_reference"
    assert read(body({"image_url": data_url(PNG, "image/png")}), max_reference=len(PNG))


def test_a_huge_data_url_is_refused_before_it_is_decoded() -> None:
    """The length alone says it is too large; a broken payload of that length is 413 too."""
    error = refusal(body({"image_url": "data:image/png;base64," + "!" * 100_000}))
    assert isinstance(error, BodyTooLarge)


def test_the_data_url_scheme_and_base64_token_are_case_insensitive() -> None:
    url = "DATA:image/PNG;BASE64," + base64.b64encode(PNG).decode()
    reference = read(body({"image_url": url})).input_reference
    assert reference is not None
    assert reference.content_type == "image/png"


def test_a_reviewer_gets_the_image_a_data_url_holds() -> None:
    raw = body({"image_url": data_url(JPEG, "image/jpeg")})
    assert reference_file(raw, "application/json") == JPEG
    assert reference_file(body({"file_id": "file-1"}), "application/json") is None
    by_url = body({"image_url": "https://a.example/x.png"})
    assert reference_file(by_url, "application/json") is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (b"GIF87a", "image/gif"),
        (WEBP, "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
        (b"\x89PNG", None),
        (b"", None),
    ],
)
def test_sniffing_reads_only_the_magic_numbers(data: bytes, expected: str | None) -> None:
    assert sniff_image_type(data) == expected


@pytest.mark.parametrize("length", [1, 5, MAX_PROMPT])
def test_prompts_up_to_the_spec_maximum_are_taken(length: int) -> None:
    assert len(read(json.dumps({"prompt": "é" * length}).encode()).prompt) == length


@pytest.mark.parametrize("prompt", ["", "x" * (MAX_PROMPT + 1)])
@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=b"])
def test_an_empty_or_overlong_prompt_is_400_naming_prompt(prompt: str, content_type: str) -> None:
    if content_type.startswith("multipart"):
        raw = (
            b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n'
            + prompt.encode()
            + b"\r\n--b--\r\n"
        )
    else:
        raw = json.dumps({"prompt": prompt}).encode()
    with pytest.raises(BadRequest) as refused:
        parse_generation(raw, content_type, is_remix=False, max_reference=10)
    assert refused.value.param == "prompt"
    assert "1 to 32000 characters" in refused.value.message
