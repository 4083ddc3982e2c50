"""`phasegate mock-model`: the built-in mock video model API on its own."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

import uvicorn

from gateway.core.units import parse_duration, parse_size
from gateway.edges.cli.serve import uvicorn_config
from gateway.edges.logging import configure_logging
from gateway.edges.settings import SettingsError
from gateway.mockmodel.app import create_mock_app
from gateway.mockmodel.recorder import DEFAULT_CAPACITY

T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on")
    parser.add_argument(
        "--job-seconds", default="3", metavar="N", help="how long a job takes to complete"
    )
    parser.add_argument(
        "--content-size",
        default=None,
        metavar="SIZE",
        help="pad every video to this size (e.g. 1MiB), for download benchmarks",
    )
    parser.add_argument(
        "--create-delay",
        default="0",
        metavar="N",
        help="seconds to hold back the answer to each new create (the job exists already)",
    )
    parser.add_argument(
        "--record",
        type=int,
        default=DEFAULT_CAPACITY,
        metavar="N",
        help="how many of the latest requests GET /_mock/requests shows",
    )


def _seconds(text: str) -> float:
    # A bare number means seconds here, as in `--job-seconds 3`.
    try:
        seconds = float(text)
    except ValueError:
        return parse_duration(text)
    if seconds < 0:
        raise ValueError(f"{text!r} must not be negative")
    return seconds


def _parsed(flag: str, parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except ValueError as exc:
        raise SettingsError(f"{flag}: {exc}") from None


def run_mock_model(args: argparse.Namespace) -> int:
    job_seconds = _parsed("--job-seconds", _seconds, args.job_seconds)
    content_size = (
        _parsed("--content-size", parse_size, args.content_size) if args.content_size else None
    )
    create_delay = _parsed("--create-delay", _seconds, args.create_delay)
    configure_logging("warning")
    app = create_mock_app(
        job_seconds=job_seconds,
        content_size=content_size,
        record=max(1, args.record),
        create_delay=create_delay,
    )
    server = uvicorn.Server(uvicorn_config(app, args.host, args.port))
    server.run()
    return 0 if server.started else 1
