"""The hash chain of an audit segment, its signed checkpoints, and their verification.

Every record carries the hash of the record before it (`prev_hash`; `GENESIS` for the
first record of a segment) and its own `hash`: SHA-256, hex, over the canonical form
of the record without `hash` (prev_hash included). The canonical form is orjson with
sorted keys and no spaces, which is also exactly how the JSONL writer puts the record
on its line.

A checkpoint is a chained record of its own whose `signature` is ES256 (raw r||s,
base64url without padding, as in JWS) over the canonical checkpoint without
`signature`, `kid`, `prev_hash` and `hash`; it states how many records precede it in the
segment (since the previous checkpoint) and the hash of the last one.

`verify_chain` reports the first problem only, with its 1-based line and a kind; see
`ChainReport` and docs/audit.md for how the kinds are told apart.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from gateway.core.audit.records import SCHEMA_VERSION, Record, format_time

GENESIS: Final = "0" * 64
CHECKPOINT: Final = "checkpoint"
# ES256: P-256 coordinates are 32 bytes each.
_COORDINATE_BYTES = 32

# Signs bytes: returns the key id and the raw r||s signature.
Signer = Callable[[bytes], tuple[str, bytes]]

MODIFIED: Final = "modified"
DELETED: Final = "deleted"
INSERTED: Final = "inserted"
REORDERED: Final = "reordered"
BAD_CHECKPOINT: Final = "bad_checkpoint"
BAD_SIGNATURE: Final = "bad_signature"
MALFORMED: Final = "malformed"


def canonical(record: Mapping[str, Any]) -> bytes:
    """The one byte form of a record: JSON, keys sorted, no whitespace."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 hex over the canonical record without its `hash` field."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def link(record: Mapping[str, Any], prev_hash: str) -> Record:
    """A copy of the record chained after `prev_hash`, with its own `hash`."""
    linked: Record = {key: value for key, value in record.items() if key != "hash"}
    linked["prev_hash"] = prev_hash
    linked["hash"] = record_hash(linked)
    return linked


# Checkpoints


def es256_signer(kid: str, private: ec.EllipticCurvePrivateKey) -> Signer:
    """A signer with one of the gateway's keys (e.g. `SigningKey.kid`, `.private`)."""

    def sign(data: bytes) -> tuple[str, bytes]:
        r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
        return kid, r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")

    return sign


def checkpoint_payload(record: Mapping[str, Any]) -> bytes:
    """What a checkpoint's signature covers: the checkpoint without signature, kid and
    chain fields (the kid only picks the key that must verify it)."""
    excluded = {"signature", "kid", "prev_hash", "hash"}
    return canonical({key: value for key, value in record.items() if key not in excluded})


def checkpoint(
    *,
    time: float,
    segment: str,
    records: int,
    last_hash: str,
    signer: Signer | None,
    recovered: bool = False,
    torn_bytes: int = 0,
) -> Record:
    """An (unchained) checkpoint after `records` records ending with `last_hash`; signed
    when a signer is given, else `kid` and `signature` are null.

    `recovered` marks a checkpoint written by another writer after the segment's own
    writer died; `torn_bytes` is then the length of the torn line (a write cut short by
    the death) that the checkpoint's line follows, 0 when there was none."""
    body: Record = {
        "schema": SCHEMA_VERSION,
        "event": CHECKPOINT,
        "time": format_time(time),
        "segment": segment,
        "records": records,
        "last_hash": last_hash,
        "recovered": recovered,
        "torn_bytes": torn_bytes,
        "kid": None,
    }
    if signer is None:
        body["signature"] = None
        return body
    kid, raw = signer(checkpoint_payload(body))
    body["kid"] = kid
    body["signature"] = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return body


