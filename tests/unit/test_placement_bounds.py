"""regional_bounds: the model's autoscaling min/max divided over regions like its replicas, used by the
planner (HPAs) and the predictive autoscaler (floors) alike; drained regions; planner properties."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelserve.api.modeldeployment import parse_model_deployment
from modelserve.forecasting import cycle as predictive
from modelserve.placement.bounds import regional_bounds
from modelserve.placement.division import divide_replicas
from modelserve.placement.model import RegionShare
from modelserve.planner.modeldeployment import Observed, plan_model_deployment

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
REGIONS = ["af-south-1", "ap-southeast-1", "eu-central-1", "eu-west-1", "sa-east-1", "us-east-1"]


def _sums(bounds: dict) -> tuple[int, int]:
    return sum(b.min_replicas for b in bounds.values()), sum(b.max_replicas for b in bounds.values())


def test_issue_example_min_4_max_16_over_weights_3_2_keeps_the_models_bounds() -> None:
    # Rounded region by region this was (2, 10) + (1, 7) = 3 / 17: below the min, above the max.
    regions = [RegionShare("a", 3), RegionShare("b", 2)]
    bounds = regional_bounds(4, 16, regions, {"a", "b"})
    assert {r: (b.min_replicas, b.max_replicas) for r, b in bounds.items()} == {"a": (2, 10), "b": (2, 6)}
    assert _sums(bounds) == (4, 16)


def test_a_drained_region_gets_no_bounds_and_the_others_keep_the_total() -> None:
    regions = [RegionShare("a", 1), RegionShare("b", 1, 0, 0), RegionShare("c", 2)]
    bounds = regional_bounds(3, 9, regions, {"a", "b", "c"})
    assert not bounds["b"].serves and bounds["b"].min_replicas == 0
    assert _sums(bounds) == (3, 9)


def test_a_region_the_weights_leave_empty_still_gets_an_hpa_minimum_of_one() -> None:
    bounds = regional_bounds(1, 9, [RegionShare("a"), RegionShare("b"), RegionShare("c")], {"a", "b", "c"})
    assert all(b.min_replicas == 1 and b.max_replicas == 3 for b in bounds.values())


@st.composite
def placements(draw: Any) -> tuple[list[RegionShare], set[str], str]:
    """Regions 1-6, weights 1-10, optional min/max (0 = drained), some regions unavailable."""
    names = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=6, unique=True))
    regions = []
    for name in names:
        low = draw(st.integers(0, 5))
        high = draw(st.one_of(st.none(), st.just(0), st.integers(low, low + 40)))
        if high == 0:
            low = 0
        regions.append(RegionShare(name, draw(st.integers(1, 10)), low, high))
    available = draw(st.sets(st.sampled_from(names)))
    return regions, available, draw(st.sampled_from(["redistribute", "hold"]))


@st.composite
def model_bounds(draw: Any) -> tuple[int, int]:
    low = draw(st.integers(1, 100))
    return low, draw(st.integers(low, 200))


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(placements(), model_bounds())
def test_regional_bounds_hold_the_models_min_and_max(case: Any, limits: tuple[int, int]) -> None:
    regions, available, mode = case
    low, high = limits
    bounds = regional_bounds(low, high, regions, available, mode)
    assert set(bounds) == {r.name for r in regions}
    total_min, total_max = _sums(bounds)
    # The maxima are the model's max divided exactly like replicas (so the same split as the pods).
    assert {r: b.max_replicas for r, b in bounds.items()} == divide_replicas(
        high, regions, available, mode
    ).replicas
    live = [r for r in regions if r.name in available]
    participating = regions if mode == "hold" or not live else live
    region_mins = sum(r.min_replicas for r in participating)
    capacity = (
        None
        if any(r.max_replicas is None for r in participating)
        else sum(r.max_replicas or 0 for r in participating)
    )
    # Never above the model's max (unless the placement's own per-region minimums add up to more).
    assert total_max <= max(high, region_mins)
    if region_mins <= high and (capacity is None or high <= capacity):
        assert total_max == high
    # Never below the model's min, whenever the regions can hold it at all.
    if total_max >= low:
        assert total_min >= low
    for r in regions:
        b = bounds[r.name]
        assert 0 <= b.min_replicas <= b.max_replicas
        assert r.max_replicas is None or b.max_replicas <= r.max_replicas
        assert b.serves == (b.min_replicas >= 1)  # an HPA's min is at least one; no HPA, no minimum


def _placement_body(regions: list[RegionShare], mode: str) -> dict:
    spec: dict[str, Any] = {
        "residency": {"allowedRegions": [r.name for r in regions]},
        "onRegionUnavailable": mode,
        "regions": [],
    }
    for r in regions:
        item: dict[str, Any] = {"name": r.name, "weight": r.weight, "minReplicas": r.min_replicas}
        if r.max_replicas is not None:
            item["maxReplicas"] = r.max_replicas
        spec["regions"].append(item)
    return {"kind": "RegionPlacement", "metadata": {"name": "geo", "namespace": "ml"}, "spec": spec}


def _nodes(names: set[str]) -> list[dict]:
    return [
        {
            "metadata": {"name": f"n-{r}", "labels": {"topology.kubernetes.io/region": r}},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
        for r in sorted(names)
    ]


def _model(low: int, high: int, predictive_on: bool = True) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "geo", "namespace": "ml", "uid": "u-1", "generation": 1},
        "spec": {
            "model": {"name": "geo", "version": "1", "uri": "s3://m/geo/1", "format": "sklearn"},
            "runtime": {"image": "srv:1"},
            "placementRef": {"name": "geo"},
            "autoscaling": {
                "minReplicas": low,
                "maxReplicas": high,
                "target": {"metric": "requestsPerSecond", "averageValue": 5},
                "predictive": {"enabled": predictive_on},
            },
        },
    }


@FAST
@given(placements(), model_bounds())
def test_planner_hpas_use_the_shared_bounds_and_never_crash(case: Any, limits: tuple[int, int]) -> None:
    regions, available, mode = case
    low, high = limits
    placement = _placement_body(regions, mode)
    observed = Observed(placement=placement, nodes=_nodes(available))
    plan = plan_model_deployment(_model(low, high), observed, NOW)
    assert plan.status["phase"] != "Degraded", plan.status.get("message")
    bounds = regional_bounds(low, high, regions, available, mode)
    hpas = {
        h["metadata"]["name"].removeprefix("geo-"): h["spec"]
        for h in plan.desired
        if h["kind"] == "HorizontalPodAutoscaler"
    }
    assert set(hpas) == {r for r, b in bounds.items() if b.serves}
    for region, spec in hpas.items():
        assert (spec["minReplicas"], spec["maxReplicas"]) == (
            bounds[region].min_replicas,
            bounds[region].max_replicas,
        )
    deployments = {
        d["metadata"]["labels"]["modelserve.io/region"]: d["spec"]["replicas"]
        for d in plan.desired
        if d["kind"] == "Deployment"
    }
    for region, replicas in deployments.items():
        b = bounds[region]
        assert b.min_replicas <= replicas <= b.max_replicas  # each region starts inside its HPA's bounds
    # The predictive autoscaler plans each serving region's floor inside the very same bounds.
    config = predictive.config_from_spec(
        parse_model_deployment(_model(low, high)["spec"]), "ml", "geo", placement_spec=placement["spec"]
    )
    everywhere = regional_bounds(low, high, regions, None, mode)
    if isinstance(config, predictive.PredictiveConfig):
        assert set(config.floors) == {r for r, b in everywhere.items() if b.serves}
        for region, params in config.floors.items():
            assert (params.min_replicas, params.max_replicas) == (
                everywhere[region].min_replicas,
                everywhere[region].max_replicas,
            )
    else:
        assert not any(b.serves for b in everywhere.values())


def test_a_drained_region_under_autoscaling_plans_without_error() -> None:
    # maxReplicas: 0 under autoscaling raised "invalid region share" on every retry.
    regions = [RegionShare("eu-central-1", 2), RegionShare("ap-southeast-1", 1, 0, 0)]
    placement = _placement_body(regions, "redistribute")
    plan = plan_model_deployment(
        _model(2, 10), Observed(placement=placement, nodes=_nodes({"eu-central-1", "ap-southeast-1"})), NOW
    )
    assert plan.status["phase"] != "Degraded"
    hpas = [h for h in plan.desired if h["kind"] == "HorizontalPodAutoscaler"]
    assert [h["metadata"]["name"] for h in hpas] == ["geo-eu-central-1"]
    assert (hpas[0]["spec"]["minReplicas"], hpas[0]["spec"]["maxReplicas"]) == (2, 10)
    deployments = {
        d["metadata"]["labels"]["modelserve.io/region"]: d["spec"]["replicas"]
        for d in plan.desired
        if d["kind"] == "Deployment"
    }
    assert deployments.get("ap-southeast-1", 0) == 0
