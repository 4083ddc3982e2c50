"""`phasegate demo`: the mock model API and the gateway in front of it, on loopback."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from gateway.edges.cli.ports import free_port, is_free, wait_listening
from gateway.edges.cli.serve import run_serve
from gateway.edges.settings import Settings

_HOST = "127.0.0.1"


def _port_or_free(port: int) -> int:
    return port if is_free(_HOST, port) else free_port(_HOST)


def instructions(gateway_url: str, mock_url: str) -> str:
    return f"""
PhaseGate demo
  gateway        {gateway_url}
  mock model API {mock_url}  (jobs complete after 3 s)

Try it:
  curl -s {gateway_url}/readyz
  curl -s {gateway_url}/v1/videos -H 'Content-Type: application/json' \\
       -d '{{"model": "sora-2", "prompt": "A paper boat on a rainy street", "seconds": "4"}}'
  curl -s {gateway_url}/v1/videos/VIDEO_ID            # poll until status is completed
  curl -s {gateway_url}/v1/videos/VIDEO_ID/content -o video.mp4

Ctrl-C stops both.
"""


def run_demo(settings: Settings) -> int:
    gateway_port = _port_or_free(settings.port)
    mock_port = _port_or_free(8081 if gateway_port != 8081 else 8082)
    mock = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "gateway", "mock-model", "--host", _HOST, "--port", str(mock_port)]
    )
    try:
        if not wait_listening(_HOST, mock_port, timeout=15):
            print("phasegate demo: the mock model API did not start", file=sys.stderr)
            return 1
        mock_url = f"http://{_HOST}:{mock_port}"
        print(instructions(f"http://{_HOST}:{gateway_port}", mock_url), flush=True)
        return run_serve(
            dataclasses.replace(settings, host=_HOST, port=gateway_port, upstream=mock_url)
        )
    finally:
        mock.terminate()
        try:
            mock.wait(timeout=10)
        except subprocess.TimeoutExpired:
            mock.kill()
