"""Decoding layers: the text a request's fields say once their encodings are undone.

A caller can hide a listed term from a word list by encoding it: HTML character
references (`&#110;ude`), percent-encoding (`%6E%75%64%65`), a base64 run
(`bnVkZQ==`), or a multipart part sent with `Content-Transfer-Encoding: base64` or
`quoted-printable`. `decode` undoes each of these wherever it finds them, in place,
and repeats (a percent-encoded base64 run) until nothing changes or `_ROUNDS` rounds
have passed, so the policy can match the decoded text beside the text as sent.

Each layer only touches what it recognises, and most prompts hold nothing any layer
recognises: a few character tests rule them out before any regular expression runs.
A base64 run is only read when it decodes to text (valid UTF-8, mostly printable,
holding letters), and never when it is a plain word: a run of lower-case letters, or
one capital and lower-case letters, is a word far more often than base64.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from dataclasses import dataclass

__all__ = ["Decoded", "decode", "decode_field"]

_ROUNDS = 3
# A character reference: named (`&amp;`), decimal (`&#110;`) or hexadecimal (`&#x6e;`).
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?")
# A run of percent escapes, with the plain characters between them.
_PERCENT = re.compile(r"(?:%[0-9a-fA-F]{2})+")
# Base64 (standard or URL-safe alphabet) of at least 8 characters with its padding: a
# word of 4 letters and more.
_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{6,}={0,2}(?![A-Za-z0-9+/_=-])")
_BASE64_MIN = 8
# What base64 of text all but always holds and prose seldom does: a capital, a digit,
# `+` or `/` right after a letter (one character class: the scan stays fast).
_BASE64_HINT = re.compile(r"[A-Za-z][A-Z0-9+/]")
# A run that is more likely a word than base64: lower-case, or capitalised.
_WORDLIKE = re.compile(r"[A-Z]?[a-z]+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Decoded:
    """A text with its encodings undone, and the layers that changed it, in order found."""

    text: str
    layers: tuple[str, ...]


def decode_field(value: str, transfer_encoding: str | None) -> Decoded | None:
    """A form part's value read through its declared transfer encoding, then `decode`.

    None when neither the transfer encoding nor any layer changes it, or when the part
    does not decode as its transfer encoding says (then only its text as sent is read).
    """
    encoding = (transfer_encoding or "").strip().lower()
    layers: tuple[str, ...] = ()
    if encoding == "base64":
        text = _base64_text(_WHITESPACE.sub("", value))
        if text is not None:
            value, layers = text, ("base64",)
    elif encoding == "quoted-printable":
        text = _quoted_printable(value)
        if text is not None and text != value:
            value, layers = text, ("quoted-printable",)
    decoded = decode(value)
    if decoded is None:
        return Decoded(value, layers) if layers else None
    return Decoded(decoded.text, (*layers, *decoded.layers))


def decode(text: str) -> Decoded | None:
    """The text with every encoding `decode` knows undone; None when there is none."""
    layers: list[str] = []
    for _ in range(_ROUNDS):
        changed = False
        for name, layer in _LAYERS:
            result = layer(text)
            if result is not None and result != text:
                text, changed = result, True
                if name not in layers:
                    layers.append(name)
        if not changed:
            break
    return Decoded(text, tuple(layers)) if layers else None


def _entities(text: str) -> str | None:
    if "&" not in text or _ENTITY.search(text) is None:
        return None
    return html.unescape(text)


def _percent(text: str) -> str | None:
    if "%" not in text:
        return None
    return _PERCENT.sub(_percent_run, text) if _PERCENT.search(text) else None


def _percent_run(match: re.Match[str]) -> str:
    raw = bytes.fromhex(match.group().replace("%", ""))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _base64_runs(text: str) -> str | None:
    if len(text) < 8 or _BASE64_HINT.search(text) is None:
        return None
    if "\n" in text:
        # A whole field of base64, as a mail-style encoder wraps it in lines.
        whole = _WHITESPACE.sub("", text)
        decoded = _base64_text(whole) if _BASE64_RUN.fullmatch(whole) else None
        if decoded is not None:
            return decoded
    found = False

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        run = match.group()
        if len(run) < _BASE64_MIN or _WORDLIKE.fullmatch(run):
            return run
        decoded = _base64_text(run)
        if decoded is None:
            return run
        found = True
        return f" {decoded} "

    result = _BASE64_RUN.sub(replace, text)
    return result if found else None


def _base64_text(run: str) -> str | None:
    """The text a base64 run encodes (padding optional), or None if it is not text."""
    alphabet = run.rstrip("=")
    padded = alphabet + "=" * (-len(alphabet) % 4)
    try:
        if "-" in padded or "_" in padded:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(1 for char in text if char.isprintable() or char.isspace())
    letters = sum(1 for char in text if char.isalpha())
    if printable < len(text) * 0.95 or letters < max(2, len(text) // 3):
        return None
    return text


def _quoted_printable(text: str) -> str | None:
    try:
        return binascii.a2b_qp(text.encode("utf-8")).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


_LAYERS = (
    ("html-entities", _entities),
    ("percent-encoding", _percent),
    ("base64", _base64_runs),
)
