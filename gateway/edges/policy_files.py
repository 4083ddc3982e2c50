"""The policy folder on disk: its files read for the core to compile, and change detection."""

from __future__ import annotations

from pathlib import Path

from gateway.core.policy import Policy, PolicyFile, load_policy


class PolicyFolderError(ValueError):
    pass


def _read_list(folder: Path, relative: str) -> str | None:
    # A list path comes from a policy file: it may not leave the policy folder.
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path.read_text(encoding="utf-8")


def policy_sources(folder: Path) -> list[PolicyFile]:
    if not folder.is_dir():
        raise PolicyFolderError(f"policy folder {folder} does not exist (set --policies)")
    return [
        PolicyFile(name=str(path), text=path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.yaml"))
    ]


# Where a policy folder keeps its test cases (`phasegate policy test`); never policy files.
CASES_FOLDER = "tests"


def case_sources(path: Path) -> list[PolicyFile]:
    """A case file, or every `*.yaml` in a folder of them (none: an empty list)."""
    if path.is_file():
        return [PolicyFile(name=str(path), text=path.read_text(encoding="utf-8"))]
    if not path.is_dir():
        raise PolicyFolderError(f"no test cases at {path}")
    return [
        PolicyFile(name=str(file), text=file.read_text(encoding="utf-8"))
        for file in sorted(path.glob("*.yaml"))
    ]


def read_policy(folder: Path) -> Policy:
    """The compiled policy of a folder; raises `PolicyErrors` listing every problem."""
    return load_policy(policy_sources(folder), lambda relative: _read_list(folder, relative))


def fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when any file under the folder changes: names, sizes, mtimes."""
    entries = []
    cases = folder / CASES_FOLDER
    for path in sorted(folder.rglob("*")):
        if path.is_relative_to(cases):
            continue  # test cases change no policy
        try:
            if path.is_file():
                stat = path.stat()
                entries.append((str(path), stat.st_size, stat.st_mtime_ns))
        except OSError:
            continue
    return tuple(entries)
