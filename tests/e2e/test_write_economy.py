"""Write economy (issue 18): creating a model costs its owned objects, one status write and at most
one Event, counted from the kube-apiserver's audit log (the operator authenticates as its own user).

Five plain ModelDeployments (one replica each) are created together; once every one is Ready and the
operator has stopped writing in their namespace, the writes it made there are counted by kind. The
figures are printed (writes per model by kind).
"""

from __future__ import annotations

import collections
import time

from modelserve.localcluster.cluster import OPERATOR_USER

from tests.e2e.harness import Kube, condition, operator_writes, wait_until
from tests.e2e.test_foundation import model_deployment

MODELS = 5
OWNED_PER_MODEL = 3  # Deployment, Service, PodDisruptionBudget


def _writes_by_kind(audit: object, namespace: str, since: float) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for w in operator_writes(audit, OPERATOR_USER, since=since):  # type: ignore[arg-type]
        ref = w.get("objectRef") or {}
        if ref.get("namespace") != namespace:
            continue
        kind = ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else "")
        counts[f"{w['verb']} {kind}"] += 1
    return counts


def test_creating_models_costs_owned_objects_one_status_write_and_one_event(
    kube: Kube, namespace: str, operator: object, cluster: object
) -> None:
    audit = cluster.audit_log  # type: ignore[attr-defined]
    since = time.time() - 1
    names = [f"eco-{i}" for i in range(MODELS)]
    kube.apply([model_deployment(n, replicas=1) for n in names], namespace)

    def all_ready() -> bool:
        for n in names:
            md = kube.get("modeldeployment", n, namespace)
            cond = condition(md, "Ready")
            if not (cond and cond["status"] == "True"):
                return False
        return True

    wait_until(all_ready, 120, what="every model Ready")
    wait_until(
        lambda: not _writes_by_kind(audit, namespace, time.time() - 5),
        60,
        what="the operator to stop writing in the namespace",
    )
    counts = _writes_by_kind(audit, namespace, since)
    per_model = {k: v / MODELS for k, v in sorted(counts.items())}
    print(f"\nwrites per model at creation ({MODELS} models): {per_model}")
    owned = sum(
        v for k, v in counts.items() if k.split()[1] in ("deployments", "services", "poddisruptionbudgets")
    )
    status = sum(v for k, v in counts.items() if k.endswith("modeldeployments/status"))
    events = sum(v for k, v in counts.items() if k.endswith(" events"))
    assert owned == OWNED_PER_MODEL * MODELS, counts
    assert status <= MODELS, counts
    assert events <= MODELS, counts
    assert sum(counts.values()) <= 5 * MODELS, counts
