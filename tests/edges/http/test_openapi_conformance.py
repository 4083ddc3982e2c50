"""The live gateway answers as its own OpenAPI document says, under schemathesis.

A real gateway in front of the mock model API, tested from its served `/openapi.json` by
`schemathesis run` (every phase: the document's boundaries, fuzzing with valid and
invalid input, then stateful sequences that create, read, remix, download and delete
videos through the document's links), with an access token and client credentials for
the operations that take them, and without them for the auth check. Every check is on.
Not one answer may be a server error, nor one the document does not describe.

Bounded and repeatable: a fixed number of cases per operation, generated
deterministically, with no example database written anywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.edges.http.app import create_app
from gateway.edges.settings import Settings
from gateway.mockmodel.app import create_mock_app
from tests.support.identity import access_token, grant
from tests.support.servers import AppServer

CASES_PER_OPERATION = 200
# Far beyond a healthy run on a loaded two-core machine: a hang fails, it does not stall.
RUN_TIMEOUT = 900


def _config(token: str, client_id: str, client_secret: str) -> str:
    return "\n".join(
        [
            "[auth.openapi.bearerAuth]",
            f'bearer = "{token}"',
            "[auth.openapi.clientBasic]",
            f'username = "{client_id}"',
            f'password = "{client_secret}"',
            "",
        ]
    )


def _schemathesis(gateway_url: str, config: Path, report: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "schemathesis.cli"),
            *("--config-file", str(config)),
            "run",
            f"{gateway_url}/openapi.json",
            *("--checks", "all"),
            *("--max-examples", str(CASES_PER_OPERATION)),
            "--generation-deterministic",
            *("--report", "json", "--report-json-path", str(report)),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
        cwd=config.parent,
    )
    assert report.exists(), completed.stdout + completed.stderr
    document: dict[str, Any] = json.loads(report.read_text())
    document["output"] = completed.stdout
    return document


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    tmp_path: Path, unlimited_policies: Path
) -> None:
    """Thousands of generated requests: every answer is a 2xx or 4xx the document
    describes, with the status, headers, media type and body it gives."""
    data = tmp_path / "data"
    # Jobs complete at once, so content downloads and remixes are reachable at all.
    with AppServer(create_mock_app(job_seconds=0)) as mock_model:
        settings = Settings(
            upstream=mock_model.url,
            access_log=False,
            data_dir=data,
            policies=unlimited_policies,
            issuer="https://phasegate.test",
        )
        with AppServer(create_app(settings)) as gateway:
            credential = grant(data / "state.db", "schemathesis")
            config = tmp_path / "schemathesis.toml"
            config.write_text(
                _config(
                    access_token(gateway.url, credential),
                    credential.client_id,
                    credential.client_secret,
                )
            )
            run = _schemathesis(gateway.url, config, tmp_path / "report.json")
    failures = [(f["code"], f["title"], f["operations"]) for f in run["failures"]]
    assert (failures, run["errors"]) == ([], []), run["output"]
    assert run["complete"], run["output"]
    assert run["operations"]["tested"] == run["operations"]["total"] == 14
    assert all(phase["status"] == "success" for phase in run["phases"].values()), run["phases"]
    assert run["test_cases"]["generated"] >= 1000, run["test_cases"]
    print(  # the figures the run is judged by, shown with `pytest -s`
        f"\nschemathesis: {run['test_cases']['generated']} cases "
        f"in {run['running_time']:.0f}s, {len(failures)} failures"
    )
