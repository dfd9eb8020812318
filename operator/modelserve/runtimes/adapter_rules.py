"""prometheus-adapter rules that serve the metric modelserve's HPAs target, from the runtime catalogue.

The HPA the operator writes for `target.metric: requestsPerSecond` is a Pods metric named
`modelserve_requests_per_second` (builders/workloads.py). A metrics adapter must serve it per pod:
the request rate of each pod's own counter. One rule covers every runtime: it discovers pods by any
request counter the catalogue knows (the metric contract's `modelserve_requests_total`, Triton's
`nv_inference_request_success`/`_failure`, MLServer's `rest_server_requests_total`, vLLM's
`http_requests_total`, ...) and sums all of them per pod, so a pod counts whatever its runtime
exports (one runtime per pod: nothing is counted twice). The series need the `namespace` and `pod`
target labels (runtimes/scrape.py).

The chart ships the result as `prometheusAdapter.rules` (values for the prometheus-community
prometheus-adapter chart); tests/unit checks the two agree and the e2e runs the adapter with the
chart's copy.
"""

from __future__ import annotations

from modelserve.runtimes.catalogue import Catalogue
from modelserve.runtimes.resolve import CONTRACT_REQUESTS

#: The custom metric the HPAs target (builders.workloads.METRIC_FOR_TARGET["requestsPerSecond"]).
REQUESTS_PER_SECOND = "modelserve_requests_per_second"
#: The rate window: at least two scrapes at a 30 s interval.
RATE_WINDOW = "1m"


def request_counters(catalogue: Catalogue) -> list[str]:
    """Every request counter a runtime of the catalogue exports, the metric contract's first."""
    names = {CONTRACT_REQUESTS}
    for entry in catalogue.runtimes.values():
        if entry.metrics is not None:
            names.update(entry.metrics.requests.metrics)
    return [CONTRACT_REQUESTS, *sorted(names - {CONTRACT_REQUESTS})]


def adapter_rules(catalogue: Catalogue) -> list[dict]:
    """The prometheus-adapter `rules` (its config file's, or its chart's `rules.custom`)."""
    names = "|".join(request_counters(catalogue))
    selector = f'{{__name__=~"{names}",namespace!="",pod!=""}}'
    return [
        {
            "seriesQuery": selector,
            "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
            "name": {"matches": "^(.*)$", "as": REQUESTS_PER_SECOND},
            "metricsQuery": (
                f'sum(rate({{__name__=~"{names}",<<.LabelMatchers>>}}[{RATE_WINDOW}])) by (<<.GroupBy>>)'
            ),
        }
    ]
