"""Regenerate the policies ConfigMap and its volume items from `policies/`.

Run from the repository root after changing the policy folder:

    python deploy/kubernetes/sync_policies.py

ConfigMap keys are flat, so each word list under `lists/` becomes a key of its own and
the Deployment's volume `items` put it back under `lists/`. The policy test cases
(`policies/tests/`) are for `phasegate policy test`, not for the gateway: left out.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
POLICIES = ROOT / "policies"
CONFIGMAP = ROOT / "deploy" / "kubernetes" / "policies-configmap.yaml"
DEPLOYMENT = ROOT / "deploy" / "kubernetes" / "deployment.yaml"
ITEMS = re.compile(
    r"(?m)^(?P<indent> +)items:\n(?:(?P=indent)  - key: .*\n(?P=indent)    path: .*\n)+"
)


def _files() -> dict[str, str]:
    """ConfigMap key -> path under the mounted folder."""
    files: dict[str, str] = {}
    for path in sorted(POLICIES.glob("*.yaml")) + sorted((POLICIES / "lists").glob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(POLICIES).as_posix()
        if path.name in files:
            sys.exit(f"two policy files are named {path.name}: ConfigMap keys must differ")
        files[path.name] = relative
    return files


class _Literal(str):
    pass


def _literal(dumper: yaml.SafeDumper, text: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")


def main() -> None:
    files = _files()
    yaml.SafeDumper.add_representer(_Literal, _literal)
    document = {
        "apiVersion": "v1",
        "data": {key: _Literal((POLICIES / path).read_text()) for key, path in files.items()},
        "kind": "ConfigMap",
        "metadata": {"name": "phasegate-policies"},
    }
    CONFIGMAP.write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    deployment = DEPLOYMENT.read_text()
    match = ITEMS.search(deployment)
    if match is None:
        sys.exit("deployment.yaml has no volume items list to rewrite")
    indent = match.group("indent")
    items = f"{indent}items:\n" + "".join(
        f"{indent}  - key: {key}\n{indent}    path: {path}\n" for key, path in files.items()
    )
    DEPLOYMENT.write_text(deployment[: match.start()] + items + deployment[match.end() :])


if __name__ == "__main__":
    main()
