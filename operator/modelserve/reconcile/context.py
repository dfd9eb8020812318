"""What every reconcile needs besides its key, built once at start-up (handlers/operator.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from modelserve.forecasting.cycle import FloorSource
from modelserve.k8s.client import KubeClient
from modelserve.reconcile.informer import ObjectCache
from modelserve.reconcile.model_events import ModelEvents
from modelserve.reconcile.runtimes import RuntimeCatalogueSource
from modelserve.slo.view import SLAViewSource


@dataclass
class Context:
    """What a reconcile needs besides the key: the API client, settings, the clock, and the sources
    of what other controllers hand to the planner (handlers/operator.py wires them at start-up)."""

    kube: KubeClient
    prometheus_url: str | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    floors: FloorSource | None = None  # the predictive autoscaler's floors; None: none
    sla_views: SLAViewSource | None = None  # the SLA controller's view of a model; None: no SLA
    runtimes: RuntimeCatalogueSource | None = None  # the runtime catalogue; None: the built-ins
    # The watched kinds' objects, kept from kopf's watch events (informer.py); None: read the API server.
    cache: ObjectCache | None = None
    # The inputs fingerprint of each ModelDeployment's last plan that needed no wake-up (planner/inputs.py):
    # a reconcile whose inputs have the same fingerprint does not plan again.
    planned: dict[tuple[str, str], str] = field(default_factory=dict)
    # When this process first applied the objects of each new model whose first status is held back
    # (planner/settle.py): the settle time counts from then, not from a creation long queued.
    settling_since: dict[tuple[str, str], datetime] = field(default_factory=dict)
    # The resync digest (planner/inputs.py resync_digests) of each ModelDeployment's last settled
    # reconcile that wrote nothing: the resync skips a model whose listed digest is this one.
    resync_seen: dict[tuple[str, str], str] = field(default_factory=dict)
    # The ModelDeployments' watch events: first-time bodies for a first read, and the echo of our own
    # settled status writes (model_events.py).
    model_events: ModelEvents = field(default_factory=ModelEvents)