def verify_checkpoint_signature(
    record: Mapping[str, Any], public_keys: Mapping[str, ec.EllipticCurvePublicKey]
) -> bool:
    """Whether the checkpoint is signed by one of the keys, over its own content."""
    kid, signature = record.get("kid"), record.get("signature")
    if not isinstance(kid, str) or not isinstance(signature, str) or kid not in public_keys:
        return False
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except ValueError:
        return False
    if len(raw) != 2 * _COORDINATE_BYTES:
        return False
    der = encode_dss_signature(
        int.from_bytes(raw[:_COORDINATE_BYTES], "big"),
        int.from_bytes(raw[_COORDINATE_BYTES:], "big"),
    )
    try:
        public_keys[kid].verify(der, checkpoint_payload(record), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# Verification


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a verification: ok, or the first problem found.

    `lines` counts the lines checked (all of them when ok); `position` is the 1-based
    line of the problem and `kind` one of modified, deleted, inserted, reordered,
    bad_checkpoint, bad_signature, malformed. `sealed` says whether the last line is a
    checkpoint that checked out (signature included when keys were given), and
    `signatures_checked` whether keys were given at all.
    """

    ok: bool
    lines: int
    records: int
    checkpoints: int
    sealed: bool
    signatures_checked: bool
    last_hash: str
    position: int | None = None
    kind: str | None = None
    detail: str = ""


def _problem(
    records: list[Mapping[str, Any]], index: int, expected_prev: str, seen: Mapping[str, int]
) -> tuple[int, str, str] | None:
    """The problem at 0-based `index` given that every record before it checked out, as
    (0-based position, kind, detail), or None when the record is sound."""
    record = records[index]
    stored, prev = record.get("hash"), record.get("prev_hash")
    if not isinstance(stored, str) or not isinstance(prev, str):
        return index, MALFORMED, "record has no hash or prev_hash"
    following = records[index + 1] if index + 1 < len(records) else None
    next_links_back = following is not None and following.get("prev_hash") == expected_prev
    if stored != record_hash(record):
        if next_links_back:
            return index, INSERTED, "a record that does not belong to the chain"
        return index, MODIFIED, "content does not match its hash"
    if prev == expected_prev:
        return None
    return _broken_link(records, index, next_links_back, seen)


def _broken_link(
    records: list[Mapping[str, Any]], index: int, next_links_back: bool, seen: Mapping[str, int]
) -> tuple[int, str, str]:
    """Classify a sound record whose prev_hash is not the hash of the line before it."""
    stored, prev = records[index]["hash"], records[index]["prev_hash"]
    later = {other.get("hash"): at for at, other in enumerate(records) if at > index}
    if stored in seen:
        return index, INSERTED, f"a copy of line {seen[stored] + 1}"
    if prev in later:
        return index, REORDERED, f"follows line {later[prev] + 1}, which comes later"
    if prev in seen:
        start = seen[prev] + 1
        if start == index - 1:
            return start, INSERTED, "a record that does not belong to the chain"
        return start, INSERTED, f"lines {start + 1} to {index} do not belong to the chain"
    if next_links_back:
        return index, INSERTED, "a record that does not belong to the chain"
    return index, DELETED, "one or more records before this line are missing"


def _checkpoint_problem(
    record: Mapping[str, Any],
    since: int,
    last_hash: str,
    public_keys: Mapping[str, ec.EllipticCurvePublicKey] | None,
) -> tuple[str, str] | None:
    if record.get("records") != since or record.get("last_hash") != last_hash:
        return BAD_CHECKPOINT, f"checkpoint does not match the {since} records before it"
    if public_keys is not None and not verify_checkpoint_signature(record, public_keys):
        return BAD_SIGNATURE, "checkpoint signature missing, by an unknown key, or invalid"
    return None


def verify_chain(
    records: Iterable[Mapping[str, Any]],
    *,
    public_keys: Mapping[str, ec.EllipticCurvePublicKey] | None = None,
    start_hash: str = GENESIS,
) -> ChainReport:
    """Verify one segment's records in file order; report the first problem or confirm.

    Checkpoint signatures are verified only when `public_keys` (kid -> key) is given.
    The records are held in memory (one segment at a time) to look ahead and back.
    """
    items = list(records)
    seen: dict[str, int] = {}
    expected_prev = start_hash
    count = checkpoints = since = 0
    sealed = False
    for index, record in enumerate(items):
        problem = _problem(items, index, expected_prev, seen)
        if problem is None and record.get("event") == CHECKPOINT:
            found = _checkpoint_problem(record, since, expected_prev, public_keys)
            problem = None if found is None else (index, *found)
        if problem is not None:
            position, kind, detail = problem
            return ChainReport(
                ok=False,
                lines=index,
                records=count,
                checkpoints=checkpoints,
                sealed=False,
                signatures_checked=public_keys is not None,
                last_hash=expected_prev,
                position=position + 1,
                kind=kind,
                detail=detail,
            )
        expected_prev = record["hash"]
        seen[expected_prev] = index
        if record.get("event") == CHECKPOINT:
            checkpoints += 1
            since = 0
            sealed = True
        else:
            count += 1
            since += 1
            sealed = False
    return ChainReport(
        ok=True,
        lines=len(items),
        records=count,
        checkpoints=checkpoints,
        sealed=sealed,
        signatures_checked=public_keys is not None,
        last_hash=expected_prev,
    )


def parse_lines(lines: Iterable[bytes | str]) -> list[Record | None]:
    """JSON Lines to records; None for a line that is not a JSON object (malformed)."""
    parsed: list[Record | None] = []
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            parsed.append(None)
            continue
        parsed.append(value if isinstance(value, dict) else None)
    return parsed


def verify_lines(
    lines: Iterable[bytes | str],
    *,
    public_keys: Mapping[str, ec.EllipticCurvePublicKey] | None = None,
) -> ChainReport:
    """Verify a segment file's lines (e.g. `path.read_bytes().splitlines()`).

    A line that is not a JSON object is `malformed`, with one exception: the torn line
    of a writer that died mid-write, directly before the last line, when that line is
    the (signed) recovery checkpoint that states the torn line's length."""
    raw = [line.encode() if isinstance(line, str) else line for line in lines]
    parsed = parse_lines(raw)
    if _torn_line_sealed(raw, parsed):
        del raw[-2], parsed[-2]
    for index, record in enumerate(parsed):
        if record is None:
            report = verify_chain(
                [r for r in parsed[:index] if r is not None], public_keys=public_keys
            )
            if not report.ok:
                return report
            return ChainReport(
                ok=False,
                lines=index,
                records=report.records,
                checkpoints=report.checkpoints,
                sealed=False,
                signatures_checked=public_keys is not None,
                last_hash=report.last_hash,
                position=index + 1,
                kind=MALFORMED,
                detail="not a JSON object",
            )
    return verify_chain([r for r in parsed if r is not None], public_keys=public_keys)


def _torn_line_sealed(raw: list[bytes], parsed: list[Record | None]) -> bool:
    """Whether the line before the last is a torn line that the last line, a recovery
    checkpoint, declares by its exact length (the checkpoint's own checks still run)."""
    if len(parsed) < 2 or parsed[-2] is not None:
        return False
    closing = parsed[-1]
    return (
        closing is not None
        and closing.get("event") == CHECKPOINT
        and closing.get("recovered") is True
        and closing.get("torn_bytes") == len(raw[-2])
        and len(raw[-2]) > 0
    )
