"""Small policies written inline for the policy tests, and the shipped policy folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gateway.core.policy import Policy, PolicyFile, load_policy

SHIPPED = Path(__file__).resolve().parents[3] / "policies"


def y(*lines: str) -> str:
    """A YAML file from its lines, so that argument N is line N."""
    return "\n".join(lines) + "\n"


ROLLOUT = y(
    "version: 1",
    "default_phase: preview",
    "phases:",
    "  - name: preview",
    "    admit: [artists]",
    "  - name: open",
    "    admit: [artists, public]",
    "    rollout: {public: 10}",
)
TIERS = y(
    "tiers:",
    "  artists:",
    "    models: [sora-2, sora-2-pro]",
    "    max_seconds: 12",
    "    sizes: [720x1280, 1280x720]",
    "    limits:",
    "      - {name: requests, per: principal, rate: 30, period: 1m, burst: 10}",
    "      - {name: jobs, per: principal, concurrency: 3}",
    "  public:",
    "    models: [sora-2]",
    "    max_seconds: 8",
    "    sizes: [720x1280]",
)
RULES = y(
    "rules:",
    "  - id: no-figures",
    "    when: {prompt_matches_any: {list: figures}}",
    "    action: deny",
    "lists:",
    "  figures: lists/figures.txt",
)
BASE = {"rollout.yaml": ROLLOUT, "tiers.yaml": TIERS, "rules.yaml": RULES}
LISTS = {"lists/figures.txt": "# public figures\n\npope\nprime minister\n"}


def files_of(texts: Mapping[str, str]) -> list[PolicyFile]:
    return [PolicyFile(name, text) for name, text in texts.items()]


def load(overrides: Mapping[str, str], lists: Mapping[str, str] = LISTS) -> Policy:
    """The base policy with some files replaced or added."""
    return load_policy(files_of({**BASE, **overrides}), lists.get)


def load_shipped() -> Policy:
    """The shipped `policies/` folder, read here and passed in as the edge does."""
    files = [PolicyFile(str(p), p.read_text("utf-8")) for p in sorted(SHIPPED.glob("*.yaml"))]

    def read_list(relative: str) -> str | None:
        path = SHIPPED / relative
        return path.read_text("utf-8") if path.is_file() else None

    return load_policy(files, read_list)
