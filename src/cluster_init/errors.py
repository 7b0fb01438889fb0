"""Errors the CLI turns into exit codes: bad input (2) and runtime failures (1)."""

from __future__ import annotations

from typing import NamedTuple


class Problem(NamedTuple):
    """One thing wrong with the user's input: where it is, what is wrong, and what to do."""

    where: str  # a file path, with ":line" when known
    field: str  # a dotted field path or an object name; empty when the whole file is at fault
    what: str
    fix: str

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ""
        return f"{self.where}:{field} {self.what}; {self.fix}"


class InputError(Exception):
    """Bad input: the command stops before touching any cluster and exits 2."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class RuntimeFailure(Exception):
    """The input was fine but something around it failed (a missing tool, a crash): exit 1."""
