"""Admin commands on the state file: grant, grants, revoke, keys — exit codes and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.processes import POLICIES, run


@pytest.fixture
def settings(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path), "--policies", str(POLICIES)]


def test_grant_prints_the_secret_once_and_stores_only_its_hash(
    settings: list[str], tmp_path: Path
) -> None:
    """The secret appears in grant's output only; listings and the state file never hold it."""
    granted = run("grant", "alice", "--tier", "studios", "--ttl", "90d", "--json", *settings)
    assert granted.returncode == 0, granted.stderr
    credential = json.loads(granted.stdout)
    assert credential["principal"] == "alice"
    assert credential["tier"] == "studios"
    assert credential["client_id"].startswith("pgc_")
    assert len(credential["client_secret"]) >= 40
    assert credential["expires"] is not None
    listed = run("grants", "--json", *settings)
    assert listed.returncode == 0
    assert credential["client_secret"] not in listed.stdout
    rows = json.loads(listed.stdout)
    assert [(r["principal"], r["tier"], r["client_id"]) for r in rows] == [
        ("alice", "studios", credential["client_id"])
    ]
    state = b"".join(path.read_bytes() for path in tmp_path.glob("state.db*"))
    assert credential["client_secret"].encode() not in state
    assert (tmp_path / "state.db").stat().st_mode & 0o077 == 0


def test_grant_text_output_warns_once(settings: list[str]) -> None:
    """Without --json the grant is printed for people, with the one-time warning."""
    granted = run("grant", "alice", "--tier", "public", *settings)
    assert granted.returncode == 0
    assert "client_secret" in granted.stdout
    assert "only this once" in granted.stdout


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["grant", "alice", "--tier", "emperors"], 1, "unknown tier 'emperors'"),
        (["grant", "al ice", "--tier", "public"], 1, "invalid principal"),
        (["grant", "alice", "--tier", "public", "--ttl", "forever"], 2, "--ttl"),
        (["grant", "alice"], 2, "--tier"),
        (["revoke", "nobody"], 1, "no live grant"),
        (["revoke", "--client-id", "pgc_unknown"], 1, "unknown or already revoked"),
        (["revoke"], 2, "exactly one"),
        (["revoke", "alice", "--jti", "x"], 2, "exactly one"),
        (["keys", "retire", "nokid"], 1, "no key"),
        # A thumbprint may start with '-': still a key id, not an option.
        (["keys", "retire", "-" + "A" * 42], 1, "no key"),
        (["grants", "--store", "postgres://db"], 2, "--store"),
    ],
)
def test_refusals_and_usage_errors(
    settings: list[str], args: list[str], status: int, message: str
) -> None:
    """Refusals exit 1 and usage errors exit 2, each with a message that says why."""
    result = run(*args, *settings)
    assert result.returncode == status
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_grant_against_a_missing_policy_folder(tmp_path: Path) -> None:
    """A grant cannot be checked against tiers that cannot be read: exit 1, say where."""
    result = run(
        "grant",
        "alice",
        "--tier",
        "public",
        "--data-dir",
        str(tmp_path),
        "--policies",
        str(tmp_path / "nowhere"),
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_revoke_principal_marks_every_grant(settings: list[str]) -> None:
    """Revoking a principal revokes each of its grants and shows in the listing."""
    for tier in ("public", "studios"):
        assert run("grant", "alice", "--tier", tier, *settings).returncode == 0
    assert run("grant", "bob", "--tier", "public", *settings).returncode == 0
    revoked = run("revoke", "alice", *settings)
    assert revoked.returncode == 0
    assert "2 grant(s)" in revoked.stdout
    rows = json.loads(run("grants", "--json", *settings).stdout)
    assert {(r["principal"], r["revoked"] is not None) for r in rows} == {
        ("alice", True),
        ("bob", False),
    }


def test_environment_variables_reach_admin_commands(tmp_path: Path) -> None:
    """PHASEGATE_DATA_DIR and PHASEGATE_POLICIES work for admin commands as for serve."""
    env = {"PHASEGATE_DATA_DIR": str(tmp_path), "PHASEGATE_POLICIES": str(POLICIES)}
    assert run("grant", "alice", "--tier", "public", env=env).returncode == 0
    assert (tmp_path / "state.db").exists()
    assert "alice" in run("grants", env=env).stdout


def test_keys_rotate_and_list(settings: list[str]) -> None:
    """Rotation adds a signing key and leaves the previous one verifying with a retirement time."""
    assert run("keys", "rotate", *settings).returncode == 0
    assert run("keys", "rotate", *settings).returncode == 0
    rows = json.loads(run("keys", "list", "--json", *settings).stdout)
    assert [row["state"] for row in rows] == ["verifying", "signing"]
    assert rows[0]["retires"] is not None
    assert rows[1]["retires"] is None
