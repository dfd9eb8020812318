"""The runtime catalogue, the pods it renders, its metric mapping and the ModelFetchFailed condition.

Pure: no cluster. The catalogue's metric names are checked against excerpts of each runtime's own
source or docs (tests/data/runtime_sources/, with repository, path, commit and licence).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from modelserve.analysis.contract import (
    PRESETS,
    QueryTarget,
    gate_queries,
    preset_for_runtime,
)
from modelserve.analysis.judge import GateSpec
from modelserve.api import constants as c
from modelserve.api.modeldeployment import (
    SpecError,
    legacy_revision_hash,
    parse_model_deployment,
    revision_hash,
)
from modelserve.api.revisions import encode, spec_for_revision
from modelserve.builders.serving import startup_failure_threshold
from modelserve.planner.model_fetch import fetch_condition, fetch_events, fetch_failures
from modelserve.planner.modeldeployment import Observed, plan_model_deployment
from modelserve.runtimes import (
    CUSTOM,
    builtin_catalogue,
    load_catalogue,
    pod_monitor_relabelings,
    prometheus_relabel_configs,
    resolve_runtime,
    scrape_target_labels,
)
from modelserve.runtimes.catalogue import builtin_data

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "tests" / "data" / "runtime_sources"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CATALOGUE = builtin_catalogue()


def md(model: dict | None = None, runtime: dict | None = None, **extra: object) -> dict:
    spec: dict = {
        "model": {"name": "fraud", "version": "1", "uri": "s3://models/fraud/1/", "format": "sklearn"},
        "replicas": 2,
    }
    if model:
        spec["model"].update(model)
    if runtime is not None:
        spec["runtime"] = runtime
    spec.update(extra)
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud", "namespace": "ml", "uid": "u-1", "generation": 1},
        "spec": spec,
    }


def deployment(body: dict, observed: Observed | None = None) -> dict:
    plan = plan_model_deployment(body, observed or Observed(), NOW)
    deps = [o for o in plan.desired if o["kind"] == "Deployment"]
    assert len(deps) == 1, plan.status
    return deps[0]


def pod(body: dict) -> dict:
    return deployment(body)["spec"]["template"]


# --- the catalogue ---------------------------------------------------------------------------------------
def test_builtin_catalogue_serves_the_issue_formats_with_pinned_images() -> None:
    formats = CATALOGUE.formats()
    for f in ("sklearn", "xgboost", "lightgbm", "mlflow"):
        assert formats[f] == "mlserver"
    for f in ("onnx", "pytorch", "tensorflow", "tensorrt"):
        assert formats[f] == "triton"
    assert formats["llm"] == formats["huggingface"] == "vllm"
    assert "custom" not in formats
    for name, entry in CATALOGUE.runtimes.items():
        if name != CUSTOM:
            tag = entry.image.rsplit(":", 1)[-1]
            assert tag and tag != "latest" and "/" not in tag, entry.image


def test_chart_values_render_the_builtin_catalogue() -> None:
    values = yaml.safe_load((REPO / "charts" / "modelserve" / "values.yaml").read_text())
    assert values["runtimes"]["catalogue"] == builtin_data()


def test_configmap_overrides_a_field_and_adds_an_entry() -> None:
    text = yaml.safe_dump(
        {
            "runtimes": {
                "mlserver": {"image": "registry.internal/seldonio/mlserver:1.7.1"},
                "onnxrt": {"image": "r/onnxrt:1", "formats": ["onnx"], "ports": {"http": 8000}},
            }
        }
    )
    result = load_catalogue(text)
    assert result.errors == ()
    mlserver = result.catalogue.runtimes["mlserver"]
    assert mlserver.image == "registry.internal/seldonio/mlserver:1.7.1"
    assert mlserver.formats == CATALOGUE.runtimes["mlserver"].formats  # the rest is the built-in's
    assert result.catalogue.for_format("onnx").name == "triton"  # built-ins first
    assert result.catalogue.get("onnxrt").ports.http == 8000


def test_invalid_configmap_entry_is_reported_and_the_builtin_kept() -> None:
    text = yaml.safe_dump({"runtimes": {"mlserver": {"ports": {"http": 99999}}, "x": {"formats": ["onnx"]}}})
    result = load_catalogue(text)
    assert any("runtimes.mlserver.ports.http" in e for e in result.errors)
    assert any("runtimes.x.image: is required" in e for e in result.errors)
    assert result.catalogue.runtimes["mlserver"] == CATALOGUE.runtimes["mlserver"]
    assert "x" not in result.catalogue.runtimes
    assert load_catalogue("runtimes: [").errors  # not YAML: built-ins whole
    assert load_catalogue("runtimes: [").catalogue.runtimes == CATALOGUE.runtimes


def test_resolve_runtime_by_name_format_or_image() -> None:
    assert resolve_runtime(CATALOGUE, None, "sklearn", None).name == "mlserver"
    assert resolve_runtime(CATALOGUE, None, "sklearn", "my/server:1").name == CUSTOM  # today's behaviour
    assert resolve_runtime(CATALOGUE, "triton", "custom", None).name == "triton"
    assert resolve_runtime(CATALOGUE, "mlserver", "sklearn", "mirror/mlserver:1").name == "mlserver"
    with pytest.raises(SpecError) as unknown:
        resolve_runtime(CATALOGUE, "nope", "sklearn", None)
    assert unknown.value.field_path == "spec.runtime.name"
    with pytest.raises(SpecError) as no_image:
        resolve_runtime(CATALOGUE, None, "custom", None)
    assert no_image.value.field_path == "spec.runtime.image"
    with pytest.raises(SpecError):
        resolve_runtime(CATALOGUE, CUSTOM, "sklearn", None)


# --- compatibility: a spec with an image keeps its pods and its revision ----------------------------------
def test_spec_with_image_keeps_the_custom_pod_and_revision_hash() -> None:
    body = md(runtime={"image": "registry.example.com/sklearn-server:1.4"})
    spec = parse_model_deployment(body["spec"])
    # The digest modelserve computed before the catalogue: no new field is hashed while unset.
    before = {
        "model": {"version": "1", "uri": "s3://models/fraud/1/", "format": "sklearn"},
        "runtime": {
            "image": "registry.example.com/sklearn-server:1.4",
            "command": [],
            "args": [],
            "env": [],
            "resources": {},
        },
    }
    digest = hashlib.sha256(json.dumps(before, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert legacy_revision_hash(spec) == digest[:10]
    assert json.loads(encode(spec))["runtime"].keys() == {"image", "command", "args", "env", "resources"}
    assert json.loads(encode(spec))["model"].keys() == {"name", "version", "uri", "format"}
    template = pod(body)
    container = template["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/sklearn-server:1.4"
    assert [e["name"] for e in container["env"]] == [
        "MODEL_NAME",
        "MODEL_VERSION",
        "MODEL_URI",
        "MODEL_FORMAT",
    ]
    assert "initContainers" not in template["spec"] and "volumes" not in template["spec"]
    assert "startupProbe" not in container and "readinessProbe" not in container


def test_new_fields_round_trip_through_the_revision_annotation() -> None:
    body = md(
        model={"sha256": "a" * 64, "storage": {"secretRef": {"name": "s3"}, "endpoint": "http://s3:9000"}},
        runtime={"name": "mlserver"},
    )
    spec = parse_model_deployment(body["spec"])
    rebuilt = spec_for_revision(parse_model_deployment(md()["spec"]), encode(spec))
    assert rebuilt is not None and revision_hash(rebuilt) == revision_hash(spec)
    assert rebuilt.model.storage.secret_name == "s3" and rebuilt.runtime.name == "mlserver"


# --- the pods of catalogue runtimes -----------------------------------------------------------------------
def test_sklearn_s3_model_gets_mlserver_with_download_probes_and_scraping() -> None:
    body = md(
        model={
            "sha256": "b" * 64,
            "storage": {"secretRef": {"name": "s3-creds"}, "endpoint": "http://minio:9000"},
        }
    )
    template = pod(body)
    spec = template["spec"]
    server, init = spec["containers"][0], spec["initContainers"][0]
    assert server["image"] == CATALOGUE.runtimes["mlserver"].image
    assert server["command"] == ["mlserver", "start", "/mnt/models"]
    env = {e["name"]: e["value"] for e in server["env"]}
    assert env["MLSERVER_MODEL_NAME"] == "fraud"
    assert env["MLSERVER_MODEL_IMPLEMENTATION"] == "mlserver_sklearn.SKLearnModel"
    assert (env["MLSERVER_HTTP_PORT"], env["MLSERVER_GRPC_PORT"], env["MLSERVER_METRICS_PORT"]) == (
        "8080",
        "9000",
        "8082",
    )
    assert {p["name"]: p["containerPort"] for p in server["ports"]} == {
        "http": 8080,
        "grpc": 9000,
        "metrics": 8082,
    }
    assert server["readinessProbe"]["httpGet"] == {"path": "/v2/models/fraud/ready", "port": 8080}
    assert server["startupProbe"]["failureThreshold"] == 6  # 60 s default / 10 s period
    assert {"name": "model", "mountPath": "/mnt/models", "readOnly": True} in server["volumeMounts"]
    assert init["name"] == "storage-init"
    assert init["image"] == "ghcr.io/modelserve/modelserve:0.1.0"
    assert init["command"] == [
        "modelserve",
        "storage-init",
        "--uri",
        "s3://models/fraud/1/",
        "--dest",
        "/mnt/models",
        "--sha256",
        "b" * 64,
    ]
    assert init["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert init["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert init["env"] == [{"name": "AWS_ENDPOINT_URL", "value": "http://minio:9000"}]
    assert {"name": "model", "emptyDir": {"sizeLimit": "10Gi"}} in spec["volumes"]
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8082",
        "prometheus.io/path": "/metrics",
    }


def test_pvc_uri_mounts_the_claim_read_only_without_download() -> None:
    spec = pod(md(model={"uri": "pvc://models-pvc/fraud/v1"}))["spec"]
    assert "initContainers" not in spec
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "models-pvc", "readOnly": True}} in spec[
        "volumes"
    ]
    mount = spec["containers"][0]["volumeMounts"][0]
    assert mount == {"name": "model", "mountPath": "/mnt/models", "readOnly": True, "subPath": "fraud/v1"}


def test_user_probe_wins_and_startup_probe_follows_startup_seconds() -> None:
    probe = {"httpGet": {"path": "/mine", "port": 8080}}
    server = pod(md(runtime={"readinessProbe": probe, "startupSeconds": 601}))["spec"]["containers"][0]
    assert server["readinessProbe"] == probe
    assert server["startupProbe"]["failureThreshold"] == 61


@given(st.integers(min_value=0, max_value=3600), st.integers(min_value=1, max_value=60))
def test_startup_budget_covers_startup_seconds(seconds: int, period: int) -> None:
    threshold = startup_failure_threshold(seconds, period)
    assert threshold >= 1 and threshold * period >= seconds
    assert threshold == max(1, math.ceil(seconds / period))


def test_triton_and_vllm_render_their_servers() -> None:
    triton = pod(md(model={"format": "onnx", "uri": "gs://b/repo"}))["spec"]["containers"][0]
    assert triton["command"] == ["tritonserver"]
    assert "--model-repository=/mnt/models" in triton["args"]
    assert "--metrics-config=histogram_latencies=true" in triton["args"]
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/models/fraud/ready"
    vllm_pod = pod(md(model={"format": "llm", "uri": "hf://org/llm@main"}))
    vllm = vllm_pod["spec"]["containers"][0]
    assert "--served-model-name=fraud" in vllm["args"] and "--model=/mnt/models" in vllm["args"]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert vllm["readinessProbe"]["httpGet"]["path"] == "/v1/models"
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in vllm_pod["spec"]["volumes"]


def test_catalogue_image_override_and_per_model_image() -> None:
    catalogue = load_catalogue(yaml.safe_dump({"runtimes": {"mlserver": {"image": "mirror/mlserver:1.7.1"}}}))
    observed = Observed(runtimes=catalogue.catalogue)
    assert pod_image(md(), observed) == "mirror/mlserver:1.7.1"
    assert (
        pod_image(md(runtime={"name": "mlserver", "image": "mine/mlserver:2"}), observed) == "mine/mlserver:2"
    )


def pod_image(body: dict, observed: Observed) -> str:
    return deployment(body, observed)["spec"]["template"]["spec"]["containers"][0]["image"]


def test_pod_monitor_only_when_its_crd_exists() -> None:
    assert not [o for o in plan_model_deployment(md(), Observed(), NOW).desired if o["kind"] == "PodMonitor"]
    plan = plan_model_deployment(md(), Observed(pod_monitor_supported=True), NOW)
    (monitor,) = [o for o in plan.desired if o["kind"] == "PodMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    targets = {r.get("targetLabel") for r in endpoint["relabelings"]}
    assert {"namespace", "model", "revision", "region", "__address__", "__metrics_path__"} <= targets


def test_scrape_target_labels_from_pod_labels() -> None:
    labels = {c.LABEL_MODEL: "fraud", c.LABEL_REVISION: "bcd", c.LABEL_REGION: "eu", "x": "y"}
    assert scrape_target_labels(labels, "ml") == {
        "namespace": "ml",
        "model": "fraud",
        "revision": "bcd",
        "region": "eu",
    }
    assert "region" not in scrape_target_labels({c.LABEL_MODEL: "m", c.LABEL_REVISION: "r"}, "ml")
    meta = {r["targetLabel"]: r["sourceLabels"][0] for r in pod_monitor_relabelings()}
    assert meta["revision"] == "__meta_kubernetes_pod_label_modelserve_io_revision"
    assert [r["target_label"] for r in prometheus_relabel_configs()] == list(meta)


# --- native metrics ------------------------------------------------------------------------------------
TARGET = QueryTarget("ml", "fraud", "cand", "stab")


def gate(builtin: str) -> GateSpec:
    return GateSpec.from_mapping({"name": "g", "builtin": builtin, "max": 1.0})


def test_queries_per_runtime_use_the_runtimes_own_metrics() -> None:
    sel = 'namespace="ml",model="fraud",revision="cand"'
    mls = gate_queries(gate("errorRate"), PRESETS["mlserver"], TARGET, "cand", 300)
    infer = 'path=~"/v2/models/[^/]+(/versions/[^/]+)?/infer"'
    assert mls.total == f"sum(increase(rest_server_requests_total{{{sel},{infer}}}[5m]))"
    assert mls.errors == f'sum(increase(rest_server_requests_total{{{sel},{infer},status_code=~"5.."}}[5m]))'
    tri = gate_queries(gate("latencyP99"), PRESETS["triton"], TARGET, "cand", 300)
    assert tri.total == (
        'sum(increase({__name__=~"nv_inference_request_success|nv_inference_request_failure",'
        + sel
        + "}[5m]))"
    )
    assert (
        tri.buckets == f"sum by (le) (increase(nv_inference_first_response_histogram_ms_bucket{{{sel}}}[5m]))"
    )
    assert tri.latency_unit_seconds == 0.001
    ttft = gate_queries(gate("ttftP95"), PRESETS["vllm"], TARGET, "cand", 300)
    assert ttft.kind == "histogram"
    assert ttft.buckets == f"sum by (le) (increase(vllm:time_to_first_token_seconds_bucket{{{sel}}}[5m]))"
    tpot = gate_queries(gate("tpotP99"), PRESETS["vllm"], TARGET, "cand", 300)
    assert "vllm:inter_token_latency_seconds_bucket" in (tpot.buckets or "")


def test_modelserve_preset_is_the_custom_runtimes_and_unchanged() -> None:
    assert preset_for_runtime(CATALOGUE.runtimes[CUSTOM]) == PRESETS["modelserve"]
    q = gate_queries(gate("errorRate"), "modelserve", TARGET, "cand", 60)
    sel = 'namespace="ml",model="fraud",revision="cand"'
    assert q.errors == f'sum(increase(modelserve_requests_total{{{sel},code=~"5..|timeout"}}[1m]))'


def test_llm_gate_on_a_runtime_without_it_names_the_gate() -> None:
    with pytest.raises(ValueError, match=r"gates\[g\]\.builtin: ttftP95"):
        gate_queries(gate("ttftP95"), PRESETS["mlserver"], TARGET, "cand", 60)
    body = md(
        rollout={"analysis": {"gates": [{"name": "ttft", "builtin": "ttftP95", "maxMilliseconds": 500}]}}
    )
    plan = plan_model_deployment(body, Observed(), NOW)
    assert plan.status["phase"] == c.PHASE_DEGRADED
    assert "spec.rollout.analysis.gates[0].builtin: ttftP95 (gate 'ttft')" in plan.status["message"]
    llm = md(model={"format": "llm"}, rollout=body["spec"]["rollout"])
    assert plan_model_deployment(llm, Observed(), NOW).status["phase"] != c.PHASE_DEGRADED


@pytest.mark.parametrize("runtime", ["mlserver", "triton", "vllm"])
def test_every_mapped_metric_name_is_in_the_runtimes_published_source(runtime: str) -> None:
    text = (SOURCES / f"{runtime}.txt").read_text()
    header = text.splitlines()[:4]
    assert any("commit:" in line for line in header) and any("Licence" in line for line in header)
    mapping = CATALOGUE.runtimes[runtime].metrics
    assert mapping is not None
    for name in mapping.metric_names():
        # prometheus_client adds _total to a counter's declared name; the excerpt may show either.
        assert name in text or name.removesuffix("_total") in text, f"{runtime}: {name} not in its sources"


# --- ModelFetchFailed ----------------------------------------------------------------------------------
def failing_pod(
    revision: str,
    message: str = "ModelFetchFailed: s3://models/fraud/2/: checksum mismatch (expected a, got b)",
) -> dict:
    return {
        "metadata": {"name": f"fraud-{revision}-x", "labels": {c.LABEL_REVISION: revision}},
        "status": {
            "initContainerStatuses": [
                {
                    "name": "storage-init",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {
                        "terminated": {"exitCode": 1, "reason": "Error", "message": message + "\n"}
                    },
                }
            ]
        },
    }


def test_pod_status_to_fetch_failure_and_condition() -> None:
    failures = fetch_failures([failing_pod("r2")], {"r2": "s3://models/fraud/2/"})
    assert failures["r2"].message.endswith("checksum mismatch (expected a, got b)")
    cond = fetch_condition(failures, ["r1", "r2"])
    assert cond.status is True and cond.reason == "ModelFetchFailed"
    assert "s3://models/fraud/2/" in cond.message and "checksum mismatch" in cond.message
    assert fetch_condition(failures, ["r1"]).status is False
    # A message the program could not write (killed): the URI is named from the spec.
    killed = failing_pod("r3", "")
    assert (
        fetch_failures([killed], {"r3": "gs://b/m"})["r3"].message
        == "ModelFetchFailed: gs://b/m: exit code 1 (Error)"
    )
    ok = copy.deepcopy(killed)
    ok["status"]["initContainerStatuses"][0]["state"] = {"terminated": {"exitCode": 0}}
    assert fetch_failures([ok], {}) == {}


def test_one_warning_event_per_new_failure() -> None:
    cond = fetch_condition(fetch_failures([failing_pod("r2")], {}), ["r2"])
    events = fetch_events([], cond)
    assert [(e.type, e.reason) for e in events] == [("Warning", "ModelFetchFailed")]
    same = [{"type": cond.type, "status": "True", "message": cond.message}]
    assert fetch_events(same, cond) == []


def rollout_with_candidate(on_failure: str | None = None) -> tuple[dict, Observed, str]:
    """A model serving revision 1 with revision 2 rolling out and its pods failing to fetch the model."""
    first = md()
    plan = plan_model_deployment(first, Observed(), NOW)
    stable_dep = next(o for o in plan.desired if o["kind"] == "Deployment")
    stable_dep = {**stable_dep, "status": {"replicas": 2, "readyReplicas": 2}}
    body = md(model={"version": "2", "uri": "s3://models/fraud/2/"})
    if on_failure:
        body["spec"]["rollout"] = {"analysis": {"onFailure": on_failure}}
    body["status"] = plan.status
    observed = Observed(deployments={stable_dep["metadata"]["name"]: stable_dep})
    started = plan_model_deployment(body, observed, NOW)
    body["status"] = started.status
    candidate = started.status["candidateRevision"]
    for dep in started.desired:
        if dep["kind"] == "Deployment" and dep["metadata"]["labels"][c.LABEL_REVISION] == candidate:
            observed.deployments[dep["metadata"]["name"]] = {
                **dep,
                "status": {"replicas": 1, "readyReplicas": 0},
            }
    observed.pods = [failing_pod(candidate)]
    return body, observed, candidate


def test_candidate_with_fetch_failure_is_rolled_back_and_stable_keeps_serving() -> None:
    body, observed, candidate = rollout_with_candidate()
    plan = plan_model_deployment(body, observed, NOW)
    assert plan.status["phase"] == c.PHASE_ROLLED_BACK
    assert candidate in plan.status["message"]
    assert "ModelFetchFailed" in plan.status["message"] and "checksum mismatch" in plan.status["message"]
    conds = {x["type"]: x for x in plan.status["conditions"]}
    assert conds["ModelFetchFailed"]["status"] == "True"
    assert "s3://models/fraud/2/" in conds["ModelFetchFailed"]["message"]
    assert ("Warning", "ModelFetchFailed") in {(e.type, e.reason) for e in plan.events}
    assert plan.status.get("canaryWeight", 0) == 0


def test_candidate_with_fetch_failure_pauses_under_on_failure_pause() -> None:
    body, observed, candidate = rollout_with_candidate("pause")
    plan = plan_model_deployment(body, observed, NOW)
    assert plan.status["phase"] == c.PHASE_PAUSED
    assert plan.status["candidateRevision"] == candidate
    assert "ModelFetchFailed" in plan.status["message"]
    # The download works again (the object was fixed): the pause lifts by itself.
    body["status"] = plan.status
    observed.pods = []
    again = plan_model_deployment(body, observed, NOW)
    assert again.status["phase"] != c.PHASE_PAUSED
    assert {x["type"]: x for x in again.status["conditions"]}["ModelFetchFailed"]["status"] == "False"


# --- the chart's catalogue ConfigMap ------------------------------------------------------------------------
def test_chart_renders_the_catalogue_configmap_and_a_role_reading_only_it(tmp_path: Path) -> None:
    from tests.unit.test_chart_render import HELM, helm  # the chart tests' helm binary and wrapper

    if HELM is None:
        pytest.skip("helm not found")
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"runtimes": {"configMap": {"create": True}}}))
    out = helm("template", "modelserve", str(REPO / "charts" / "modelserve"), "-n", "ops", "-f", str(values))
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert yaml.safe_load(cm["data"]["runtimes.yaml"])["runtimes"] == builtin_data()
    assert load_catalogue(cm["data"]["runtimes.yaml"]).errors == ()
    (role,) = [d for d in docs if d["kind"] == "Role"]
    assert role["rules"][0]["resourceNames"] == [cm["metadata"]["name"]]
    assert role["rules"][0]["verbs"] == ["get"]
    env = {
        e["name"]: e.get("value")
        for e in next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][
            0
        ]["env"]
    }
    assert env["MODELSERVE_RUNTIMES_CONFIGMAP"] == f"ops/{cm['metadata']['name']}"
    assert env["MODELSERVE_IMAGE"] == "ghcr.io/modelserve/modelserve:0.1.0"


# --- the operator's catalogue source (ConfigMap re-read) -------------------------------------------------
class FakeKube:
    def __init__(self, data: dict | None) -> None:
        self.body = None if data is None else {"metadata": {"name": "rt", "namespace": "ops"}, "data": data}
        self.events: list[tuple[str, str, str]] = []

    def kind_installed(self, kind: str) -> bool:
        return kind == "PodMonitor"

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        assert (kind, namespace, name) == ("ConfigMap", "ops", "rt")
        return copy.deepcopy(self.body)

    def post_event(self, involved: dict, type_: str, reason: str, message: str) -> None:
        assert involved["kind"] == "ConfigMap"
        self.events.append((type_, reason, message))


def test_catalogue_source_follows_the_configmap_and_reports_invalid_entries() -> None:
    from modelserve.reconcile.runtimes import RuntimeCatalogueSource, configmap_ref

    assert configmap_ref({"MODELSERVE_RUNTIMES_CONFIGMAP": "ops/rt"}) == ("ops", "rt")
    assert configmap_ref({"MODELSERVE_RUNTIMES_CONFIGMAP": "rt", "POD_NAMESPACE": "x"}) == ("x", "rt")
    assert configmap_ref({}) is None
    kube = FakeKube(
        {"runtimes.yaml": "runtimes:\n  mlserver: {image: mirror/mlserver:1}\n  bad: {formats: [x]}\n"}
    )
    source = RuntimeCatalogueSource(kube, ("ops", "rt"), "op:1")  # type: ignore[arg-type]
    assert source.current().runtimes["mlserver"].image == CATALOGUE.runtimes["mlserver"].image
    assert source.refresh() is True
    assert source.pod_monitor_supported is True
    assert source.current().runtimes["mlserver"].image == "mirror/mlserver:1"
    assert source.current().storage_init_image == "op:1"
    assert [(t, r) for t, r, _ in kube.events] == [("Warning", "InvalidRuntime")]
    assert "runtimes.bad.image" in kube.events[0][2]
    assert source.refresh() is False  # unchanged: no new Event
    kube.body = None  # deleted: the built-ins again
    assert source.refresh() is True and source.current().runtimes == CATALOGUE.runtimes


def test_forecast_demand_reads_the_runtimes_request_counter() -> None:
    from modelserve.cli.plugin_forecast import demand_query as plugin_demand_query
    from modelserve.forecasting.cycle import model_requests
    from modelserve.forecasting.demand import DEFAULT_QUERY, burst_query, demand_query

    sklearn = md()
    assert plugin_demand_query(sklearn) == (
        'sum(rate(rest_server_requests_total{namespace="ml",model="fraud",'
        'path=~"/v2/models/[^/]+(/versions/[^/]+)?/infer"}[5m]))'
    )
    custom = md(runtime={"image": "mine:1"})
    assert plugin_demand_query(custom) == DEFAULT_QUERY.format(namespace="ml", model="fraud")
    llm = parse_model_deployment(md(model={"format": "llm"})["spec"])
    requests = model_requests(llm)
    assert demand_query("ml", "fraud", by_region=True, requests=requests) == (
        'sum by (region) (rate(http_requests_total{namespace="ml",model="fraud",'
        'handler=~"/v1/(chat/)?completions"}[5m]))'
    )
    assert "[1m]" in (burst_query("ml", "fraud", requests=requests) or "")
