"""Hybrid logical clocks (Kulkarni et al., 2014) for ordering outbox events without trusting clocks.

A timestamp is ``(wall_ms, counter)``, printed as 13 digits of milliseconds, ``-``, 5 digits of
counter, so its string order is its causal order. The caller passes the physical time in.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HLC"]


@dataclass(frozen=True, slots=True, order=True)
class HLC:
    wall_ms: int = 0
    counter: int = 0

    def tick(self, now_ms: int) -> HLC:
        """The timestamp for a local event at physical time ``now_ms``."""
        if now_ms > self.wall_ms:
            return HLC(now_ms, 0)
        return HLC(self.wall_ms, self.counter + 1)

    def receive(self, remote: HLC, now_ms: int) -> HLC:
        """The timestamp after receiving ``remote`` at physical time ``now_ms``."""
        wall = max(self.wall_ms, remote.wall_ms, now_ms)
        if wall == self.wall_ms == remote.wall_ms:
            counter = max(self.counter, remote.counter) + 1
        elif wall == self.wall_ms:
            counter = self.counter + 1
        elif wall == remote.wall_ms:
            counter = remote.counter + 1
        else:
            counter = 0
        return HLC(wall, counter)

    def __str__(self) -> str:
        return f"{self.wall_ms:013d}-{self.counter:05d}"

    @classmethod
    def parse(cls, text: str) -> HLC:
        wall, _, counter = text.partition("-")
        return cls(int(wall), int(counter or 0))
