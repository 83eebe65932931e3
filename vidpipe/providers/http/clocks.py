"""Time as the pollers see it: the real clock, and a fake one for tests and benchmarks.

Every wait goes through an injected :class:`Clock`, so tests never wait in real time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    """Time as the pollers see it: injected so tests never wait in real time."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class SystemClock:
    """The real clock: monotonic time, real sleeps."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


@dataclass
class FakeClock:
    """A clock whose `sleep` advances `now` at once and records the wait (for tests and
    benchmarks; lives here so every test suite uses the same one)."""

    t: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


SYSTEM_CLOCK: Clock = SystemClock()
