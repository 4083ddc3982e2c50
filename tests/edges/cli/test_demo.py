"""`phasegate demo` as a newcomer meets it: ports that may be taken, and printed commands
that run as printed, from the shell lines to the OpenAI SDK snippet."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gateway.edges.cli.demo import PortTaken, listen
from tests.support.processes import POLICIES, process, stderr_of, wait_ready
from tests.support.secrets_sweep import SWEEP
from tests.support.servers import free_port


@contextmanager
def taken_port() -> Iterator[int]:
    """A loopback port somebody else is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_default_port_in_use_gives_way_to_a_free_one() -> None:
    with taken_port() as port:
        sock, notes = listen(port, asked=False, what="gateway", flag="--port")
        with sock:
            chosen = sock.getsockname()[1]
            assert chosen != port
            assert notes == [f"(port {port} is in use: the gateway listens on {chosen})"]


def test_a_port_asked_for_is_never_swapped() -> None:
    with taken_port() as port, pytest.raises(PortTaken, match=f"--port {port}: the port is in use"):
        listen(port, asked=True, what="gateway", flag="--port")


@pytest.mark.parametrize("flag", ["--port", "--model-port"])
def test_demo_refuses_a_port_asked_for_that_is_in_use(tmp_path: Path, flag: str) -> None:
    with taken_port() as port:
        other = ["--model-port", str(free_port())] if flag == "--port" else []
        with process(
            "demo",
            flag,
            str(port),
            *other,
            "--policies",
            str(POLICIES),
            "--data-dir",
            str(tmp_path),
        ) as demo:
            assert demo.wait(timeout=30) == 1
    assert f"{flag} {port}: the port is in use" in stderr_of(demo)


def test_what_the_demo_prints_runs_as_printed(tmp_path: Path) -> None:
    """The shell lines, the SDK snippet and the phase commands, each run as printed."""
    port, model_port = free_port(), free_port()
    with process(
        "demo",
        *("--port", str(port), "--model-port", str(model_port)),
        *("--policies", str(POLICIES), "--data-dir", str(tmp_path / "state")),
    ) as demo:
        assert demo.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            lines.append(demo.stdout.readline())
            assert lines[-1], "the demo ended before printing its instructions"
        text = "".join(lines)
        assert f"gateway        http://127.0.0.1:{port}" in text
        assert f"mock model API http://127.0.0.1:{model_port}" in text
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        printed = [line.removeprefix("  ") for line in lines]

        shell = "\n".join(
            [
                *(line for line in printed if line.startswith(("export TOKEN=", "VIDEO="))),
                'echo "$TOKEN"',
                'echo "$VIDEO"',
            ]
        )
        ran = subprocess.run(
            ["bash", "-c", shell], capture_output=True, text=True, timeout=30, check=True
        )
        token, video = ran.stdout.split()
        SWEEP.add_token(token)
        assert video.startswith("video_")

        start = printed.index("import os\n")
        snippet = "".join(printed[start : start + 5])
        assert 'api_key=os.environ["TOKEN"]' in snippet
        sdk = subprocess.run(
            [sys.executable, "-W", "ignore::DeprecationWarning", "-c", snippet],
            cwd=tmp_path,
            env={**os.environ, "TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sdk.returncode == 0, sdk.stderr
        assert (tmp_path / "video.mp4").stat().st_size > 1000

        phase = next(line for line in printed if "phase set limited_preview" in line)
        executable = shlex.split(phase)[0]
        assert Path(executable).is_absolute() or executable == sys.executable
        moved = subprocess.run(
            shlex.split(phase), capture_output=True, text=True, timeout=60, check=False
        )
        assert moved.returncode == 0, moved.stderr
        studio = next(line for line in printed if "demo-studio" in line).split()
        granted = httpx.post(
            f"http://127.0.0.1:{port}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(studio[2], studio[3]),
        )
        studio_token = granted.json()["access_token"]
        SWEEP.add_token(studio_token)
        created = httpx.post(
            f"http://127.0.0.1:{port}/v1/videos",
            json={"model": "sora-2", "prompt": "a studio test"},
            headers={"Authorization": f"Bearer {studio_token}"},
        )
        assert created.status_code == 200, created.text
