"""`phasegate policy replay`: requests served by a real gateway, judged again under a
changed policy folder, from the JSONL files and from the Redis stream."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway.core.policy import rollout_bucket
from tests.conftest import Gateway, GatewayFactory
from tests.support.processes import run
from tests.support.redis_server import redis_server
from tests.support.servers import AppServer

# Public principals the 10% rollout admits.
PUBLIC = [n for n in (f"member-{i}" for i in range(200)) if rollout_bucket(n, "public") < 10]

REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    # (principal, tier, body): decisions under the shipped policy in the comments
    (
        "artist-a",
        "invited_artists",
        {"prompt": "The prime minister waving", "seconds": "4"},
    ),  # allow
    ("studio-a", "studios", {"prompt": "The prime minister waving", "seconds": "4"}),  # deny
    ("studio-a", "studios", {"prompt": "A rifle on a porch", "seconds": "4"}),  # flag
    ("studio-b", "studios", {"prompt": "Photorealistic interview", "seconds": "8"}),  # allow
    ("studio-b", "studios", {"prompt": "Photorealistic interview", "seconds": "12"}),  # hold
    (PUBLIC[0], "public", {"prompt": "A paper boat", "seconds": "12"}),  # refused: seconds
    (PUBLIC[0], "public", {"prompt": "A claymation fox", "seconds": "4"}),  # allow (+ rule)
    (PUBLIC[0], "public", {"prompt": "A rifle in the snow", "seconds": "4"}),  # flag
]


def changed_policies(source: Path, destination: Path) -> Path:
    """Public figures denied to every tier, long footage held from 6 s on, a weapons deny
    for the public, the stylised-animation rule gone, and the public may ask for 12 s."""
    shutil.copytree(source, destination)
    rules = destination / "rules.yaml"
    text = rules.read_text()
    text = text.replace(
        "    tiers: [studios, public]\n    message: Videos of real", "    message: Videos of real"
    )
    text = text.replace("{param: seconds, gt: 8}", "{param: seconds, gt: 6}")
    start, end = text.index("  - id: stylised-animation"), text.index("  - id: deepfake-terms")
    text = text[:start] + text[end:]
    text = text.replace(
        "\nlists:\n",
        "  - id: no-weapons-for-public\n"
        "    when: {prompt_regex: '\\brifles?\\b'}\n"
        "    action: deny\n"
        "    tiers: [public]\n"
        "\nlists:\n",
    )
    rules.write_text(text)
    tiers = destination / "tiers.yaml"
    tiers.write_text(tiers.read_text().replace("max_seconds: 8", "max_seconds: 12"))
    assert run("policy", "check", str(destination)).returncode == 0
    return destination


def serve(gateway: Gateway) -> dict[tuple[str, str], str]:
    """Sends the requests; the request id of each (principal, prompt and seconds)."""
    gateway.set_phase("general_availability")
    clients = {}
    ids = {}
    for principal, tier, body in REQUESTS:
        if principal not in clients:
            clients[principal] = gateway.client(principal, tier)
        response = clients[principal].post("/v1/videos", json={"model": "sora-2", **body})
        assert response.status_code in (200, 202, 400, 403), response.text
        ids[(principal, f"{body['prompt']} {body['seconds']}")] = response.headers["x-request-id"]
    # An unauthenticated attempt and a rate-limit-free policy: neither is replayed.
    return ids


def expected_document(ids: dict[tuple[str, str], str]) -> dict[str, Any]:
    studio_figure = ids[("studio-a", "The prime minister waving 4")]
    artist_figure = ids[("artist-a", "The prime minister waving 4")]
    held_8 = ids[("studio-b", "Photorealistic interview 8")]
    boat = ids[(PUBLIC[0], "A paper boat 12")]
    fox = ids[(PUBLIC[0], "A claymation fox 4")]
    rifle = ids[(PUBLIC[0], "A rifle in the snow 4")]
    return {
        "total": 8,
        "changed": 4,
        "changes": [
            {"from": "allow", "to": "deny", "count": 1, "examples": [artist_figure]},
            {"from": "allow", "to": "hold", "count": 1, "examples": [held_8]},
            {"from": "flag", "to": "deny", "count": 1, "examples": [rifle]},
            {"from": "refused", "to": "allow", "count": 1, "examples": [boat]},
        ],
        "rules": {
            "no-real-public-figures": (1, 0, [artist_figure]),
            "long-realistic-humans": (1, 0, [held_8]),
            "no-weapons-for-public": (1, 0, [rifle]),
            "stylised-animation": (0, 1, [fox]),
        },
        "unchanged_deny": studio_figure,
    }


def check(document: dict[str, Any], ids: dict[tuple[str, str], str]) -> None:
    expected = expected_document(ids)
    assert document["total"] == expected["total"]
    assert document["changed"] == expected["changed"]
    assert sorted(document["changes"], key=lambda c: (c["from"], c["to"])) == expected["changes"]
    moved = {
        r["id"]: (
            r["newly_matched"],
            r["no_longer_matched"],
            r["examples"]["newly_matched"] or r["examples"]["no_longer_matched"],
        )
        for r in document["rules"]
        if r["newly_matched"] or r["no_longer_matched"]
    }
    assert moved == expected["rules"]
    every = {r["id"] for r in document["rules"]}
    assert {"weapons", "public-reference-images", "stylised-animation"} <= every
    assert document["unscored"] == 0


@pytest.fixture
def new_policies(tmp_path: Path, unlimited_policies: Path) -> Path:
    return changed_policies(unlimited_policies, tmp_path / "new")


def test_replay_of_the_jsonl_log(
    gateway: Gateway, new_policies: Path, unlimited_policies: Path
) -> None:
    """Every decision change and every rule's new and lost matches, with request ids."""
    ids = serve(gateway)
    settings = ["--data-dir", str(gateway.settings.data_dir), "--policies", str(unlimited_policies)]
    result = run("policy", "replay", str(new_policies), *settings, "--json")
    assert result.returncode == 0, result.stderr
    check(json.loads(result.stdout), ids)

    table = run("policy", "replay", str(new_policies), *settings)
    assert table.returncode == 0
    assert "8 recorded request(s) judged under" in table.stdout
    assert "4 would be decided otherwise" in table.stdout
    assert "refused -> allow" in table.stdout

    public_only = run(
        "policy", "replay", str(new_policies), *settings, "--tier", "public", "--json"
    )
    document = json.loads(public_only.stdout)
    assert (document["total"], document["changed"]) == (3, 2)
    unchanged = run("policy", "replay", str(unlimited_policies), *settings, "--json")
    assert json.loads(unchanged.stdout)["changed"] == 0
    future = run("policy", "replay", str(new_policies), *settings, "--since", "2999-01-01")
    assert "0 recorded request(s)" in future.stdout


