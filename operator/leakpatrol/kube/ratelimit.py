"""Token buckets per key, for Event spam control. Pure: the caller passes the time."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class KeyedRateLimiter:
    """`burst` actions at once per key, then one per `refill_seconds`; at most `max_keys` remembered.

    Forgetting the least recently used key only ever grants a full bucket again, so the bound
    costs at worst a second burst for a long-quiet object, never a lost limit on a busy one.
    """

    def __init__(self, burst: int = 10, refill_seconds: float = 300.0, max_keys: int = 4096) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        """Take one token for `key` at time `now` (seconds, any epoch); False if there is none."""
        bucket = self._buckets.pop(key, None) or _Bucket(tokens=float(self.burst), stamp=now)
        elapsed = max(0.0, now - bucket.stamp)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed / self.refill_seconds)
        bucket.stamp = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed
