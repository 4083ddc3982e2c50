"""Tier and phase names as the policy folder declares them, for admin commands to check against.

Only the names are read here; validating and compiling whole policies is the
policy loader's job.
"""

from __future__ import annotations

from pathlib import Path

import yaml


class PolicyFolderError(ValueError):
    pass


def declared_tiers(folder: Path) -> frozenset[str]:
    if not folder.is_dir():
        raise PolicyFolderError(f"policy folder {folder} does not exist (set --policies)")
    tiers: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise PolicyFolderError(f"{path}: not valid YAML ({exc})") from None
        if isinstance(document, dict) and isinstance(document.get("tiers"), dict):
            tiers.update(str(name) for name in document["tiers"])
    return frozenset(tiers)
