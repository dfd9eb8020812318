"""A traffic simulator that plays the gateway and the model servers for e2e tests and `make run`.

See docs/simulator.md. Pure parts: ``split`` (live objects -> traffic split, request allocation),
``behaviour`` (errors, latency, quality gauges), ``snapshot`` (which objects a router's data plane reads).
I/O: ``cluster`` (reads the API), ``simulator`` (the tick loop and /metrics).
"""

from tests.simulator.behaviour import CANDIDATE, DEFAULT, HEALTHY, STABLE, Behaviour
from tests.simulator.simulator import RevisionTotals, Simulator, SplitRecord
from tests.simulator.split import TrafficSplit

__all__ = [
    "CANDIDATE",
    "DEFAULT",
    "HEALTHY",
    "STABLE",
    "Behaviour",
    "RevisionTotals",
    "Simulator",
    "SplitRecord",
    "TrafficSplit",
]
