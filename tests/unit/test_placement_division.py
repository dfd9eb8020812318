"""divide_replicas: weights, min/max, region loss, determinism — examples and hypothesis properties."""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelserve.placement.division import (
    SHARE_AT_MAX,
    SHARE_AT_MIN,
    SHARE_HELD,
    SHARE_NO_REGION,
    SHARE_REDISTRIBUTED,
    SHARE_WEIGHTED,
    divide_replicas,
    exact_shares,
)
from modelserve.placement.model import RegionShare

ALL = {"eu-west-1", "eu-central-1", "eu-north-1"}


def shares(*specs: tuple) -> list[RegionShare]:
    return [RegionShare(*s) for s in specs]


# ---------------------------------------------------------------- examples


def test_divides_by_weight():
    regions = shares(("eu-west-1", 3), ("eu-central-1", 1))
    assert divide_replicas(8, regions, {"eu-west-1", "eu-central-1"}).replicas == {
        "eu-central-1": 2,
        "eu-west-1": 6,
    }


def test_rounds_to_within_one_replica_of_the_exact_share():
    # exact shares of 7 by weights 5, 3, 2: 3.5, 2.1, 1.4 -> floors 3, 2, 1 and one more for eu-west-1
    regions = shares(("eu-west-1", 5), ("eu-central-1", 3), ("eu-north-1", 2))
    assert divide_replicas(7, regions, ALL).replicas == {"eu-west-1": 4, "eu-central-1": 2, "eu-north-1": 1}


def test_ties_go_to_the_larger_weight_then_the_name():
    equal = shares(("b-region", 1), ("a-region", 1), ("c-region", 1))
    assert divide_replicas(1, equal, {"a-region", "b-region", "c-region"}).replicas == {
        "a-region": 1,
        "b-region": 0,
        "c-region": 0,
    }
    # 2 replicas over weights 2 and 2 and 1 -> exact 0.8, 0.8, 0.4: the two heavier regions, not by name
    mixed = shares(("a-region", 1), ("b-region", 2), ("c-region", 2))
    assert divide_replicas(2, mixed, {"a-region", "b-region", "c-region"}).replicas == {
        "a-region": 0,
        "b-region": 1,
        "c-region": 1,
    }


def test_min_replicas_pin_a_region_and_the_rest_is_divided_by_weight():
    regions = shares(("eu-west-1", 9), ("eu-central-1", 1, 3))
    d = divide_replicas(10, regions, ALL)
    assert d.replicas == {"eu-central-1": 3, "eu-west-1": 7}
    assert d.reasons == {"eu-central-1": SHARE_AT_MIN, "eu-west-1": SHARE_WEIGHTED}


def test_max_replicas_cap_a_region_and_the_rest_goes_elsewhere():
    regions = shares(("eu-west-1", 9, 0, 2), ("eu-central-1", 1))
    d = divide_replicas(10, regions, ALL)
    assert d.replicas == {"eu-central-1": 8, "eu-west-1": 2}
    assert d.reasons["eu-west-1"] == SHARE_AT_MAX


def test_user_mins_win_over_a_smaller_total():
    regions = shares(("eu-west-1", 1, 2), ("eu-central-1", 1, 2))
    d = divide_replicas(3, regions, ALL)
    assert d.replicas == {"eu-central-1": 2, "eu-west-1": 2}
    assert (d.requested, d.placed, d.unplaced) == (3, 4, 0)
    assert "more than the 3 requested" in d.message


def test_total_zero_switches_the_model_off_despite_mins():
    d = divide_replicas(0, shares(("eu-west-1", 1, 2)), ALL)
    assert d.replicas == {"eu-west-1": 0}


def test_maxes_leave_the_rest_unplaced():
    d = divide_replicas(10, shares(("eu-west-1", 1, 0, 3), ("eu-central-1", 1, 0, 4)), ALL)
    assert d.replicas == {"eu-central-1": 4, "eu-west-1": 3}
    assert (d.placed, d.unplaced) == (7, 3)


def test_redistribute_moves_a_lost_regions_share_within_max():
    regions = shares(("eu-west-1", 1), ("eu-central-1", 1, 0, 4), ("eu-north-1", 1, 2))
    d = divide_replicas(9, regions, {"eu-west-1", "eu-central-1"}, "redistribute")
    assert d.replicas == {"eu-central-1": 4, "eu-north-1": 0, "eu-west-1": 5}
    assert d.reasons["eu-north-1"] == SHARE_REDISTRIBUTED


def test_hold_keeps_a_lost_regions_share_pending():
    regions = shares(("eu-west-1", 1), ("eu-central-1", 1), ("eu-north-1", 1))
    held = divide_replicas(9, regions, {"eu-west-1", "eu-central-1"}, "hold")
    assert held.replicas == {"eu-central-1": 3, "eu-north-1": 3, "eu-west-1": 3}
    assert held.reasons["eu-north-1"] == SHARE_HELD
    assert not held.no_region_available


