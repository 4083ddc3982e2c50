"""What an Idempotency-Key's fingerprint costs per request, in process.

Run from the repository root as `.venv/bin/python bench/fingerprint_cost.py [--json]`.

The fingerprint is of the request's meaning: the parsed `GenerationRequest` in canonical
form (sorted JSON of its fields and values, files by the SHA-256 the parser already
computed) hashed with SHA-256. Measured on four requests, parsed once beforehand as the
gateway parses them (the parse is shared with the policy and not counted here):

- `json-small`: model, prompt, seconds, size;
- `json-long-prompt`: the same with a 32,000-character prompt (the spec's maximum);
- `multipart-1MiB-file`: a form with a 1 MiB reference image;
- `json-data-url`: a JSON body whose reference is a 256 KiB image in a data URL.

Beside each, `raw_body_sha256_us`: the SHA-256 of the raw body, which is what the
byte-bound fingerprint before it cost. Timed with `perf_counter_ns` after a warm-up,
garbage collector paused, best of several repeats.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any, Final

from gateway.core.generation_body import parse_generation
from gateway.core.idempotency import fingerprint

BOUNDARY: Final = "bench0boundary"
PNG: Final = b"\x89PNG\r\n\x1a\n"


def _multipart(fields: dict[str, str], image: bytes) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="input_reference"; '
        'filename="ref.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
        + image
        + b"\r\n"
    )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def requests() -> dict[str, tuple[bytes, str]]:
    fields = {
        "model": "sora-2",
        "prompt": "A slow dolly shot through a rainy neon street at night, a paper boat",
        "seconds": "8",
        "size": "1280x720",
    }
    image = PNG + bytes(range(256)) * 4096  # 1 MiB
    small_image = PNG + bytes(range(256)) * 1024  # 256 KiB
    data_url = "data:image/png;base64," + base64.b64encode(small_image).decode()
    return {
        "json-small": (json.dumps(fields).encode(), "application/json"),
        "json-long-prompt": (
            json.dumps({**fields, "prompt": "a paper boat " * 2461 + "end"}).encode(),
            "application/json",
        ),
        "multipart-1MiB-file": (
            _multipart(fields, image),
            f"multipart/form-data; boundary={BOUNDARY}",
        ),
        "json-data-url": (
            json.dumps({**fields, "input_reference": {"image_url": data_url}}).encode(),
            "application/json",
        ),
    }


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


def measure(iterations: int, repeats: int) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for name, (body, content_type) in requests().items():
        request = parse_generation(body, content_type, is_remix=False, max_reference=2 << 20)

        def meaning(request: Any = request) -> object:
            return fingerprint("POST", "/v1/videos", request)

        def raw(body: bytes = body) -> object:
            return hashlib.sha256(body).hexdigest()

        raw_iterations = max(1, iterations // 100) if len(body) > 100_000 else iterations
        report[name] = {
            "body_bytes": len(body),
            "fingerprint_us": round(best_ns_per_call(meaning, iterations, repeats) / 1000, 2),
            "raw_body_sha256_us": round(best_ns_per_call(raw, raw_iterations, repeats) / 1000, 2),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Idempotency fingerprint cost per request.")
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    args = parser.parse_args(argv)
    report = measure(args.iterations, args.repeats)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 0
    print(f"{'request':<22} {'body':>10} {'fingerprint':>13} {'raw-body sha256':>17}")
    for name, row in report.items():
        print(
            f"{name:<22} {row['body_bytes']:>9} B {row['fingerprint_us']:>10.2f} us"
            f" {row['raw_body_sha256_us']:>14.2f} us"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
