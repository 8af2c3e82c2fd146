"""Exponential backoff with full jitter (AWS's "full jitter"): ``uniform(0, min(cap, base·2ⁿ))``.

Written by hand (a few lines) because the watcher retries forever and must report each delay
it chose; the random source is passed in so tests and the caller decide.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["DEFAULT_INITIAL_S", "DEFAULT_MAX_S", "RandomSource", "delay"]

DEFAULT_INITIAL_S = 0.5
DEFAULT_MAX_S = 30.0


class RandomSource(Protocol):
    def random(self) -> float: ...


def delay(
    attempt: int,
    *,
    rng: RandomSource,
    initial_s: float = DEFAULT_INITIAL_S,
    max_s: float = DEFAULT_MAX_S,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    ceiling = min(max_s, initial_s * 2.0 ** max(0, attempt - 1))
    # Never zero: a tiny floor keeps a tight loop from spinning on a broken link.
    return max(initial_s / 10.0, rng.random() * ceiling)
