"""SLAPolicy e2e: the real operator, control plane and Prometheus, fed by a tiny metrics emitter.

The emitter below serves the metric contract (docs/analysis.md) for a few models; its counters are a
function of time (`rps` requests per second, a fraction of them `code="500"`), so every error ratio
Prometheus computes from them is exact, whatever the scrape timing. Policies use `window: 1h`; they are
younger than that, so the status is computed over the elapsed part of the window (docs/sla.md,
"Partial windows") — the ratios, and so attainment, budget and burn rates, do not depend on how long.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from modelserve.localcluster.cluster import OPERATOR_USER
from modelserve.slo import parse_sla_policy, render_rule_groups

from tests.e2e.harness import Kube, condition, operator_writes, wait_until
from tests.e2e.test_foundation import model_deployment, ready

REGION = "eu-central-1"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
PROMETHEUS_RULE_CRD = "monitoring.coreos.com_prometheusrules.yaml"


# ------------------------------------------------------------------------------------ the emitter
class _Traffic:
    """Counters of one model as a function of time; changing the error fraction keeps what was counted."""

    def __init__(self, rps: float, error_fraction: float, revision: str):
        self.revision = revision
        self.rps = rps
        self.error_fraction = error_fraction
        self.since = time.time()
        self.base_total = 0.0
        self.base_errors = 0.0

    def counts(self, now: float) -> tuple[float, float]:
        span = max(0.0, now - self.since)
        return (self.base_total + self.rps * span, self.base_errors + self.rps * span * self.error_fraction)

    def set_error_fraction(self, fraction: float) -> None:
        now = time.time()
        self.base_total, self.base_errors = self.counts(now)
        self.since, self.error_fraction = now, fraction


class MetricsEmitter:
    """An HTTP /metrics endpoint with `modelserve_requests_total` and the request-duration histogram
    for the models added (every request takes ~30 ms, so it lands in the le=0.05 bucket and above)."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.models: dict[str, _Traffic] = {}
        self.lock = threading.Lock()
        emitter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = emitter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def add_model(self, model: str, rps: float, error_fraction: float, revision: str = "r1") -> None:
        with self.lock:
            self.models[model] = _Traffic(rps, error_fraction, revision)

    def set_error_fraction(self, model: str, fraction: float) -> None:
        with self.lock:
            self.models[model].set_error_fraction(fraction)

    def render(self) -> str:
        now = time.time()
        lines = [
            "# TYPE modelserve_requests_total counter",
            "# TYPE modelserve_request_duration_seconds histogram",
        ]
        with self.lock:
            for model, traffic in sorted(self.models.items()):
                total, errors = traffic.counts(now)
                base = (
                    f'namespace="{self.namespace}",model="{model}",revision="{traffic.revision}",'
                    f'region="{REGION}"'
                )
                lines.append(f'modelserve_requests_total{{{base},code="200"}} {total - errors!r}')
                lines.append(f'modelserve_requests_total{{{base},code="500"}} {errors!r}')
                for le in LATENCY_BUCKETS:
                    count = total if le >= 0.05 else 0.0
                    lines.append(f'modelserve_request_duration_seconds_bucket{{{base},le="{le}"}} {count!r}')
                lines.append(f'modelserve_request_duration_seconds_bucket{{{base},le="+Inf"}} {total!r}')
                lines.append(f"modelserve_request_duration_seconds_count{{{base}}} {total!r}")
                lines.append(f"modelserve_request_duration_seconds_sum{{{base}}} {0.03 * total!r}")
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def emitter(namespace: str, prometheus: Any) -> Iterator[MetricsEmitter]:
    em = MetricsEmitter(namespace)
    job = f"sla-{namespace}"
    prometheus.add_target(job, em.address)
    prometheus.reload()
    try:
        yield em
    finally:
        prometheus.remove_job(job)
        prometheus.reload()
        em.stop()


# ------------------------------------------------------------------------------------------ helpers
def sla_policy(
    name: str,
    *,
    target: float = 95.0,
    window: str = "1h",
    selector: dict | None = None,
    budget_policy: str = "warn",
) -> dict:
    spec: dict[str, Any] = {
        "window": window,
        "objectives": [{"name": "availability", "type": "availability", "target": target}],
        "credits": [{"below": 99.0, "percent": 10}, {"below": 90.0, "percent": 50}],
        "errorBudgetPolicy": budget_policy,
    }
    if selector is not None:
        spec["selector"] = selector
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "SLAPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def model(name: str, *, ref: str | None = None, labels: dict | None = None, version: str = "1") -> dict:
    md = model_deployment(name, version=version, replicas=1)
    if ref:
        md["spec"]["slaPolicyRef"] = {"name": ref}
    if labels:
        md["metadata"]["labels"] = labels
    return md