@pytest.mark.parametrize("mode", ["redistribute", "hold"])
def test_no_allowed_region_available_holds_every_share(mode):
    regions = shares(("eu-west-1", 2), ("eu-central-1", 1))
    d = divide_replicas(6, regions, set(), mode)
    assert d.replicas == {"eu-central-1": 2, "eu-west-1": 4}
    assert d.no_region_available
    assert set(d.reasons.values()) == {SHARE_NO_REGION}
    assert "no allowed region available" in d.message


def test_issue_examples_keep_the_published_largest_remainder_contract():
    # 5 over weights 4/2/2/1: exact 2.22, 1.11, 1.11, 0.56 -> floors 2/1/1/0, the one left goes to the
    # largest remainder (0.56). The quota method this replaced gave 3/1/1/0.
    regions = shares(("a", 4), ("b", 2), ("c", 2), ("d", 1))
    assert divide_replicas(5, regions, {"a", "b", "c", "d"}).replicas == {"a": 2, "b": 1, "c": 1, "d": 1}
    # 13 with one region capped at 4: the other two share 9 by weights 3/2 -> 5.4/3.6 -> 5/4 (the quota
    # method gave 6/3, leaving "b" with 0.6 of a replica short and "a" 0.6 over).
    regions = shares(("a", 3), ("b", 2), ("c", 3, 0, 4))
    d = divide_replicas(13, regions, {"a", "b", "c"})
    assert d.replicas == {"a": 5, "b": 4, "c": 4}
    assert d.reasons["c"] == SHARE_AT_MAX


def test_hamilton_is_not_house_monotone_and_says_so():
    # The documented trade-off of the published contract (the Alabama paradox): weights 6, 6, 2 give
    # (4, 4, 2) for 10 replicas but (5, 5, 1) for 11.
    regions = shares(("eu-west-1", 6), ("eu-central-1", 6), ("eu-north-1", 2))
    assert divide_replicas(10, regions, ALL).replicas == {"eu-central-1": 4, "eu-north-1": 2, "eu-west-1": 4}
    assert divide_replicas(11, regions, ALL).replicas == {"eu-central-1": 5, "eu-north-1": 1, "eu-west-1": 5}


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        divide_replicas(-1, shares(("a", 1)), {"a"})
    with pytest.raises(ValueError):
        divide_replicas(1, shares(("a", 1), ("a", 2)), {"a"})
    with pytest.raises(ValueError):
        divide_replicas(1, shares(("a", 1)), {"a"}, "spread")


def test_worst_case_size_is_fast_enough():
    import time

    regions = [RegionShare(f"r{i:02}", i % 7 + 1, i % 3, None if i % 4 else 40) for i in range(32)]
    started = time.perf_counter()
    d = divide_replicas(1000, regions, {r.name for r in regions})
    assert d.placed == 1000
    assert time.perf_counter() - started < 2.0


# ---------------------------------------------------------------- properties

NAMES = ["ap-south-1", "eu-central-1", "eu-north-1", "eu-west-1", "us-east-1"]


@st.composite
def region_sets(draw):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True))
    regions = []
    for name in names:
        weight = draw(st.integers(1, 9))
        low = draw(st.integers(0, 4))
        high = draw(st.one_of(st.none(), st.integers(low, low + 8)))
        regions.append(RegionShare(name, weight, low, high))
    available = draw(st.sets(st.sampled_from(names)))
    return regions, available


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _participating(regions, available, mode):
    live = [r for r in regions if r.name in available]
    return regions if mode == "hold" or not live else live


@FAST
@given(region_sets(), st.integers(1, 60), st.sampled_from(["redistribute", "hold"]))
def test_sum_bounds_and_quota(case, total, mode):
    regions, available = case
    d = divide_replicas(total, regions, available, mode)
    part = _participating(regions, available, mode)
    floor = sum(r.min_replicas for r in part)
    caps = [r.max_replicas for r in part]
    capacity = None if None in caps else sum(caps)
    expected = max(total, floor) if capacity is None else min(max(total, floor), capacity)
    # the sum is the total whenever mins and maxes allow it
    assert sum(d.replicas.values()) == d.placed == expected
    if floor <= total and (capacity is None or total <= capacity):
        assert d.placed == total and d.unplaced == 0
    exact = exact_shares(d.placed, part)
    for r in part:
        n = d.replicas[r.name]
        assert n >= r.min_replicas
        assert r.max_replicas is None or n <= r.max_replicas
        # within one replica of the exact weighted share (Hamilton's quota property)
        assert math.floor(exact[r.name]) <= n <= math.ceil(exact[r.name])


