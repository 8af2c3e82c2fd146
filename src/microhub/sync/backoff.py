"""Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and Jitter").

``delay(n) = uniform(0, min(cap, base * 2**n))``. Written by hand (five lines) because the loop
that uses it runs forever, must be interruptible by an ``asyncio.Event`` and takes its random
source as an argument for tests; ``stamina`` retries a call a bounded number of times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["DEFAULT_BASE_S", "DEFAULT_CAP_S", "Backoff"]

DEFAULT_BASE_S = 0.5
DEFAULT_CAP_S = 60.0


@dataclass(slots=True)
class Backoff:
    base: float = DEFAULT_BASE_S
    cap: float = DEFAULT_CAP_S
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before the next attempt."""
        ceiling = min(self.cap, self.base * (2 ** min(self.failures, 30)))
        self.failures += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.failures = 0
