"""The per-model gauges (observability/metrics.py ModelGauges): a series only for what a model has, none
left behind by a deleted model, the same exposition as prometheus_client's labelled gauges, and a few
hundred bytes a model instead of a client child per series."""

from __future__ import annotations

import gc
import tracemalloc

from hypothesis import given
from hypothesis import strategies as st
from modelserve.observability import metrics
from prometheus_client import CollectorRegistry, Gauge, generate_latest

KINDS = ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "HTTPRoute"]


def _series(metric: str, name: str) -> dict[tuple, float]:
    out = {}
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            if sample.name == metric and sample.labels.get("modeldeployment") == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _owned(name: str) -> dict[str, float]:
    return {dict(k)["kind"]: v for k, v in _series("modelserve_owned_objects", name).items()}


@given(st.lists(st.dictionaries(st.sampled_from(KINDS), st.integers(0, 3)), min_size=1, max_size=5))
def test_owned_objects_has_a_series_for_each_kind_the_model_has_and_none_after_deletion(
    rounds: list[dict[str, int]],
) -> None:
    name = "gauged"
    for owned in rounds:
        metrics.set_model_gauges("ml", name, owned, 1, 0)
        kept = _owned(name)
        for kind, count in owned.items():
            assert kept.get(kind, 0) == count
            assert (kind in kept) == (count > 0)
        assert set(kept) <= {k for k, v in owned.items() if v}  # a kind dropped from `owned` goes too
    metrics.forget_model("ml", name)
    assert _owned(name) == {}
    assert _series("modelserve_replicas_ready", name) == {}
    assert _series("modelserve_rollout_canary_weight", name) == {}


@given(
    st.dictionaries(
        st.tuples(st.sampled_from(["ml", "team-a"]), st.sampled_from(["a", "b", "c"])),
        st.tuples(
            st.dictionaries(st.sampled_from(KINDS), st.integers(1, 3)), st.integers(0, 9), st.integers(0, 100)
        ),
        max_size=6,
    )
)
def test_the_exposition_is_that_of_labelled_gauges(models: dict) -> None:
    """What /metrics shows is what prometheus_client's labelled Gauges would show for the same values."""
    ours = metrics.ModelGauges()
    registry = CollectorRegistry()
    owned = Gauge(*metrics.ModelGauges.OWNED, ["namespace", "modeldeployment", "kind"], registry=registry)
    canary = Gauge(*metrics.ModelGauges.CANARY, ["namespace", "modeldeployment"], registry=registry)
    ready = Gauge(*metrics.ModelGauges.READY, ["namespace", "modeldeployment"], registry=registry)
    mine = CollectorRegistry()
    mine.register(ours)
    for (ns, name), (kinds, replicas, weight) in models.items():
        ours.set(ns, name, kinds, replicas, weight)
        for kind, n in kinds.items():
            owned.labels(ns, name, kind).set(n)
        canary.labels(ns, name).set(weight)
        ready.labels(ns, name).set(replicas)

    def lines(reg: CollectorRegistry) -> list[str]:
        return sorted(generate_latest(reg).decode().splitlines())

    assert lines(mine) == lines(registry)


def _allocated(fill: object) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = fill()  # type: ignore[operator]
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del kept
    return used


def test_five_thousand_models_cost_a_fraction_of_labelled_gauges() -> None:
    owned = {"Deployment": 1, "Service": 1, "PodDisruptionBudget": 1}
    names = [f"m-{i}" for i in range(5000)]

    def ours() -> object:
        gauges = metrics.ModelGauges()
        for n in names:
            gauges.set("scale-5000", n, owned, 1, 0)
        return gauges

    def labelled() -> object:
        registry = CollectorRegistry()
        kinds = Gauge("o", "o", ["namespace", "modeldeployment", "kind"], registry=registry)
        replicas = Gauge("r", "r", ["namespace", "modeldeployment"], registry=registry)
        weight = Gauge("c", "c", ["namespace", "modeldeployment"], registry=registry)
        for n in names:
            for kind, count in owned.items():
                kinds.labels("scale-5000", n, kind).set(count)
            replicas.labels("scale-5000", n).set(1)
            weight.labels("scale-5000", n).set(0)
        return registry

    mine, theirs = _allocated(ours), _allocated(labelled)
    print(
        f"\n5,000 models' gauges: {mine / 1e6:.1f} MB as tuples, {theirs / 1e6:.1f} MB as labelled children"
    )
    assert mine * 5 < theirs
