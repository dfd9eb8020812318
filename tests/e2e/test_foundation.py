"""Foundation e2e: the real operator against the real control plane with KWOK nodes."""

from __future__ import annotations

import re
import time
import urllib.request

import pytest
import yaml
from modelserve.api.validation import validate_document
from modelserve.localcluster.cluster import OPERATOR_USER

from tests.data.invalid_resources import CASES, ROOT_PATH, InvalidCase, api_server_paths
from tests.e2e.harness import REPO, Kube, condition, operator_writes, wait_until

LABEL_INSTANCE = "app.kubernetes.io/instance"


def model_deployment(name: str, *, version: str = "1", replicas: int = 2, **spec_extra: object) -> dict:
    spec: dict = {
        "model": {
            "name": name,
            "version": version,
            "uri": f"s3://models/{name}/{version}",
            "format": "sklearn",
        },
        "runtime": {
            "image": "registry.example.com/sklearn-server:1.4",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        },
        "replicas": replicas,
    }
    spec.update(spec_extra)
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }


def ready(kube: Kube, name: str, namespace: str, timeout: float = 90) -> dict:
    def check() -> dict | None:
        md = kube.get("modeldeployment", name, namespace)
        cond = condition(md, "Ready")
        if (
            md
            and cond
            and cond["status"] == "True"
            and md["status"].get("phase") == "Ready"
            and md["status"].get("observedGeneration") == md["metadata"]["generation"]
        ):
            return md
        return None

    return wait_until(check, timeout, what=f"ModelDeployment {namespace}/{name} Ready")


def owned(kube: Kube, kind: str, name: str, namespace: str) -> list[dict]:
    return kube.items(kind, namespace, selector=f"{LABEL_INSTANCE}={name}")


