"""The one error type for bad settings: it names the value, its origin and what is accepted."""

from __future__ import annotations


class CarbonConfigError(Exception):
    """A setting that cannot be used. The plugin turns it into a pytest usage error (exit 4)."""

    def __init__(self, value: object, origin: str, problem: str, accepted: str) -> None:
        self.value = value
        self.origin = origin
        self.problem = problem
        self.accepted = accepted
        super().__init__(f"pytest-carbon: {origin}: {value!r} {problem}. Accepted: {accepted}.")
