"""Istio router: exact VirtualService manifests and the read-back of weights."""

from __future__ import annotations

import pytest
from modelserve.api.traffic import parse_traffic
from modelserve.routers import RouteContext, Weights, router_for
from modelserve.routers.istio import IstioRouter


def ctx(candidate: str | None = "c1", router_spec=None) -> RouteContext:
    return RouteContext(
        namespace="ml",
        name="iris",
        stable_revision="s1",
        candidate_revision=candidate,
        owner_reference={"kind": "ModelDeployment", "name": "iris", "uid": "u"},
        service_port=80,
        traffic=parse_traffic({"router": "istio", "istio": router_spec or {}}),
    )


def vs(objects):
    return next(o for o in objects if o["kind"] == "VirtualService")


def test_owned_virtual_service_at_100_0():
    assert vs(IstioRouter().desired_objects(ctx(candidate=None), Weights(100, 0))) == {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {
            "name": "iris",
            "namespace": "ml",
            "ownerReferences": [{"kind": "ModelDeployment", "name": "iris", "uid": "u"}],
        },
        "spec": {
            "hosts": ["iris.ml.svc.cluster.local"],
            "http": [
                {
                    "name": "modelserve",
                    "route": [
                        {
                            "destination": {"host": "iris-s1.ml.svc.cluster.local", "port": {"number": 80}},
                            "weight": 100,
                        }
                    ],
                }
            ],
        },
    }


def test_90_10_with_gateways_and_hosts():
    c = ctx(router_spec={"hosts": ["iris.example.com"], "gateways": ["istio-system/public"]})
    spec = vs(IstioRouter().desired_objects(c, Weights(90, 10)))["spec"]
    assert spec["hosts"] == ["iris.example.com"] and spec["gateways"] == ["istio-system/public"]
    assert spec["http"][0]["route"] == [
        {"destination": {"host": "iris-s1.ml.svc.cluster.local", "port": {"number": 80}}, "weight": 90},
        {"destination": {"host": "iris-c1.ml.svc.cluster.local", "port": {"number": 80}}, "weight": 10},
    ]


def test_shadow_mirror():
    http = vs(IstioRouter().desired_objects(ctx(), Weights(100, 0, 40)))["spec"]["http"][0]
    assert http["mirror"] == {"host": "iris-c1.ml.svc.cluster.local", "port": {"number": 80}}
    assert http["mirrorPercentage"] == {"value": 40.0}


def test_user_virtual_service_mode_applies_only_spec_http():
    c = ctx(router_spec={"virtualServiceName": "edge"})
    obj = vs(IstioRouter().desired_objects(c, Weights(70, 30)))
    assert obj["metadata"] == {"name": "edge", "namespace": "ml"} and list(obj["spec"]) == ["http"]
    assert IstioRouter().finalize(c).release[0]["metadata"] == {"name": "edge", "namespace": "ml"}


@pytest.mark.parametrize("weights", [Weights(100, 0), Weights(90, 10), Weights(100, 0, 25), Weights(0, 100)])
def test_read_weights_round_trip(weights):
    router = IstioRouter()
    assert router.read_weights(ctx(), router.desired_objects(ctx(), weights)) == weights


def test_read_weights_lone_destination_without_weight_takes_everything():
    live = [
        {
            "kind": "VirtualService",
            "metadata": {"name": "iris"},
            "spec": {
                "http": [
                    {
                        "route": [{"destination": {"host": "iris-s1.ml.svc.cluster.local"}}],
                        "mirror": {"host": "iris-c1.ml.svc.cluster.local"},
                    }
                ]
            },
        }
    ]
    assert IstioRouter().read_weights(ctx(), live) == Weights(100, 0, 100)


def test_factory():
    assert isinstance(router_for("istio"), IstioRouter)
