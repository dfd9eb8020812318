"""The autoscaling bounds of each region's HPA: the model's min and max divided like its replicas.

Pure. One home for this sum: the planner (the HPAs it writes) and the predictive autoscaler (the
bounds its per-region floors live in) both call `regional_bounds`, so the two cannot drift apart.

The rule (docs/placement.md, "Autoscaling under a placement"):

1. The model's `maxReplicas` is divided over the regions exactly like replicas are
   (`divide_replicas`: water-filling inside each region's own min/max, then largest remainder). The
   regional maxima therefore add up to the model's `maxReplicas` (more only when the regions'
   own `minReplicas` add up to more, which the placement's own rule lets win).
2. The model's `minReplicas` is divided the same way, with each region capped at its share of the
   maximum, so that a region's minimum never exceeds its maximum while the minima still add up to
   the model's `minReplicas`.
3. An HPA cannot have `minReplicas: 0`, so a region that may serve (maximum >= 1) gets at least one.
   The regional minima then add up to the model's minimum, or a little more when weights leave a
   region empty; never less.
4. A region whose maximum is 0 (drained with `maxReplicas: 0`, unavailable under `redistribute`, or
   left empty by the weights) gets no HPA and no pods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from modelserve.placement.division import divide_replicas
from modelserve.placement.model import ON_UNAVAILABLE_REDISTRIBUTE, RegionShare


@dataclass(frozen=True)
class RegionBounds:
    """One region's HPA bounds (`max_replicas == 0`: the region gets no HPA and no pods)."""

    name: str
    min_replicas: int
    max_replicas: int

    @property
    def serves(self) -> bool:
        return self.max_replicas > 0


def regional_bounds(
    min_replicas: int,
    max_replicas: int,
    regions: Sequence[RegionShare],
    available: Iterable[str] | None = None,
    on_unavailable: str = ON_UNAVAILABLE_REDISTRIBUTE,
) -> dict[str, RegionBounds]:
    """Each region's (min, max) for its HPA, by region name (see the module docstring).

    `available` names the regions with a schedulable node (None: all of them), as for
    `divide_replicas`. Raises ValueError only for inputs the API server rejects (min > max, negative).
    """
    if min_replicas < 0 or max_replicas < min_replicas:
        raise ValueError(f"autoscaling bounds need 0 <= min <= max, got {min_replicas}/{max_replicas}")
    names = {r.name for r in regions}
    live = names if available is None else set(available)
    highs = divide_replicas(max_replicas, regions, live, on_unavailable).replicas
    capped = [
        replace(r, min_replicas=min(r.min_replicas, highs[r.name]), max_replicas=highs[r.name])
        for r in regions
    ]
    lows = divide_replicas(min_replicas, capped, live, on_unavailable).replicas
    out: dict[str, RegionBounds] = {}
    for r in regions:
        high = highs[r.name]
        low = min(max(lows[r.name], 1), high)
        out[r.name] = RegionBounds(r.name, low, high)
    return out
