"""The framework's rate limit: one token bucket, as a value and as a blocking limiter.

:class:`TokenBucket` is the pure form (the planner carries it from tick to tick);
:class:`RateLimiter` is the same bucket behind a lock for threads that wait their turn
(a driver's API calls: ``qps`` a second on average, ``burst`` at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter", "TokenBucket"]


@dataclass(frozen=True)
class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``; a take may leave it in debt."""

    tokens: float
    stamp: float

    def available(self, now: float, rate: float, burst: float) -> float:
        return min(burst, self.tokens + max(0.0, now - self.stamp) * rate)

    def take(self, count: int, now: float, rate: float, burst: float) -> TokenBucket:
        return TokenBucket(self.available(now, rate, burst) - count, now)


class RateLimiter:
    """Token bucket for threads: ``qps`` calls a second on average, ``burst`` at once.
    :meth:`acquire` takes a token and sleeps off any debt, outside the lock."""

    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"a rate limit needs qps > 0 and burst >= 1 (got qps={qps}, burst={burst})")
        self.qps, self.burst = qps, float(burst)
        self.clock, self.sleep = clock, sleep
        self.bucket = TokenBucket(float(burst), clock())
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        return self.bucket.tokens

    def acquire(self) -> None:
        with self._lock:
            self.bucket = self.bucket.take(1, self.clock(), self.qps, self.burst)
            wait = -self.bucket.tokens / self.qps if self.bucket.tokens < 0 else 0.0
        if wait > 0:
            self.sleep(wait)
