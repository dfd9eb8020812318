"""The SLAPolicy controller's pure parts and its shell against fakes (no cluster, no Prometheus)."""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelserve.cli.render import _render_extra
from modelserve.k8s.apply import status_patch
from modelserve.metrics_source import (
    MetricsUnavailable,
    PrometheusQuery,
    UnexpectedResult,
    parse_instant,
    parse_matrix,
    parse_vector,
)
from modelserve.reconcile import sla
from modelserve.slo import compute_model_status, parse_sla_policy, queries_for_status, window_elapsed_seconds
from modelserve.slo.governance import Governance, governance_for
from modelserve.slo.model import SpecError
from modelserve.slo.policy_status import (
    REASON_CRD_MISSING,
    REASON_PROMETHEUS_NOT_CONFIGURED,
    REASON_PROMETHEUS_UNAVAILABLE,
    REASON_QUERIED,
    REASON_RULES_APPLIED,
    MetricsOutcome,
    RulesOutcome,
    assemble_status,
    condition_events,
    invalid_spec_status,
    transition_events,
)
from modelserve.slo.queries import Measurement, WindowCounts
from modelserve.slo.rules import desired_prometheus_rule
from modelserve.slo.view import sla_view_from

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CREATED = "2025-06-01T10:00:00Z"  # two hours before NOW


def policy(
    name: str = "gold",
    *,
    selector: dict | None = None,
    window: str = "1h",
    budget_policy: str = "warn",
    status: dict | None = None,
    target: float = 99.0,
) -> dict:
    spec: dict[str, Any] = {
        "window": window,
        "objectives": [{"name": "availability", "type": "availability", "target": target}],
        "errorBudgetPolicy": budget_policy,
    }
    if selector is not None:
        spec["selector"] = selector
    body = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "SLAPolicy",
        "metadata": {
            "name": name,
            "namespace": "prod",
            "uid": f"uid-{name}",
            "generation": 1,
            "creationTimestamp": CREATED,
        },
        "spec": spec,
    }
    if status is not None:
        body["status"] = status
    return body


def model(
    name: str, *, labels: dict | None = None, ref: str | None = None, annotations: dict | None = None
) -> dict:
    spec: dict[str, Any] = {"model": {"name": name, "version": "1", "uri": "s3://m/1"}}
    if ref:
        spec["slaPolicyRef"] = {"name": ref}
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "name": name,
            "namespace": "prod",
            "labels": labels or {},
            "annotations": annotations or {},
            "creationTimestamp": CREATED,
        },
        "spec": spec,
    }


def model_status(spec_body: dict, name: str, good: float, total: float, burn_bad: float = 0.0) -> Any:
    spec = parse_sla_policy(spec_body)
    burn = {w: WindowCounts(total - burn_bad, total) for w in spec.burn_windows()}
    return compute_model_status(
        spec,
        {"availability": Measurement(WindowCounts(good, total), burn)},
        None,
        NOW,
        model=name,
        policy=spec_body["metadata"]["name"],
    )


# ------------------------------------------------------------------------------------- selection
def test_governance_ref_wins_and_ambiguity_is_reported_to_both_policies() -> None:
    policies = [
        policy("gold", selector={"matchLabels": {"tier": "gold"}}),
        policy("silver", selector={"matchLabels": {"team": "ml"}}),
        policy("bronze"),
    ]
    models = [
        model("a", labels={"tier": "gold"}),
        model("b", labels={"tier": "gold", "team": "ml"}),  # ambiguous: gold wins by name
        model("c", labels={"tier": "gold"}, ref="bronze"),  # names another policy: not gold's
        model("d", ref="silver"),
    ]
    gold = governance_for("prod", "gold", models, policies)
    silver = governance_for("prod", "silver", models, policies)
    bronze = governance_for("prod", "bronze", models, policies)
    assert gold.models == ("a", "b")
    assert silver.models == ("d",)
    assert bronze.models == ("c",)
    assert len(gold.ambiguous) == 1
    assert "model b" in gold.ambiguous[0] and "gold governs it" in gold.ambiguous[0]
    assert silver.ambiguous == gold.ambiguous
    assert bronze.ambiguous == ()


