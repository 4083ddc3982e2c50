"""`phasegate`: one command, one subcommand per job; exit 0 ok, 1 refused, 2 usage."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence

from gateway import __version__
from gateway.edges.admin import Refused
from gateway.edges.cli import (
    audit_commands,
    mock_model,
    mock_moderation,
    policy_commands,
    review_commands,
)
from gateway.edges.cli.admin_commands import add_commands
from gateway.edges.cli.demo import run_demo
from gateway.edges.cli.options import add_setting_flags, settings_from
from gateway.edges.cli.serve import run_serve
from gateway.edges.logging import configure_logging
from gateway.edges.policy_files import PolicyFolderError
from gateway.edges.settings import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phasegate",
        description="Access-control gateway for rolling a generative video model out in phases.",
    )
    parser.add_argument("--version", action="version", version=f"phasegate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway")
    add_setting_flags(serve, serve=True)

    demo = commands.add_parser(
        "demo", help="run the mock model API and the gateway in front of it, on loopback"
    )
    add_setting_flags(demo, serve=True)
    demo.add_argument(
        "--model-port",
        type=int,
        metavar="PORT",
        help="port of the mock model API (default 8081, or a free one if that is taken)",
    )

    mock = commands.add_parser("mock-model", help="run the built-in mock video model API alone")
    mock_model.add_arguments(mock)
    moderation = commands.add_parser(
        "mock-moderation", help="run the built-in mock moderation service (OpenAI shape) alone"
    )
    mock_moderation.add_arguments(moderation)
    _COMMANDS.update(add_commands(commands))
    _COMMANDS.update(policy_commands.add_commands(commands))
    _COMMANDS.update(audit_commands.add_commands(commands))
    _COMMANDS.update(review_commands.add_commands(commands))
    return parser


# An RFC 7638 thumbprint: 43 characters of base64url, which may well start with '-'.
_KID = re.compile(r"-[A-Za-z0-9_-]{42}")


def _positional_kids(argv: Sequence[str]) -> list[str]:
    """`keys retire KID` with a key id that starts with '-', which argparse would read as
    an unknown option: the id moves behind `--`, after the options that may follow it."""
    arguments = list(argv)
    for position in range(len(arguments) - 1):
        if arguments[position] == "retire" and _KID.fullmatch(arguments[position + 1]):
            kid = arguments.pop(position + 1)
            return [*arguments, "--", kid]
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_positional_kids(sys.argv[1:] if argv is None else argv))
    # Every command logs JSON to standard error (serve and demo then set their own
    # level): stdout is the command's output, e.g. `grant --json`.
    configure_logging("warning")
    command: Callable[[argparse.Namespace], int] = _COMMANDS[args.command]
    try:
        return command(args)
    except SettingsError as exc:
        print(f"phasegate {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (Refused, PolicyFolderError) as exc:
        print(f"phasegate {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": lambda args: run_serve(settings_from(args)),
    "demo": lambda args: run_demo(
        settings_from(args),
        # A port asked for is used or refused; only the defaults give way to free ones.
        port_asked=hasattr(args, "port") or "PHASEGATE_PORT" in os.environ,
        model_port=args.model_port,
    ),
    "mock-model": mock_model.run_mock_model,
    "mock-moderation": mock_moderation.run_mock_moderation,
}


if __name__ == "__main__":
    sys.exit(main())
