"""The per-model gauges (observability/metrics.py): a series only for what a model has, and none left
behind by a deleted model."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from modelserve.observability import metrics

KINDS = ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "HTTPRoute"]


def _series(name: str) -> dict[str, float]:
    out = {}
    for family in metrics.OWNED_OBJECTS.collect():
        for sample in family.samples:
            if sample.labels.get("modeldeployment") == name:
                out[sample.labels["kind"]] = sample.value
    return out


@given(st.lists(st.dictionaries(st.sampled_from(KINDS), st.integers(0, 3)), min_size=1, max_size=5))
def test_owned_objects_has_a_series_for_each_kind_the_model_has_and_none_after_deletion(
    rounds: list[dict[str, int]],
) -> None:
    name = "gauged"
    for owned in rounds:
        metrics.set_model_gauges("ml", name, owned, 1, 0)
        kept = _series(name)
        for kind, count in owned.items():
            assert kept.get(kind, 0) == count
            assert (kind in kept) == (count > 0)
    metrics.forget_model("ml", name, KINDS)
    assert _series(name) == {}
    samples = [s for f in metrics.REPLICAS_READY.collect() for s in f.samples]
    assert [s for s in samples if s.labels["modeldeployment"] == name] == []
