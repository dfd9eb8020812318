"""When to write a new model's first status: not before it has had a moment to become Ready.

A model that converges in a few seconds would otherwise cost a status write (and an Event) for
every step of its start — Pending with 0/1 ready, the ReplicaSet's counts, Ready — where the user
needs one: the result. So while a model that has never had a status is only Pending (nothing failed,
nothing degraded) and younger than `SETTLE_SECONDS`, the reconcile applies its owned objects but
writes neither status nor Events, and runs again when the time is up; the watch on its Deployment
brings it back as soon as the pods are ready. A model still Pending after that gets its status then.

The time counts from the later of its creation and `started`, the moment this operator process first
applied its objects: in a storm (a thousand models created at once) a model waits in the work queue
longer than the settle time, and counting from its creation alone would narrate the start of every
model reached late (Pending, then Ready: two status writes and two Events instead of one of each).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from modelserve.api import constants as c

SETTLE_SECONDS = 10.0


def first_status_delay(
    body: Mapping[str, Any], new_status: Mapping[str, Any], now: datetime, started: datetime | None = None
) -> float | None:
    """Seconds to hold back the first status write of `body` (whose planned status is `new_status`),
    or None to write now. `started`: when this process first applied the model's objects, if known."""
    if (body.get("status") or {}).get("observedGeneration") is not None:
        return None  # not the first status
    if new_status.get("phase") != c.PHASE_PENDING:
        return None
    if any(
        cond.get("type") == c.COND_DEGRADED and cond.get("status") == "True"
        for cond in new_status.get("conditions") or []
    ):
        return None
    created = (body.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return None
    try:
        born = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return None
    if started is not None and started > born:
        born = started
    left = SETTLE_SECONDS - (now - born).total_seconds()
    return left if left > 0 else None