def test_a_policy_with_an_invalid_selector_selects_nothing_but_can_be_referenced() -> None:
    bad = policy("bad", selector={"matchExpressions": [{"key": "x", "operator": "In"}]})
    models = [model("a", labels={"x": "1"}), model("b", ref="bad")]
    assert governance_for("prod", "bad", models, [bad]).models == ("b",)


# ----------------------------------------------------------------------------------------- rules
def test_desired_rule_is_owned_by_the_policy_and_absent_without_models() -> None:
    body = policy(selector={})
    spec = parse_sla_policy(body)
    rule = desired_prometheus_rule(body, spec, ["a"])
    assert rule is not None
    ref = rule["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"]) == ("SLAPolicy", "gold", "uid-gold")
    assert ref["controller"] is True
    assert rule["metadata"]["name"] == "modelserve-sla-gold"
    assert desired_prometheus_rule(body, spec, []) is None
    live = copy.deepcopy(rule)
    live["metadata"].update(uid="x", resourceVersion="5", managedFields=[{}])
    assert sla.rule_up_to_date(rule, live)
    live["spec"]["groups"][0]["rules"][0]["expr"] = "vector(1)"
    assert not sla.rule_up_to_date(rule, live)
    assert not sla.rule_up_to_date(rule, None)


# ---------------------------------------------------------------------------------------- status
def _outcome(*statuses: Any) -> MetricsOutcome:
    return MetricsOutcome(True, REASON_QUERIED, "ok", {s.model: s for s in statuses})


RULES_OK = RulesOutcome(True, REASON_RULES_APPLIED, "up to date")


def test_status_aggregates_the_worst_model_and_is_deterministic() -> None:
    body = policy(selector={})
    good = model_status(body, "a", 999_500, 1_000_000)  # 99.95% of 99 -> budget 95%
    bad = model_status(body, "b", 970, 1000)  # 97% < 99: not compliant, budget overspent
    gov = Governance(("a", "b"))
    status = assemble_status(1, {}, gov, RULES_OK, _outcome(good, bad), NOW)
    assert status["compliant"] is False
    assert status["errorBudgetRemainingPercent"] == 0.0
    assert [m["name"] for m in status["models"]] == ["a", "b"]
    assert status["models"][0]["errorBudgetRemainingPercent"] == 95.0
    assert status["rulesReady"] is True
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Compliant"]["status"] == "False" and "b" in conds["Compliant"]["message"]
    assert conds["Ready"]["status"] == "True"
    assert conds["MetricsAvailable"]["status"] == "True"
    # Same findings later: nothing to write.
    again = assemble_status(1, status, gov, RULES_OK, _outcome(good, bad), NOW + timedelta(minutes=5))
    assert status_patch(status, again) is None


def test_unavailable_metrics_keep_the_last_numbers() -> None:
    body = policy(selector={})
    first = assemble_status(
        1, {}, Governance(("a",)), RULES_OK, _outcome(model_status(body, "a", 990, 1000)), NOW
    )
    down = MetricsOutcome(False, REASON_PROMETHEUS_UNAVAILABLE, "connection refused")
    later = assemble_status(1, first, Governance(("a", "new")), RULES_OK, down, NOW)
    assert later["models"][0] == first["models"][0]
    assert later["models"][1] == {"name": "new"}
    assert later["errorBudgetRemainingPercent"] == first["errorBudgetRemainingPercent"]
    conds = {c["type"]: c for c in later["conditions"]}
    assert (conds["MetricsAvailable"]["status"], conds["MetricsAvailable"]["reason"]) == (
        "False",
        "PrometheusUnavailable",
    )
    assert conds["Ready"]["status"] == "False"


def test_no_models_and_missing_crd() -> None:
    missing = RulesOutcome(False, REASON_CRD_MISSING, "no CRD")
    status = assemble_status(3, {}, Governance(()), missing, _outcome(), NOW)
    conds = {c["type"]: c for c in status["conditions"]}
    assert status["compliant"] is True and "errorBudgetRemainingPercent" not in status
    assert conds["RulesReady"]["status"] == "False"
    assert conds["RulesReady"]["reason"] == "PrometheusRuleCRDMissing"
    assert conds["Ready"]["status"] == "True"  # the status is still computed without the CRD
    assert conds["ModelsSelected"]["status"] == "False"
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])