def policy_status(kube: Kube, name: str, namespace: str) -> dict:
    return (kube.get("slapolicy", name, namespace) or {}).get("status") or {}


def model_entry(kube: Kube, policy: str, model_name: str, namespace: str) -> dict | None:
    for entry in policy_status(kube, policy, namespace).get("models") or []:
        if entry.get("name") == model_name:
            return entry
    return None


def measured_entry(
    kube: Kube, policy: str, model_name: str, namespace: str, timeout: float = 180, check: Any = None
) -> dict:
    """Wait for the model's entry to carry an attainment percent (and satisfy `check`)."""

    def entry() -> dict | None:
        e = model_entry(kube, policy, model_name, namespace)
        if e and e.get("attainment") and "percent" in e["attainment"][0] and (check is None or check(e)):
            return e
        return None

    return wait_until(entry, timeout, interval=1, what=f"SLAPolicy {policy} status for model {model_name}")


def events_for(kube: Kube, namespace: str, name: str, reason: str) -> list[dict]:
    return [
        e
        for e in kube.items("events", namespace)
        if e.get("involvedObject", {}).get("name") == name and e.get("reason") == reason
    ]


def prometheus_rule_crd() -> Path | None:
    """The PrometheusRule CRD from the pinned prometheus-operator Go module (downloaded through the
    Go module proxy into the module cache when missing; never copied into the repo)."""
    from modelserve.localcluster.versions import go_module_dir, versions

    try:
        root = go_module_dir(
            "github.com/prometheus-operator/prometheus-operator", versions()["PROMETHEUS_OPERATOR_VERSION"]
        )
    except Exception:
        return None
    path = root / "example" / "prometheus-operator-crd" / PROMETHEUS_RULE_CRD
    return path if path.exists() else None


# --------------------------------------------------------------------------------------------- tests
def test_status_numbers_from_a_controlled_error_rate(
    kube: Kube, namespace: str, operator: Any, emitter: MetricsEmitter
) -> None:
    """2% errors at 50 req/s against 95% availability: attainment 98%, budget remaining
    1 - 0.02/0.05 = 60%, burn rate 0.02/0.05 = 0.4 over every window with data, credit 10% (98 is
    below 99 but not below 90). Exact ratios, so tight tolerances."""
    emitter.add_model("scorer", rps=50, error_fraction=0.02)
    kube.apply(
        [
            sla_policy("silver", selector={"matchLabels": {"sla": "silver"}}),
            model("scorer", labels={"sla": "silver"}),
        ],
        namespace,
    )

    entry = measured_entry(
        kube, "silver", "scorer", namespace, check=lambda e: len(e.get("burnRates") or []) >= 5
    )
    attainment = entry["attainment"][0]
    assert attainment["objective"] == "availability" and attainment["target"] == 95
    assert attainment["percent"] == pytest.approx(98.0, abs=0.01)
    assert attainment["compliant"] is True
    assert entry["errorBudgetRemainingPercent"] == pytest.approx(60.0, abs=0.1)
    assert {b["window"] for b in entry["burnRates"]} == {"5m", "30m", "1h", "6h", "3d"}
    for burn in entry["burnRates"]:
        assert burn["rate"] == pytest.approx(0.4, abs=0.005), burn
    assert entry["compliant"] is True and entry["exhausted"] is False
    assert entry["creditPercent"] == 10
    # 60% of the elapsed window left at 0.4x: 1.5 elapsed windows; a few minutes at this point.
    assert re.fullmatch(r"(\d+[dhms]){1,2}", entry["budgetTimeRemaining"]), entry["budgetTimeRemaining"]

    status = policy_status(kube, "silver", namespace)
    assert status["compliant"] is True
    assert status["errorBudgetRemainingPercent"] == pytest.approx(60.0, abs=0.1)
    assert condition({"status": status}, "MetricsAvailable")["status"] == "True"
    assert condition({"status": status}, "Compliant")["status"] == "True"
    assert status["observedGeneration"] == 1

    # The ModelDeployment's status.sla mirrors it.
    md = wait_until(
        lambda: (
            (m := kube.get("modeldeployment", "scorer", namespace))
            and (m.get("status") or {}).get("sla", {}).get("errorBudgetRemainingPercent") is not None
            and m
        ),
        60,
        what="status.sla on the ModelDeployment",
    )
    sla = md["status"]["sla"]
    assert sla["policy"] == "silver" and sla["compliant"] is True and sla["frozen"] is False
    assert sla["errorBudgetRemainingPercent"] == pytest.approx(60.0, abs=0.1)

    # The operator exports the same numbers.
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    pattern = r'modelserve_slo_attainment_percent\{[^}]*namespace="' + namespace + r'"[^}]*\} ([0-9.e+-]+)'
    values = [float(v) for v in re.findall(pattern, text)]
    assert values and values[0] == pytest.approx(98.0, abs=0.01)


