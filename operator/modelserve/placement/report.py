"""Rows and text for `kubectl modelserve residency`: where every model pod runs and whether it may."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelserve.placement.model import PlacementSpec
from modelserve.placement.violations import classify_pods

_NONE = "<none>"  # what kubectl prints for an empty cell


@dataclass(frozen=True)
class ReportRow:
    """One pod: the node it is bound to, that node's region, the verdict and why."""

    pod: str
    node: str | None
    region: str | None
    verdict: str  # Compliant | Violation | Misplaced | Pending | Unknown | Finished
    reason: str = ""
    message: str = ""
    pod_region: str | None = None


def residency_report(
    pods: Iterable[Mapping[str, Any]],
    nodes_by_name: Mapping[str, Mapping[str, Any]],
    placement: PlacementSpec,
) -> list[ReportRow]:
    """One ReportRow per pod, sorted by pod name, with the same verdicts as find_violations."""
    return [
        ReportRow(p.pod, p.node, p.region, p.verdict, p.reason, p.message, p.pod_region)
        for p in classify_pods(pods, nodes_by_name, placement)
    ]


def format_report(rows: Sequence[ReportRow], wide: bool = False) -> str:
    """A kubectl-style table (upper-case headers, columns padded by 3 spaces, <none> for empty cells).

    `wide` adds the pod's intended region and the explanation, like `-o wide`.
    """
    if not rows:
        return "No model pods found.\n"
    header = ["POD", "NODE", "REGION", "VERDICT", "REASON"]
    if wide:
        header += ["POD-REGION", "MESSAGE"]
    table = [header]
    for row in rows:
        cells = [row.pod, row.node or _NONE, row.region or _NONE, row.verdict, row.reason or _NONE]
        if wide:
            cells += [row.pod_region or _NONE, row.message or _NONE]
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]
    return "\n".join(lines) + "\n"