def running_pods(kube: Kube, name: str, namespace: str) -> list[dict]:
    return [
        p
        for p in owned(kube, "pods", name, namespace)
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "examples").glob("*.yaml")))
def test_every_example_becomes_ready(example: str, kube: Kube, namespace: str, operator: object) -> None:
    kube.run("apply", "-n", namespace, "-f", str(REPO / "examples" / example))
    docs = [d for d in yaml.safe_load_all((REPO / "examples" / example).read_text()) if d]
    for doc in docs:
        if doc["kind"] != "ModelDeployment":
            continue
        name = doc["metadata"]["name"]
        md = ready(kube, name, namespace)
        uid = md["metadata"]["uid"]
        revision = md["status"]["stableRevision"]
        deployments = owned(kube, "deployments", name, namespace)
        assert deployments, "no Deployment created"
        for dep in deployments:
            labels = dep["metadata"]["labels"]
            assert labels["app.kubernetes.io/managed-by"] == "modelserve"
            assert labels["app.kubernetes.io/name"] == doc["spec"]["model"]["name"]
            assert labels["modelserve.io/model"] == name
            assert labels["modelserve.io/revision"] == revision
            assert dep["metadata"]["ownerReferences"][0]["uid"] == uid
            pod = dep["spec"]["template"]["spec"]
            env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
            assert env["MODEL_NAME"] == doc["spec"]["model"]["name"]
            assert env["MODEL_VERSION"] == str(doc["spec"]["model"]["version"])
            assert env["MODEL_URI"] == doc["spec"]["model"]["uri"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
        svc = kube.get("service", name, namespace)
        assert svc["metadata"]["ownerReferences"][0]["uid"] == uid
        assert (
            kube.get("poddisruptionbudget", name, namespace)["metadata"]["ownerReferences"][0]["uid"] == uid
        )
        if doc["spec"].get("autoscaling"):
            hpa = kube.get("horizontalpodautoscaler", name, namespace)
            assert hpa["spec"]["maxReplicas"] == doc["spec"]["autoscaling"]["maxReplicas"]
        desired = md["status"]["desiredReplicas"]
        pods = wait_until(
            lambda n=name, d=desired: (
                len(running_pods(kube, n, namespace)) >= d and running_pods(kube, n, namespace)
            ),
            60,
            what="pods Running",
        )
        for pod in pods:
            assert pod["spec"]["nodeName"].startswith("kwok-"), "pod not on a KWOK node"
        assert md["status"]["url"] == f"http://{name}.{namespace}.svc.cluster.local"


def test_spec_change_reaches_owned_objects(kube: Kube, namespace: str, operator: object) -> None:
    kube.apply(model_deployment("iris", replicas=1), namespace)
    md = ready(kube, "iris", namespace)
    first_revision = md["status"]["stableRevision"]
    assert md["status"]["observedGeneration"] == 1

    # A replica change keeps the revision and scales the same Deployment.
    kube.apply(model_deployment("iris", replicas=3), namespace)
    md = wait_until(
        lambda: (
            (m := kube.get("modeldeployment", "iris", namespace))
            and m["status"].get("observedGeneration") == 2
            and m["status"].get("readyReplicas") == 3
            and m
        ),
        90,
        what="3 ready replicas at generation 2",
    )
    assert md["status"]["stableRevision"] == first_revision
    deps = owned(kube, "deployments", "iris", namespace)
    assert [d["spec"]["replicas"] for d in deps] == [3]

    # A model version change is a new revision: a new Deployment serves it, the old one goes.
    kube.apply(model_deployment("iris", version="2", replicas=3), namespace)

    def moved() -> dict | None:
        m = kube.get("modeldeployment", "iris", namespace)
        if (
            m["status"].get("observedGeneration") == 3
            and m["status"].get("stableRevision") != first_revision
            and m["status"].get("phase") == "Ready"
        ):
            return m
        return None

    md = wait_until(moved, 120, what="new revision stable")
    deps = wait_until(
        lambda: (d := owned(kube, "deployments", "iris", namespace)) and len(d) == 1 and d,
        60,
        what="old revision removed",
    )
    env = {e["name"]: e.get("value") for e in deps[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODEL_VERSION"] == "2"
    assert deps[0]["metadata"]["labels"]["modelserve.io/revision"] == md["status"]["stableRevision"]


def test_drift_is_repaired(kube: Kube, namespace: str, operator: object) -> None:
    kube.apply(model_deployment("drift", replicas=1), namespace)
    ready(kube, "drift", namespace)
    uid = kube.get("service", "drift", namespace)["metadata"]["uid"]
    kube.run("delete", "service", "drift", "-n", namespace)
    svc = wait_until(
        lambda: (s := kube.get("service", "drift", namespace)) and s["metadata"]["uid"] != uid and s,
        60,
        what="Service recreated",
    )
    assert svc["spec"]["selector"][LABEL_INSTANCE] == "drift"
    # A hand edit of an owned field is put back.
    dep = owned(kube, "deployments", "drift", namespace)[0]["metadata"]["name"]
    kube.run("set", "image", f"deployment/{dep}", "model-server=evil:latest", "-n", namespace)
    wait_until(
        lambda: (
            kube.get("deployment", dep, namespace)["spec"]["template"]["spec"]["containers"][0]["image"]
            == "registry.example.com/sklearn-server:1.4"
        ),
        60,
        what="image restored",
    )


def test_delete_garbage_collects_everything(kube: Kube, namespace: str, operator: object) -> None:
    kube.apply(
        model_deployment("gone", replicas=1, autoscaling={"minReplicas": 1, "maxReplicas": 3}), namespace
    )
    ready(kube, "gone", namespace)
    assert owned(kube, "deployments", "gone", namespace)
    kube.run("delete", "modeldeployment", "gone", "-n", namespace)
    for kind in ("deployments", "services", "horizontalpodautoscalers", "poddisruptionbudgets", "pods"):
        wait_until(lambda k=kind: not owned(kube, k, "gone", namespace), 90, what=f"{kind} garbage-collected")


INVALID = CASES


def test_there_are_at_least_ten_invalid_cases() -> None:
    assert len(INVALID) >= 10


@pytest.mark.parametrize("case", INVALID, ids=[c.title for c in INVALID])
def test_api_server_rejects_invalid_resources(case: InvalidCase, kube: Kube, namespace: str) -> None:
    out = kube.apply(case.doc, namespace, check=False)
    assert out.returncode != 0, f"{case.title}: accepted but should be rejected"
    assert case.expect in out.stderr, f"{case.title}: message {out.stderr!r} does not contain {case.expect!r}"
    # The message names the field it is about.
    assert re.search(r"spec\.|metadata\.name", out.stderr), out.stderr
    # `modelserve render` rejects it offline with the same field paths (test_offline_validation.py).
    offline = validate_document(case.doc) or []
    offline_paths = tuple(e.path or ROOT_PATH for e in offline)
    assert api_server_paths(out.stderr) == case.paths == offline_paths, out.stderr
    for error in offline:  # in the same words, too
        assert str(error) in out.stderr, f"offline {error} not in {out.stderr!r}"


def test_missing_references_are_reported_and_retried(kube: Kube, namespace: str, operator: object) -> None:
    kube.apply(model_deployment("refs", replicas=1, placementRef={"name": "nowhere"}), namespace)

    def degraded() -> dict | None:
        m = kube.get("modeldeployment", "refs", namespace)
        cond = condition(m, "ReferencesResolved")
        return m if cond and cond["status"] == "False" and cond["reason"] == "PlacementNotFound" else None

    md = wait_until(degraded, 60, what="ReferencesResolved=False")
    assert "nowhere" in condition(md, "ReferencesResolved")["message"]
    assert "spec.placementRef.name" in condition(md, "ReferencesResolved")["message"]
    assert condition(md, "Degraded")["status"] == "True"
    # Residency cannot be honoured without the placement: nothing is scheduled anywhere.
    assert owned(kube, "deployments", "refs", namespace) == []
    events = wait_until(
        lambda: [
            e
            for e in kube.items("events", namespace)
            if e["involvedObject"]["name"] == "refs" and e["reason"] == "PlacementNotFound"
        ],
        30,
        what="Warning Event",
    )
    assert events[0]["type"] == "Warning" and "nowhere" in events[0]["message"]
    # Once the placement exists, the reference resolves without touching the ModelDeployment.
    kube.apply(
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "RegionPlacement",
            "metadata": {"name": "nowhere"},
            "spec": {
                "residency": {"jurisdiction": "EU", "allowedRegions": ["eu-central-1"]},
                "regions": [{"name": "eu-central-1"}],
            },
        },
        namespace,
    )
    ready(kube, "refs", namespace)
    assert condition(kube.get("modeldeployment", "refs", namespace), "ReferencesResolved")["status"] == "True"


def test_operator_serves_metrics_and_liveness(operator: object) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as resp:  # type: ignore[attr-defined]
        text = resp.read().decode()
    assert "modelserve_reconciles_total" in text
    assert "modelserve_reconcile_duration_seconds" in text
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.health_port}/healthz", timeout=5) as resp:  # type: ignore[attr-defined]
        assert resp.status == 200


def test_a_quiet_minute_after_convergence_makes_no_writes(
    kube: Kube, namespace: str, operator: object, cluster: object
) -> None:
    kube.apply(
        model_deployment("quiet", replicas=2, autoscaling={"minReplicas": 2, "maxReplicas": 4}), namespace
    )
    ready(kube, "quiet", namespace)
    # Converged: wait until the operator has had nothing to write for a little while.
    audit = cluster.audit_log  # type: ignore[attr-defined]
    wait_until(
        lambda: not operator_writes(audit, OPERATOR_USER, since=time.time() - 5),
        60,
        what="operator to stop writing",
    )
    start = time.time()
    # Resyncs (every 15 s in the suite) and watch events keep reconciling during this minute.
    time.sleep(60)
    writes = [
        w
        for w in operator_writes(audit, OPERATOR_USER, since=start)
        if (w.get("objectRef") or {}).get("namespace") == namespace
    ]
    assert writes == [], [f"{w['verb']} {w['objectRef']}" for w in writes]
