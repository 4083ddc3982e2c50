"""`phasegate audit search / tail / export / stats / verify` on logs written by a real
`serve` process and by the real JSONL sink."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import queue
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from gateway.core.audit import records
from gateway.core.audit.chain import GENESIS, canonical, es256_signer, link
from gateway.core.keys import SigningKey
from gateway.core.policy.decision import Action, RuleHit
from gateway.edges.cli.admin_commands import with_store
from gateway.edges.cli.main import main
from gateway.edges.settings import Settings
from gateway.ports.audit import JsonlSink
from tests.support.clock import FakeClock
from tests.support.policies import without_limits
from tests.support.processes import POLICIES, deployment, process, run

VIDEO = {"model": "sora-2", "prompt": "a lighthouse in fog", "seconds": "4"}


def _serve_some_requests(data_dir: Path, count: int) -> None:
    policies = data_dir / "policies"
    if not policies.exists():
        without_limits(policies)
    with deployment(data_dir, policies=policies) as target:
        token = target.token(target.grant("artist"))
        for _ in range(count):
            response = httpx.post(
                f"{target.gateway_url}/v1/videos",
                json=VIDEO,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200


def test_verify_confirms_an_untouched_log_and_finds_a_modified_record(tmp_path: Path) -> None:
    """A sealed log verifies (exit 0); changing one prompt is reported at its line (exit 1)."""
    _serve_some_requests(tmp_path, 3)
    settings = ["--data-dir", str(tmp_path), "--policies", str(tmp_path / "policies")]
    verified = run("audit", "verify", *settings)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert ": ok," in verified.stdout
    assert "sealed" in verified.stdout

    segment = next(
        path
        for path in sorted((tmp_path / "audit").glob("audit-*.jsonl"))
        if '"generation_request"' in path.read_text()
    )
    lines = segment.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if '"generation_request"' in line)
    record = json.loads(lines[target])
    record["prompt"] = "something else entirely"
    lines[target] = json.dumps(record, separators=(",", ":"), sort_keys=True)
    segment.write_text("\n".join(lines) + "\n")

    tampered = run("audit", "verify", "--json", *settings)
    assert tampered.returncode == 1
    reports = [json.loads(line) for line in tampered.stdout.splitlines()]
    report = next(r for r in reports if r["segment"] == segment.name)
    assert report["ok"] is False
    assert [r["ok"] for r in reports].count(False) == 1
    assert report["problem"].startswith(f"line {target + 1}: modified")


def test_tail_prints_the_last_records(tmp_path: Path) -> None:
    """`audit tail` prints the newest records as JSON Lines, at most 20, across segments."""
    # Two runs of the gateway, two segments.
    _serve_some_requests(tmp_path, 8)
    _serve_some_requests(tmp_path, 8)
    settings = ["--data-dir", str(tmp_path), "--policies", str(tmp_path / "policies")]
    tail = run("audit", "tail", *settings)
    assert tail.returncode == 0
    records = [json.loads(line) for line in tail.stdout.splitlines()]
    assert len(records) == 20
    assert records[-1]["event"] == "checkpoint"
    assert {r["event"] for r in records} >= {"generation_request", "generation_outcome"}


def test_admin_changes_are_audited_and_verify(tmp_path: Path) -> None:
    """Grant, revoke, key rotation and phase change each leave a sealed, verifiable record."""
    settings = ["--data-dir", str(tmp_path), "--policies", str(POLICIES)]
    assert run("grant", "zed", "--tier", "studios", *settings).returncode == 0
    assert run("revoke", "zed", *settings).returncode == 0
    assert run("keys", "rotate", *settings).returncode == 0
    assert run("phase", "set", "limited_preview", "--actor", "ops-lead", *settings).returncode == 0
    verified = run("audit", "verify", *settings)
    assert verified.returncode == 0, verified.stdout
    records = [json.loads(line) for line in run("audit", "tail", *settings).stdout.splitlines()]
    events = [(r["event"], r.get("actor")) for r in records if r["event"] != "checkpoint"]
    assert [event for event, _ in events] == ["grant", "revoke", "key_rotation", "phase_change"]
    assert events[-1][1] == "ops-lead"
    phase = next(r for r in records if r["event"] == "phase_change")
    assert (phase["previous_phase"], phase["phase"]) == ("research_preview", "limited_preview")
    grant = next(r for r in records if r["event"] == "grant")
    assert "client_secret" not in grant


# The reviewer commands on a log the real sink wrote: two writers (the gateway and an
# admin's), three UTC days, every request event, admin events, and decoys.

HOUR = 3600.0
PEOPLE = (("alice", "invited_artists"), ("bob", "studios"), ("carol", "public"))
PROMPTS = (
    "A lighthouse in fog at dawn",
    "Claymation fox steals a pie",
    "a rifle on a porch at dusk",
    "Un café à Paris, LIGHTHOUSE au loin",
    "a quiet harbour",
)
WEAPONS = RuleHit("weapons", Action.FLAG, shadow=False)
PUBLIC_FIGURES = RuleHit("no-real-public-figures", Action.DENY, shadow=False)
TRIAL = RuleHit("deepfake-terms-trial", Action.DENY, shadow=True)


@dataclass(frozen=True)
class Log:
    data_dir: Path
    now: float
    # Every stored line, parsed, checkpoints included, in time order.
    records: list[dict[str, Any]]
    lines: dict[str, bytes]  # hash -> the stored line

    @property
    def settings(self) -> list[str]:
        return ["--data-dir", str(self.data_dir), "--policies", str(POLICIES)]

    def hashes(self, keep: Callable[[dict[str, Any]], bool]) -> list[str]:
        """What a search must find: the matching records (never checkpoints), in time order."""
        return [r["hash"] for r in self.records if r["event"] != "checkpoint" and keep(r)]


def _gateway_records(now: float) -> list[dict[str, Any]]:
    start = now - 52 * HOUR
    made: list[dict[str, Any]] = []
    for i in range(36):
        at = start + i * 5200
        principal, tier = PEOPLE[(i + i // 6) % 3]
        prompt = PROMPTS[i % 5]
        route = "/v1/videos/{id}/remix" if i % 7 == 0 else "/v1/videos"
        common: dict[str, Any] = {
            "time": at,
            "request_id": f"req-{i:02d}",
            "principal": principal,
            "client_id": f"client-{principal}",
            "tier": tier,
        }
        kind = i % 6
        if kind in (0, 1, 5):
            decision = "flag" if kind == 5 else "allow"
            rules = (WEAPONS,) if kind == 5 else ((TRIAL,) if i % 4 == 0 else ())
            made.append(
                records.generation_request(
                    **common,
                    phase="limited_preview",
                    client_address="10.0.0.7",
                    method="POST",
                    route=route,
                    model="sora-2",
                    prompt=prompt,
                    params={"seconds": "4", "size": "720x1280"},
                    decision=decision,
                    rules=rules,
                    policy_version="v1",
                )
            )
            outcome = {**common, "time": at + 1}
            made.append(
                records.generation_outcome(
                    **outcome,
                    route=route,
                    decision=decision,
                    upstream_status=200,
                    job_id=f"video_{i:02d}",
                    latency_ms=12.5,
                    request_bytes=90,
                    response_bytes=400,
                )
            )
        elif kind in (2, 3):
            made.append(
                records.refusal(
                    **common,
                    phase="limited_preview",
                    client_address=None,
                    method="POST",
                    route=route,
                    model="sora-2",
                    prompt=prompt,
                    params={"seconds": "4"},
                    decision="deny" if kind == 2 else "rate_limited",
                    status=403 if kind == 2 else 429,
                    code="policy_violation" if kind == 2 else "rate_limited",
                    rules=(PUBLIC_FIGURES,) if kind == 2 else (),
                    policy_version="v1",
                )
            )
        else:
            made.append(
                records.job_access(
                    **common,
                    client_address=None,
                    method="GET",
                    route="/v1/videos/{id}",
                    action="read",
                    job_id=f"video_{i - 4:02d}",
                    status=200,
                    upstream_status=200,
                )
            )
    # Decoys: another field holds a filter's bytes; no filter may take them for its own.
    made.append(
        records.generation_request(
            time=start + 7 * 5200 + 30,
            request_id="req-decoy",
            principal="bob",
            client_id="client-bob",
            tier="studios",
            phase="limited_preview",
            client_address=None,
            method="POST",
            route="/v1/videos",
            model="sora-2",
            prompt="a quiet harbour",
            params={"principal": "alice", "decision": "deny", "id": "weapons", "x": "Lighthouse"},
            decision="allow",
            policy_version="v1",
        )
    )
    return made


def _admin_records(now: float) -> list[dict[str, Any]]:
    return [
        records.grant(
            time=now - 40 * HOUR,
            actor="ops",
            principal="alice",
            tier="invited_artists",
            client_id="client-alice",
            expires_at=None,
        ),
        records.phase_change(
            time=now - 10 * HOUR, actor="ops-lead", phase="limited_preview", previous_phase=None
        ),
    ]


async def _write_log(directory: Path, now: float) -> None:
    """Both writers append in time order, each segment through its own real sink; the
    sinks' clocks run half a second behind the records (a write follows its record)."""
    gateway_clock, admin_clock = FakeClock(), FakeClock()
    gateway = JsonlSink(directory, clock=gateway_clock)
    admin = JsonlSink(directory, clock=admin_clock)
    timeline = sorted(
        [(r["time"], gateway, gateway_clock, r) for r in _gateway_records(now)]
        + [(r["time"], admin, admin_clock, r) for r in _admin_records(now)],
        key=lambda item: item[0],
    )
    for _, sink, clock, record in timeline:
        clock.now = datetime.fromisoformat(record["time"]).timestamp() + 0.5
        await sink.append(record)
    gateway_clock.now = admin_clock.now = now - 60
    await gateway.close()
    await admin.close()


