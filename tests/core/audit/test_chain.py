from __future__ import annotations

from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.core.audit import chain
from gateway.core.audit.chain import GENESIS, checkpoint, es256_signer, link, verify_chain
from gateway.core.keys import SigningKey, new_key


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.from_stored(new_key(0.0))


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return SigningKey.from_stored(new_key(0.0))


def _chained(count: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    prev = GENESIS
    for n in range(count):
        record = link({"schema": 1, "event": "generation_request", "n": n, "prompt": f"p{n}"}, prev)
        records.append(record)
        prev = record["hash"]
    return records


def _sealed(count: int, key: SigningKey | None) -> list[dict[str, Any]]:
    records = _chained(count)
    last = records[-1]["hash"] if records else GENESIS
    signer = None if key is None else es256_signer(key.kid, key.private)
    closing = checkpoint(time=1.0, segment="s", records=count, last_hash=last, signer=signer)
    return [*records, link(closing, last)]


def _keys(key: SigningKey) -> dict[str, ec.EllipticCurvePublicKey]:
    return {key.kid: key.public}


def test_canonical_form_is_sorted_and_compact() -> None:
    """The canonical form sorts keys and has no whitespace."""
    assert chain.canonical({"b": 1, "a": [1, 2], "c": "x y"}) == b'{"a":[1,2],"b":1,"c":"x y"}'


def test_link_adds_prev_hash_and_hash_over_the_rest() -> None:
    """The hash covers the record and its prev_hash, but not itself."""
    record = link({"event": "x"}, GENESIS)
    assert record["prev_hash"] == GENESIS
    assert record["hash"] == chain.record_hash({"event": "x", "prev_hash": GENESIS})
    assert link(record, GENESIS) == record
    assert link({"event": "x"}, "1" * 64)["hash"] != record["hash"]


def test_an_intact_chain_verifies() -> None:
    """An untouched chain is confirmed with its record count."""
    report = verify_chain(_chained(5))
    assert (report.ok, report.records, report.lines, report.kind, report.position) == (
        True,
        5,
        5,
        None,
        None,
    )
    assert not report.sealed


def test_an_empty_segment_verifies() -> None:
    """A segment with no record is a valid (empty, unsealed) chain."""
    report = verify_chain([])
    assert report.ok
    assert report.records == 0


def test_a_chain_survives_a_json_round_trip() -> None:
    """Records read back from their JSON lines still verify."""
    lines = [orjson.dumps(record) for record in _chained(3)]
    assert chain.verify_lines(lines).ok


def test_a_modified_field_is_reported_at_its_line() -> None:
    """Changing a field without fixing the hash is reported as modified at that line."""
    records = _chained(5)
    records[2]["prompt"] = "something else"
    report = verify_chain(records)
    assert (report.ok, report.kind, report.position) == (False, "modified", 3)


def test_a_modified_and_rehashed_record_breaks_the_next_link() -> None:
    """A modified record with a recomputed hash shows at the next line as a gap."""
    records = _chained(5)
    records[2] = link({**records[2], "prompt": "forged"}, records[2]["prev_hash"])
    report = verify_chain(records)
    assert (report.kind, report.position) == ("deleted", 4)


@pytest.mark.parametrize("index", [0, 2, 4])
def test_a_deleted_line_is_reported_where_the_gap_is(index: int) -> None:
    """Deleting a record is reported as deleted at the line after the gap."""
    records = _chained(5)
    del records[index]
    report = verify_chain(records)
    if index == 4:  # the tail of an unsealed chain: nothing to see without a checkpoint
        assert report.ok
    else:
        assert (report.kind, report.position) == ("deleted", index + 1)


def test_a_deleted_last_record_before_the_checkpoint_is_found() -> None:
    """With a closing checkpoint, even the last record cannot vanish unseen."""
    records = _sealed(4, None)
    del records[3]
    report = verify_chain(records)
    assert (report.kind, report.position) == ("deleted", 4)


def test_an_inserted_forged_line_that_links_is_reported() -> None:
    """A forged record correctly linked after line 2 is reported as inserted at line 3."""
    records = _chained(5)
    forged = link({"schema": 1, "event": "generation_request", "prompt": "x"}, records[1]["hash"])
    records.insert(2, forged)
    report = verify_chain(records)
    assert (report.kind, report.position) == ("inserted", 3)


def test_an_inserted_naive_line_is_reported() -> None:
    """A forged record with a made-up hash is reported as inserted at its own line."""
    records = _chained(5)
    records.insert(2, {**records[0], "prompt": "x"})
    report = verify_chain(records)
    assert (report.kind, report.position) == ("inserted", 3)


def test_a_replayed_copy_is_reported_as_inserted() -> None:
    """A verbatim copy of an earlier record is reported as inserted where it appears."""
    records = _chained(5)
    records.insert(3, dict(records[1]))
    report = verify_chain(records)
    assert (report.kind, report.position) == ("inserted", 4)
    assert "line 2" in report.detail


def test_several_inserted_lines_are_reported_from_the_first() -> None:
    """A run of linked forged records is reported as inserted from its first line."""
    records = _chained(4)
    first = link({"event": "forged", "n": 1}, records[1]["hash"])
    second = link({"event": "forged", "n": 2}, first["hash"])
    records[2:2] = [first, second]
    report = verify_chain(records)
    assert (report.kind, report.position) == ("inserted", 3)


@pytest.mark.parametrize(("a", "b"), [(1, 2), (0, 1), (3, 4), (1, 3)])
def test_swapped_lines_are_reported_as_reordered(a: int, b: int) -> None:
    """Swapping two records is reported as reordered at the first line out of place."""
    records = _chained(5)
    records[a], records[b] = records[b], records[a]
    report = verify_chain(records)
    assert (report.kind, report.position) == ("reordered", a + 1)


def test_a_torn_line_is_malformed() -> None:
    """A line that is not a JSON object is reported as malformed at its line."""
    lines = [orjson.dumps(record) for record in _chained(3)]
    lines[2] = lines[2][:20]
    report = chain.verify_lines(lines)
    assert (report.kind, report.position, report.records) == ("malformed", 3, 2)


def test_a_signed_checkpoint_is_accepted(key: SigningKey) -> None:
    """A checkpoint signed by a known key seals the segment."""
    records = _sealed(3, key)
    assert records[-1]["kid"] == key.kid
    report = verify_chain(records, public_keys=_keys(key))
    assert (report.ok, report.sealed, report.records, report.checkpoints) == (True, True, 3, 1)
    assert report.signatures_checked


def test_a_checkpoint_by_another_key_is_refused(key: SigningKey, other_key: SigningKey) -> None:
    """A checkpoint whose signature does not verify under the named kid is refused."""
    records = _sealed(3, key)
    report = verify_chain(records, public_keys={key.kid: other_key.public})
    assert (report.kind, report.position) == ("bad_signature", 4)


def test_a_checkpoint_by_an_unknown_kid_is_refused(key: SigningKey, other_key: SigningKey) -> None:
    """A checkpoint signed by a kid not among the given keys is refused."""
    report = verify_chain(_sealed(3, key), public_keys=_keys(other_key))
    assert report.kind == "bad_signature"


def test_an_unsigned_checkpoint_is_refused_when_keys_are_given(key: SigningKey) -> None:
    """With keys to check against, an unsigned checkpoint does not count as sealed."""
    records = _sealed(2, None)
    assert verify_chain(records).ok
    assert verify_chain(records, public_keys=_keys(key)).kind == "bad_signature"


def test_an_altered_count_is_refused_even_when_rehashed(key: SigningKey) -> None:
    """A checkpoint whose count was changed (and hash fixed) fails count and signature."""
    records = _sealed(3, key)
    altered = {**records[-1], "records": 4}
    assert not chain.verify_checkpoint_signature(altered, _keys(key))
    records[-1] = link(altered, records[-1]["prev_hash"])
    report = verify_chain(records, public_keys=_keys(key))
    assert (report.kind, report.position) == ("bad_checkpoint", 4)


def test_an_altered_checkpoint_field_fails_its_signature(key: SigningKey) -> None:
    """Changing any signed checkpoint field (here the segment name) breaks the signature."""
    records = _sealed(3, key)
    records[-1] = link({**records[-1], "segment": "other"}, records[-1]["prev_hash"])
    report = verify_chain(records, public_keys=_keys(key))
    assert (report.kind, report.position) == ("bad_signature", 4)
    assert verify_chain(records).ok  # without keys, only the chain is checked


def test_a_checkpoint_with_the_wrong_count_is_a_bad_checkpoint(key: SigningKey) -> None:
    """A signed checkpoint that miscounts the records before it is reported."""
    records = _chained(3)
    signer = es256_signer(key.kid, key.private)
    closing = checkpoint(
        time=1.0, segment="s", records=2, last_hash=records[-1]["hash"], signer=signer
    )
    records.append(link(closing, records[-1]["hash"]))
    report = verify_chain(records, public_keys=_keys(key))
    assert (report.kind, report.position) == ("bad_checkpoint", 4)


def test_a_signature_is_tied_to_its_content(key: SigningKey) -> None:
    """A signature copied onto a checkpoint with other content does not verify."""
    signer = es256_signer(key.kid, key.private)
    one = checkpoint(time=1.0, segment="s", records=1, last_hash="a" * 64, signer=signer)
    two = checkpoint(time=1.0, segment="s", records=2, last_hash="a" * 64, signer=signer)
    assert chain.verify_checkpoint_signature(one, _keys(key))
    assert not chain.verify_checkpoint_signature({**two, "signature": one["signature"]}, _keys(key))
    assert not chain.verify_checkpoint_signature({**one, "signature": "!!"}, _keys(key))
