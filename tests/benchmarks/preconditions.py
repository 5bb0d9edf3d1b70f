"""What a benchmark must have really done for its figures to mean what they name, checked as it runs.

Each benchmark keeps one Preconditions and calls require(name, holds, detail) wherever a figure depends
on a fact: the cache was off, ffmpeg decoded the expected bytes, the watchers were attached, N steps
were trained... A false one raises PreconditionFailed at once (a hollow figure is never printed); the
ones that held are counted by name, printed at the end of the run, and read by the tiny tests
(tests/benchmarks/test_benchmarks_tiny.py) to see that each was checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class PreconditionFailed(RuntimeError):
    """The benchmark did not measure what it names; its figures would be meaningless."""


@dataclass
class Preconditions:
    benchmark: str
    held: dict[str, int] = field(default_factory=dict)  # name -> how many times it was checked and held

    def require(self, name: str, holds: bool, detail: str = "") -> None:
        if not holds:
            raise PreconditionFailed(
                f"{self.benchmark}: precondition does not hold: {name}" + (f" ({detail})" if detail else "")
            )
        self.held[name] = self.held.get(name, 0) + 1

    def summary(self) -> str:
        checks = ", ".join(f"{name} (x{count})" for name, count in self.held.items())
        return f"preconditions checked and held ({self.benchmark}): {checks or 'none'}"
