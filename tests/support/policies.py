"""Policy folders for tests: the shipped one, or a copy of it without limits.

Most end-to-end tests create jobs in quick succession; the shipped limits (rightly) stop
that. Limits have their own tests, with their own policy folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

SHIPPED = Path(__file__).resolve().parent.parent.parent / "policies"


def without_limits(destination: Path, source: Path = SHIPPED) -> Path:
    """A copy of `source` at `destination` whose tiers declare no limits."""
    shutil.copytree(source, destination)
    for path in destination.glob("*.yaml"):
        document = yaml.safe_load(path.read_text())
        if isinstance(document, dict) and isinstance(document.get("tiers"), dict):
            for tier in document["tiers"].values():
                tier.pop("limits", None)
            path.write_text(yaml.safe_dump(document, sort_keys=False))
    return destination
