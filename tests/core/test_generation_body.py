"""Generation bodies are read one way only: every ambiguous spelling is refused."""

from __future__ import annotations

import hashlib

import pytest

from gateway.core.errors import BadRequest, BodyTooLarge, GatewayError, UnsupportedMediaType
from gateway.core.generation_body import parse_generation, reference_file
from gateway.core.policy.request import GenerationRequest

BOUNDARY = "b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
PROMPT_PART = 'Content-Disposition: form-data; name="prompt"'


def form(*parts: tuple[str, bytes], boundary: str = BOUNDARY, closed: bool = True) -> bytes:
    """A multipart body from (part headers, part content) pairs."""
    body = b"".join(
        f"--{boundary}\r\n{headers}\r\n\r\n".encode() + content + b"\r\n"
        for headers, content in parts
    )
    return body + (f"--{boundary}--\r\n".encode() if closed else b"")


def field(name: str, value: bytes, extra: str = "") -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="{name}"{extra}', value


def parse(
    body: bytes, content_type: str = "application/json", *, max_reference: int = 1024
) -> GenerationRequest:
    return parse_generation(body, content_type, is_remix=False, max_reference=max_reference)


def refusal(body: bytes, content_type: str = "application/json") -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        parse(body, content_type)
    return caught.value


def test_json_and_multipart_read_as_the_same_request() -> None:
    from_json = parse(b'{"model": "sora-2", "prompt": "a fox", "seconds": "8"}')
    from_form = parse(
        form(field("model", b"sora-2"), field("prompt", b"a fox"), field("seconds", b"8")),
        MULTIPART,
    )
    assert from_json == from_form
    assert from_json.params == {"seconds": "8"}


def test_a_reference_file_is_digested_not_kept() -> None:
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    request = parse(
        form(
            field("prompt", b"a fox"),
            (
                'Content-Disposition: form-data; name="input_reference"; filename="fox.png"\r\n'
                "Content-Type: image/png",
                image,
            ),
        ),
        MULTIPART,
    )
    assert request.input_reference is not None
    assert request.input_reference.sha256 == hashlib.sha256(image).hexdigest()
    assert request.input_reference.size == len(image)
    assert request.input_reference.content_type == "image/png"


def test_reference_file_returns_the_bytes_for_a_reviewer() -> None:
    image = b"GIF89a" + b"\x00" * 40
    body = form(
        field("prompt", b"a fox"),
        ('Content-Disposition: form-data; name="input_reference"; filename="a.gif"', image),
    )
    assert reference_file(body, MULTIPART) == image
    assert reference_file(b'{"prompt": "x"}', "application/json") is None


def test_a_reference_over_the_limit_is_413() -> None:
    body = form(
        field("prompt", b"a fox"),
        ('Content-Disposition: form-data; name="input_reference"; filename="a.bin"', b"x" * 2000),
    )
    with pytest.raises(BodyTooLarge):
        parse(body, MULTIPART, max_reference=1000)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"prompt": "a", "prompt": "b"}', "repeats the key 'prompt'"),
        (b'{"prompt": "a", "extra": {"k": 1, "k": 2}}', "repeats the key 'k'"),
        (b'\xef\xbb\xbf{"prompt": "a"}', "byte order mark"),
        ('{"prompt": "a"}'.encode("utf-16"), "not valid UTF-8"),
        (b'{"prompt": "caf\xe9"}', "not valid UTF-8"),
        (b'{"prompt": "a", "seconds": NaN}', "NaN"),
        (b'{"prompt": "a", "seconds": -Infinity}', "-Infinity"),
        (b'{"prompt": "a\\ud800"}', "lone surrogate"),
        (b'{"prompt": "a", "size": "\\udfff"}', "lone surrogate"),
        (b'["prompt"]', "must be an object"),
        (b'{"prompt": 4}', "prompt is required"),
        (b'{"prompt": "a", "seconds": [4]}', "must be a string or a number"),
        (b"{", "not valid JSON"),
    ],
)
def test_ambiguous_or_broken_json_is_400(body: bytes, says: str) -> None:
    error = refusal(body)
    assert isinstance(error, BadRequest)
    assert says in error.message


