"""A Kubernetes Event to post, as the pure cores decide it; the shells post it.

`EventFilter` keeps a storm of Events from becoming a storm of writes, as client-go's event recorder
does (its EventCorrelator): the same Event about the same object (type, reason, message) again within
`window` seconds is dropped and counted, and each object has a token bucket (`burst` Events, then one
more every `refill_seconds`), so a flapping object cannot post more than that whatever it says.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EventSpec:
    type: str  # Normal | Warning
    reason: str
    message: str


DEDUPLICATION_WINDOW = 600.0  # seconds; client-go aggregates over 10 minutes
BURST = 10  # Events per object before the bucket limits them (client-go: 25 per source+object)
REFILL_SECONDS = 30.0  # one more Event per object per this many seconds once the burst is spent
MAX_TRACKED = 10_000  # objects remembered; the oldest are forgotten first


@dataclass
class _Bucket:
    tokens: float
    updated: float
    seen: dict[tuple[str, str, str], float] = field(default_factory=dict)  # event -> when last posted


@dataclass
class EventFilter:
    """Decides, per Event about an object (`key`, e.g. its UID), whether to post it. Pure but for its
    memory: `now` (monotonic seconds) is given, so tests drive the clock."""

    window: float = DEDUPLICATION_WINDOW
    burst: int = BURST
    refill_seconds: float = REFILL_SECONDS
    dropped: int = 0  # Events not posted, for the operator's metrics
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def admit(self, key: str, event: EventSpec, now: float) -> bool:
        """True: post it. False: a repeat within the window, or the object's bucket is empty."""
        bucket = self._buckets.pop(key, None) or _Bucket(tokens=float(self.burst), updated=now)
        self._buckets[key] = bucket  # most recently used last, so the oldest is evicted first
        if len(self._buckets) > MAX_TRACKED:
            self._buckets.pop(next(iter(self._buckets)))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) / self.refill_seconds)
        bucket.updated = now
        ident = (event.type, event.reason, event.message)
        last = bucket.seen.get(ident)
        if last is not None and now - last < self.window:
            self.dropped += 1
            return False
        if bucket.tokens < 1:
            self.dropped += 1
            return False
        bucket.tokens -= 1
        bucket.seen = {k: t for k, t in bucket.seen.items() if now - t < self.window}
        bucket.seen[ident] = now
        return True
