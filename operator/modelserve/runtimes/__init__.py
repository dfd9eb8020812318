"""The runtime catalogue (which model server serves which format, as data), how a ModelDeployment's
runtime is resolved, and how its metrics are scraped. Pure; see docs/runtimes.md."""

from modelserve.runtimes.catalogue import (
    CONFIGMAP_KEY,
    CUSTOM,
    DEFAULT_STORAGE_INIT_IMAGE,
    Catalogue,
    CatalogueError,
    HealthPaths,
    Histogram,
    LoadResult,
    MetricMapping,
    Ports,
    RuntimeEntry,
    Series,
    builtin_catalogue,
    load_catalogue,
    parse_entry,
)
from modelserve.runtimes.resolve import requests_series, resolve_runtime
from modelserve.runtimes.scrape import (
    pod_monitor_relabelings,
    prometheus_relabel_configs,
    scrape_annotations,
    scrape_target_labels,
)

__all__ = [
    "CONFIGMAP_KEY",
    "CUSTOM",
    "DEFAULT_STORAGE_INIT_IMAGE",
    "Catalogue",
    "CatalogueError",
    "HealthPaths",
    "Histogram",
    "LoadResult",
    "MetricMapping",
    "Ports",
    "RuntimeEntry",
    "Series",
    "builtin_catalogue",
    "load_catalogue",
    "parse_entry",
    "pod_monitor_relabelings",
    "prometheus_relabel_configs",
    "requests_series",
    "resolve_runtime",
    "scrape_annotations",
    "scrape_target_labels",
]
