"""What judging a generation request against the usage policy costs, in process.

Run from the repository root as `.venv/bin/python bench/policy_cost.py [--json]`.

Two policies:
- `shipped`: the `policies/` folder that ships with PhaseGate;
- `large`: 1,000 rules over a 10,000-term word list, inline phrases, regexes and
  parameter comparisons, generated here so the run needs nothing but this repository.

For each, three prompts (an ordinary one that matches nothing, one that a list rule
denies, one that only a regex flags) are judged the way the gateway judges them:
`check_tier` then `evaluate` (which normalises the prompt once). Timed with
`perf_counter_ns` after a warm-up, garbage collector paused, best of several repeats.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from gateway.core.policy import GenerationRequest, Policy, PolicyFile, load_policy

ROOT: Final = Path(__file__).resolve().parent.parent
PROMPTS: Final = {
    "ordinary": (
        "A slow dolly shot through a rainy neon street at night, reflections on the wet "
        "asphalt, a paper boat drifting along the gutter, cinematic, shallow depth of field"
    ),
    "list-denied": "A documentary about the prime minister visiting a harbour at dawn",
    "regex-flagged": "An old cowboy cleaning his rifle on a porch while the sun sets",
}


def shipped_policy() -> Policy:
    folder = ROOT / "policies"
    files = [PolicyFile(p.name, p.read_text()) for p in sorted(folder.glob("*.yaml"))]
    return load_policy(files, lambda relative: _read(folder / relative))


def _read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def large_policy(rules: int = 1000, terms: int = 10_000) -> Policy:
    words = [f"term{index:05d}" for index in range(terms - 1)] + ["prime minister"]
    lines = ["version: 1", "default_phase: open", "phases:", "  - {name: open, admit: [t]}"]
    lines += ["tiers:", "  t: {models: [sora-2], max_seconds: 12, sizes: [720x1280]}", "rules:"]
    shapes = [
        "{{prompt_matches_any: {{list: big}}}}",
        "{{prompt_matches_any: [phrase{i} one, phrase{i} two, word{i}]}}",
        "{{prompt_regex: '\\\\bpattern{i}(s|es)?\\\\b'}}",
        "{{all: [{{param: seconds, gt: {n}}}, {{prompt_matches_any: [scene{i}]}}]}}",
    ]
    actions = ["deny", "hold", "flag", "allow"]
    for index in range(rules):
        when = shapes[index % len(shapes)].format(i=index, n=index % 12)
        action = actions[index % len(actions)]
        lines.append(f"  - {{id: rule-{index}, when: {when}, action: {action}}}")
    lines += ["lists:", "  big: big.txt"]
    return load_policy(
        [PolicyFile("large.yaml", "\n".join(lines) + "\n")],
        lambda relative: "\n".join(words) if relative == "big.txt" else None,
    )


def best_ns_per_call(call: Callable[[], object], iterations: int, repeats: int) -> float:
    for _ in range(max(100, iterations // 10)):
        call()
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeats):
            started = time.perf_counter_ns()
            for _ in range(iterations):
                call()
            best = min(best, (time.perf_counter_ns() - started) / iterations)
    finally:
        gc.enable()
    return best


def measure(policy: Policy, tier: str, iterations: int, repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, prompt in PROMPTS.items():
        request = GenerationRequest(
            prompt=prompt, model="sora-2", params={"seconds": "4", "size": "720x1280"}
        )

        def judge(request: GenerationRequest = request) -> object:
            policy.check_tier(request, tier)
            return policy.evaluate(request, tier)

        decision = policy.evaluate(request, tier)
        results[name] = {
            "us_per_request": round(best_ns_per_call(judge, iterations, repeats) / 1000, 2),
            "action": decision.action.label,
            "rules_matched": [hit.rule_id for hit in decision.hits][:5],
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Usage policy evaluation cost per request.")
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    large = large_policy()
    compile_s = time.perf_counter() - started
    report = {
        "shipped": measure(shipped_policy(), "studios", args.iterations, args.repeats),
        "large": measure(large, "t", max(1, args.iterations // 5), args.repeats),
        "large_policy": {
            "rules": large.summary.rules,
            "list_terms": large.summary.list_terms,
            "compile_s": round(compile_s, 3),
        },
    }
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 0
    print(
        f"large policy: {large.summary.rules} rules, {large.summary.list_terms} list terms, "
        f"compiled in {compile_s:.2f} s"
    )
    for policy_name in ("shipped", "large"):
        for prompt_name, row in report[policy_name].items():
            print(
                f"  {policy_name:<8} {prompt_name:<14} {row['us_per_request']:>9.2f} us/request"
                f"  -> {row['action']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