def test_generated_rules_page_under_a_fast_burn(
    namespace: str, prometheus: Any, emitter: MetricsEmitter
) -> None:
    """The rule groups loaded into a real Prometheus: 50% errors against 99% is a 50x burn, above
    every tier (14.4x and 6x page, 1x ticket). The alerts have no `for:`, so they fire as soon as both
    windows of a tier have two samples; a model at 0.05% errors (0.05x) never alerts."""
    emitter.add_model("burning", rps=50, error_fraction=0.5)
    emitter.add_model("healthy", rps=50, error_fraction=0.0005)
    spec = parse_sla_policy(sla_policy("gold", target=99.0, selector={})["spec"])
    # 5s instead of 1m evaluation so that the test does not wait for minutes; the rules are the same.
    groups = render_rule_groups("gold", namespace, spec, ["burning", "healthy"], evaluation_interval="5s")
    assert all("for" not in rule for g in groups for rule in g["rules"])
    prometheus.write_rules(f"sla-{namespace}", {"groups": groups})
    prometheus.reload()
    try:

        def firing(model_name: str, severity: str | None = None) -> list[dict]:
            query = (
                f'ALERTS{{alertname=~"ModelServeSLOBurnRate.*", alertstate="firing",'
                f' namespace="{namespace}", model="{model_name}"'
                + (f', severity="{severity}"' if severity else "")
                + "}"
            )
            return prometheus.query(query)

        started = time.monotonic()
        alerts = wait_until(
            lambda: len(firing("burning", "page")) >= 2 and firing("burning", "page"),
            120,
            interval=2,
            what="page alerts for the burning model",
        )
        elapsed = time.monotonic() - started
        labels = {(a["metric"]["long_window"], a["metric"]["short_window"]) for a in alerts}
        assert labels == {("1h", "5m"), ("6h", "30m")}
        for alert in alerts:
            assert alert["metric"]["alertname"] == "ModelServeSLOBurnRatePage"
            assert alert["metric"]["sla_policy"] == "gold" and alert["metric"]["objective"] == "availability"
        assert wait_until(lambda: firing("burning", "ticket"), 30, what="ticket alert")
        burn = prometheus.query(
            f'modelserve:sli_error_ratio:rate1h{{namespace="{namespace}", model="burning"}} / 0.01'
        )
        assert float(burn[0]["value"][1]) == pytest.approx(50.0, rel=0.01)
        assert firing("healthy") == []
        print(f"page alerts fired {elapsed:.0f}s after the rules were loaded")
    finally:
        (Path(prometheus.rules_dir) / f"sla-{namespace}.yaml").unlink(missing_ok=True)
        prometheus.reload()


def test_without_the_prometheus_rule_crd_rules_are_not_ready_and_a_quiet_policy_writes_nothing(
    kube: Kube, cluster: Any, namespace: str, operator: Any
) -> None:
    if kube.get("crd", "prometheusrules.monitoring.coreos.com") is not None:
        pytest.skip("the PrometheusRule CRD is installed in this cluster")
    kube.apply([sla_policy("bronze"), model("idle", ref="bronze")], namespace)

    def rules_missing() -> dict | None:
        status = policy_status(kube, "bronze", namespace)
        cond = condition({"status": status}, "RulesReady")
        ok = cond and cond["status"] == "False" and cond["reason"] == "PrometheusRuleCRDMissing"
        return status if ok and status.get("models") and "compliant" in status["models"][0] else None

    status = wait_until(rules_missing, 90, what="RulesReady=False/PrometheusRuleCRDMissing")
    assert status["rulesReady"] is False
    assert condition({"status": status}, "Ready")["status"] == "True"
    # No traffic: no data; the model counts as compliant with its whole budget.
    assert status["models"][0]["errorBudgetRemainingPercent"] == 100
    assert "percent" not in status["models"][0]["attainment"][0]

    # Nothing changes any more: over 20 s (more than one resync) the operator writes nothing here.
    time.sleep(5)
    start = time.time()
    time.sleep(20)
    writes = [
        w
        for w in operator_writes(cluster.audit_log, OPERATOR_USER, since=start)
        if (w.get("objectRef") or {}).get("namespace") == namespace
        and (w.get("objectRef") or {}).get("resource") in ("slapolicies", "prometheusrules")
    ]
    assert writes == [], [(w["verb"], w["objectRef"]) for w in writes]