def test_a_lone_surrogate_names_the_field_it_is_in() -> None:
    assert refusal(b'{"prompt": "a", "size": "\\ud800x"}').param == "size"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
        "application/json; charset=utf-8; version=2",
        "text/plain",
    ],
)
def test_json_in_another_charset_or_type_is_415(content_type: str) -> None:
    assert isinstance(refusal(b'{"prompt": "a"}', content_type), UnsupportedMediaType)


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=UTF-8", "Application/JSON", "application/json;charset=utf-8"],
)
def test_plain_utf8_json_spellings_are_taken(content_type: str) -> None:
    assert parse(b'{"prompt": "a"}', content_type).prompt == "a"


@pytest.mark.parametrize(
    ("parts", "content_type", "says"),
    [
        ([field("prompt", b"\xff\xfe")], MULTIPART, "'prompt' is not valid UTF-8"),
        ([field("prompt", b"a"), field("prompt", b"b")], MULTIPART, "repeats the field"),
        ([field("prompt", b"a", '; name="model"')], MULTIPART, "repeats the parameter"),
        ([field("prompt", b"a", "; name*=UTF-8''model")], MULTIPART, "extended parameter"),
        ([field("prompt", b"a", '; size="3"')], MULTIPART, "unknown parameter"),
        (
            [
                (
                    PROMPT_PART + "\r\nContent-Transfer-Encoding: x-uuencode",
                    b"YQ==",
                )
            ],
            MULTIPART,
            "Content-Transfer-Encoding",
        ),
        (
            [
                (
                    PROMPT_PART + "\r\nContent-Type: text/plain; charset=utf-16",
                    b"a",
                )
            ],
            MULTIPART,
            "text/plain in UTF-8",
        ),
        (
            [(PROMPT_PART + "\r\nX-Extra: 1", b"a")],
            MULTIPART,
            "'x-extra'",
        ),
        ([field("prompt", b"a"), field("_charset_", b"latin-1")], MULTIPART, "_charset_"),
        ([field("prompt", b"a", '; filename="p.txt"')], MULTIPART, "must be a text field"),
        ([field("input_reference", b"x")], MULTIPART, "must be a file"),
        ([field("prompt", b"a")], "multipart/form-data", "boundary"),
        (
            [field("prompt", b"a")],
            f"multipart/form-data; boundary={BOUNDARY}; boundary=other",
            "repeats the parameter",
        ),
    ],
)
def test_ambiguous_forms_are_400(
    parts: list[tuple[str, bytes]], content_type: str, says: str
) -> None:
    error = refusal(form(*parts), content_type)
    assert isinstance(error, BadRequest), error
    assert says in error.message


def test_a_form_cut_before_its_closing_boundary_is_400() -> None:
    error = refusal(form(field("prompt", b"a"), closed=False), MULTIPART)
    assert "closing boundary" in error.message


def test_a_form_in_another_charset_is_415() -> None:
    body = form(field("prompt", b"a"))
    assert isinstance(refusal(body, f"{MULTIPART}; charset=latin-1"), UnsupportedMediaType)


@pytest.mark.parametrize("encoding", ["base64", "Quoted-Printable"])
def test_transfer_encoded_text_part_is_read_as_sent_and_named(encoding: str) -> None:
    """A text part in base64 or quoted-printable is taken as sent, and the request says
    which transfer encoding it came in, so the policy can judge it decoded too."""
    headers = PROMPT_PART + f"\r\nContent-Transfer-Encoding: {encoding}"
    request = parse(form((headers, b"YSBjYXQ=")), MULTIPART)
    assert request.prompt == "YSBjYXQ="
    assert request.transfer_encodings == {"prompt": encoding.lower()}


def test_transfer_encoded_file_part_is_400() -> None:
    """The reference file takes no transfer encoding: its digest is of the bytes sent."""
    headers = (
        'Content-Disposition: form-data; name="input_reference"; filename="a.png"'
        "\r\nContent-Transfer-Encoding: base64"
    )
    error = refusal(form(field("prompt", b"a"), (headers, b"iVBORw0K")), MULTIPART)
    assert error.status == 400
    assert "Content-Transfer-Encoding" in error.message


def test_reference_file_name_is_kept() -> None:
    """The file name a caller gave the reference is kept for the policy to read."""
    headers = 'Content-Disposition: form-data; name="input_reference"; filename="fox.png"'
    request = parse(form(field("prompt", b"a"), (headers, b"png")), MULTIPART)
    assert request.input_reference is not None
    assert request.input_reference.filename == "fox.png"
