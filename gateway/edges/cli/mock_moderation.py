"""`phasegate mock-moderation`: the built-in mock moderation service on its own."""

from __future__ import annotations

import argparse

import uvicorn

from gateway.edges.cli.serve import uvicorn_config
from gateway.edges.logging import configure_logging
from gateway.mockmoderation import create_mock_moderation_app


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8095, help="port to listen on")
    parser.add_argument(
        "--delay",
        type=_seconds,
        default=0.0,
        metavar="N",
        help="seconds to wait before each answer",
    )
    parser.add_argument(
        "--key",
        default=None,
        metavar="KEY",
        help="answer 401 to calls without this bearer key (default: take any call)",
    )


def run_mock_moderation(args: argparse.Namespace) -> int:
    configure_logging("warning")
    app = create_mock_moderation_app(delay=args.delay, key=args.key)
    server = uvicorn.Server(uvicorn_config(app, args.host, args.port))
    server.run()
    return 0 if server.started else 1
