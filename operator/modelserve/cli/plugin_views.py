"""What `kubectl modelserve` prints: resource bodies (as read from the API) in, views and text out.

Pure: no I/O, the clock is a parameter. Every command first builds a *view* (a plain dict, which is
also what `-o json|yaml` prints) and then formats it as text, kubectl style (upper-case headers,
columns padded by three spaces, `<none>` for empty cells). Nothing here decides anything about a
rollout; it only reads what the operator wrote into status.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from modelserve.api.constants import LABEL_REGION, LABEL_REVISION, LABEL_ROLE
from modelserve.api.durations import format_duration
from modelserve.api.errors import SpecError
from modelserve.api.rollout import PauseStep, Rollout, SetWeightStep, Step, parse_rollout
from modelserve.rollout.steps import effective_canary_steps

NONE = "<none>"
ANALYSIS_COUNTERS = ("passed", "failed", "inconclusive", "errors")
DEFAULT_VERDICTS = 5
MODEL_VERSION_ENV = "MODEL_VERSION"
# Labels a Deployment might carry its model version in (checked after the MODEL_VERSION env var).
MODEL_VERSION_LABELS = ("modelserve.io/model-version", "app.kubernetes.io/version")


# -- small helpers -----------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (as the API writes them) as an aware datetime; None when absent/invalid."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def age(value: Any, now: datetime) -> str:
    """kubectl's AGE column: `45s`, `5m`, `3h`, `2d` since `value`; `<none>` when there is no time."""
    when = parse_time(value)
    if when is None:
        return NONE
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def number(value: Any, digits: int = 4) -> str:
    """A number with `digits` significant digits (ints stay ints); `<none>` when absent."""
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "NaN"
    return f"{x:.{digits}g}"


