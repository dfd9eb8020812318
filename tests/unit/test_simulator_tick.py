"""The simulator's tick with a fake cluster reader: metric contract, behaviours, mirrors, preview."""

from __future__ import annotations

import urllib.request

import numpy as np
import pytest
from modelserve.api.traffic import parse_traffic
from modelserve.routers import RouteContext, Weights, router_for
from prometheus_client.parser import text_string_to_metric_families

from tests.simulator import Behaviour, Simulator
from tests.simulator.behaviour import parse_behaviour_option, resolve_behaviour, simulate_requests
from tests.simulator.snapshot import ModelSnapshot

NS, MD, STABLE, CANDIDATE = "ns1", "iris", "aaaa1111", "bbbb2222"
INSTANCE = "app.kubernetes.io/instance"
NODE = {"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/region": "eu-central-1"}}}


def pod(revision: str, index: int) -> dict:
    labels = {INSTANCE: MD, "modelserve.io/revision": revision}
    return {
        "metadata": {"name": f"{revision}-{index}", "labels": labels},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


class FakeReader:
    def __init__(
        self,
        router: str = "replicas",
        weights: Weights | None = None,
        candidate: bool = True,
        strategy: str = "canary",
    ):
        self.router, self.candidate, self.strategy = router, candidate, strategy
        self.weights = weights or Weights(100, 0)
        self.fail = False

    def read(self, namespace: str, name: str) -> ModelSnapshot:
        if self.fail:
            raise ConnectionError("API down")
        ctx = RouteContext(
            namespace=namespace,
            name=name,
            stable_revision=STABLE,
            candidate_revision=CANDIDATE if self.candidate else None,
            labels={INSTANCE: name},
            selector_labels={INSTANCE: name},
            preview_service=f"{name}-preview" if self.strategy == "blueGreen" else None,
            traffic=parse_traffic({"router": self.router, "gatewayAPI": {"parentRefs": [{"name": "gw"}]}}),
        )
        objs = router_for(self.router).desired_objects(ctx, self.weights)
        status = {"stableRevision": STABLE}
        if self.candidate:
            status["candidateRevision"] = CANDIDATE
        pods = [pod(STABLE, i) for i in range(4)]
        if self.candidate:
            pods += [pod(CANDIDATE, i) for i in range(4)]
        return ModelSnapshot(
            namespace=namespace,
            name=name,
            model_deployment={
                "spec": {"traffic": {"router": self.router}, "rollout": {"strategy": self.strategy}},
                "status": status,
            },
            services=[o for o in objs if o["kind"] == "Service"],
            pods=pods,
            nodes=[NODE],
            http_routes=[o for o in objs if o["kind"] == "HTTPRoute"],
            virtual_services=[o for o in objs if o["kind"] == "VirtualService"],
        )


def samples(sim: Simulator) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    out = {}
    for family in text_string_to_metric_families(generate_latest(sim.metrics.registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(sim: Simulator, name: str, **labels: str) -> float:
    wanted = tuple(sorted(labels.items()))
    return samples(sim).get((name, wanted), 0.0)


def req_labels(revision: str, code: str) -> dict[str, str]:
    return {"namespace": NS, "model": MD, "revision": revision, "region": "eu-central-1", "code": code}


def total(sim: Simulator, revision: str) -> float:
    return value(sim, "modelserve_requests_total", **req_labels(revision, "200")) + value(
        sim, "modelserve_requests_total", **req_labels(revision, "500")
    )


def test_requests_follow_the_route_weights_and_carry_the_contract_labels() -> None:
    sim = Simulator(FakeReader("gatewayAPI", Weights(80, 20)), NS, MD, rps=50, seed=1)
    for _ in range(20):
        sim.tick()
    assert total(sim, STABLE) == 800
    assert total(sim, CANDIDATE) == 200
    hist = {"namespace": NS, "model": MD, "revision": CANDIDATE, "region": "eu-central-1"}
    assert value(sim, "modelserve_request_duration_seconds_count", **hist) == 200
    assert value(sim, "modelserve_request_duration_seconds_bucket", **hist, le="+Inf") == 200
    assert value(sim, "modelserve_request_duration_seconds_bucket", **hist, le="0.005") == 0
    gauge = {"namespace": NS, "model": MD, "revision": CANDIDATE}
    assert value(sim, "modelserve_model_accuracy", **gauge) == pytest.approx(0.95)
    assert value(sim, "modelserve_prediction_confidence", **gauge) == pytest.approx(0.90)
    assert value(sim, "modelserve_drift_score", **gauge) == pytest.approx(0.05)
    assert sim.history()[-1].weights == {STABLE: 80.0, CANDIDATE: 20.0}
    assert sim.totals()[CANDIDATE].served == 200


def test_error_series_exist_at_zero_before_the_first_error() -> None:
    sim = Simulator(FakeReader("istio", Weights(100, 0)), NS, MD, rps=10, seed=1)
    sim.set_behaviour("default", error_rate=0.0)
    sim.tick()
    # Candidate pods exist but have no traffic yet: their series are there, at zero.
    assert ("modelserve_requests_total", tuple(sorted(req_labels(CANDIDATE, "500").items()))) in samples(sim)
    assert value(sim, "modelserve_requests_total", **req_labels(STABLE, "500")) == 0
    assert total(sim, CANDIDATE) == 0


def test_candidate_behaviour_is_resolved_from_status() -> None:
    sim = Simulator(FakeReader("gatewayAPI", Weights(50, 50)), NS, MD, rps=100, seed=7)
    sim.set_behaviour("candidate", error_rate=0.2, latency_ms=400)
    for _ in range(20):
        sim.tick()
    errors_c = value(sim, "modelserve_requests_total", **req_labels(CANDIDATE, "500"))
    errors_s = value(sim, "modelserve_requests_total", **req_labels(STABLE, "500"))
    assert 150 < errors_c < 250  # 1000 requests at 20 %
    assert errors_s < 20  # 1000 requests at 0.5 %
    hist = {"namespace": NS, "model": MD, "region": "eu-central-1"}
    mean_c = value(sim, "modelserve_request_duration_seconds_sum", revision=CANDIDATE, **hist) / value(
        sim, "modelserve_request_duration_seconds_count", revision=CANDIDATE, **hist
    )
    assert 0.35 < mean_c < 0.5
    assert sim.behaviour_of(CANDIDATE).latency_ms == 400
    assert sim.behaviour_of(STABLE).latency_ms == 50


def test_mirror_counts_for_the_candidate_without_taking_stable_traffic() -> None:
    sim = Simulator(FakeReader("gatewayAPI", Weights(100, 0, 50)), NS, MD, rps=20, seed=1)
    for _ in range(10):
        sim.tick()
    assert total(sim, STABLE) == 200
    assert total(sim, CANDIDATE) == 100
    totals = sim.totals()
    assert totals[CANDIDATE].mirrored == 100 and totals[CANDIDATE].served == 0
    assert sim.history()[-1].mirrors == {CANDIDATE: 50.0}


def test_blue_green_preview_gets_smoke_traffic() -> None:
    sim = Simulator(
        FakeReader("replicas", Weights(100, 0), strategy="blueGreen"), NS, MD, rps=20, preview_rps=8, seed=1
    )
    for _ in range(10):
        sim.tick()
    assert total(sim, STABLE) == 200
    assert sim.totals()[CANDIDATE].preview == 80


def test_a_failed_read_keeps_the_last_split() -> None:
    reader = FakeReader("istio", Weights(70, 30))
    sim = Simulator(reader, NS, MD, rps=10, seed=1)
    sim.tick()
    reader.fail = True
    sim.tick()
    assert total(sim, STABLE) + total(sim, CANDIDATE) == 20


def test_same_seed_same_outcomes() -> None:
    def run(seed: int) -> float:
        sim = Simulator(FakeReader("gatewayAPI", Weights(50, 50)), NS, MD, rps=100, seed=seed)
        for _ in range(5):
            sim.tick()
        return value(
            sim,
            "modelserve_request_duration_seconds_sum",
            namespace=NS,
            model=MD,
            revision=STABLE,
            region="eu-central-1",
        )

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_metrics_endpoint_serves_the_registry() -> None:
    sim = Simulator(FakeReader(), NS, MD, rps=10, seed=1)
    sim.tick()
    sim.start()
    try:
        assert sim.port > 0
        with urllib.request.urlopen(sim.url, timeout=5) as resp:
            text = resp.read().decode()
        assert 'modelserve_requests_total{code="200"' in text
    finally:
        sim.stop()


def test_behaviour_resolution_order() -> None:
    by_rev, cand, stab, dflt = (Behaviour(error_rate=x) for x in (0.1, 0.2, 0.3, 0.4))
    table = {STABLE: by_rev, "candidate": cand, "stable": stab, "default": dflt}
    assert resolve_behaviour(STABLE, table, STABLE, CANDIDATE) is by_rev
    assert resolve_behaviour(CANDIDATE, table, STABLE, CANDIDATE) is cand
    assert resolve_behaviour("other", table, "other", None) is stab
    assert resolve_behaviour("zzz", table, STABLE, CANDIDATE) is dflt
    assert resolve_behaviour("zzz", {}, None, None) == Behaviour()


def test_behaviour_validation_and_cli_form() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        Behaviour(error_rate=1.5)
    with pytest.raises(TypeError, match="unknown behaviour field"):
        Behaviour().with_changes(eror_rate=0.1)
    assert parse_behaviour_option("candidate:error_rate=0.05,latency_ms=200") == (
        "candidate",
        {"error_rate": 0.05, "latency_ms": 200.0},
    )
    with pytest.raises(ValueError, match="SELECTOR"):
        parse_behaviour_option("candidate")


def test_lognormal_latency_median_and_p95() -> None:
    rng = np.random.default_rng(0)
    behaviour = Behaviour(latency_ms=50, latency_sigma=0.3)
    out = simulate_requests(rng, behaviour, 20000)
    assert np.median(out.latencies_seconds) * 1000 == pytest.approx(50, rel=0.03)
    assert np.quantile(out.latencies_seconds, 0.95) * 1000 == pytest.approx(
        behaviour.latency_quantile_ms(0.95), rel=0.05
    )
    assert out.errors == pytest.approx(100, abs=35)
