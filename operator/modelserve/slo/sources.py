"""Which metrics the SLIs of each governed model read: its runtime's own (the catalogue's metric mapping,
the same one the canary gates use), or the modelserve metric contract for the custom runtime.

Pure. A policy governing models of several runtimes gets one term per runtime in each SLI, unioned by
(namespace, model) (slo/queries.py); here: which runtime each model has, how models group by it, and
whether every objective can be measured with that runtime's metrics (errors name the spec field).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelserve.api.errors import SpecError
from modelserve.runtimes import Catalogue, Histogram, RuntimeEntry, resolve_runtime
from modelserve.slo.model import AVAILABILITY, LATENCY, Objective, SLAPolicySpec


def native_runtime(entry: RuntimeEntry | None) -> RuntimeEntry | None:
    """The entry whose own metrics an SLI reads; None for the metric contract (the custom runtime, an
    entry without a metric mapping, or no entry)."""
    if entry is None or entry.is_custom or entry.metrics is None:
        return None
    return entry


def model_runtime(catalogue: Catalogue, md_body: Mapping[str, Any]) -> RuntimeEntry | None:
    """The runtime serving a ModelDeployment body (``spec.runtime.name``, else ``spec.model.format``);
    None when the spec names none the catalogue has (its own reconcile reports that)."""
    spec = md_body.get("spec") or {}
    runtime = spec.get("runtime") or {}
    model = spec.get("model") or {}
    try:
        name, image = runtime.get("name") or None, runtime.get("image") or None
        return resolve_runtime(catalogue, name, str(model.get("format") or ""), image)
    except SpecError:
        return None


def native_runtimes(catalogue: Catalogue, md_bodies: Iterable[Mapping[str, Any]]) -> dict[str, RuntimeEntry]:
    """Model name -> the runtime whose own metrics its SLIs read; models on the contract are left out."""
    out: dict[str, RuntimeEntry] = {}
    for body in md_bodies:
        entry = native_runtime(model_runtime(catalogue, body))
        if entry is not None:
            out[str((body.get("metadata") or {}).get("name"))] = entry
    return out


def models_by_source(
    models: Sequence[str], runtimes: Mapping[str, RuntimeEntry] | None
) -> list[tuple[RuntimeEntry | None, list[str]]]:
    """`models` grouped by the metrics their SLIs read: the contract's (None) first, then each runtime's
    by name. Groups are never empty; their model lists are sorted."""
    runtimes = runtimes or {}
    contract = sorted({m for m in models if native_runtime(runtimes.get(m)) is None})
    native: dict[str, tuple[RuntimeEntry, set[str]]] = {}
    for m in models:
        entry = native_runtime(runtimes.get(m))
        if entry is not None:
            native.setdefault(entry.name, (entry, set()))[1].add(m)
    groups: list[tuple[RuntimeEntry | None, list[str]]] = [(None, contract)] if contract else []
    groups += [(entry, sorted(ms)) for _, (entry, ms) in sorted(native.items())]
    return groups


def latency_histogram(entry: RuntimeEntry) -> Histogram | None:
    return entry.metrics.latency if entry.metrics is not None else None


def native_latency_le(objective: Objective, entry: RuntimeEntry, path: str = "latency") -> float:
    """The ``le`` (in the histogram's own unit) a latency objective reads on `entry`'s histogram: the
    threshold itself, which must be one of the runtime's bucket boundaries when it declares them.
    SpecError naming `path`.thresholdMilliseconds otherwise (or when the runtime has no histogram)."""
    assert objective.latency is not None
    hist = latency_histogram(entry)
    field_path = f"{path}.thresholdMilliseconds"
    if hist is None:
        raise SpecError(field_path, f"runtime {entry.name} exports no request-latency histogram")
    threshold_ms = objective.latency.threshold_milliseconds
    le = threshold_ms / 1000.0 / hist.unit_seconds
    if not hist.buckets:
        return le
    for boundary in hist.buckets:
        if abs(boundary - le) <= 1e-9 * max(1.0, le):
            return boundary
    valid = ", ".join(f"{b * hist.unit_seconds * 1000:g}" for b in hist.buckets)
    raise SpecError(
        field_path,
        f"{threshold_ms:g}ms is not a bucket boundary of runtime {entry.name}'s histogram {hist.metric},"
        f" so the SLI cannot count requests faster than it; use one of: {valid} (milliseconds)",
    )


def check_native_slis(spec: SLAPolicySpec, runtimes: Mapping[str, RuntimeEntry]) -> None:
    """SpecError naming the objective's field when a governed model's runtime cannot measure it: a
    latency threshold that is not one of its histogram's buckets, or countClientErrorsAsBad on a runtime
    whose metrics cannot tell client errors apart. `runtimes`: model -> runtime (native_runtimes)."""
    by_runtime: dict[str, tuple[RuntimeEntry, list[str]]] = {}
    for model, entry in sorted(runtimes.items()):
        if native_runtime(entry) is not None:
            by_runtime.setdefault(entry.name, (entry, []))[1].append(model)
    for i, objective in enumerate(spec.objectives):
        path = f"spec.objectives[{i}]"
        for entry, models in by_runtime.values():
            served = f" (models {', '.join(models)} run on {entry.name})"
            try:
                if objective.type == LATENCY:
                    native_latency_le(objective, entry, f"{path}.latency")
                elif objective.type == AVAILABILITY and objective.count_client_errors_as_bad:
                    assert entry.metrics is not None
                    if entry.metrics.client_and_server_errors is None:
                        raise SpecError(
                            f"{path}.countClientErrorsAsBad",
                            f"runtime {entry.name}'s metrics cannot tell client errors apart;"
                            " remove the field or use a custom objective",
                        )
            except SpecError as exc:
                raise SpecError(exc.field_path, exc.message + served) from None
