"""Data residency e2e: the real kube-scheduler places pods on KWOK nodes in three regions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from modelserve.localcluster.nodes import REGION_LABEL, nodes_for_region

from tests.e2e.harness import Kube, condition, wait_until
from tests.e2e.test_foundation import model_deployment, ready

INSTANCE = "app.kubernetes.io/instance"


def placement(name: str, allowed: list[str], regions: list[dict], **extra: object) -> dict:
    spec: dict = {"residency": {"jurisdiction": "TEST", "allowedRegions": allowed}, "regions": regions}
    spec.update(extra)
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "RegionPlacement",
        "metadata": {"name": name},
        "spec": spec,
    }


class BindingRecorder:
    """Records, for every pod of the namespace, the region of the node it was first seen bound to,
    as that node was labelled at that moment: the invariant 'never bound outside'."""

    def __init__(self, kube: Kube, namespace: str):
        self.kube, self.namespace = kube, namespace
        self.bindings: dict[str, tuple[str, str | None]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BindingRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                nodes = {
                    n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(REGION_LABEL)
                    for n in self.kube.items("nodes")
                }
                for pod in self.kube.items("pods", self.namespace):
                    node = pod["spec"].get("nodeName")
                    if node and pod["metadata"]["name"] not in self.bindings:
                        self.bindings[pod["metadata"]["name"]] = (node, nodes.get(node))
            except Exception:
                pass
            self._stop.wait(0.3)

    def outside(self, allowed: set[str]) -> dict[str, tuple[str, str | None]]:
        return {p: b for p, b in self.bindings.items() if b[1] not in allowed}


def pods_by_region(kube: Kube, name: str, namespace: str) -> dict[str, int]:
    nodes = {
        n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(REGION_LABEL)
        for n in kube.items("nodes")
    }
    counts: dict[str, int] = {}
    for pod in kube.items("pods", namespace, selector=f"{INSTANCE}={name}"):
        if pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp"):
            region = nodes.get(pod["spec"].get("nodeName"), "?")
            counts[region] = counts.get(region, 0) + 1
    return counts


@pytest.fixture
def restore_nodes(cluster: object) -> Iterator[None]:
    """Tests here relabel and delete nodes: put the default ones back afterwards."""
    yield
    from modelserve.localcluster.nodes import default_nodes

    cluster.add_nodes(default_nodes())  # type: ignore[attr-defined]


def test_three_regions_by_weight(kube: Kube, namespace: str, operator: object) -> None:
    kube.apply(
        [
            placement(
                "global",
                ["eu-central-1", "ap-southeast-1", "sa-east-1"],
                [
                    {"name": "eu-central-1", "weight": 2},
                    {"name": "ap-southeast-1", "weight": 1},
                    {"name": "sa-east-1", "weight": 1},
                ],
            ),
            model_deployment("reco", replicas=4, placementRef={"name": "global"}),
        ],
        namespace,
    )
    with BindingRecorder(kube, namespace) as rec:
        ready(kube, "reco", namespace)
        counts = wait_until(
            lambda: (
                (c := pods_by_region(kube, "reco", namespace))
                == {"eu-central-1": 2, "ap-southeast-1": 1, "sa-east-1": 1}
                and c
            ),
            60,
            what="2/1/1 split",
        )
        assert counts
        deps = kube.items("deployments", namespace, selector=f"{INSTANCE}=reco")
        assert sorted(d["metadata"]["labels"]["modelserve.io/region"] for d in deps) == [
            "ap-southeast-1",
            "eu-central-1",
            "sa-east-1",
        ]
        for dep in deps:
            terms = dep["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
            assert "requiredDuringSchedulingIgnoredDuringExecution" in terms
            assert "preferredDuringSchedulingIgnoredDuringExecution" not in terms
        md = kube.get("modeldeployment", "reco", namespace)
        rows = {r["name"]: r for r in md["status"]["placement"]["regions"]}
        assert rows["eu-central-1"]["desired"] == 2 and rows["sa-east-1"]["desired"] == 1
        assert condition(md, "ResidencyCompliant")["status"] == "True"
        rp = wait_until(
            lambda: (
                (p := kube.get("regionplacement", "global", namespace))
                and (p.get("status") or {}).get("models") == ["reco"]
                and p
            ),
            30,
            what="placement status",
        )
        assert rp["status"]["compliant"] is True
        assert rec.outside({"eu-central-1", "ap-southeast-1", "sa-east-1"}) == {}


def test_eu_only_relabelled_node_is_evicted(
    kube: Kube, namespace: str, operator: object, cluster: object, restore_nodes: None
) -> None:
    kube.apply(
        [
            placement("eu-only", ["eu-central-1"], [{"name": "eu-central-1"}]),
            model_deployment("gdpr", replicas=2, placementRef={"name": "eu-only"}),
        ],
        namespace,
    )
    with BindingRecorder(kube, namespace) as rec:
        ready(kube, "gdpr", namespace)
        assert pods_by_region(kube, "gdpr", namespace) == {"eu-central-1": 2}
        pods = kube.items("pods", namespace, selector=f"{INSTANCE}=gdpr")
        victim_node = pods[0]["spec"]["nodeName"]
        victims = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == victim_node}
        kube.run("label", "node", victim_node, f"{REGION_LABEL}=us-east-1", "--overwrite")
        # The pods on the relabelled node are evicted and replaced inside the EU.
        wait_until(
            lambda: (
                not (
                    {
                        p["metadata"]["name"]
                        for p in kube.items("pods", namespace, selector=f"{INSTANCE}=gdpr")
                    }
                    & victims
                )
            ),
            60,
            what="violating pods evicted",
        )
        wait_until(
            lambda: pods_by_region(kube, "gdpr", namespace) == {"eu-central-1": 2},
            60,
            what="replacements inside the EU",
        )
        events = wait_until(
            lambda: [e for e in kube.items("events", namespace) if e["reason"] == "ResidencyViolation"],
            30,
            what="ResidencyViolation event",
        )
        assert events[0]["type"] == "Warning"
        assert victim_node in events[0]["message"] and "us-east-1" in events[0]["message"]
        md = wait_until(
            lambda: (
                (m := kube.get("modeldeployment", "gdpr", namespace))
                and condition(m, "ResidencyCompliant")["status"] == "True"
                # The replacement pod may turn Ready just after compliance is restored: wait for both.
                and (m.get("status") or {}).get("readyReplicas") == 2
                and m
            ),
            60,
            what="compliant again with both replicas Ready",
        )
        assert md["status"]["readyReplicas"] == 2
        # Every binding happened on an EU node (the relabel made an existing binding foreign, not a new one).
        assert all(p in victims for p in rec.outside({"eu-central-1"}))


def test_region_loss_redistributes_inside_the_jurisdiction(
    kube: Kube, namespace: str, operator: object, cluster: object, restore_nodes: None
) -> None:
    cluster.add_nodes(nodes_for_region("eu-west-1"))  # type: ignore[attr-defined]
    kube.apply(
        [
            placement(
                "eu",
                ["eu-central-1", "eu-west-1"],
                [{"name": "eu-central-1", "weight": 1}, {"name": "eu-west-1", "weight": 1}],
            ),
            model_deployment("eu-model", replicas=4, placementRef={"name": "eu"}),
        ],
        namespace,
    )
    allowed = {"eu-central-1", "eu-west-1"}
    with BindingRecorder(kube, namespace) as rec:
        ready(kube, "eu-model", namespace)
        wait_until(
            lambda: pods_by_region(kube, "eu-model", namespace) == {"eu-central-1": 2, "eu-west-1": 2},
            60,
            what="2/2 split",
        )
        for node in [
            n["metadata"]["name"]
            for n in kube.items("nodes")
            if n["metadata"]["labels"].get(REGION_LABEL) == "eu-central-1"
        ]:
            kube.run("delete", "node", node, "--wait=false")
        wait_until(
            lambda: pods_by_region(kube, "eu-model", namespace) == {"eu-west-1": 4},
            120,
            what="all replicas in eu-west-1",
        )
        md = kube.get("modeldeployment", "eu-model", namespace)
        rows = {r["name"]: r for r in md["status"]["placement"]["regions"]}
        assert rows["eu-central-1"]["desired"] == 0 and rows["eu-west-1"]["desired"] == 4
        assert rec.outside(allowed) == {}
        # The region returns: replicas go back.
        cluster.add_nodes(nodes_for_region("eu-central-1"))  # type: ignore[attr-defined]
        wait_until(
            lambda: pods_by_region(kube, "eu-model", namespace) == {"eu-central-1": 2, "eu-west-1": 2},
            120,
            what="back to 2/2",
        )
        assert rec.outside(allowed) == {}
    for node in [
        n["metadata"]["name"]
        for n in kube.items("nodes")
        if n["metadata"]["labels"].get(REGION_LABEL) == "eu-west-1"
    ]:
        kube.run("delete", "node", node, "--wait=false")


def test_no_allowed_region_keeps_pods_pending(
    kube: Kube, namespace: str, operator: object, cluster: object, restore_nodes: None
) -> None:
    kube.apply(
        [
            placement("frankfurt", ["eu-central-1"], [{"name": "eu-central-1"}]),
            model_deployment("stuck", replicas=2, placementRef={"name": "frankfurt"}),
        ],
        namespace,
    )
    with BindingRecorder(kube, namespace) as rec:
        ready(kube, "stuck", namespace)
        for node in [
            n["metadata"]["name"]
            for n in kube.items("nodes")
            if n["metadata"]["labels"].get(REGION_LABEL) == "eu-central-1"
        ]:
            kube.run("delete", "node", node, "--wait=false")
        # Pods of deleted nodes are removed by the controller-manager; replacements cannot be placed.
        kube.run("delete", "pods", "-n", namespace, "-l", f"{INSTANCE}=stuck", "--wait=false")

        def pending_and_reported() -> dict | None:
            pods = kube.items("pods", namespace, selector=f"{INSTANCE}=stuck")
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            if len(live) < 2 or any(p["status"].get("phase") != "Pending" for p in live):
                return None
            rp = kube.get("regionplacement", "frankfurt", namespace)
            cond = condition(rp, "Ready")
            return rp if cond and cond["status"] == "False" else None

        rp = wait_until(pending_and_reported, 120, what="Pending pods and Ready=False on the placement")
        assert "no allowed region" in condition(rp, "Ready")["message"]
        # The ModelDeployment says why, in the scheduler's words.
        md = wait_until(
            lambda: (
                (m := kube.get("modeldeployment", "stuck", namespace))
                and "Pending" in (condition(m, "Ready") or {}).get("message", "")
                and m
            ),
            60,
            what="Ready condition naming the Pending pods",
        )
        assert condition(md, "Ready")["status"] == "False"
        assert "nodes are available" in condition(md, "Ready")["message"]
        assert rec.outside({"eu-central-1"}) == {}


def test_canary_rollout_runs_in_every_region(kube: Kube, namespace: str, operator: object) -> None:
    steps = [{"setWeight": 50}, {"pause": {}}]
    spec_extra = {
        "placementRef": {"name": "tri"},
        "rollout": {"strategy": "canary", "canary": {"steps": steps}},
    }
    kube.apply(
        [
            placement(
                "tri",
                ["eu-central-1", "ap-southeast-1", "sa-east-1"],
                [{"name": "eu-central-1"}, {"name": "ap-southeast-1"}, {"name": "sa-east-1"}],
            ),
            model_deployment("tri-model", replicas=3, **spec_extra),
        ],
        namespace,
    )
    md = ready(kube, "tri-model", namespace)
    stable = md["status"]["stableRevision"]
    kube.apply(model_deployment("tri-model", version="2", replicas=3, **spec_extra), namespace)

    def paused_at_half() -> dict | None:
        m = kube.get("modeldeployment", "tri-model", namespace)
        st = m.get("status") or {}
        return m if st.get("candidateRevision") and st.get("canaryWeight") == 50 else None

    md = wait_until(paused_at_half, 120, what="canary at 50% paused")
    candidate = md["status"]["candidateRevision"]
    deps = kube.items("deployments", namespace, selector=f"{INSTANCE}=tri-model")
    regions_by_rev: dict[str, set[str]] = {}
    for dep in deps:
        if (dep["spec"].get("replicas") or 0) > 0:
            labels = dep["metadata"]["labels"]
            regions_by_rev.setdefault(labels["modelserve.io/revision"], set()).add(
                labels["modelserve.io/region"]
            )
    assert regions_by_rev[candidate] == {"eu-central-1", "ap-southeast-1", "sa-east-1"}, [
        (d["metadata"]["name"], d["spec"].get("replicas")) for d in deps
    ]
    assert regions_by_rev[stable] == {"eu-central-1", "ap-southeast-1", "sa-east-1"}
    # An abort sends every region back to the stable revision together.
    kube.run("annotate", "modeldeployment", "tri-model", "-n", namespace, "modelserve.io/abort=true")
    wait_until(
        lambda: kube.get("modeldeployment", "tri-model", namespace)["status"].get("phase") == "RolledBack",
        60,
        what="rolled back",
    )
    wait_until(
        lambda: all(
            (d["spec"].get("replicas") or 0) == 0
            for d in kube.items("deployments", namespace, selector=f"{INSTANCE}=tri-model")
            if d["metadata"]["labels"]["modelserve.io/revision"] == candidate
        ),
        90,
        what="candidate scaled down in every region",
    )
    time.sleep(0)  # nothing else to wait for
