"""Replica-ratio router: Service selector by weights, replica arithmetic, approximation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelserve.routers import REVISION_LABEL, RouteContext, Weights, revision_service_name, router_for
from modelserve.routers.replicas import ReplicaRatioRouter, effective_weight, replicas_for_weight

SELECT = {"app.kubernetes.io/instance": "iris"}


def ctx(candidate: str | None = "c1", preview: str | None = None) -> RouteContext:
    return RouteContext(
        namespace="ml",
        name="iris",
        stable_revision="s1",
        candidate_revision=candidate,
        selector_labels=SELECT,
        service_port=80,
        target_port=8080,
        preview_service=preview,
    )


def service(objects, name="iris"):
    return next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == name)


def test_main_service_pins_stable_at_100_0():
    assert service(ReplicaRatioRouter().desired_objects(ctx(), Weights(100, 0))) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "iris", "namespace": "ml", "labels": {REVISION_LABEL: "s1"}},
        "spec": {
            "type": "ClusterIP",
            "selector": {**SELECT, REVISION_LABEL: "s1"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def test_main_service_selects_all_revisions_while_split():
    svc = service(ReplicaRatioRouter().desired_objects(ctx(), Weights(90, 10)))
    assert svc["spec"]["selector"] == SELECT


def test_preview_service_selects_the_candidate():
    svc = service(
        ReplicaRatioRouter().desired_objects(ctx(preview="iris-preview"), Weights(100, 0)), "iris-preview"
    )
    assert svc["spec"]["selector"] == {**SELECT, REVISION_LABEL: "c1"}


def test_mirroring_is_refused():
    with pytest.raises(ValueError, match=r"spec\.traffic\.router"):
        ReplicaRatioRouter().desired_objects(ctx(), Weights(100, 0, 50))


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [
        (10, 0, (10, 0)),
        (10, 10, (9, 1)),
        (10, 25, (7, 3)),
        (10, 50, (5, 5)),
        (10, 100, (0, 10)),
        (1, 10, (1, 1)),
        (3, 90, (1, 3)),
        (0, 0, (0, 0)),
    ],
)
def test_replicas_for_weight(total, weight, expected):
    assert replicas_for_weight(total, weight) == expected


@given(total=st.integers(1, 200), weight=st.integers(1, 99))
def test_replica_split_is_close_to_the_weight(total, weight):
    stable, candidate = replicas_for_weight(total, weight)
    assert candidate >= 1 and stable >= 1
    # within one pod of the exact split
    assert abs(effective_weight(stable, candidate) - weight) <= 100 / (stable + candidate) + 1


def test_effective_weight_and_read_weights():
    assert effective_weight(0, 0) == 0 and effective_weight(9, 1) == 10
    router = ReplicaRatioRouter()
    assert router.approximate is True and router_for("replicas").approximate
    assert router.read_weights(ctx(), router.desired_objects(ctx(), Weights(100, 0))) == Weights(100, 0)
    assert router.read_weights(ctx(), router.desired_objects(ctx(), Weights(0, 100))) == Weights(0, 100)
    assert router.read_weights(ctx(), router.desired_objects(ctx(), Weights(60, 40))) is None


def test_revision_service_names_are_dns_labels():
    name = revision_service_name("m" * 40, "0123456789abcdef0123456789abcdef")
    assert len(name) <= 63 and name == "m" * 40 + "-0123456789abcdef012345"
