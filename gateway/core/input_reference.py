"""`input_reference` in a JSON body: an image in a data URL, an https address, or a file id.

As strict as the rest of a generation body: an object with exactly one of `image_url`
and `file_id` and nothing else. A data URL is decoded, its type sniffed from its first
bytes and held to the type it declares, limited like a multipart file and digested like
one. An https URL is only recorded: the gateway never fetches it, so no address a caller
names (an internal one included) is ever reached from the gateway; fetching is the model
API's business. Any other scheme is refused, and so is anything two URL parsers could
split differently (credentials before the host, backslashes, spaces, non-ASCII).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any, Final

from gateway.core.errors import BadRequest, BodyTooLarge
from gateway.core.policy.request import InputReference, ReferenceSource

PARAM: Final = "input_reference"
IMAGE_URL: Final = "input_reference.image_url"
FILE_ID: Final = "input_reference.file_id"
# Long enough for any signed storage URL; the spec's 20 MiB bound is for data URLs.
MAX_URL_LENGTH: Final = 8192
IMAGE_TYPES: Final = ("image/png", "image/jpeg", "image/webp", "image/gif")

_SIGNATURES: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_FILE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Printable ASCII without space: a URI never needs more, and anything else is read
# differently by different parsers.
_URL_CHARACTERS = re.compile(r"[\x21-\x7e]+")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?")


def sniff_image_type(data: bytes) -> str | None:
    """The image type the bytes begin with (PNG, JPEG, WebP, GIF), or None."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_json_reference(value: Any, *, max_reference: int) -> InputReference:
    """The reference a JSON body's `input_reference` object names; 400 (413 for an
    image over `max_reference` bytes) for anything else."""
    if not isinstance(value, dict):
        raise BadRequest(
            "input_reference must be an object with image_url or file_id "
            "(or a file in a multipart/form-data body).",
            param=PARAM,
        )
    unknown = sorted(set(value) - {"image_url", "file_id"})
    if unknown:
        raise BadRequest(
            f"input_reference takes image_url or file_id, not {unknown[0]!r}.", param=PARAM
        )
    if len(value) != 1:
        raise BadRequest("input_reference takes exactly one of image_url and file_id.", param=PARAM)
    if "file_id" in value:
        return _file_id(value["file_id"])
    image_url = value["image_url"]
    if not isinstance(image_url, str):
        raise BadRequest("input_reference.image_url must be a string.", param=IMAGE_URL)
    scheme = image_url.partition(":")[0].lower() if ":" in image_url else ""
    if scheme == "data":
        media_type, data = decode_data_url(image_url, max_reference=max_reference)
        return InputReference(
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type=media_type,
            source=ReferenceSource.DATA_URL,
        )
    if scheme == "https":
        return InputReference(source=ReferenceSource.URL, url=_https_url(image_url))
    raise BadRequest(
        "input_reference.image_url must be an https:// URL or a data: URL.", param=IMAGE_URL
    )


def _file_id(value: Any) -> InputReference:
    if not isinstance(value, str) or _FILE_ID.fullmatch(value) is None:
        raise BadRequest(
            "input_reference.file_id must be 1 to 128 characters of A-Z a-z 0-9 . _ -.",
            param=FILE_ID,
        )
    return InputReference(source=ReferenceSource.FILE_ID, file_id=value)


def _https_url(url: str) -> str:
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest(
            f"input_reference.image_url is longer than {MAX_URL_LENGTH} characters.",
            param=IMAGE_URL,
        )
    if _URL_CHARACTERS.fullmatch(url) is None or "\\" in url:
        raise BadRequest(
            "input_reference.image_url may hold only printable ASCII without spaces or "
            "backslashes (percent-encode the rest).",
            param=IMAGE_URL,
        )
    rest = url[len("https:") :]
    if not rest.startswith("//"):
        raise BadRequest("input_reference.image_url names no host.", param=IMAGE_URL)
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    if "@" in authority:
        # Credentials before the host are where URL parsers disagree about the host, and
        # they would be written to the audit log.
        raise BadRequest(
            "input_reference.image_url must not carry credentials (user@host).", param=IMAGE_URL
        )
    match = _HOST_PORT.fullmatch(authority)
    port = match.group("port") if match else None
    if match is None or (port is not None and int(port) > 65535):
        raise BadRequest("input_reference.image_url names no valid host.", param=IMAGE_URL)
    return url


def decode_data_url(url: str, *, max_reference: int) -> tuple[str, bytes]:
    """The image type and bytes of a `data:image/…;base64,…` URL, checked both ways: the
    declared type must be what the bytes are, one of PNG, JPEG, WebP and GIF."""
    header, comma, payload = url[len("data:") :].partition(",")
    declared, _, encoding = header.rpartition(";")
    if not comma or encoding.lower() != "base64":
        raise BadRequest(
            "input_reference.image_url must be a base64 data URL (data:image/png;base64,…).",
            param=IMAGE_URL,
        )
    declared = declared.lower()
    if declared not in IMAGE_TYPES:
        raise BadRequest(
            f"input_reference.image_url must declare one of {', '.join(IMAGE_TYPES)} "
            "and nothing else before ;base64.",
            param=IMAGE_URL,
        )
    # Judged before decoding, so an oversized image costs no more than its length.
    if len(payload) // 4 * 3 - 2 > max_reference:
        raise _too_large(max_reference)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            "input_reference.image_url does not hold valid base64 (standard alphabet, padded).",
            param=IMAGE_URL,
        ) from None
    if len(data) > max_reference:
        raise _too_large(max_reference)
    sniffed = sniff_image_type(data)
    if sniffed is None:
        raise BadRequest(
            "input_reference.image_url does not hold a PNG, JPEG, WebP or GIF image.",
            param=IMAGE_URL,
        )
    if sniffed != declared:
        raise BadRequest(
            f"input_reference.image_url declares {declared} but holds {sniffed}.",
            param=IMAGE_URL,
        )
    return sniffed, data


def _too_large(max_reference: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"input_reference is larger than the limit of {max_reference} bytes.", param=PARAM
    )
