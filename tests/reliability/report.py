"""The reliability report the suite prints at its end (issue 15): what was tried and what came of
it, gathered from the tests that ran. Tests add to it; `tests/conftest.py` prints it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Report:
    inputs: Counter[str] = field(default_factory=Counter)  # hostile inputs tried, by kind
    faults: Counter[str] = field(default_factory=Counter)  # faults injected, by kind
    updates_sent: int = 0  # updates the fault tests injected and checked
    updates_lost: int = 0  # of those, never handled
    duplicates: Counter[str] = field(default_factory=Counter)  # duplicate effects, by cause
    unhandled: int = 0  # unexpected handler errors / ERROR logs in e2e runs
    expected_errors: int = 0  # errors logged in tests that provoke them on purpose
    bot_runs: int = 0

    @property
    def empty(self) -> bool:
        return not (self.inputs or self.faults or self.bot_runs)

    def lines(self) -> list[str]:
        out = [f"bot runs checked: {self.bot_runs}"]
        out.append(f"hostile inputs tried: {sum(self.inputs.values())} " + _items(self.inputs))
        out.append(f"faults injected: {sum(self.faults.values())} " + _items(self.faults))
        out.append(f"updates injected under faults: {self.updates_sent}, lost: {self.updates_lost}")
        out.append(f"duplicates: {sum(self.duplicates.values())} " + _items(self.duplicates))
        out.append(
            f"unhandled exceptions: {self.unhandled} (errors provoked on purpose: {self.expected_errors})"
        )
        return out


def _items(counter: Counter[Any]) -> str:
    return "(" + ", ".join(f"{k}: {v}" for k, v in sorted(counter.items())) + ")" if counter else ""


REPORT = Report()
