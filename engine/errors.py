"""The engine's shared errors: spec validation errors (each problem with its field path, the bad
value, what is wrong and the fix) and the cancellation of a run.

Kept apart from engine.spec so that task modules (which report option errors) and the spec
(which asks the task registry) do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SpecError:
    """One problem in a spec: where, what value, what is wrong, how to fix it."""

    path: str
    value: Any
    message: str
    fix: str

    def __str__(self) -> str:
        shown = _short(self.value)
        where = self.path or "(spec)"
        return f"{where} = {shown}: {self.message}. Fix: {self.fix}"


class SpecValidationError(ValueError):
    """Raised with every problem found in a spec at once."""

    def __init__(self, errors: list[SpecError], source: str | None = None):
        self.errors = errors
        self.source = source
        head = f"{source}: " if source else ""
        lines = [f"{head}{len(errors)} problem(s) in the spec:"] + [f"  - {e}" for e in errors]
        super().__init__("\n".join(lines))



class Cancelled(Exception):
    """The run was cancelled on request (its last checkpoint is kept for a resume)."""


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