def test_no_measurement_yet_leaves_compliance_unknown() -> None:
    down = MetricsOutcome(False, REASON_PROMETHEUS_NOT_CONFIGURED, "no url")
    status = assemble_status(1, {}, Governance(("a",)), RULES_OK, down, NOW)
    assert "compliant" not in status
    assert {c["type"]: c["status"] for c in status["conditions"]}["Compliant"] == "Unknown"


# ---------------------------------------------------------------------------------------- events
def _status_with(body: dict, *statuses: Any) -> dict:
    return assemble_status(
        1, {}, Governance(tuple(s.model for s in statuses)), RULES_OK, _outcome(*statuses), NOW
    )


def test_events_on_violation_exhaustion_and_recovery_only() -> None:
    body = policy(selector={}, budget_policy="freezeRollouts")
    spec = parse_sla_policy(body)
    healthy = _status_with(body, model_status(body, "a", 999, 1000))
    broken = _status_with(body, model_status(body, "a", 900, 1000))
    events = transition_events("gold", spec, healthy, broken)
    assert [(e.type, e.reason) for e in events] == [
        ("Warning", "SLOViolated"),
        ("Warning", "ErrorBudgetExhausted"),
    ]
    assert "availability 90% < target 99%" in events[0].message
    assert "frozen" in events[1].message and "override-freeze" in events[1].message
    assert transition_events("gold", spec, broken, broken) == []
    recovered = transition_events("gold", spec, broken, healthy)
    assert [e.reason for e in recovered] == ["SLORecovered", "ErrorBudgetRecovered"]
    # A model that starts out broken is reported once; an unmeasured one is not.
    assert [e.reason for e in transition_events("gold", spec, {}, broken)] == [
        "SLOViolated",
        "ErrorBudgetExhausted",
    ]
    assert transition_events("gold", spec, {}, {"models": [{"name": "a"}]}) == []


def test_condition_events_fire_once_per_new_problem() -> None:
    body = policy()
    err = SpecError("spec.objectives[0].target", "must be below 100")
    bad = invalid_spec_status(1, {}, err, NOW)
    events = condition_events({}, bad)
    assert [(e.reason, e.message) for e in events] == [
        ("InvalidSpec", "spec.objectives[0].target: must be below 100")
    ]
    assert condition_events(bad, invalid_spec_status(1, bad, err, NOW)) == []
    amb = assemble_status(
        1,
        {},
        Governance(("a",), ("model a is selected by several",)),
        RULES_OK,
        _outcome(model_status(body, "a", 1, 1)),
        NOW,
    )
    assert [e.reason for e in condition_events({}, amb)] == ["AmbiguousSLAPolicy"]
    assert condition_events(amb, amb) == []


# ------------------------------------------------------------------------------------ model view
def _exhausted_policy(name: str = "gold", budget_policy: str = "freezeRollouts", **kw: Any) -> dict:
    return policy(
        name,
        budget_policy=budget_policy,
        status={
            "models": [
                {"name": "a", "compliant": False, "errorBudgetRemainingPercent": 0.0, "exhausted": True}
            ]
        },
        **kw,
    )


def test_view_freezes_under_freeze_rollouts_and_the_annotation_overrides() -> None:
    md = model("a", ref="gold")
    view = sla_view_from(md, [_exhausted_policy()])
    assert view is not None and view.frozen
    assert "exhausted" in view.freeze_reason and "override-freeze" in view.freeze_reason
    assert view.status == {
        "policy": "gold",
        "compliant": False,
        "errorBudgetRemainingPercent": 0.0,
        "frozen": True,
    }
    assert view.gates and view.gates[0]["name"] == "slo-availability"
    assert view.gates[0]["max"] == pytest.approx(0.01 * 14.4)
    override = model("a", ref="gold", annotations={"modelserve.io/override-freeze": "true"})
    view = sla_view_from(override, [_exhausted_policy()])
    assert view is not None and not view.frozen and view.status["frozen"] is False
    warn = sla_view_from(md, [_exhausted_policy(budget_policy="warn")])
    assert warn is not None and not warn.frozen


