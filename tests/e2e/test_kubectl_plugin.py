"""`kubectl modelserve` against the real control plane and the real operator (main() run in-process)."""

from __future__ import annotations

import io
import json

from modelserve.cli.kubectl_plugin import main

from tests.e2e.harness import Kube, condition, wait_until

REGIONS = ["eu-central-1", "ap-southeast-1", "sa-east-1"]  # the local cluster's KWOK node regions
REGION_LABEL = "topology.kubernetes.io/region"


def plugin(cluster: object, namespace: str, *argv: str) -> str:
    out = io.StringIO()
    code = main(["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *argv], out=out)  # type: ignore[attr-defined]
    assert code == 0, f"kubectl modelserve {' '.join(argv)} exited {code}"
    return out.getvalue()


def placement(name: str) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "RegionPlacement",
        "metadata": {"name": name},
        "spec": {
            "residency": {"jurisdiction": "test", "allowedRegions": REGIONS[:2]},
            "regions": [{"name": REGIONS[0]}, {"name": REGIONS[1]}],
        },
    }


def model_deployment(name: str, placement_name: str) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": name, "version": "1.0.0", "uri": f"s3://models/{name}/1", "format": "sklearn"},
            "runtime": {
                "image": "registry.example.com/sklearn-server:1.4",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            },
            "replicas": 2,
            "placementRef": {"name": placement_name},
        },
    }


def ready(kube: Kube, name: str, namespace: str) -> dict:
    def check() -> dict | None:
        md = kube.get("modeldeployment", name, namespace)
        cond = condition(md, "Ready")
        if md and cond and cond["status"] == "True" and md["status"].get("phase") == "Ready":
            return md
        return None

    return wait_until(check, 90, what=f"ModelDeployment {namespace}/{name} Ready")


def test_plugin_reads_status_pauses_and_reports(
    kube: Kube, namespace: str, operator: object, cluster: object
) -> None:
    kube.apply([placement("two-regions"), model_deployment("iris", "two-regions")], namespace)
    md = ready(kube, "iris", namespace)

    def running() -> list[dict]:
        pods = kube.items("pods", namespace, selector="app.kubernetes.io/instance=iris")
        bound = [p for p in pods if p["status"].get("phase") == "Running" and p["spec"].get("nodeName")]
        return bound if len(bound) >= 2 else []

    pods = wait_until(running, 60, what="2 pods Running")

    # status: phase and replicas, as the operator reported them
    text = plugin(cluster, namespace, "status", "iris")
    assert "Phase:         Ready" in text
    assert f"Stable:        {md['status']['stableRevision']} (model version 1.0.0)" in text
    assert "Replicas:      desired 2" in text
    stable_row = next(line for line in text.splitlines() if line.split()[:1] == ["stable"])
    assert stable_row.split()[1:5] == [md["status"]["stableRevision"], "1.0.0", "2", "2"], stable_row
    view = json.loads(plugin(cluster, namespace, "status", "iris", "-o", "json"))
    assert view["phase"] == "Ready" and view["revisions"][0]["ready"] == 2

    # pause: the annotation is set, the spec and generation stay as they were
    before = kube.get("modeldeployment", "iris", namespace)
    text = plugin(cluster, namespace, "pause", "iris")
    assert "pause requested (modelserve.io/paused=true)" in text
    after = kube.get("modeldeployment", "iris", namespace)
    assert after["metadata"]["annotations"]["modelserve.io/paused"] == "true"
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]

    # resume removes the pause annotation and leaves a one-shot token
    plugin(cluster, namespace, "resume", "iris")
    annotations = kube.get("modeldeployment", "iris", namespace)["metadata"]["annotations"]
    assert "modelserve.io/paused" not in annotations
    assert annotations["modelserve.io/resume"].isdigit()

    # residency: every pod with its node and that node's region
    text = plugin(cluster, namespace, "residency", "iris")
    assert text.splitlines()[0].startswith("iris (placement two-regions, jurisdiction test")
    nodes = {n["metadata"]["name"]: n for n in kube.items("nodes")}
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:] if line.strip()}
    for pod in pods:
        name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]
        assert name in rows, text
        assert rows[name][:2] == [node, nodes[node]["metadata"]["labels"][REGION_LABEL]], text
        assert rows[name][1] in REGIONS[:2]
        assert rows[name][2] in ("Compliant", "Misplaced"), text

    # history: the operator's events about the ModelDeployment, in time order
    events = wait_until(
        lambda: [
            e
            for e in kube.items("events", namespace)
            if e["involvedObject"].get("name") == "iris"
            and e["involvedObject"].get("kind") == "ModelDeployment"
        ],
        60,
        what="an Event about the ModelDeployment",
    )
    text = plugin(cluster, namespace, "history", "iris")
    assert text.splitlines()[0].split() == ["TIME", "SOURCE", "TYPE", "REASON", "MESSAGE"]
    for event in events:
        assert event["reason"] in text, text


def test_plugin_shows_a_canary_and_promotes_it(
    kube: Kube, namespace: str, operator: object, cluster: object
) -> None:
    md = model_deployment("wine", "unused")
    del md["spec"]["placementRef"]
    md["spec"]["rollout"] = {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}
    kube.apply(md, namespace)
    first = ready(kube, "wine", namespace)["status"]["stableRevision"]
    md["spec"]["model"]["version"] = "2.0.0"
    md["spec"]["model"]["uri"] = "s3://models/wine/2"
    kube.apply(md, namespace)

    def paused_at_50() -> dict | None:
        body = kube.get("modeldeployment", "wine", namespace)
        status = body.get("status") or {}
        if (
            status.get("candidateRevision")
            and status.get("canaryWeight") == 50
            and status.get("currentStepIndex") == 1
        ):
            return body
        return None

    body = wait_until(paused_at_50, 90, what="the canary at 50% on its pause step")
    candidate = body["status"]["candidateRevision"]
    text = plugin(cluster, namespace, "status", "wine")
    # a `pause: {}` step holds until promoted: phase Paused (Progressing=Unknown, RolloutPaused)
    assert f"Phase:         {body['status']['phase']}" in text, text
    assert body["status"]["phase"] in ("Progressing", "Paused")
    assert f"Candidate:     {candidate} (model version 2.0.0)" in text, text
    assert f"Stable:        {first} (model version 1.0.0)" in text, text
    assert "Step:          2/2: pause (until promoted)" in text, text
    assert "Canary weight: 50% (approximate: replica ratio)" in text, text

    text = plugin(cluster, namespace, "promote", "wine")
    assert "modelserve.io/promote=step@" in text

    def promoted() -> dict | None:
        body = kube.get("modeldeployment", "wine", namespace)
        status = body.get("status") or {}
        return body if status.get("stableRevision") == candidate and status.get("phase") == "Ready" else None

    wait_until(promoted, 90, what="the candidate promoted")
    text = plugin(cluster, namespace, "history", "wine")
    assert "RolloutStarted" in text and "Promoted" in text, text
