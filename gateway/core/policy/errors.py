"""Policy validation errors, each pointing at a file and a 1-based line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PolicyError:
    """One problem in the policy files; prints as `file:line: message`."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class PolicyErrors(Exception):
    """Every problem found while loading a policy, sorted by file then line."""

    def __init__(self, errors: Iterable[PolicyError]) -> None:
        # Stable: errors on one line keep the order they were found in.
        unique = dict.fromkeys(errors)
        self.errors: tuple[PolicyError, ...] = tuple(
            sorted(unique, key=lambda error: (error.file, error.line))
        )
        super().__init__("\n".join(str(error) for error in self.errors))
