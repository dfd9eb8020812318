"""The simulator's pure split reading, checked against the routers' own builders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelserve.api.traffic import parse_traffic
from modelserve.routers import RouteContext, Weights, router_for

from tests.simulator.snapshot import ModelSnapshot, main_split, preview_split, routes_for
from tests.simulator.split import (
    allocate_requests,
    http_route_backends,
    pod_is_ready,
    service_for_host,
    service_map,
    split_from_http_routes,
    split_from_service,
    split_from_virtual_services,
    virtual_service_backends,
)

NS = "ns1"
MD = "iris"
STABLE = "aaaa1111"
CANDIDATE = "bbbb2222"
INSTANCE = "app.kubernetes.io/instance"


def pod(
    revision: str,
    index: int,
    *,
    ready: bool = True,
    node: str = "kwok-eu-central-1-a",
    deleting: bool = False,
) -> dict:
    meta: dict = {
        "name": f"{MD}-{revision}-{index}",
        "namespace": NS,
        "labels": {INSTANCE: MD, "modelserve.io/revision": revision},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"nodeName": node},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


REGION_LABEL = "topology.kubernetes.io/region"
NODES = [
    {"metadata": {"name": "kwok-eu-central-1-a", "labels": {REGION_LABEL: "eu-central-1"}}},
    {"metadata": {"name": "kwok-sa-east-1-a", "labels": {REGION_LABEL: "sa-east-1"}}},
]
REGIONS = {"kwok-eu-central-1-a": "eu-central-1", "kwok-sa-east-1-a": "sa-east-1"}


def ctx(router: str, **router_spec: object) -> RouteContext:
    return RouteContext(
        namespace=NS,
        name=MD,
        stable_revision=STABLE,
        candidate_revision=CANDIDATE,
        labels={INSTANCE: MD},
        selector_labels={INSTANCE: MD},
        traffic=parse_traffic({"router": router, router: router_spec}),
        preview_service=f"{MD}-preview",
    )


def objects(router: str, weights: Weights, **router_spec: object) -> list[dict]:
    return router_for(router).desired_objects(ctx(router, **router_spec), weights)


def by_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o["kind"] == kind]


def snapshot(router: str, objs: list[dict], pods: list[dict], **spec_traffic: object) -> ModelSnapshot:
    traffic: dict = {"router": router, **spec_traffic}
    return ModelSnapshot(
        namespace=NS,
        name=MD,
        model_deployment={
            "spec": {"traffic": traffic},
            "status": {"stableRevision": STABLE, "candidateRevision": CANDIDATE},
        },
        services=by_kind(objs, "Service"),
        pods=pods,
        nodes=NODES,
        http_routes=by_kind(objs, "HTTPRoute"),
        virtual_services=by_kind(objs, "VirtualService"),
    )


PODS = [pod(STABLE, i) for i in range(4)] + [pod(CANDIDATE, i) for i in range(2)]


@pytest.mark.parametrize("weights", [Weights(100, 0), Weights(80, 20), Weights(50, 50), Weights(0, 100)])
def test_gateway_api_route_weights_are_read_back(weights: Weights) -> None:
    objs = objects("gatewayAPI", weights, parentRefs=[{"name": "gw"}])
    split = main_split(snapshot("gatewayAPI", objs, PODS, gatewayAPI={"parentRefs": [{"name": "gw"}]}))
    assert split.source == f"httproute/{MD}"
    expected = {rev: float(w) for rev, w in ((STABLE, weights.stable), (CANDIDATE, weights.candidate)) if w}
    assert split.revision_percent() == pytest.approx(expected)
    assert split.mirrors == {}
    assert split.unserved == {}


@pytest.mark.parametrize("weights", [Weights(90, 10), Weights(0, 100), Weights(100, 0, 100)])
def test_istio_destination_weights_are_read_back(weights: Weights) -> None:
    objs = objects("istio", weights)
    split = main_split(snapshot("istio", objs, PODS))
    assert split.source == f"virtualservice/{MD}"
    expected = {rev: float(w) for rev, w in ((STABLE, weights.stable), (CANDIDATE, weights.candidate)) if w}
    assert split.revision_percent() == pytest.approx(expected)
    assert split.mirror_percent() == pytest.approx({CANDIDATE: 100.0} if weights.mirror_percent else {})


@pytest.mark.parametrize(("router", "percent"), [("gatewayAPI", 30), ("gatewayAPI", 100), ("istio", 30)])
def test_shadow_mirror_copies_requests_to_the_candidate(router: str, percent: int) -> None:
    extra = {"parentRefs": [{"name": "gw"}]} if router == "gatewayAPI" else {}
    objs = objects(router, Weights(100, 0, percent), **extra)
    split = main_split(snapshot(router, objs, PODS, **({"gatewayAPI": extra} if extra else {})))
    assert split.revision_percent() == pytest.approx({STABLE: 100.0})
    assert split.mirror_percent() == pytest.approx({CANDIDATE: float(percent)})


def test_replicas_router_splits_by_ready_pods() -> None:
    objs = objects("replicas", Weights(80, 20))
    pods = [*PODS, pod(CANDIDATE, 9, ready=False), pod(STABLE, 9, deleting=True)]
    split = main_split(snapshot("replicas", objs, pods))
    # The Service selects both revisions: 4 ready stable pods, 2 ready candidate pods.
    assert split.source == f"service/{MD}"
    assert split.revision_percent() == pytest.approx({STABLE: 400 / 6, CANDIDATE: 200 / 6})


def test_replicas_router_all_on_one_revision_when_the_service_selects_it() -> None:
    objs = objects("replicas", Weights(100, 0))
    assert main_split(snapshot("replicas", objs, PODS)).revision_percent() == {STABLE: 100.0}


def test_regions_come_from_pod_label_then_node() -> None:
    pods = [pod(STABLE, 0), pod(STABLE, 1, node="kwok-sa-east-1-a"), pod(STABLE, 2, node="unknown")]
    pods[0]["metadata"]["labels"]["modelserve.io/region"] = "ap-southeast-1"
    services = service_map(objects("replicas", Weights(100, 0)))
    split = split_from_service(MD, services, pods, REGIONS)
    assert split.shares == pytest.approx(
        {(STABLE, "ap-southeast-1"): 1 / 3, (STABLE, "sa-east-1"): 1 / 3, (STABLE, "local"): 1 / 3}
    )


def test_weight_to_a_revision_without_ready_pods_is_unserved() -> None:
    objs = objects("gatewayAPI", Weights(50, 50), parentRefs=[{"name": "gw"}])
    pods = [pod(STABLE, 0), pod(CANDIDATE, 0, ready=False)]
    split = split_from_http_routes(by_kind(objs, "HTTPRoute"), service_map(objs), pods, REGIONS)
    assert split is not None
    # Half the requests find no endpoint: they are not served by anyone (a gateway would answer 503).
    assert split.revision_percent() == {STABLE: 50.0}
    assert split.unserved == pytest.approx({f"{MD}-{CANDIDATE}": 0.5})


def test_mesh_router_without_a_route_falls_back_to_the_main_service() -> None:
    objs = [
        o
        for o in objects("gatewayAPI", Weights(100, 0), parentRefs=[{"name": "gw"}])
        if o["kind"] != "HTTPRoute"
    ]
    split = main_split(snapshot("gatewayAPI", objs, PODS))
    assert split.source == f"service/{MD}"
    assert split.revision_percent() == {STABLE: 100.0}


def test_no_main_service_means_no_traffic() -> None:
    assert main_split(snapshot("replicas", [], PODS)).shares == {}


def test_user_owned_route_is_found_by_name() -> None:
    objs = objects("gatewayAPI", Weights(70, 30), routeName="shared")
    route = by_kind(objs, "HTTPRoute")[0]
    assert "labels" not in route["metadata"]
    snap = snapshot("gatewayAPI", objs, PODS, gatewayAPI={"routeName": "shared"})
    assert [r["metadata"]["name"] for r in routes_for(snap)[0]] == ["shared"]
    assert main_split(snap).revision_percent() == pytest.approx({STABLE: 70.0, CANDIDATE: 30.0})


def test_preview_service_gets_smoke_traffic_only_when_present() -> None:
    objs = objects("replicas", Weights(100, 0))
    assert preview_split(snapshot("replicas", objs, PODS)).revision_percent() == {CANDIDATE: 100.0}
    no_preview = [o for o in objs if o["metadata"]["name"] != f"{MD}-preview"]
    assert preview_split(snapshot("replicas", no_preview, PODS)).shares == {}


def test_http_route_defaults_and_foreign_rules() -> None:
    route = {
        "metadata": {"name": "r", "namespace": NS},
        "spec": {
            "rules": [
                {"backendRefs": [{"name": "other-app"}]},
                {
                    "backendRefs": [
                        {"name": "a"},
                        {"name": "b", "weight": 3},
                        {"name": "x", "kind": "ServiceImport", "group": "multicluster.x-k8s.io"},
                    ],
                    "filters": [
                        {
                            "type": "RequestMirror",
                            "requestMirror": {
                                "backendRef": {"name": "b"},
                                "fraction": {"numerator": 1, "denominator": 4},
                            },
                        }
                    ],
                },
            ]
        },
    }
    found = http_route_backends(route, {"a", "b"})
    assert found is not None
    backends, mirrors = found
    assert [(b.service, b.weight) for b in backends] == [("a", 1.0), ("b", 3.0)]
    assert mirrors == [("b", 25.0)]
    assert http_route_backends(route, {"zzz"}) is None


def test_virtual_service_defaults() -> None:
    vs = {
        "spec": {
            "http": [
                {"route": [{"destination": {"host": f"a.{NS}.svc.cluster.local"}}], "mirror": {"host": "b"}}
            ]
        }
    }
    found = virtual_service_backends(vs, NS, {"a", "b"})
    assert found is not None
    backends, mirrors = found
    assert [(b.service, b.weight) for b in backends] == [("a", 100.0)]
    assert mirrors == [("b", 100.0)]
    assert service_for_host("a.elsewhere.svc.cluster.local", NS) is None
    assert split_from_virtual_services([vs], "elsewhere", {}, [], {}) is None


def test_pod_readiness() -> None:
    assert pod_is_ready(pod(STABLE, 0))
    assert not pod_is_ready(pod(STABLE, 0, ready=False))
    assert not pod_is_ready(pod(STABLE, 0, deleting=True))
    pending = pod(STABLE, 0)
    pending["status"]["phase"] = "Pending"
    assert not pod_is_ready(pending)


def test_allocation_carries_fractions_across_ticks() -> None:
    shares = {("s", "r"): 0.97, ("c", "r"): 0.03}
    carry = None
    sent = {("s", "r"): 0, ("c", "r"): 0}
    for _ in range(100):
        counts, carry = allocate_requests(shares, 10, carry)
        for k, v in counts.items():
            sent[k] += v
    assert sent == {("s", "r"): 970, ("c", "r"): 30}


@given(
    weights=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=5),
    total=st.floats(min_value=0.0, max_value=200.0),
    ticks=st.integers(min_value=1, max_value=50),
)
def test_allocation_never_drifts_more_than_one_request(
    weights: list[float], total: float, ticks: int
) -> None:
    norm = sum(weights)
    if norm <= 0:
        return
    shares = {(str(i), "r"): w / norm for i, w in enumerate(weights)}
    carry = None
    sent = dict.fromkeys(shares, 0)
    for _ in range(ticks):
        counts, carry = allocate_requests(shares, total, carry)
        for k, v in counts.items():
            sent[k] += v
    for key, share in shares.items():
        assert abs(sent[key] - share * total * ticks) < 1.0 + 1e-6