def test_view_prefers_the_named_policy_and_is_none_when_ungoverned() -> None:
    by_selector = _exhausted_policy("aaa", selector={"matchLabels": {"tier": "gold"}})
    named = policy(
        "zzz",
        status={
            "models": [
                {"name": "a", "compliant": True, "errorBudgetRemainingPercent": 80.0, "exhausted": False}
            ]
        },
    )
    view = sla_view_from(model("a", labels={"tier": "gold"}, ref="zzz"), [by_selector, named])
    assert view is not None and view.policy == "zzz" and not view.frozen
    assert view.status["errorBudgetRemainingPercent"] == 80.0
    assert sla_view_from(model("a", ref="missing"), [named]) is None
    assert sla_view_from(model("a"), [named]) is None
    fresh = sla_view_from(model("a", ref="zzz"), [policy("zzz")])
    assert fresh is not None and fresh.status == {"policy": "zzz", "frozen": False}


# -------------------------------------------------------------------- the shell, against fakes
class FakeKube:
    def __init__(self, objects: list[dict], crd: bool = True):
        self.objects = {(o["kind"], o["metadata"]["name"]): o for o in objects}
        self.crd = crd
        self.writes: list[tuple[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        obj = self.objects.get((kind, name))
        return copy.deepcopy(obj) if obj else None

    def list(self, kind: str, namespace: str | None = None, **_: Any) -> list[dict]:
        return [copy.deepcopy(o) for (k, _n), o in sorted(self.objects.items()) if k == kind]

    def kind_installed(self, kind: str) -> bool:
        return self.crd

    def apply(self, obj: dict) -> dict:
        self.writes.append(("apply", obj["metadata"]["name"]))
        live = copy.deepcopy(obj)
        live["metadata"]["resourceVersion"] = "1"
        self.objects[(obj["kind"], obj["metadata"]["name"])] = live
        return live

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        self.writes.append(("delete", name))
        return self.objects.pop((kind, name), None) is not None

    def patch_status(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        self.writes.append(("status", name))
        status = self.objects[(kind, name)].setdefault("status", {})
        for k, v in patch.items():
            if v is None:
                status.pop(k, None)
            else:
                status[k] = copy.deepcopy(v)
        return self.objects[(kind, name)]

    def post_event(self, body: dict, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


class FakeQuery:
    """Answers the exact status queries of one policy/model with fixed counts."""

    def __init__(self, answers: dict[str, float | None]):
        self.answers = answers
        self.down = False

    def instant(self, promql: str, time: datetime | None = None) -> float | None:
        assert time == NOW
        if self.down:
            raise MetricsUnavailable("connection refused")
        return self.answers.get(promql)


def _answers(body: dict, name: str, good: float, total: float) -> dict[str, float | None]:
    spec = parse_sla_policy(body)
    elapsed = window_elapsed_seconds(spec.window_seconds, NOW, datetime(2025, 6, 1, 10, tzinfo=UTC))
    queries = queries_for_status(spec, "prod", name, elapsed_seconds=elapsed)
    return {q: (good if key.endswith("/good") else total) for key, q in queries.items()}


@pytest.fixture
def fake_prometheus(monkeypatch: pytest.MonkeyPatch) -> FakeQuery:
    body = policy(selector={})
    fake = FakeQuery(_answers(body, "a", 980, 1000))
    monkeypatch.setitem(sla._QUERY_CLIENTS, "http://prom", fake)
    return fake


def _ctx(kube: FakeKube, url: str | None = "http://prom") -> Any:
    return SimpleNamespace(kube=kube, prometheus_url=url, clock=lambda: NOW)


def test_reconcile_writes_once_then_nothing(fake_prometheus: FakeQuery) -> None:
    kube = FakeKube([policy(selector={}), model("a")])
    assert sla.reconcile_sla_policy(_ctx(kube), "prod", "gold") == sla.DEFAULT_INTERVAL_SECONDS
    assert kube.writes == [("apply", "modelserve-sla-gold"), ("status", "gold")]
    status = kube.objects[("SLAPolicy", "gold")]["status"]
    entry = status["models"][0]
    assert entry["attainment"][0]["percent"] == 98.0 and entry["exhausted"] is True
    assert status["compliant"] is False and status["errorBudgetRemainingPercent"] == 0.0
    assert [e[1] for e in kube.events] == ["SLOViolated", "ErrorBudgetExhausted"]
    kube.writes.clear()
    kube.events.clear()
    sla.reconcile_sla_policy(_ctx(kube), "prod", "gold")
    assert kube.writes == [] and kube.events == []
    # Drift: a hand-edited rule is put back.
    kube.objects[("PrometheusRule", "modelserve-sla-gold")]["spec"]["groups"] = []
    sla.reconcile_sla_policy(_ctx(kube), "prod", "gold")
    assert kube.writes == [("apply", "modelserve-sla-gold")]
    # Prometheus goes away: one status write (conditions), numbers kept, no events.
    kube.writes.clear()
    fake_prometheus.down = True
    sla.reconcile_sla_policy(_ctx(kube), "prod", "gold")
    assert kube.writes == [("status", "gold")] and kube.events == []
    assert kube.objects[("SLAPolicy", "gold")]["status"]["models"][0] == entry
    # The model leaves: the rule goes.
    del kube.objects[("ModelDeployment", "a")]
    kube.writes.clear()
    sla.reconcile_sla_policy(_ctx(kube), "prod", "gold")
    assert ("delete", "modelserve-sla-gold") in kube.writes


def test_reconcile_without_crd_or_prometheus_url() -> None:
    kube = FakeKube([policy(selector={}), model("a")], crd=False)
    sla.reconcile_sla_policy(_ctx(kube, url=None), "prod", "gold")
    status = kube.objects[("SLAPolicy", "gold")]["status"]
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["RulesReady"]["reason"] == "PrometheusRuleCRDMissing" and status["rulesReady"] is False
    assert conds["MetricsAvailable"]["reason"] == "PrometheusNotConfigured"
    assert status["models"] == [{"name": "a"}]
    assert [w for w in kube.writes if w[0] == "apply"] == []


def test_invalid_spec_is_reported_once_and_not_requeued() -> None:
    body = policy()
    body["spec"]["objectives"][0]["target"] = 100
    kube = FakeKube([body])
    assert sla.reconcile_sla_policy(_ctx(kube), "prod", "gold") is None
    conditions = kube.objects[("SLAPolicy", "gold")]["status"]["conditions"]
    cond = next(c for c in conditions if c["type"] == "Ready")
    assert cond["reason"] == "InvalidSpec" and "spec.objectives[0].target" in cond["message"]
    assert [e[1] for e in kube.events] == ["InvalidSpec"]
    sla.reconcile_sla_policy(_ctx(kube), "prod", "gold")
    assert len(kube.events) == 1 and kube.writes == [("status", "gold")]


def test_deleted_policy_is_not_requeued() -> None:
    assert sla.reconcile_sla_policy(_ctx(FakeKube([])), "prod", "gold") is None


def test_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sla.INTERVAL_ENV, "5")
    assert sla.sla_interval_seconds() == 5.0
    monkeypatch.setenv(sla.INTERVAL_ENV, "soon")
    assert sla.sla_interval_seconds() == sla.DEFAULT_INTERVAL_SECONDS


# ---------------------------------------------------------------------------- handler filtering
class FakeQueue:
    def __init__(self) -> None:
        self.known: set = set()
        self.added: list = []

    def add(self, key: Any, after: float = 0.0) -> None:
        self.known.add(key)
        self.added.append(key)

    def forget(self, key: Any) -> None:
        self.known.discard(key)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_handlers_ignore_status_only_updates() -> None:
    from modelserve.handlers import sla as handlers

    memo = SimpleNamespace(queue=FakeQueue())
    body = policy()
    run(handlers.queue_sla_policy(type="ADDED", body=body, name="gold", namespace="prod", memo=memo))
    run(handlers.queue_sla_policy(type="MODIFIED", body=body, name="gold", namespace="prod", memo=memo))
    assert memo.queue.added == [("SLAPolicy", "prod", "gold")]
    body["metadata"]["generation"] = 2
    run(handlers.queue_sla_policy(type="MODIFIED", body=body, name="gold", namespace="prod", memo=memo))
    assert len(memo.queue.added) == 2
    md = model("a")
    run(handlers.queue_policies_for_model(type="ADDED", body=md, name="a", namespace="prod", memo=memo))
    run(
        handlers.queue_policies_for_model(
            type="MODIFIED", body={**md, "status": {"phase": "Ready"}}, name="a", namespace="prod", memo=memo
        )
    )
    assert len(memo.queue.added) == 3
    md["metadata"]["labels"] = {"tier": "gold"}
    run(handlers.queue_policies_for_model(type="MODIFIED", body=md, name="a", namespace="prod", memo=memo))
    assert len(memo.queue.added) == 4
    # No kopf watch on the optional PrometheusRule CRD (its removal stopped kopf): the resync repairs
    # a rule's drift.
    assert not hasattr(handlers, "queue_policy_for_rule")
    run(handlers.queue_sla_policy(type="DELETED", body=body, name="gold", namespace="prod", memo=memo))
    assert ("SLAPolicy", "prod", "gold") not in memo.queue.known


# --------------------------------------------------------------------------------- metrics source
def test_parsers() -> None:
    vec = [{"metric": {"model": "a"}, "value": [1, "2.5"]}, {"metric": {"model": "b"}, "value": [1, "NaN"]}]
    assert parse_vector(vec)[0] == ({"model": "a"}, 2.5)
    assert parse_instant([]) is None
    assert parse_instant([1, "3"]) == 3.0
    assert parse_instant(vec[1:]) is None
    with pytest.raises(UnexpectedResult):
        parse_instant(vec)
    with pytest.raises(UnexpectedResult):
        parse_vector([{"metric": {}, "values": [[1, "1"]]}])
    matrix = parse_matrix([{"metric": {"a": "1"}, "values": [[1, "1"], [2, "3"]]}])
    assert matrix == [({"a": "1"}, [(1.0, 1.0), (2.0, 3.0)])]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=5))
def test_parse_vector_keeps_every_value(values: list[float]) -> None:
    raw = [{"metric": {"i": str(i)}, "value": [0, repr(v)]} for i, v in enumerate(values)]
    assert [v for _, v in parse_vector(raw)] == values


def test_query_failures_become_metrics_unavailable() -> None:
    class Broken:
        def custom_query(self, *a: Any, **k: Any) -> Any:
            raise ConnectionError("refused")

        def custom_query_range(self, *a: Any, **k: Any) -> Any:
            raise ConnectionError("refused")

    q = PrometheusQuery("http://x", backend=Broken())
    with pytest.raises(MetricsUnavailable):
        q.instant("up")
    with pytest.raises(MetricsUnavailable):
        q.range("up", NOW - timedelta(hours=1), NOW, 60)
    started = time.monotonic()
    with pytest.raises(MetricsUnavailable):
        PrometheusQuery("http://127.0.0.1:1", timeout_seconds=1).instant("up")
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------------------------------- render
def test_render_extra_prints_the_rule_for_the_models_in_the_files() -> None:
    docs = [
        policy(selector={"matchLabels": {"tier": "gold"}}),
        policy("unused", selector={"matchLabels": {"x": "y"}}),
        model("a", labels={"tier": "gold"}),
        model("b"),
    ]
    for d in docs:
        d["metadata"].pop("namespace")
    out = _render_extra(docs, "ml")
    assert [o["metadata"]["name"] for o in out] == ["modelserve-sla-gold"]
    text = str(out[0]["spec"])
    assert 'model=~"a"' in text and 'namespace="ml"' in text
    assert out[0]["metadata"]["ownerReferences"][0]["name"] == "gold"
    # A policy file on its own: rules for every model of the namespace.
    alone = _render_extra([policy(selector={})], "ml")
    assert len(alone) == 1 and "model=~" not in str(alone[0]["spec"])
    bad = policy()
    bad["spec"]["window"] = "soon"
    with pytest.raises(SystemExit, match=r"spec\.window"):
        _render_extra([bad], "ml")


def test_a_policy_deleted_mid_reconcile_is_dropped_quietly(fake_prometheus: FakeQuery) -> None:
    from modelserve.k8s.client import NotFound

    class Vanishing(FakeKube):
        def patch_status(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
            raise NotFound("gone")

    kube = Vanishing([policy(selector={}), model("a")])
    assert sla.reconcile_sla_policy(_ctx(kube), "prod", "gold") is None