@FAST
@given(region_sets(), st.integers(1, 40))
def test_redistribute_never_places_in_an_unavailable_region(case, total):
    regions, available = case
    d = divide_replicas(total, regions, available, "redistribute")
    if available & {r.name for r in regions}:
        assert all(d.replicas[r.name] == 0 for r in regions if r.name not in available)
    else:
        assert d.no_region_available


@FAST
@given(region_sets(), st.integers(1, 40))
def test_hold_gives_the_same_shares_as_if_all_were_available(case, total):
    regions, available = case
    held = divide_replicas(total, regions, available, "hold").replicas
    assert held == divide_replicas(total, regions, {r.name for r in regions}, "hold").replicas


@FAST
@given(region_sets(), st.integers(0, 40), st.sampled_from(["redistribute", "hold"]), st.randoms())
def test_stable_for_the_same_input_in_any_order(case, total, mode, rnd: random.Random):
    regions, available = case
    first = divide_replicas(total, regions, available, mode)
    shuffled = list(regions)
    rnd.shuffle(shuffled)
    again = divide_replicas(total, shuffled, set(available), mode)
    assert first == again


# ---------------------------------------------------------------- against a reference implementation


def _reference_exact_shares(total: int, regions: list[RegionShare]) -> dict[str, Fraction]:
    """Water-filling by brute force: try every assignment of each region to "at its min", "at its max"
    or "free"; the one whose level is consistent gives the shares (they are unique)."""
    floor = sum(r.min_replicas for r in regions)
    if total <= floor:
        return {r.name: Fraction(r.min_replicas) for r in regions}
    if all(r.max_replicas is not None for r in regions):
        capacity = sum(r.max_replicas for r in regions if r.max_replicas is not None)
        if total >= capacity:
            return {r.name: Fraction(r.max_replicas or 0) for r in regions}
    for assignment in itertools.product(("min", "max", "free"), repeat=len(regions)):
        if any(a == "max" and r.max_replicas is None for a, r in zip(assignment, regions, strict=True)):
            continue
        free = [r for a, r in zip(assignment, regions, strict=True) if a == "free"]
        if not free:
            continue
        pinned = sum(
            (r.min_replicas if a == "min" else (r.max_replicas or 0))
            for a, r in zip(assignment, regions, strict=True)
            if a != "free"
        )
        level = Fraction(total - pinned, sum(r.weight for r in free))
        ok = True
        for a, r in zip(assignment, regions, strict=True):
            raw = level * r.weight
            high = math.inf if r.max_replicas is None else r.max_replicas
            if a == "free" and not (r.min_replicas <= raw <= high):
                ok = False
            if a == "min" and raw > r.min_replicas:
                ok = False
            if a == "max" and raw < high:
                ok = False
        if ok:
            out = {}
            for a, r in zip(assignment, regions, strict=True):
                out[r.name] = (
                    level * r.weight
                    if a == "free"
                    else Fraction(r.min_replicas if a == "min" else (r.max_replicas or 0))
                )
            return out
    raise AssertionError("no consistent water level")


def _reference_divide(total: int, regions: list[RegionShare]) -> dict[str, int]:
    """Largest remainder over the water-filled shares; ties: remainder, weight, name (the docs' order)."""
    exact = _reference_exact_shares(total, regions)
    counts = {name: int(share) for name, share in exact.items()}  # floor of a non-negative Fraction
    seats = int(sum(exact.values())) - sum(counts.values())
    weight = {r.name: r.weight for r in regions}
    ranked = sorted(exact, key=lambda n: (-(exact[n] - counts[n]), -weight[n], n))
    for name in ranked[:seats]:
        counts[name] += 1
    return counts


REGION_NAMES = ["af-south-1", "ap-southeast-1", "eu-central-1", "eu-west-1", "sa-east-1", "us-east-1"]


@st.composite
def placements(draw):
    """Regions 1-6, weights 1-10, optional min/max (max 0 = drained), some regions unavailable."""
    names = draw(st.lists(st.sampled_from(REGION_NAMES), min_size=1, max_size=6, unique=True))
    regions = []
    for name in names:
        low = draw(st.integers(0, 5))
        high = draw(st.one_of(st.none(), st.integers(low, low + 30)))
        regions.append(RegionShare(name, draw(st.integers(1, 10)), low, high))
    available = draw(st.sets(st.sampled_from(names)))
    return regions, available


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placements(), st.integers(0, 200), st.sampled_from(["redistribute", "hold"]))
def test_matches_the_reference_largest_remainder(case, total, mode):
    regions, available = case
    d = divide_replicas(total, regions, available, mode)
    part = _participating(regions, available, mode)
    expected = {r.name: 0 for r in regions}
    if total:
        expected.update(_reference_divide(total, part))
    assert d.replicas == expected
