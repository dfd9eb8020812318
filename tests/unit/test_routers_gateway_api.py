"""Gateway API router: exact HTTPRoute manifests and the read-back of weights."""

from __future__ import annotations

import pytest
from modelserve.api.traffic import parse_traffic
from modelserve.routers import RouteContext, Weights, router_for
from modelserve.routers.gateway_api import GatewayApiRouter

OWNER = {
    "apiVersion": "modelserve.io/v1alpha1",
    "kind": "ModelDeployment",
    "name": "iris",
    "uid": "u-1",
    "controller": True,
    "blockOwnerDeletion": True,
}
GATEWAY = {
    "parentRefs": [{"name": "public", "namespace": "gw", "sectionName": "https"}],
    "hostnames": ["iris.example.com"],
    "path": "/v1",
}


def ctx(candidate: str | None = "c1", **kw) -> RouteContext:
    return RouteContext(
        namespace="ml",
        name="iris",
        stable_revision="s1",
        candidate_revision=candidate,
        owner_reference=OWNER,
        labels={"app.kubernetes.io/instance": "iris"},
        selector_labels={"app.kubernetes.io/instance": "iris"},
        service_port=80,
        target_port=8080,
        traffic=parse_traffic({"router": "gatewayAPI", "gatewayAPI": kw.pop("router_spec", GATEWAY)}),
        **kw,
    )


def route(objects):
    return next(o for o in objects if o["kind"] == "HTTPRoute")


def test_owned_route_at_100_0_without_candidate():
    objects = GatewayApiRouter().desired_objects(ctx(candidate=None), Weights(100, 0))
    assert route(objects) == {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": "iris",
            "namespace": "ml",
            "labels": {"app.kubernetes.io/instance": "iris"},
            "ownerReferences": [OWNER],
        },
        "spec": {
            "parentRefs": [{"namespace": "gw", "name": "public", "sectionName": "https"}],
            "hostnames": ["iris.example.com"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                    "backendRefs": [{"name": "iris-s1", "port": 80, "weight": 100}],
                }
            ],
        },
    }
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Service"] == ["iris-s1", "iris"]


def test_owned_route_at_90_10():
    rule = route(GatewayApiRouter().desired_objects(ctx(), Weights(90, 10)))["spec"]["rules"][0]
    assert rule == {
        "matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
        "backendRefs": [
            {"name": "iris-s1", "port": 80, "weight": 90},
            {"name": "iris-c1", "port": 80, "weight": 10},
        ],
    }


@pytest.mark.parametrize(
    ("percent", "mirror"),
    [
        (25, {"backendRef": {"name": "iris-c1", "port": 80}, "percent": 25}),
        (100, {"backendRef": {"name": "iris-c1", "port": 80}}),  # no percent: valid before Gateway API v1.3
    ],
)
def test_shadow_uses_request_mirror_filter(percent, mirror):
    rule = route(GatewayApiRouter().desired_objects(ctx(), Weights(100, 0, percent)))["spec"]["rules"][0]
    assert rule["filters"] == [{"type": "RequestMirror", "requestMirror": mirror}]
    assert rule["backendRefs"][1] == {"name": "iris-c1", "port": 80, "weight": 0}


def test_user_route_mode_applies_only_spec_rules():
    c = ctx(router_spec={"routeName": "shared-api"})
    obj = route(GatewayApiRouter().desired_objects(c, Weights(50, 50)))
    assert obj == {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "shared-api", "namespace": "ml"},
        "spec": {
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": "iris-s1", "port": 80, "weight": 50},
                        {"name": "iris-c1", "port": 80, "weight": 50},
                    ],
                }
            ]
        },
    }
    cleanup = GatewayApiRouter().finalize(c)
    assert cleanup.release == (
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "shared-api", "namespace": "ml"},
        },
    )
    assert all(ref["kind"] == "Service" for ref in cleanup.delete)


@pytest.mark.parametrize(
    "weights", [Weights(100, 0), Weights(90, 10), Weights(100, 0, 30), Weights(0, 100), Weights(50, 50, 100)]
)
def test_read_weights_round_trip(weights):
    router = GatewayApiRouter()
    assert router.read_weights(ctx(), router.desired_objects(ctx(), weights)) == weights


def test_read_weights_understands_defaults_and_fractions():
    live = [
        {
            "kind": "HTTPRoute",
            "metadata": {"name": "iris"},
            "spec": {
                "rules": [
                    {"backendRefs": [{"name": "other"}]},
                    {
                        "backendRefs": [{"name": "iris-s1"}, {"name": "iris-c1"}],  # default weight 1 each
                        "filters": [
                            {
                                "type": "RequestMirror",
                                "requestMirror": {
                                    "backendRef": {"name": "iris-c1"},
                                    "fraction": {"numerator": 1, "denominator": 4},
                                },
                            }
                        ],
                    },
                ]
            },
        }
    ]
    assert GatewayApiRouter().read_weights(ctx(), live) == Weights(50, 50, 25)
    assert GatewayApiRouter().read_weights(ctx(), []) is None


def test_finalize_owned_route_deletes_route_and_services():
    refs = GatewayApiRouter().finalize(ctx()).delete
    assert {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "namespace": "ml",
        "name": "iris",
    } in refs


def test_factory():
    assert isinstance(router_for("gatewayAPI"), GatewayApiRouter)
    assert router_for("gatewayAPI").approximate is False
    with pytest.raises(ValueError, match=r"spec\.traffic\.router"):
        router_for("linkerd")
