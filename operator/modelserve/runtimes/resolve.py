"""Which catalogue entry serves a ModelDeployment: `spec.runtime.name`, else `spec.model.format`.

Compatibility rule: a spec that names no runtime but has `spec.runtime.image` runs the `custom` runtime,
exactly as before the catalogue existed (the image, the MODEL_* variables, no download, no probes).
"""

from __future__ import annotations

from modelserve.api.errors import SpecError
from modelserve.runtimes.catalogue import CUSTOM, Catalogue, RuntimeEntry, Series

CONTRACT_REQUESTS = "modelserve_requests_total"  # the custom runtime's metric contract


def resolve_runtime(
    catalogue: Catalogue, runtime_name: str | None, model_format: str, image: str | None
) -> RuntimeEntry:
    """The entry serving a model; SpecError naming the field when there is none.

    `runtime_name`: spec.runtime.name (None: not set); `image`: spec.runtime.image (None or "": not set).
    """
    if runtime_name:
        entry = catalogue.get(runtime_name)
        if entry is None:
            raise SpecError(
                "spec.runtime.name",
                f"unknown runtime {runtime_name!r} (known: {', '.join(sorted(catalogue.runtimes))})",
            )
        if entry.is_custom and not image:
            raise SpecError("spec.runtime.image", "is required for the custom runtime")
        return entry
    if image:
        return catalogue.get(CUSTOM) or RuntimeEntry(name=CUSTOM, image="")
    entry = catalogue.for_format(model_format)
    if entry is None:
        served = ", ".join(f"{f} ({r})" for f, r in sorted(catalogue.formats().items()))
        raise SpecError(
            "spec.runtime.image",
            f"is required: no runtime serves spec.model.format {model_format!r} "
            f"(set spec.runtime.image, or use a format the catalogue serves: {served})",
        )
    return entry


def requests_series(
    catalogue: Catalogue, runtime_name: str | None, model_format: str, image: str | None
) -> Series:
    """The request counter of the runtime serving a model (the demand the forecaster and the SLIs count);
    the metric contract's ``modelserve_requests_total`` when the runtime has no mapping or none serves it."""
    try:
        entry = resolve_runtime(catalogue, runtime_name, model_format, image)
    except SpecError:
        entry = None
    if entry is None or entry.metrics is None:
        custom = catalogue.get(CUSTOM)
        if custom is not None and custom.metrics is not None:
            return custom.metrics.requests
        return Series((CONTRACT_REQUESTS,))
    return entry.metrics.requests