def test_replay_of_the_redis_stream(
    mock_model: AppServer,
    start_gateway: GatewayFactory,
    new_policies: Path,
    unlimited_policies: Path,
) -> None:
    with redis_server() as redis:
        gateway = start_gateway(mock_model.url, audit=redis.url)
        ids = serve(gateway)
        result = run(
            "policy",
            "replay",
            str(new_policies),
            "--audit",
            redis.url,
            "--data-dir",
            str(gateway.settings.data_dir),
            "--policies",
            str(unlimited_policies),
            "--json",
        )
    assert result.returncode == 0, result.stderr
    check(json.loads(result.stdout), ids)


def test_a_broken_new_folder_is_refused_with_its_errors(
    tmp_path: Path, unlimited_policies: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(unlimited_policies, broken)
    (broken / "rules.yaml").write_text("rules:\n  - id: x\n    when: {nope: 1}\n    action: deny\n")
    result = run(
        "policy",
        "replay",
        str(broken),
        "--data-dir",
        str(tmp_path),
        "--policies",
        str(unlimited_policies),
    )
    assert result.returncode == 1
    assert f"{broken / 'rules.yaml'}:3:" in result.stderr
    assert "nothing replayed" in result.stderr
    missing = run(
        "policy",
        "replay",
        str(unlimited_policies),
        "--data-dir",
        str(tmp_path / "none"),
        "--policies",
        str(unlimited_policies),
    )
    assert missing.returncode == 1
    assert "no audit log" in missing.stderr