def yes_no(value: Any) -> str:
    if value is None:
        return NONE
    return "yes" if value else "no"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "") -> str:
    """A kubectl-style table; empty cells print `<none>`. Returns text ending in a newline."""
    grid = [[str(h) for h in header]]
    for row in rows:
        grid.append([NONE if cell is None or cell == "" else str(cell) for cell in row])
    widths = [max(len(r[i]) for r in grid) for i in range(len(header))]
    lines = [indent + "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in grid]
    return "\n".join(lines) + "\n"


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("status") or {}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


# -- status ----------------------------------------------------------------------------------------
def model_version_of(deployment: Mapping[str, Any]) -> str | None:
    """The model version a Deployment serves: its MODEL_VERSION env var, else a version label."""
    pod_spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod_spec.get("containers") or ():
        for env in container.get("env") or ():
            if env.get("name") == MODEL_VERSION_ENV and env.get("value") is not None:
                return str(env["value"])
    labels = _meta(deployment).get("labels") or {}
    for key in MODEL_VERSION_LABELS:
        if labels.get(key):
            return str(labels[key])
    return None


def revisions_view(
    status: Mapping[str, Any], deployments: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One entry per revision found in the Deployments (stable first, then candidate, then others).

    Each: {revision, role, modelVersion, desired, ready, regions: [{region, deployment, desired, ready}]}.
    The role comes from status (stableRevision/candidateRevision), else the Deployment's role label.
    """
    stable, candidate = status.get("stableRevision"), status.get("candidateRevision")
    by_revision: dict[str, dict[str, Any]] = {}
    for dep in deployments:
        labels = _meta(dep).get("labels") or {}
        revision = str(labels.get(LABEL_REVISION) or "")
        entry = by_revision.setdefault(
            revision,
            {
                "revision": revision or None,
                "role": None,
                "modelVersion": None,
                "desired": 0,
                "ready": 0,
                "regions": [],
            },
        )
        if revision and revision == stable:
            entry["role"] = "stable"
        elif revision and revision == candidate:
            entry["role"] = "candidate"
        elif entry["role"] is None:
            entry["role"] = labels.get(LABEL_ROLE) or "old"
        entry["modelVersion"] = entry["modelVersion"] or model_version_of(dep)
        desired = int((dep.get("spec") or {}).get("replicas") or 0)
        ready = int(_status(dep).get("readyReplicas") or 0)
        entry["desired"] += desired
        entry["ready"] += ready
        entry["regions"].append(
            {
                "region": labels.get(LABEL_REGION),
                "deployment": _meta(dep).get("name"),
                "desired": desired,
                "ready": ready,
            }
        )
    order = {"stable": 0, "candidate": 1}
    views = sorted(by_revision.values(), key=lambda e: (order.get(e["role"], 2), e["revision"] or ""))
    for view in views:
        view["regions"].sort(key=lambda r: (r["region"] or "", r["deployment"] or ""))
    return views


def describe_step(step: Step) -> str:
    """`setWeight 10`, `pause 5m`, `pause (until promoted)`, `analysis 5m`, `analysis (one verdict)`."""
    if isinstance(step, SetWeightStep):
        return f"setWeight {step.weight}"
    if isinstance(step, PauseStep):
        seconds = step.duration_seconds
        return f"pause {format_duration(seconds)}" if seconds else "pause (until promoted)"
    seconds = step.duration_seconds
    return f"analysis {format_duration(seconds)}" if seconds else "analysis (one passing verdict)"


def _rollout(spec: Mapping[str, Any]) -> Rollout | None:
    """The parsed ``spec.rollout``; None when the operator cannot parse it (its status says why)."""
    try:
        return parse_rollout(spec.get("rollout"))
    except SpecError:
        return None


def canary_steps(spec: Mapping[str, Any]) -> list[str]:
    """The canary steps as the operator walks them, described: the spec's steps, plus the implicit final
    `analysis` it adds when gates are set and no pause/analysis follows the last non-zero weight
    (docs/rollouts.md; the operator's own ``effective_canary_steps``). A spec the operator cannot
    parse has no steps to show (its status says why)."""
    rollout = _rollout(spec)
    if rollout is None:
        return []
    described = [describe_step(s) for s in rollout.canary.steps]
    walked = effective_canary_steps(rollout.canary.steps, gates_configured=bool(rollout.analysis.gates))
    if len(walked) > len(rollout.canary.steps):
        described.append("analysis (implicit final gate)")
    return described


def step_view(md: Mapping[str, Any]) -> dict[str, Any] | None:
    """{index (1-based), total, description} of the current canary step; None when no canary runs."""
    spec, status = md.get("spec") or {}, _status(md)
    rollout = _rollout(spec)
    strategy = (status.get("rollout") or {}).get("strategy") or (rollout.strategy if rollout else "canary")
    if not status.get("candidateRevision") or strategy != "canary":
        return None
    steps = canary_steps(spec)
    index = status.get("currentStepIndex")
    if index is None:
        return None
    index = int(index)
    if index >= len(steps):
        return {"index": len(steps), "total": len(steps), "description": "steps done: promoting"}
    return {"index": index + 1, "total": len(steps), "description": steps[index]}


def status_view(
    md: Mapping[str, Any], deployments: Sequence[Mapping[str, Any]], *, verdicts: int = DEFAULT_VERDICTS
) -> dict[str, Any]:
    """The ModelDeployment body and its Deployments in, everything `status` shows out (a plain dict)."""
    spec, status, meta = md.get("spec") or {}, _status(md), _meta(md)
    rollout = status.get("rollout") or {}
    history = list(status.get("analysisHistory") or [])
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "generation": meta.get("generation"),
        "observedGeneration": status.get("observedGeneration"),
        "phase": status.get("phase"),
        "message": status.get("message"),
        "model": {
            "name": (spec.get("model") or {}).get("name"),
            "version": (spec.get("model") or {}).get("version"),
        },
        "strategy": rollout.get("strategy") or (spec.get("rollout") or {}).get("strategy") or "canary",
        "stage": rollout.get("phase"),
        "stableRevision": status.get("stableRevision"),
        "candidateRevision": status.get("candidateRevision"),
        "step": step_view(md),
        "canaryWeight": status.get("canaryWeight"),
        "weightApproximate": bool(rollout.get("weightApproximate")),
        "replicas": {
            "desired": status.get("desiredReplicas"),
            "current": status.get("replicas"),
            "ready": status.get("readyReplicas"),
        },
        "url": status.get("url"),
        "revisions": revisions_view(status, deployments),
        "rollout": {
            key: rollout.get(key)
            for key in (
                "startedAt",
                "stepStartedAt",
                "pauseReason",
                "failedRevision",
                "failedReason",
                "passed",
                "failed",
                "inconclusive",
                "errors",
                "consecutiveErrors",
                "lastAnalysisAt",
                "scaleDowns",
            )
            if rollout.get(key) not in (None, [], "")
        },
        "conditions": list(status.get("conditions") or []),
        "verdicts": history[-verdicts:] if verdicts > 0 else [],
        "sla": status.get("sla"),
        "autoscaling": status.get("autoscaling"),
        "placement": status.get("placement"),
    }


def _field(label: str, value: Any) -> str:
    return f"{label + ':':<15}{value}"


def format_weight(view: Mapping[str, Any]) -> str:
    weight = view.get("canaryWeight")
    if weight is None:
        return NONE
    text = f"{weight}%"
    if view.get("weightApproximate"):
        text += " (approximate: replica ratio)"
    return text


def format_verdicts(entries: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """analysisHistory entries as a table: AGE GATE VERDICT VALUE BOUND BASELINE SAMPLES."""
    return table(
        ["AGE", "GATE", "VERDICT", "VALUE", "BOUND", "BASELINE", "SAMPLES"],
        [
            [
                age(e.get("time"), now),
                e.get("gate"),
                e.get("verdict"),
                number(e.get("value")),
                e.get("bound"),
                number(e.get("baseline")),
                number(e.get("samples")),
            ]
            for e in entries
        ],
        indent="  ",
    )


def format_conditions(conditions: Sequence[Mapping[str, Any]], now: datetime) -> str:
    return table(
        ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"],
        [
            [
                c.get("type"),
                c.get("status"),
                c.get("reason"),
                age(c.get("lastTransitionTime"), now),
                c.get("message"),
            ]
            for c in conditions
        ],
        indent="  ",
    )


def format_sla_line(sla: Mapping[str, Any] | None) -> str:
    if not sla:
        return NONE
    budget = sla.get("errorBudgetRemainingPercent")
    parts = [
        f"policy {sla.get('policy') or NONE}",
        f"compliant {yes_no(sla.get('compliant'))}",
        f"budget left {number(budget, 4)}%" if budget is not None else "budget left <none>",
    ]
    if sla.get("frozen"):
        parts.append("rollouts FROZEN (error budget exhausted)")
    return ", ".join(parts)


def format_autoscaling_line(auto: Mapping[str, Any] | None, now: datetime) -> str:
    if not auto:
        return NONE
    parts = []
    if auto.get("floor") is not None:
        parts.append(f"floor {auto['floor']}")
    if auto.get("model"):
        error = auto.get("backtestError")
        metric = auto.get("backtestMetric") or "sMAPE"
        parts.append(
            f"model {auto['model']}" + (f" ({metric} {number(error)}%)" if error is not None else "")
        )
    if auto.get("forecastPeak") is not None:
        when = auto.get("forecastPeakTime")
        parts.append(f"peak {number(auto['forecastPeak'])}" + (f" at {when}" if when else ""))
    if auto.get("reason"):
        parts.append(f"reason: {auto['reason']}")
    return ", ".join(parts) or NONE


def format_placement(placement: Mapping[str, Any] | None) -> str:
    """The `Placement:` line plus a region table (indented); `<none>` without placement."""
    if not placement:
        return NONE + "\n"
    head = f"{placement.get('name') or NONE}"
    if placement.get("jurisdiction"):
        head += f" (jurisdiction {placement['jurisdiction']})"
    regions = placement.get("regions") or []
    if not regions:
        return head + "\n"
    return (
        head
        + "\n"
        + table(
            ["REGION", "DESIRED", "READY", "NODES", "VIOLATIONS", "MESSAGE"],
            [
                [
                    r.get("name"),
                    number(r.get("desired")),
                    number(r.get("ready")),
                    number(r.get("nodesAvailable")),
                    number(r.get("violations")),
                    r.get("message"),
                ]
                for r in regions
            ],
            indent="  ",
        )
    )


def format_status(view: Mapping[str, Any], now: datetime) -> str:
    """`kubectl modelserve status` text from a status_view()."""
    lines = _status_header(view)
    lines += _status_rollout(view, now)
    text = "\n".join(lines) + "\n"
    text += "\nRevisions:\n" + _status_revisions(view.get("revisions") or [])
    conditions = view.get("conditions") or []
    text += "\nConditions:\n" + (format_conditions(conditions, now) if conditions else "  <none>\n")
    verdicts = view.get("verdicts") or []
    text += f"\nLatest verdicts ({len(verdicts)}):\n" + (
        format_verdicts(verdicts, now) if verdicts else "  <none>\n"
    )
    text += "\n" + _field("SLA", format_sla_line(view.get("sla"))) + "\n"
    text += _field("Autoscaling", format_autoscaling_line(view.get("autoscaling"), now)) + "\n"
    text += _field("Placement", format_placement(view.get("placement")))
    return text


def _status_header(view: Mapping[str, Any]) -> list[str]:
    """Name, phase, model, strategy, revisions, step, weight, replicas and URL lines."""
    lines = [
        _field("Name", f"{view.get('name')}"),
        _field("Namespace", view.get("namespace") or NONE),
        _field("Phase", view.get("phase") or "Unknown"),
    ]
    if view.get("message"):
        lines.append(_field("Message", view["message"]))
    model = view.get("model") or {}
    lines.append(_field("Model", f"{model.get('name') or NONE} {model.get('version') or ''}".rstrip()))
    strategy = view.get("strategy") or NONE
    if view.get("stage"):
        strategy += f" (stage {view['stage']})"
    lines.append(_field("Strategy", strategy))
    versions = {r["revision"]: r.get("modelVersion") for r in view.get("revisions") or ()}
    for label, key in (("Stable", "stableRevision"), ("Candidate", "candidateRevision")):
        revision = view.get(key)
        if revision:
            version = versions.get(revision)
            lines.append(_field(label, revision + (f" (model version {version})" if version else "")))
        elif key == "stableRevision":
            lines.append(_field(label, NONE))
    step = view.get("step")
    if step:
        lines.append(_field("Step", f"{step['index']}/{step['total']}: {step['description']}"))
    if view.get("candidateRevision") or view.get("canaryWeight"):
        lines.append(_field("Canary weight", format_weight(view)))
    replicas = view.get("replicas") or {}
    lines.append(
        _field(
            "Replicas",
            f"desired {number(replicas.get('desired'))}, current {number(replicas.get('current'))}, "
            f"ready {number(replicas.get('ready'))}",
        )
    )
    if view.get("url"):
        lines.append(_field("URL", view["url"]))
    return lines


def _status_rollout(view: Mapping[str, Any], now: datetime) -> list[str]:
    """The Rollout line (timing, pause, analysis counters, failure) and pending scale-downs."""
    rollout = view.get("rollout") or {}
    if not rollout:
        return []
    details = []
    if rollout.get("startedAt"):
        details.append(f"started {age(rollout['startedAt'], now)} ago")
    if rollout.get("stepStartedAt"):
        details.append(f"step started {age(rollout['stepStartedAt'], now)} ago")
    if rollout.get("pauseReason"):
        details.append(f"paused: {rollout['pauseReason']}")
    counters = [f"{k} {rollout[k]}" for k in ANALYSIS_COUNTERS if k in rollout]
    # The judge's counters only mean something while a rollout runs (they reset when one starts).
    if counters and (view.get("candidateRevision") or any(rollout.get(k) for k in ANALYSIS_COUNTERS)):
        details.append("analyses " + " ".join(counters))
    if rollout.get("failedRevision"):
        failed = f"failed revision {rollout['failedRevision']} ({rollout.get('failedReason') or NONE})"
        details.append(failed)
    lines = [_field("Rollout", "; ".join(details))] if details else []
    for pending in rollout.get("scaleDowns") or ():
        lines.append(
            _field(
                "Scale-down",
                f"revision {pending.get('revision')} ({pending.get('reason') or NONE}) "
                f"at {pending.get('at')}",
            )
        )
    return lines


def _status_revisions(revisions: Sequence[Mapping[str, Any]]) -> str:
    if not revisions:
        return "  <none>\n"
    rows = []
    for r in revisions:
        regions = ", ".join(
            f"{g['region']} {g['ready']}/{g['desired']}" for g in r.get("regions") or () if g.get("region")
        )
        rows.append(
            [
                r.get("role"),
                r.get("revision"),
                r.get("modelVersion"),
                r.get("desired"),
                r.get("ready"),
                regions,
            ]
        )
    return table(
        ["ROLE", "REVISION", "VERSION", "DESIRED", "READY", "REGIONS (ready/desired)"], rows, indent="  "
    )


# -- history ---------------------------------------------------------------------------------------
def event_time(event: Mapping[str, Any]) -> str | None:
    """When an Event last happened: lastTimestamp, else eventTime, series.lastObservedTime, firstTimestamp,
    creationTimestamp."""
    return (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("series") or {}).get("lastObservedTime")
        or event.get("firstTimestamp")
        or _meta(event).get("creationTimestamp")
    )


def _utc_text(value: Any) -> Any:
    """Timestamps in one spelling (`2025-03-04T11:55:00Z`), so history columns line up; others unchanged."""
    when = parse_time(value)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else value


def history_view(md: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """analysisHistory entries and core/v1 Events merged into one list in time order (oldest first).

    Each entry: {time, source ("analysis"|"event"), type (verdict or Normal/Warning), reason (gate or event
    reason), message, count}. Entries without a time sort first; ties keep analysis before events.
    """
    entries: list[dict[str, Any]] = []
    for item in _status(md).get("analysisHistory") or ():
        detail = f"value {number(item.get('value'))}"
        if item.get("bound"):
            detail += f", bound {item['bound']}"
        if item.get("baseline") is not None:
            detail += f", stable {number(item.get('baseline'))}"
        if item.get("samples") is not None:
            detail += f", n={item['samples']}"
        if item.get("message"):
            detail += f": {item['message']}"
        entries.append(
            {
                "time": _utc_text(item.get("time")),
                "source": "analysis",
                "type": item.get("verdict"),
                "reason": item.get("gate"),
                "message": detail,
                "count": 1,
            }
        )
    for event in events:
        entries.append(
            {
                "time": _utc_text(event_time(event)),
                "source": "event",
                "type": event.get("type"),
                "reason": event.get("reason"),
                "message": event.get("message"),
                "count": int(event.get("count") or (event.get("series") or {}).get("count") or 1),
            }
        )
    epoch = datetime.min.replace(tzinfo=UTC)
    order = {"analysis": 0, "event": 1}
    entries.sort(key=lambda e: (parse_time(e["time"]) or epoch, order[e["source"]]))
    return entries


def format_history(entries: Sequence[Mapping[str, Any]]) -> str:
    """TIME SOURCE TYPE REASON MESSAGE, oldest first (absolute times: history is read after the fact)."""
    if not entries:
        return "No analysis history or events found.\n"
    rows = []
    for e in entries:
        message = e.get("message") or ""
        if (e.get("count") or 1) > 1:
            message += f" (x{e['count']})"
        rows.append([e.get("time"), e.get("source"), e.get("type"), e.get("reason"), message])
    return table(["TIME", "SOURCE", "TYPE", "REASON", "MESSAGE"], rows)


# -- SLA -------------------------------------------------------------------------------------------
def burn_rates_text(burn_rates: Sequence[Mapping[str, Any]] | None) -> str:
    """`5m 29.41x, 1h 5x` from status burnRates."""
    return ", ".join(f"{b.get('window')} {number(b.get('rate'))}x" for b in burn_rates or ()) or NONE


def objective_detail(objective: Mapping[str, Any]) -> str:
    """What an SLAPolicy objective measures, in a few words."""
    kind = objective.get("type")
    if kind == "latency":
        return f"faster than {number((objective.get('latency') or {}).get('thresholdMilliseconds'))}ms"
    if kind == "quality":
        quality = objective.get("quality") or {}
        bounds = [f"{k} {number(quality[k])}" for k in ("min", "max") if quality.get(k) is not None]
        return f"{quality.get('metric') or 'query'} " + " ".join(bounds)
    if kind == "custom":
        return "goodQuery / totalQuery"
    if kind == "availability":
        return "non-5xx responses" + (" and non-4xx" if objective.get("countClientErrorsAsBad") else "")
    return NONE


def sla_policy_view(policy: Mapping[str, Any], model: str | None = None) -> dict[str, Any]:
    """One SLAPolicy (as read) in, {name, window, errorBudgetPolicy, objectives, compliant,
    errorBudgetRemainingPercent, rulesReady, models} out; with `model`, only that model's entry."""
    spec, status = policy.get("spec") or {}, _status(policy)
    models = list(status.get("models") or [])
    if model is not None:
        models = [m for m in models if m.get("name") == model]
    return {
        "name": _meta(policy).get("name"),
        "namespace": _meta(policy).get("namespace"),
        "window": spec.get("window") or "30d",
        "errorBudgetPolicy": spec.get("errorBudgetPolicy") or "warn",
        "objectives": [
            {
                "name": o.get("name"),
                "type": o.get("type"),
                "target": o.get("target", 99 if o.get("type") == "quality" else None),
                "detail": objective_detail(o),
            }
            for o in spec.get("objectives") or ()
        ],
        "credits": list(spec.get("credits") or []),
        "compliant": status.get("compliant"),
        "errorBudgetRemainingPercent": status.get("errorBudgetRemainingPercent"),
        "rulesReady": status.get("rulesReady"),
        "models": models,
    }


def _model_rows(models: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for m in models:
        attainments = m.get("attainment") or []
        worst = min(
            (a for a in attainments if a.get("percent") is not None),
            key=lambda a: float(a["percent"]) - float(a.get("target") or 0),
            default=None,
        )
        attainment = f"{number(worst.get('percent'), 6)}% ({worst.get('objective')})" if worst else NONE
        budget = m.get("errorBudgetRemainingPercent")
        rows.append(
            [
                m.get("name"),
                yes_no(m.get("compliant")),
                attainment,
                f"{number(budget)}%" if budget is not None else NONE,
                m.get("budgetTimeRemaining"),
                burn_rates_text(m.get("burnRates")),
                f"{number(m.get('creditPercent'))}%" if m.get("creditPercent") is not None else NONE,
                yes_no(m.get("exhausted")),
            ]
        )
    return rows


MODEL_HEADER = [
    "MODEL",
    "COMPLIANT",
    "WORST ATTAINMENT",
    "BUDGET LEFT",
    "EXHAUSTED IN",
    "BURN RATES",
    "CREDIT",
    "EXHAUSTED",
]


def format_sla_policies(views: Sequence[Mapping[str, Any]]) -> str:
    """`sla` without a name: every SLAPolicy of the namespace with one row per model."""
    if not views:
        return "No SLAPolicies found.\n"
    blocks = []
    for v in views:
        budget = v.get("errorBudgetRemainingPercent")
        head = (
            f"SLAPolicy {v.get('name')}: window {v.get('window')}, compliant {yes_no(v.get('compliant'))}, "
            f"budget left {number(budget) + '%' if budget is not None else NONE} (worst model), "
            f"errorBudgetPolicy {v.get('errorBudgetPolicy')}, rules ready {yes_no(v.get('rulesReady'))}\n"
        )
        models = v.get("models") or []
        body = (
            table(MODEL_HEADER, _model_rows(models), indent="  ") if models else "  no models measured yet\n"
        )
        blocks.append(head + body)
    return "\n".join(blocks)


def format_sla_model(model: str, md_sla: Mapping[str, Any] | None, view: Mapping[str, Any] | None) -> str:
    """`sla NAME`: the governing policy, its objectives, and this model's entry of the policy's status."""
    lines = [_field("Model", model), _field("SLA", format_sla_line(md_sla))]
    if view is None:
        return "\n".join(lines) + "\nNo SLAPolicy governs this model.\n"
    lines.append(
        _field(
            "Policy",
            f"{view.get('name')} (window {view.get('window')}, "
            f"errorBudgetPolicy {view.get('errorBudgetPolicy')})",
        )
    )
    text = "\n".join(lines) + "\n"
    entries = view.get("models") or []
    entry = entries[0] if entries else {}
    attainment = {a.get("objective"): a for a in entry.get("attainment") or ()}
    rows = []
    for o in view.get("objectives") or ():
        a = attainment.get(o.get("name")) or {}
        percent = a.get("percent")
        rows.append(
            [
                o.get("name"),
                o.get("type"),
                o.get("detail"),
                number(o.get("target"), 6),
                f"{number(percent, 6)}%" if percent is not None else "no data",
                yes_no(a.get("compliant")),
            ]
        )
    text += "\nObjectives:\n" + table(
        ["OBJECTIVE", "TYPE", "MEASURES", "TARGET %", "ATTAINMENT", "COMPLIANT"], rows, indent="  "
    )
    if not entry:
        return text + "\nNo status for this model in the policy yet.\n"
    budget = entry.get("errorBudgetRemainingPercent")
    text += (
        "\n"
        + "\n".join(
            [
                _field("Compliant", yes_no(entry.get("compliant"))),
                _field("Budget left", f"{number(budget)}%" if budget is not None else NONE),
                _field("Exhausted in", entry.get("budgetTimeRemaining") or NONE),
                _field("Exhausted", yes_no(entry.get("exhausted"))),
                _field("Burn rates", burn_rates_text(entry.get("burnRates"))),
                _field(
                    "Credit",
                    f"{number(entry.get('creditPercent'))}%"
                    if entry.get("creditPercent") is not None
                    else NONE,
                ),
            ]
        )
        + "\n"
    )
    return text


# -- forecast --------------------------------------------------------------------------------------
def forecast_view(md: Mapping[str, Any]) -> dict[str, Any]:
    """status.autoscaling and the predictive settings it was computed with."""
    spec = md.get("spec") or {}
    autoscaling = spec.get("autoscaling") or {}
    return {
        "name": _meta(md).get("name"),
        "namespace": _meta(md).get("namespace"),
        "predictive": autoscaling.get("predictive") or {},
        "minReplicas": autoscaling.get("minReplicas"),
        "maxReplicas": autoscaling.get("maxReplicas"),
        "target": autoscaling.get("target") or {},
        "status": _status(md).get("autoscaling") or {},
    }


def format_forecast(view: Mapping[str, Any]) -> str:
    """`forecast NAME` text: model, backtest error, forecast peak and its time, floor, reason."""
    status = view.get("status") or {}
    predictive = view.get("predictive") or {}
    lines = [_field("Model", f"{view.get('name')}")]
    if not view.get("maxReplicas"):
        lines.append(_field("Autoscaling", "not configured (spec.autoscaling)"))
    else:
        target = view.get("target") or {}
        metric = target.get("metric") or "cpuUtilization"
        goal = (
            target.get("averageValue")
            if target.get("averageValue") is not None
            else target.get("averageUtilization")
        )
        lines.append(
            _field(
                "HPA",
                f"{view.get('minReplicas') or 1}..{view.get('maxReplicas')} replicas, "
                f"{metric} {number(goal)}",
            )
        )
        lines.append(_field("Predictive", "enabled" if predictive.get("enabled") else "disabled"))
    if not status.get("model"):
        # Nothing was forecast: say why once, rather than "<none>" on every line.
        lines.append(_field("Forecast", f"none: {_why_no_forecast(view)}"))
        if status.get("floor") is not None:
            lines.append(_field("Floor", f"{status['floor']} (HPA minReplicas)"))
        if status.get("historyPoints") is not None:
            lines.append(_field("History", f"{status['historyPoints']} points"))
        lines += _tuning_lines(status.get("tuning") or {})
        return "\n".join(lines) + "\n"
    error = status.get("backtestError")
    lines += [
        _field("Forecaster", status.get("model") or NONE),
        _field(
            "Backtest",
            f"{number(error)}% {status.get('backtestMetric') or 'sMAPE'} (chosen model, held-out day)"
            if error is not None
            else NONE,
        ),
        _field(
            "Forecast peak",
            number(status.get("forecastPeak"))
            + (f" at {status['forecastPeakTime']}" if status.get("forecastPeakTime") else ""),
        ),
        _field(
            "Burst",
            f"+{number(status.get('burstAllowance') or 0)} allowance (dispersion "
            f"{number(status['dispersion'])})"
            if status.get("dispersion") is not None
            else ("no allowance (dispersion not measured)" if status.get("model") else NONE),
        ),
        _field("Floor", _floor_text(status)),
        _field("Reason", status.get("reason") or NONE),
        _field("Last fit", status.get("lastFitTime") or NONE),
        _field(
            "History",
            f"{status['historyPoints']} points" if status.get("historyPoints") is not None else NONE,
        ),
        *_tuning_lines(status.get("tuning") or {}),
    ]
    return "\n".join(lines) + "\n"


def _floor_text(status: Mapping[str, Any]) -> str:
    if status.get("floor") is None:
        return NONE
    if status.get("mode") == "observe":
        return f"{status['floor']} (mode observe: reported only, the HPA is not changed)"
    return f"{status['floor']} (HPA minReplicas)"


def _tuning_lines(tuning: Mapping[str, Any]) -> list[str]:
    """status.autoscaling.tuning: the objective, the chosen knobs, the replayed figures, met or why not."""
    if not tuning:
        return []
    lines = [_field("Objective", f"{tuning.get('objective')}: {'met' if tuning.get('met') else 'NOT met'}")]
    if tuning.get("quantile") is not None:
        lines.append(
            _field(
                "Tuned",
                f"quantile {number(tuning['quantile'])}, headroom {number(tuning.get('headroomPercent'))}%, "
                f"hold {number(tuning.get('holdAfterRaiseSeconds'))}s",
            )
        )
        lines.append(
            _field(
                "Replayed",
                f"{number(tuning.get('underProvisionedPercent'))}% under-provisioned "
                f"(reactive {number(tuning.get('reactiveUnderProvisionedPercent'))}%), "
                f"{number(tuning.get('extraCostPercent'))}% replica-hours vs reactive, "
                f"{tuning.get('replayedFrom')} to {tuning.get('replayedTo')}",
            )
        )
    lines.append(_field("Tuning", tuning.get("reason") or NONE))
    return lines


def _why_no_forecast(view: Mapping[str, Any]) -> str:
    status = view.get("status") or {}
    if status.get("reason"):
        return str(status["reason"])
    if not view.get("maxReplicas"):
        return "spec.autoscaling is not set"
    if not (view.get("predictive") or {}).get("enabled"):
        return "spec.autoscaling.predictive.enabled is not true"
    return (
        "the operator has not reported status.autoscaling yet (is it running, with --prometheus-url? "
        "the first planning cycle runs within a minute)"
    )


# -- residency -------------------------------------------------------------------------------------
def residency_rows_view(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """ReportRow dataclasses as dicts for -o json/yaml."""
    return [
        {
            "pod": r.pod,
            "node": r.node,
            "region": r.region,
            "verdict": r.verdict,
            "reason": r.reason,
            "message": r.message,
            "podRegion": r.pod_region,
        }
        for r in rows
    ]