def _read_log(data_dir: Path, now: float) -> Log:
    lines = [
        line
        for path in sorted((data_dir / "audit").glob("audit-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]
    parsed = [json.loads(line) for line in lines]
    order = sorted(range(len(parsed)), key=lambda i: parsed[i]["time"])
    return Log(
        data_dir,
        now,
        [parsed[i] for i in order],
        {record["hash"]: line for record, line in zip(parsed, lines, strict=True)},
    )


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    data_dir = tmp_path_factory.mktemp("reviewed")
    now = time.time()
    asyncio.run(_write_log(data_dir / "audit", now))
    written = _read_log(data_dir, now)
    assert len({path.name[6:16] for path in (data_dir / "audit").glob("*.jsonl")}) >= 3  # days
    return written


def _audit(capsys: pytest.CaptureFixture[str], log: Log, *args: str) -> str:
    """An `audit` command run in process; its standard output."""
    assert main(["audit", *args, *log.settings]) == 0
    return capsys.readouterr().out


def _found(capsys: pytest.CaptureFixture[str], log: Log, *args: str) -> list[str]:
    out = _audit(capsys, log, "search", "--json", *args)
    return [json.loads(line)["hash"] for line in out.splitlines()]


def _rule_ids(record: dict[str, Any]) -> set[str]:
    return {hit["id"] for hit in record.get("rules") or ()}


def _at(log: Log, hours_ago: float) -> str:
    return records.format_time(log.now - hours_ago * HOUR)


FILTERS: list[tuple[list[str], Callable[[dict[str, Any]], bool]]] = [
    (["--principal", "alice"], lambda r: r.get("principal") == "alice"),
    (
        ["--principal", "alice", "--principal", "carol"],
        lambda r: r.get("principal") in ("alice", "carol"),
    ),
    (["--tier", "public"], lambda r: r.get("tier") == "public"),
    (["--decision", "deny"], lambda r: r.get("decision") == "deny"),
    (
        ["--decision", "allow", "--decision", "rate_limited"],
        lambda r: r.get("decision") in ("allow", "rate_limited"),
    ),
    (["--rule", "weapons"], lambda r: "weapons" in _rule_ids(r)),
    (["--rule", "deepfake-terms-trial"], lambda r: "deepfake-terms-trial" in _rule_ids(r)),
    (["--route", "/v1/videos/{id}/remix"], lambda r: r.get("route") == "/v1/videos/{id}/remix"),
    (["--event", "grant"], lambda r: r["event"] == "grant"),
    (
        ["--event", "phase_change", "--event", "job_access"],
        lambda r: r["event"] in ("phase_change", "job_access"),
    ),
    (["--text", "LIGHTHOUSE"], lambda r: "lighthouse" in (r.get("prompt") or "").lower()),
    (["--text", "CAFÉ à"], lambda r: "café à" in (r.get("prompt") or "").lower()),
    (
        ["--principal", "alice", "--decision", "flag"],
        lambda r: (r.get("principal"), r.get("decision")) == ("alice", "flag"),
    ),
    (
        ["--tier", "studios", "--text", "harbour"],
        lambda r: r.get("tier") == "studios" and "harbour" in (r.get("prompt") or ""),
    ),
    (["--principal", "nobody"], lambda r: False),
]


@pytest.mark.parametrize(("flags", "keep"), FILTERS, ids=[" ".join(f) for f, _ in FILTERS])
def test_each_filter_selects_exactly_its_records(
    capsys: pytest.CaptureFixture[str],
    log: Log,
    flags: list[str],
    keep: Callable[[dict[str, Any]], bool],
) -> None:
    expected = log.hashes(keep)
    assert _found(capsys, log, *flags) == expected
    # The fixture is rich enough for every filter to both take and leave records.
    assert expected or flags == ["--principal", "nobody"]
    assert len(expected) < len(log.hashes(lambda r: True))


def test_decoys_in_other_fields_are_not_found(capsys: pytest.CaptureFixture[str], log: Log) -> None:
    decoy = next(r["hash"] for r in log.records if r.get("request_id") == "req-decoy")
    for flags in (
        ["--principal", "alice"],
        ["--decision", "deny"],
        ["--rule", "weapons"],
        ["--text", "lighthouse"],
    ):
        assert decoy not in _found(capsys, log, *flags), flags
    assert decoy in _found(capsys, log, "--principal", "bob")


def test_time_ranges_relative_and_absolute(capsys: pytest.CaptureFixture[str], log: Log) -> None:
    recent = log.hashes(lambda r: r["time"] >= _at(log, 3))
    assert recent
    assert _found(capsys, log, "--since", "3h") == recent
    assert _found(capsys, log, "--since", "180m") == recent
    since, until = _at(log, 30), _at(log, 10)
    window = log.hashes(lambda r: since <= r["time"] < until)
    assert _found(capsys, log, "--since", since, "--until", until) == window
    older = log.hashes(lambda r: r["time"] < _at(log, 48))
    assert _found(capsys, log, "--until", "2d") == older
    assert set(window).isdisjoint(recent)
    assert _found(capsys, log, "--since", "2d", "--principal", "carol") == log.hashes(
        lambda r: r["time"] >= _at(log, 48) and r.get("principal") == "carol"
    )


def test_search_json_prints_each_record_as_stored(
    capsys: pytest.CaptureFixture[str], log: Log
) -> None:
    out = _audit(capsys, log, "search", "--json", "--principal", "bob")
    lines = out.encode().splitlines()
    assert lines
    assert [log.lines[json.loads(line)["hash"]] for line in lines] == lines


def test_search_table_is_readable_and_counts(capsys: pytest.CaptureFixture[str], log: Log) -> None:
    out = _audit(capsys, log, "search", "--rule", "weapons", "--principal", "carol")
    header, *rows, footer = out.splitlines()
    assert header.split() == [
        "time",
        "event",
        "principal",
        "tier",
        "decision",
        "route",
        "rules",
        "detail",
    ]
    expected = log.hashes(lambda r: r.get("principal") == "carol" and "weapons" in _rule_ids(r))
    assert len(rows) == len(expected) > 0
    assert footer == f"{len(expected)} record(s)"
    for row, stored in zip(rows, expected, strict=True):
        assert "carol" in row
        assert "weapons" in row
        assert repr(json.loads(log.lines[stored])["prompt"]) in row


def test_limit_keeps_the_first_records_in_time_order(
    capsys: pytest.CaptureFixture[str], log: Log
) -> None:
    everything = log.hashes(lambda r: True)
    assert _found(capsys, log, "--limit", "3") == everything[:3]
    out = _audit(capsys, log, "search", "--limit", "2", "--tier", "public")
    assert out.splitlines()[-1] == "2 record(s) (--limit reached)"


def test_records_of_two_writers_come_out_in_time_order(
    capsys: pytest.CaptureFixture[str], log: Log
) -> None:
    """The admin's segment overlaps the gateway's; search interleaves them by time."""
    found = _found(capsys, log)
    assert found == log.hashes(lambda r: True)
    times = [json.loads(log.lines[h])["time"] for h in found]
    assert times == sorted(times)


def test_export_csv_parses_with_a_fixed_header(
    capsys: pytest.CaptureFixture[str], log: Log
) -> None:
    out = _audit(
        capsys, log, "export", "--format", "csv", "--decision", "flag", "--decision", "deny"
    )
    reader = csv.DictReader(io.StringIO(out, newline=""))
    assert reader.fieldnames is not None
    assert {
        "time",
        "event",
        "principal",
        "tier",
        "decision",
        "rules",
        "prompt",
        "params",
        "hash",
    } <= set(reader.fieldnames)
    rows = list(reader)
    expected = log.hashes(lambda r: r.get("decision") in ("flag", "deny"))
    assert [row["hash"] for row in rows] == expected
    for row in rows:
        stored = json.loads(log.lines[row["hash"]])
        assert row["event"] == stored["event"]
        assert row["principal"] == stored["principal"]
        assert row["time"] == stored["time"]
        if stored["event"] == "generation_outcome":
            assert (row["prompt"], row["rules"], row["upstream_status"]) == ("", "", "200")
            continue
        assert row["prompt"] == stored["prompt"]
        assert json.loads(row["rules"]) == stored["rules"]
        assert json.loads(row["params"]) == stored["params"]
        assert row["client_address"] == (stored["client_address"] or "")


def test_export_csv_of_everything_keeps_admin_fields(
    capsys: pytest.CaptureFixture[str], log: Log
) -> None:
    rows = list(
        csv.DictReader(io.StringIO(_audit(capsys, log, "export", "--format", "csv"), newline=""))
    )
    assert len(rows) == len(log.hashes(lambda r: True))
    phase = next(row for row in rows if row["event"] == "phase_change")
    assert phase["actor"] == "ops-lead"
    assert json.loads(phase["other"]) == {"previous_phase": None}
    assert phase["phase"] == "limited_preview"


def test_export_jsonl_to_a_file(
    capsys: pytest.CaptureFixture[str], log: Log, tmp_path: Path
) -> None:
    target = tmp_path / "export.jsonl"
    assert _audit(capsys, log, "export", "--tier", "studios", "--output", str(target)) == ""
    expected = log.hashes(lambda r: r.get("tier") == "studios")
    assert target.read_bytes().splitlines() == [log.lines[h] for h in expected]


def test_stats_json_counts_match_the_log(capsys: pytest.CaptureFixture[str], log: Log) -> None:
    document = json.loads(_audit(capsys, log, "stats", "--json"))
    kept = [r for r in log.records if r["event"] != "checkpoint"]
    deciding = [r for r in kept if r["event"] in ("generation_request", "refusal")]
    assert document["records"] == len(kept)
    assert document["by_event"] == dict(Counter(r["event"] for r in kept))
    assert document["requests"] == len(deciding)
    assert document["by_decision"] == dict(Counter(r["decision"] for r in deciding))
    assert document["by_tier"] == dict(Counter(r["tier"] for r in deciding))
    assert document["by_rule"] == dict(Counter(i for r in deciding for i in _rule_ids(r)))
    assert document["by_route"] == dict(Counter(r["route"] for r in deciding))
    assert document["by_phase"] == {"limited_preview": len(deciding)}
    assert (document["first_time"], document["last_time"]) == (kept[0]["time"], kept[-1]["time"])


def test_stats_take_the_same_filters(capsys: pytest.CaptureFixture[str], log: Log) -> None:
    document = json.loads(
        _audit(capsys, log, "stats", "--json", "--since", "24h", "--principal", "bob")
    )
    kept = [
        r
        for r in log.records
        if r["event"] != "checkpoint" and r.get("principal") == "bob" and r["time"] >= _at(log, 24)
    ]
    assert document["records"] == len(kept) > 0
    assert document["by_event"] == dict(Counter(r["event"] for r in kept))
    assert document["since"] is not None
    assert document["until"] is None
    table = _audit(capsys, log, "stats", "--principal", "bob")
    assert table.startswith("records")
    assert "generation_request" in table
    assert "decision" in table


def test_tail_prints_the_last_20_records_in_time_order(
    capsys: pytest.CaptureFixture[str], log: Log
) -> None:
    lines = _audit(capsys, log, "tail").splitlines()
    assert [json.loads(line)["hash"] for line in lines] == [r["hash"] for r in log.records[-20:]]
    table = _audit(capsys, log, "tail", "--table").splitlines()
    assert len(table) == 21  # a header and 20 rows
    assert table[-1].split()[1] == "checkpoint"


def _lines_of(stream: IO[str]) -> queue.Queue[str]:
    """Lines as a process prints them, gathered by a daemon thread (never blocks a test)."""
    found: queue.Queue[str] = queue.Queue()

    def gather() -> None:
        for line in stream:
            found.put(line)

    threading.Thread(target=gather, daemon=True).start()
    return found


def test_tail_follow_prints_a_record_appended_after_it_started(log: Log, tmp_path: Path) -> None:
    shutil.copytree(log.data_dir, tmp_path / "data")
    settings = ["--data-dir", str(tmp_path / "data"), "--policies", str(POLICIES)]
    with process("audit", "tail", "-f", *settings) as tail:
        assert tail.stdout is not None
        printed = _lines_of(tail.stdout)
        first = [json.loads(printed.get(timeout=30)) for _ in range(20)]
        assert first[-1]["hash"] == log.records[-1]["hash"]
        late = records.grant(
            time=time.time(),
            actor="ops",
            principal="late-arrival",
            tier="studios",
            client_id="client-late",
            expires_at=None,
        )

        async def append() -> None:
            sink = JsonlSink(tmp_path / "data" / "audit")
            await sink.append(late)
            await sink.close()

        asyncio.run(append())
        arrived = json.loads(printed.get(timeout=30))
        assert (arrived["event"], arrived["principal"]) == ("grant", "late-arrival")
        assert json.loads(printed.get(timeout=30))["event"] == "checkpoint"
    assert tail.returncode == 0  # stopped with Ctrl-C (SIGINT)


def test_usage_errors_exit_2_with_a_clear_message(log: Log) -> None:
    for args, message in [
        (["search", "--since", "yesterday"], "neither a time"),
        (["search", "--until", "2026-11-26T09:30"], "no UTC offset"),
        (["stats", "--since", "1h", "--until", "2h"], "must be before --until"),
        (["search", "--decision", "maybe"], "invalid choice"),
        (["search", "--limit", "0"], "not a positive"),
        (["export", "--format", "xml"], "invalid choice"),
    ]:
        result = run("audit", *args, *log.settings)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    unreadable = run("audit", "search", "--audit", "stdout://", *log.settings)
    assert unreadable.returncode == 2
    assert "cannot be read back yet" in unreadable.stderr


def test_a_missing_audit_log_is_refused_with_exit_1(tmp_path: Path) -> None:
    settings = ["--data-dir", str(tmp_path / "empty"), "--policies", str(POLICIES)]
    for command in (["search"], ["tail"], ["export", "--format", "csv"], ["stats"], ["verify"]):
        result = run("audit", *command, *settings)
        assert result.returncode == 1, (command, result.stderr)
        assert f"no audit log at {tmp_path / 'empty' / 'audit'}" in result.stderr
        assert result.stdout == ""


def test_verify_accepts_a_live_writers_segment_without_its_checkpoint(tmp_path: Path) -> None:
    """Not being the newest no longer matters: a segment a writer holds may be open, one
    nobody holds may not (unless it is the newest, as logs before the lock had it)."""
    audit = tmp_path / "audit"
    settings = ["--data-dir", str(tmp_path), "--policies", str(POLICIES)]
    assert run("phase", "set", "limited_preview", *settings).returncode == 0
    stored = with_store(Settings(data_dir=tmp_path, policies=POLICIES), lambda s: s.keys())
    key = SigningKey.from_stored(stored[-1])

    async def scenario() -> None:
        live = JsonlSink(audit, signer=es256_signer(key.kid, key.private))
        await live.append(
            records.phase_change(time=time.time(), actor="a", phase="p", previous_phase=None)
        )
        assert run("phase", "set", "research_preview", *settings).returncode == 0
        # The live writer's segment is older than a sealed one, and still being written.
        held = run("audit", "verify", "--json", *settings)
        assert held.returncode == 0, held.stdout
        reports = [json.loads(line) for line in held.stdout.splitlines()]
        assert [(r["ok"], r["sealed"]) for r in reports] == [
            (True, True),
            (True, False),
            (True, True),
        ]
        await live.close()

    asyncio.run(scenario())
    assert run("audit", "verify", *settings).returncode == 0
    # An unsealed segment that no writer holds, older than the newest: something is missing.
    orphan = audit / "audit-2000-01-01-0001.jsonl"
    first = records.phase_change(time=0, actor="x", phase="p", previous_phase=None)
    orphan.write_bytes(canonical(link(first, GENESIS)) + b"\n")
    result = run("audit", "verify", *settings)
    assert result.returncode == 1
    assert "audit-2000-01-01-0001.jsonl: TAMPERED" in result.stdout
    assert "not sealed by a checkpoint" in result.stdout
    assert "4 segment(s), 1 with problems" in result.stdout


def test_a_real_gateway_runs_records_are_found_by_principal_and_rule(tmp_path: Path) -> None:
    """End to end: what `serve` wrote for two callers, found by the reviewer commands."""
    policies = without_limits(tmp_path / "policies")
    settings = ["--data-dir", str(tmp_path), "--policies", str(policies)]
    with deployment(tmp_path, policies=policies) as target:
        for principal, prompt in (("ana", "a rifle on a porch"), ("ben", "a lighthouse in fog")):
            token = target.token(target.grant(principal))
            response = httpx.post(
                f"{target.gateway_url}/v1/videos",
                json={**VIDEO, "prompt": prompt},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
    flagged = run("audit", "search", "--json", "--rule", "weapons", *settings)
    assert flagged.returncode == 0, flagged.stderr
    [record] = [json.loads(line) for line in flagged.stdout.splitlines()]
    assert (record["event"], record["principal"], record["decision"]) == (
        "generation_request",
        "ana",
        "flag",
    )
    bens = run("audit", "search", "--json", "--principal", "ben", *settings)
    # Ben's grant (an admin's segment) comes first, by time, before the gateway's records.
    assert [json.loads(line)["event"] for line in bens.stdout.splitlines()] == [
        "grant",
        "generation_request",
        "generation_outcome",
    ]
    stats = json.loads(run("audit", "stats", "--json", *settings).stdout)
    assert stats["requests"] == 2
    assert stats["by_decision"] == {"allow": 1, "flag": 1}
    assert stats["by_event"]["grant"] == 2
