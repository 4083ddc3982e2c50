"""The gateway with its audit log switched off, to measure what the log costs.

`phasegate serve` has no such switch, on purpose: no generation request may reach the
model without a durable record. This script exists only for bench/run.py's
`gateway-noaudit` target. It takes the same options as `phasegate serve` and runs the
very same app and server, with one difference: the audit sink accepts every record
and keeps none.

    .venv/bin/python bench/gateway_without_audit.py --port 8090 --upstream http://…
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from gateway.edges.cli.main import build_parser
from gateway.edges.cli.options import settings_from
from gateway.edges.cli.serve import uvicorn_config
from gateway.edges.http.app import create_app
from gateway.edges.logging import configure_logging


class DiscardingSink:
    """An AuditSink that takes every record at once and writes nothing."""

    async def append(self, record: dict[str, Any]) -> None:
        del record

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def main() -> int:
    settings = settings_from(build_parser().parse_args(["serve", *sys.argv[1:]]))
    configure_logging(settings.log_level)
    app = create_app(settings, audit_sink=DiscardingSink())
    server = uvicorn.Server(uvicorn_config(app, settings.host, settings.port))
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