def test_owned_prometheus_rule_is_applied_repaired_and_garbage_collected(
    kube: Kube, namespace: str, operator: Any
) -> None:
    crd = prometheus_rule_crd()
    if crd is None:
        pytest.skip(
            "the pinned prometheus-operator module could not be downloaded through the Go module proxy"
        )
    preinstalled = kube.get("crd", "prometheusrules.monitoring.coreos.com") is not None
    kube.run("apply", "--server-side", "-f", str(crd))
    kube.run(
        "wait", "--for=condition=Established", "crd/prometheusrules.monitoring.coreos.com", "--timeout=60s"
    )
    try:
        kube.apply(
            [
                sla_policy("gold", selector={"matchLabels": {"tier": "gold"}}),
                model("fraud", labels={"tier": "gold"}),
            ],
            namespace,
        )
        policy_uid = kube.get("slapolicy", "gold", namespace)["metadata"]["uid"]
        rule = wait_until(
            lambda: kube.get("prometheusrule", "modelserve-sla-gold", namespace),
            90,
            what="PrometheusRule modelserve-sla-gold",
        )
        ref = rule["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "SLAPolicy",
            "gold",
            policy_uid,
            True,
        )
        assert rule["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modelserve"
        exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
        assert any('model=~"fraud"' in e for e in exprs)
        wait_until(
            lambda: policy_status(kube, "gold", namespace).get("rulesReady") is True,
            60,
            what="status.rulesReady",
        )

        # Deleted by hand: recreated.
        kube.run("delete", "prometheusrule", "modelserve-sla-gold", "-n", namespace)
        again = wait_until(
            lambda: kube.get("prometheusrule", "modelserve-sla-gold", namespace),
            60,
            what="PrometheusRule recreated",
        )
        assert again["metadata"]["uid"] != rule["metadata"]["uid"]
        # Edited by hand: put back.
        kube.run(
            "patch",
            "prometheusrule",
            "modelserve-sla-gold",
            "-n",
            namespace,
            "--type=json",
            "-p",
            '[{"op": "replace", "path": "/spec/groups/0/interval", "value": "5m"}]',
        )
        wait_until(
            lambda: (
                kube.get("prometheusrule", "modelserve-sla-gold", namespace)["spec"]["groups"][0]["interval"]
                == "1m"
            ),
            60,
            what="PrometheusRule drift repaired",
        )

        # A second model joins through its label: the rule follows.
        kube.apply(model("churn", labels={"tier": "gold"}), namespace)
        wait_until(
            lambda: any(
                'model=~"churn|fraud"' in r["expr"]
                for g in kube.get("prometheusrule", "modelserve-sla-gold", namespace)["spec"]["groups"]
                for r in g["rules"]
            ),
            60,
            what="rule covering both models",
        )

        # The policy goes: the garbage collector removes its rule.
        kube.run("delete", "slapolicy", "gold", "-n", namespace)
        wait_until(
            lambda: kube.get("prometheusrule", "modelserve-sla-gold", namespace) is None,
            60,
            what="PrometheusRule garbage-collected",
        )
    finally:
        if not preinstalled:
            kube.run("delete", "-f", str(crd), "--wait=false", check=False)
    if not preinstalled:
        # The optional CRD going away must not stop the operator (kopf treated its watch's 404 as
        # fatal while it watched PrometheusRules): once the CRD is gone, a new model still becomes Ready.
        wait_until(
            lambda: kube.get("crd", "prometheusrules.monitoring.coreos.com") is None,
            60,
            what="the PrometheusRule CRD removed",
        )
        kube.apply(model("after-crd"), namespace)
        wait_until(
            lambda: (
                (kube.get("modeldeployment", "after-crd", namespace).get("status") or {}).get("phase")
                == "Ready"
            ),
            90,
            what="a model Ready after the PrometheusRule CRD was removed",
        )
        assert operator.alive(), operator.log()[-3000:]


def test_exhausted_budget_freezes_a_rollout_until_overridden(
    kube: Kube, namespace: str, operator: Any, emitter: MetricsEmitter
) -> None:
    """50% errors against 95% availability spend the budget at once; with freezeRollouts a new
    version waits (phase Frozen, an Event, no candidate Deployment) until the override annotation."""
    emitter.add_model("ranker", rps=50, error_fraction=0.5)
    kube.apply(
        [sla_policy("strict", budget_policy="freezeRollouts"), model("ranker", ref="strict")], namespace
    )
    ready(kube, "ranker", namespace)
    entry = measured_entry(kube, "strict", "ranker", namespace, check=lambda e: e.get("exhausted"))
    assert entry["errorBudgetRemainingPercent"] == 0 and entry["compliant"] is False
    events = wait_until(
        lambda: events_for(kube, namespace, "strict", "ErrorBudgetExhausted"),
        30,
        what="ErrorBudgetExhausted Event",
    )
    assert "frozen" in events[0]["message"]
    wait_until(
        lambda: (kube.get("modeldeployment", "ranker", namespace)["status"].get("sla") or {}).get("frozen"),
        60,
        what="status.sla.frozen",
    )

    stable = kube.get("modeldeployment", "ranker", namespace)["status"]["stableRevision"]
    kube.run(
        "patch",
        "modeldeployment",
        "ranker",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"model": {"version": "2", "uri": "s3://models/ranker/2"}}}',
    )
    md = wait_until(
        lambda: (
            (m := kube.get("modeldeployment", "ranker", namespace))["status"].get("phase") == "Frozen" and m
        ),
        60,
        what="phase Frozen",
    )
    assert not md["status"].get("candidateRevision")
    frozen_events = wait_until(
        lambda: events_for(kube, namespace, "ranker", "RolloutFrozen"), 30, what="RolloutFrozen Event"
    )
    assert "error budget" in frozen_events[0]["message"]
    time.sleep(5)  # a few reconciles later, still no candidate workload
    deployments = kube.items("deployments", namespace, selector="app.kubernetes.io/instance=ranker")
    assert {d["metadata"]["labels"]["modelserve.io/revision"] for d in deployments} == {stable}

    kube.run("annotate", "modeldeployment", "ranker", "-n", namespace, "modelserve.io/override-freeze=true")

    def started() -> bool:
        md = kube.get("modeldeployment", "ranker", namespace)
        revisions = {
            d["metadata"]["labels"]["modelserve.io/revision"]
            for d in kube.items("deployments", namespace, selector="app.kubernetes.io/instance=ranker")
        }
        return bool(md["status"].get("candidateRevision")) or len(revisions) > 1

    wait_until(started, 60, interval=0.3, what="the rollout to start under the override")
    assert (kube.get("modeldeployment", "ranker", namespace)["status"].get("sla") or {}).get(
        "frozen"
    ) is False


