"""Divide a model's replicas over its regions by weight, within each region's min and max.

Pure: spec + the set of regions that have schedulable nodes in, a replica count per region out.

How a total is divided (see docs/placement.md for the why). This is the contract that the RegionPlacement
`weight` field and docs/api.md publish: largest remainder (Hamilton), with bounded regions fixed first.

1. Exact shares (water-filling). Each region's unrounded share is `clamp(level * weight, min, max)`,
   with one water `level` chosen so the shares add up to the total. Regions whose share sits at their
   min or max are thereby fixed at that bound, and the rest of the total is shared again by weight among
   the others: the "pin regions at their min or max and divide the rest by weight" iteration, solved
   exactly (with fractions, so ties are real ties).
2. Rounding by largest remainder (Hamilton). Every region first gets its exact share rounded down;
   the replicas left over (fewer than the regions with a fractional share) go one each to the regions
   with the largest fractional remainders. Tie order, deterministic and independent of the order in
   which regions are listed: the larger remainder first, then the larger weight, then the region name
   in alphabetical order.
   A region's count is therefore its exact share rounded down or up, never further away, and a region
   fixed at a bound gets exactly that bound (a free region's share lies strictly between its bounds,
   and the bounds are integers, so rounding never crosses them).
   Hamilton's known trade-off (the Alabama paradox): raising the total by one can, rarely, move a
   replica from one region to another. We keep the published contract rather than a house-monotone
   method; the scale-up still only adds pods overall.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from modelserve.placement.model import ON_UNAVAILABLE_HOLD, ON_UNAVAILABLE_REDISTRIBUTE, RegionShare

# Per-region reasons (CamelCase, as in Kubernetes condition reasons).
SHARE_WEIGHTED = "WeightedShare"
SHARE_AT_MIN = "AtMinReplicas"
SHARE_AT_MAX = "AtMaxReplicas"
SHARE_REDISTRIBUTED = "RegionUnavailable"  # redistribute: 0 here, the share moved to available regions
SHARE_HELD = "HeldWhileUnavailable"  # hold: the share stays here, the pods stay Pending
SHARE_NO_REGION = "NoAllowedRegionAvailable"  # nothing is available: every share held, pods Pending
SHARE_SCALED_TO_ZERO = "ScaledToZero"


@dataclass(frozen=True)
class RegionAllocation:
    """How many replicas one region gets and why (`reason` is a CamelCase code, `message` for people)."""

    name: str
    replicas: int
    reason: str
    message: str


@dataclass(frozen=True)
class Division:
    """The result of `divide_replicas`.

    `requested` is the total asked for; `placed` the sum handed out (it rises above `requested` when
    the regions' minReplicas add up to more, and falls below it by `unplaced` when the participating
    regions' maxReplicas add up to less). `no_region_available` is set when none of the regions had a
    schedulable node: every share is then held (Pending) rather than dropped.
    """

    allocations: tuple[RegionAllocation, ...]
    requested: int
    placed: int
    unplaced: int
    no_region_available: bool
    message: str

    @property
    def replicas(self) -> dict[str, int]:
        return {a.name: a.replicas for a in self.allocations}

    @property
    def reasons(self) -> dict[str, str]:
        return {a.name: a.reason for a in self.allocations}

    def allocation(self, region: str) -> RegionAllocation | None:
        return next((a for a in self.allocations if a.name == region), None)


def divide_replicas(
    total: int,
    regions: Sequence[RegionShare],
    available: Iterable[str],
    on_unavailable: str = ON_UNAVAILABLE_REDISTRIBUTE,
) -> Division:
    """Divide `total` replicas over `regions` by weight, honouring each region's min and max.

    `available` names the regions that have at least one schedulable node. With `redistribute` an
    unavailable region gets 0 and the others share its replicas (still within their max; what does
    not fit is reported as `unplaced`); with `hold` it keeps its share and those pods stay Pending.
    If no region is available, every region keeps its share (Pending) whatever `on_unavailable` says,
    so the model comes back at its full size the moment a region does.

    Decisions: minReplicas win over `total` (the sum rises to the sum of the mins, because a user's
    min is usually a per-region availability promise); maxReplicas win over `total` (the rest is
    `unplaced`); `total == 0` means the model is switched off and gives every region 0.
    The result depends only on the inputs, not on the order of `regions`.
    """
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ValueError(f"total must be a non-negative integer, got {total!r}")
    if on_unavailable not in (ON_UNAVAILABLE_REDISTRIBUTE, ON_UNAVAILABLE_HOLD):
        raise ValueError(f"on_unavailable must be redistribute or hold, got {on_unavailable!r}")
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise ValueError(f"region names must be unique, got {names}")
    if not regions:
        return Division((), total, 0, total, True, "no regions to place replicas in")
    for r in regions:
        if (
            r.weight < 1
            or r.min_replicas < 0
            or (r.max_replicas is not None and r.max_replicas < r.min_replicas)
        ):
            raise ValueError(f"invalid region share {r!r}")

    ordered = sorted(regions, key=lambda r: r.name)
    available_set = set(available)
    live = [r for r in ordered if r.name in available_set]
    no_region_available = not live
    if on_unavailable == ON_UNAVAILABLE_HOLD or no_region_available:
        participating = ordered
    else:
        participating = live

    if total == 0:
        allocations = tuple(
            RegionAllocation(r.name, 0, SHARE_SCALED_TO_ZERO, "the model is scaled to zero") for r in ordered
        )
        return Division(allocations, 0, 0, 0, no_region_available, "scaled to zero")

    counts, levels = _apportion(total, participating)
    placed = sum(counts.values())
    unplaced = max(0, total - placed)
    allocations = tuple(_allocation(r, counts, levels, available_set, no_region_available) for r in ordered)
    if no_region_available:
        message = f"no allowed region available: {placed} replica(s) held Pending"
    elif placed > total:
        message = f"minReplicas of the regions add up to {placed}, more than the {total} requested"
    elif unplaced:
        message = f"maxReplicas of the available regions leave {unplaced} of {total} replica(s) unplaced"
    else:
        message = f"{placed} replica(s) over {sum(1 for c in counts.values() if c)} region(s)"
    return Division(allocations, total, placed, unplaced, no_region_available, message)


def _allocation(
    region: RegionShare,
    counts: dict[str, int],
    levels: dict[str, str],
    available: set[str],
    no_region_available: bool,
) -> RegionAllocation:
    """One region's count with the reason for it."""
    if region.name not in counts:
        return RegionAllocation(
            region.name,
            0,
            SHARE_REDISTRIBUTED,
            "no schedulable node in this region: its share moved to the available regions",
        )
    n = counts[region.name]
    if no_region_available:
        return RegionAllocation(
            region.name, n, SHARE_NO_REGION, f"no allowed region available: holding {n} replica(s) Pending"
        )
    if region.name not in available:
        return RegionAllocation(
            region.name,
            n,
            SHARE_HELD,
            f"no schedulable node in this region: holding {n} replica(s) Pending (onRegionUnavailable: hold)",
        )
    reason, message = _bound_reason(region, levels[region.name], n)
    return RegionAllocation(region.name, n, reason, message)


def _bound_reason(region: RegionShare, level: str, replicas: int) -> tuple[str, str]:
    if level == "min" and region.min_replicas > 0:
        return SHARE_AT_MIN, f"raised to minReplicas {region.min_replicas}"
    if level == "max":
        return SHARE_AT_MAX, f"capped at maxReplicas {region.max_replicas}"
    return SHARE_WEIGHTED, f"{replicas} replica(s) by weight {region.weight}"


def exact_shares(total: int, regions: Sequence[RegionShare]) -> dict[str, Fraction]:
    """Each region's unrounded share of `total` (clamped to its min and max), as exact fractions.

    When the mins add up to more than `total` every region sits at its min; when the maxes add up to
    less, every region sits at its max.
    """
    return _WaterLevel(regions).shares(total)


def _apportion(total: int, regions: Sequence[RegionShare]) -> tuple[dict[str, int], dict[str, str]]:
    """Integer replicas per region (see the module docstring) and whether each ended at min/max/free."""
    water = _WaterLevel(regions)
    target = max(total, water.floor)
    if water.capacity is not None:
        target = min(target, water.capacity)
    shares = water.shares(target)
    counts = {name: math.floor(share) for name, share in shares.items()}
    left = target - sum(counts.values())
    weight = {r.name: r.weight for r in regions}
    by_remainder = sorted(
        (name for name, share in shares.items() if share.denominator != 1),
        key=lambda name: (-(shares[name] - counts[name]), -weight[name], name),
    )
    for name in by_remainder[:left]:
        counts[name] += 1
    return counts, water.levels(target)


class _WaterLevel:
    """share_i(level) = clamp(level * weight_i, min_i, max_i); finds the level at which they sum to n.

    The sum is piecewise linear and non-decreasing in the level, with breakpoints at min_i/weight_i and
    max_i/weight_i; we precompute it at every breakpoint once, then each query is a short scan.
    """

    def __init__(self, regions: Sequence[RegionShare]):
        self.regions = list(regions)
        self.floor = sum(r.min_replicas for r in self.regions)
        caps = [r.max_replicas for r in self.regions]
        self.capacity: int | None = (
            None if any(c is None for c in caps) else sum(c for c in caps if c is not None)
        )
        points = {Fraction(r.min_replicas, r.weight) for r in self.regions}
        points |= {Fraction(r.max_replicas, r.weight) for r in self.regions if r.max_replicas is not None}
        self.breakpoints = sorted(points | {Fraction(0)})
        self.sums = [self._sum_at(p) for p in self.breakpoints]

    def _share(self, region: RegionShare, level: Fraction) -> Fraction:
        share = max(level * region.weight, Fraction(region.min_replicas))
        if region.max_replicas is not None:
            share = min(share, Fraction(region.max_replicas))
        return share

    def _sum_at(self, level: Fraction) -> Fraction:
        return sum((self._share(r, level) for r in self.regions), Fraction(0))

    def level(self, n: int) -> Fraction:
        """The smallest water level at which the shares add up to n (n clamped to [floor, capacity])."""
        if n <= self.floor:
            return Fraction(0)
        if self.capacity is not None and n >= self.capacity:
            return self.breakpoints[-1]
        # The first breakpoint whose sum reaches n; the level lies between the one before and it.
        i = bisect_left(self.sums, n)
        previous = i - 1
        start = self.breakpoints[previous]
        # Inside (start, next breakpoint) the slope is the weight of the regions not pinned at a bound.
        probe = start + 1 if i == len(self.sums) else (start + self.breakpoints[i]) / 2
        slope = sum(
            r.weight
            for r in self.regions
            if r.min_replicas < probe * r.weight
            and (r.max_replicas is None or probe * r.weight < r.max_replicas)
        )
        return start + (n - self.sums[previous]) / slope

    def shares(self, n: int) -> dict[str, Fraction]:
        level = self.level(n)
        return {r.name: self._share(r, level) for r in self.regions}

    def levels(self, n: int) -> dict[str, str]:
        """Whether each region's share at total n is pinned at its "min", its "max", or "free"."""
        level = self.level(n)
        result = {}
        for r in self.regions:
            raw = level * r.weight
            if r.max_replicas is not None and raw >= r.max_replicas:
                result[r.name] = "max"
            elif raw <= r.min_replicas:
                result[r.name] = "min"
            else:
                result[r.name] = "free"
        return result