def test_a_model_named_by_one_policy_and_selected_by_others_reports_under_the_named_one(
    kube: Kube, namespace: str, operator: Any
) -> None:
    gold = {"matchLabels": {"tier": "gold"}}
    kube.apply(
        [
            sla_policy("aaa", selector=gold),
            sla_policy("bbb", selector=gold),
            sla_policy("zzz"),
            model("named", labels={"tier": "gold"}, ref="zzz"),
            model("plain", labels={"tier": "gold"}),
        ],
        namespace,
    )

    def names(policy: str) -> list[str]:
        return [e["name"] for e in policy_status(kube, policy, namespace).get("models") or []]

    wait_until(lambda: names("zzz") == ["named"] and names("aaa") == ["plain"], 180, what="model lists")
    assert names("bbb") == []
    wait_until(
        lambda: (
            (kube.get("modeldeployment", "named", namespace)["status"].get("sla") or {}).get("policy")
            == "zzz"
        ),
        60,
        what="status.sla.policy of the named model",
    )
    # `plain` is selected by aaa and bbb: aaa governs it (first by name), both say so.
    for policy in ("aaa", "bbb"):
        cond = wait_until(
            lambda p=policy: (
                (c := condition({"status": policy_status(kube, p, namespace)}, "ModelsSelected"))
                and c["reason"] == "AmbiguousSLAPolicy"
                and c
            ),
            60,
            what=f"ambiguity reported on {policy}",
        )
        assert "model plain" in cond["message"] and "aaa governs it" in cond["message"]
    assert events_for(kube, namespace, "aaa", "AmbiguousSLAPolicy")
