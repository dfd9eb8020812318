"""`kubectl modelserve`: read what the operator reports and ask it for manual actions.

Like Argo Rollouts' plugin, this never computes a rollout: `status`, `history`, `sla`, `residency` and
`forecast` read resources (status, Deployments, Pods, Nodes, Events, SLAPolicies) and format them with
the pure functions in `plugin_views`; `promote`, `abort`, `pause`, `resume` and `retry` merge-patch
the annotations documented in docs/rollouts.md (built by `plugin_patches`) and never touch spec.

pip puts `kubectl-modelserve` on PATH, so kubectl finds it as the `modelserve` plugin. See
docs/kubectl-plugin.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import yaml

from modelserve.api.constants import LABEL_INSTANCE
from modelserve.cli import plugin_views as views
from modelserve.cli.plugin_patches import CONTROL_COMMANDS, ControlRequest, build_control_request, spec_notes
from modelserve.cli.yaml_output import dump_all

KIND = "ModelDeployment"
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
WATCH_INTERVAL_SECONDS = 2.0
PROMETHEUS_ENV = "MODELSERVE_PROMETHEUS_URL"
OUTPUTS = ("text", "json", "yaml")


class PluginError(Exception):
    """A failure to report to the user as `error: ...` with exit code 1."""


# -- arguments ---------------------------------------------------------------------------------------
def add_global_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--kubeconfig, --context, -n/--namespace, -o/--output (defaults only on the top-level parser)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--kubeconfig", default=default(None), help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument(
        "--context", default=default(None), help="kubeconfig context (default: the current one)"
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default=default(None),
        help="namespace (default: the context's namespace, else 'default')",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=OUTPUTS,
        default=default("text"),
        help="output format: text, json or yaml (default text)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl modelserve",
        description="Inspect and control modelserve ModelDeployments (rollouts, SLAs, residency, forecasts).",
    )
    add_global_flags(parser, suppress=False)
    # The same flags after the command; SUPPRESS so a subcommand's default never hides a flag given
    # before the command (`kubectl modelserve -n prod status fraud`).
    common = argparse.ArgumentParser(add_help=False)
    add_global_flags(common, suppress=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = sub.add_parser(
        "status", parents=[common], help="phase, revisions, step, weight, verdicts, SLA, ..."
    )
    status.add_argument("name")
    status.add_argument(
        "-w", "--watch", action="store_true", help=f"refresh every {WATCH_INTERVAL_SECONDS:g}s"
    )
    status.add_argument(
        "--verdicts",
        type=int,
        default=views.DEFAULT_VERDICTS,
        help="how many analysis verdicts to show (default %(default)s)",
    )

    helps = {
        "promote": "skip the current pause/analysis step (--full: promote fully now)",
        "abort": "roll back to the stable revision (reason Aborted)",
        "pause": "pause the rollout",
        "resume": "lift a manual or analysis pause",
        "retry": "restart a rolled-back revision from step 0",
    }
    for command in CONTROL_COMMANDS:
        control = sub.add_parser(command, parents=[common], help=helps[command])
        control.add_argument("name")
        if command == "promote":
            control.add_argument("--full", action="store_true", help="go to promotion at once")

    history = sub.add_parser("history", parents=[common], help="analysis verdicts and events in time order")
    history.add_argument("name")

    sla = sub.add_parser("sla", parents=[common], help="SLA report of a model, or of every SLAPolicy")
    sla.add_argument("name", nargs="?")

    residency = sub.add_parser("residency", parents=[common], help="where every model pod runs, and may it")
    residency.add_argument("name", nargs="?")
    residency.add_argument("--wide", action="store_true", help="add the pod's intended region and why")

    forecast = sub.add_parser("forecast", parents=[common], help="predictive autoscaling: forecast and floor")
    forecast.add_argument("name")
    forecast.add_argument(
        "--prometheus-url",
        default=os.environ.get(PROMETHEUS_ENV),
        help=f"fetch the demand history from here (env {PROMETHEUS_ENV})",
    )
    forecast.add_argument("--plot", metavar="FILE.png", help="draw history, forecast, interval and floor")
    forecast.add_argument("--horizon", default=None, help="how far the plotted forecast reaches (default 1d)")
    return parser


# -- kubeconfig --------------------------------------------------------------------------------------
def namespace_from_kubeconfig(config: Mapping[str, Any], context: str | None) -> str | None:
    """The namespace of `context` (default: current-context) in a parsed kubeconfig; None if unset."""
    name = context or config.get("current-context")
    for entry in config.get("contexts") or ():
        if entry.get("name") == name:
            return (entry.get("context") or {}).get("namespace") or None
    return None


def default_namespace(kubeconfig: str | None, context: str | None) -> str:
    """-n absent: the kubeconfig context's namespace, the pod's namespace in a cluster, else default."""
    if (
        kubeconfig is None
        and os.environ.get("KUBERNETES_SERVICE_HOST")
        and os.path.exists(SERVICE_ACCOUNT_NAMESPACE)
    ):
        with open(SERVICE_ACCOUNT_NAMESPACE) as fh:
            return fh.read().strip() or "default"
    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    for candidate in path.split(os.pathsep):
        try:
            with open(candidate) as fh:
                config = yaml.safe_load(fh) or {}
        except OSError:
            continue
        namespace = namespace_from_kubeconfig(config, context)
        if namespace:
            return namespace
    return "default"


# -- API access --------------------------------------------------------------------------------------
class Cluster:
    """The reads and the one write the plugin makes, over modelserve's KubeClient."""

    def __init__(self, kubeconfig: str | None, context: str | None):
        from modelserve.k8s.client import KubeClient

        self.kube = KubeClient.from_environment(kubeconfig, context)

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        return self.kube.get(kind, namespace, name)

    def list_objects(
        self, kind: str, namespace: str | None = None, *, labels: str | None = None, fields: str | None = None
    ) -> list[dict]:
        return self.kube.list(kind, namespace, label_selector=labels, field_selector=fields)

    def model_deployment(self, namespace: str, name: str) -> dict:
        md = self.get(KIND, namespace, name)
        if md is None:
            raise PluginError(f'modeldeployments.modelserve.io "{name}" not found in namespace "{namespace}"')
        return md

    def owned(self, kind: str, namespace: str, name: str) -> list[dict]:
        return self.list_objects(kind, namespace, labels=f"{LABEL_INSTANCE}={name}")

    def merge_patch_annotations(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict:
        """JSON merge patch of the ModelDeployment's annotations (the plugin never writes spec)."""
        from modelserve.k8s.resources import resource_for

        if set(patch) != {"metadata"} or set(patch["metadata"]) != {"annotations"}:
            raise ValueError("the plugin only patches metadata.annotations")
        return self.kube._call(
            "PATCH",
            resource_for(KIND).path(namespace, name),
            body=dict(patch),
            content_type="application/merge-patch+json",
            kind=KIND,
        )


# -- output ------------------------------------------------------------------------------------------
def render(data: Any, output: str) -> str:
    """A view as JSON or YAML text (for -o json|yaml); YAML quotes what a reader could misread."""
    if output == "json":
        return json.dumps(data, indent=2, default=str) + "\n"
    return dump_all([json.loads(json.dumps(data, default=str))])


def _now() -> datetime:
    return datetime.now(UTC)


# -- commands ----------------------------------------------------------------------------------------
def cmd_status(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    def once() -> str:
        md = cluster.model_deployment(args.namespace, args.name)
        deployments = cluster.owned("Deployment", args.namespace, args.name)
        view = views.status_view(md, deployments, verdicts=args.verdicts)
        if args.output != "text":
            return render(view, args.output)
        return views.format_status(view, _now())

    if not args.watch:
        out.write(once())
        return 0
    clear = "\x1b[H\x1b[2J" if args.output == "text" and out.isatty() else ""
    try:
        while True:
            text = once()
            out.write(clear + text + ("" if clear else "\n"))
            out.flush()
            time.sleep(WATCH_INTERVAL_SECONDS)
    except KeyboardInterrupt:
        return 0


def cmd_control(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    md = cluster.model_deployment(args.namespace, args.name)
    request: ControlRequest = build_control_request(
        args.command, now_ns=time.time_ns(), full=bool(getattr(args, "full", False))
    )
    notes = spec_notes(request, md)
    cluster.merge_patch_annotations(args.namespace, args.name, request.patch)
    if args.output != "text":
        out.write(
            render(
                {
                    "name": args.name,
                    "namespace": args.namespace,
                    "command": request.command,
                    "patch": request.patch,
                    "summary": request.summary,
                    "notes": list(notes),
                },
                args.output,
            )
        )
        return 0
    out.write(f"modeldeployment.modelserve.io/{args.name}: {request.summary}\n")
    for note in notes:
        out.write(f"note: {note}\n")
    return 0


def cmd_history(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    md = cluster.model_deployment(args.namespace, args.name)
    events = cluster.list_objects(
        "Event", args.namespace, fields=f"involvedObject.name={args.name},involvedObject.kind={KIND}"
    )
    entries = views.history_view(md, events)
    out.write(render(entries, args.output) if args.output != "text" else views.format_history(entries))
    return 0


def cmd_sla(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    if not args.name:
        policies = sorted(
            cluster.list_objects("SLAPolicy", args.namespace), key=lambda p: p["metadata"]["name"]
        )
        policy_views = [views.sla_policy_view(p) for p in policies]
        out.write(
            render(policy_views, args.output)
            if args.output != "text"
            else views.format_sla_policies(policy_views)
        )
        return 0
    md = cluster.model_deployment(args.namespace, args.name)
    md_sla = (md.get("status") or {}).get("sla")
    policy_name = (md_sla or {}).get("policy") or ((md.get("spec") or {}).get("slaPolicyRef") or {}).get(
        "name"
    )
    policy = cluster.get("SLAPolicy", args.namespace, policy_name) if policy_name else None
    if policy is None and not policy_name:
        # No reference and no status yet: the policy whose status lists this model governs it.
        for candidate in cluster.list_objects("SLAPolicy", args.namespace):
            if any(m.get("name") == args.name for m in (candidate.get("status") or {}).get("models") or ()):
                policy = candidate
                break
    view = views.sla_policy_view(policy, model=args.name) if policy is not None else None
    if args.output != "text":
        out.write(render({"model": args.name, "sla": md_sla, "policy": view}, args.output))
        return 0
    if policy is None and policy_name:
        out.write(f"warning: SLAPolicy {policy_name!r} not found in namespace {args.namespace!r}\n")
    out.write(views.format_sla_model(args.name, md_sla, view))
    return 0


def cmd_residency(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    from modelserve.placement import SpecError, format_report, parse_region_placement, residency_report

    if args.name:
        models = [cluster.model_deployment(args.namespace, args.name)]
    else:
        models = sorted(cluster.list_objects(KIND, args.namespace), key=lambda m: m["metadata"]["name"])
    models = [m for m in models if ((m.get("spec") or {}).get("placementRef") or {}).get("name")]
    if args.name and not models:
        raise PluginError(f"{args.name} has no spec.placementRef: it is not placed by a RegionPlacement")
    nodes = {n["metadata"]["name"]: n for n in cluster.list_objects("Node")} if models else {}
    reports: list[dict[str, Any]] = []
    text_blocks: list[str] = []
    for md in models:
        name = md["metadata"]["name"]
        placement_name = md["spec"]["placementRef"]["name"]
        body = cluster.get("RegionPlacement", args.namespace, placement_name)
        if body is None:
            message = f"RegionPlacement {placement_name!r} (spec.placementRef.name) not found"
            reports.append({"model": name, "placement": placement_name, "error": message, "pods": []})
            text_blocks.append(f"{name} (placement {placement_name}): {message}\n")
            continue
        try:
            placement = parse_region_placement(body)
        except SpecError as exc:
            message = f"RegionPlacement {placement_name!r} is invalid: {exc}"
            reports.append({"model": name, "placement": placement_name, "error": message, "pods": []})
            text_blocks.append(f"{name} (placement {placement_name}): {message}\n")
            continue
        rows = residency_report(cluster.owned("Pod", args.namespace, name), nodes, placement)
        jurisdiction = placement.residency.jurisdiction
        reports.append(
            {
                "model": name,
                "placement": placement_name,
                "jurisdiction": jurisdiction or None,
                "allowedRegions": list(placement.residency.allowed_regions),
                "pods": views.residency_rows_view(rows),
            }
        )
        header = f"{name} (placement {placement_name}" + (
            f", jurisdiction {jurisdiction}" if jurisdiction else ""
        )
        header += f", allowed {', '.join(placement.residency.allowed_regions)})\n"
        text_blocks.append(header + format_report(rows, wide=args.wide))
    if args.output != "text":
        out.write(render(reports if not args.name else reports[0], args.output))
        return 0
    out.write("\n".join(text_blocks) if text_blocks else "No ModelDeployments with a placementRef found.\n")
    return 0


def cmd_forecast(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    from modelserve.cli import plugin_forecast as pf

    md = cluster.model_deployment(args.namespace, args.name)
    view = views.forecast_view(md)
    if args.plot and not args.prometheus_url:
        raise PluginError(f"--plot needs the demand history: give --prometheus-url or set {PROMETHEUS_ENV}")
    picture = None
    if args.prometheus_url:
        settings = pf.forecast_settings(md, args.horizon or pf.DEFAULT_PLOT_HORIZON)
        query = pf.demand_query(md)
        now = time.time()
        try:
            times, values = pf.fetch_demand(args.prometheus_url, query, now - settings.history_seconds, now)
            picture = pf.fit_picture(times, values, settings, now)
        except pf.ForecastError as exc:
            raise PluginError(str(exc)) from exc
        view["demand"] = {
            "query": query,
            "samples": len(times),
            "forecaster": picture.message,
            "forecastPeak": max(picture.forecast_upper) if picture.forecast_upper else None,
        }
        if args.plot:
            floor = view["status"].get("floor")
            pf.plot_picture(
                args.plot,
                picture,
                title=f"{args.namespace}/{args.name} demand",
                floor=floor,
                floor_demand=pf.floor_capacity(md, floor),
            )
            view["plot"] = args.plot
    if args.output != "text":
        out.write(render(view, args.output))
        return 0
    out.write(views.format_forecast(view))
    demand = view.get("demand")
    if demand:
        peak = demand["forecastPeak"]
        out.write(f"{'Demand query:':<15}{demand['query']} ({demand['samples']} samples)\n")
        out.write(
            f"{'Refit here:':<15}{demand['forecaster']}"
            + (
                f", upper-quantile peak {views.number(peak)} over the plot horizon"
                if peak is not None
                else ""
            )
            + "\n"
        )
    if view.get("plot"):
        out.write(f"{'Plot:':<15}{view['plot']}\n")
    return 0


COMMANDS: dict[str, Callable[[Cluster, argparse.Namespace, TextIO], int]] = {
    "status": cmd_status,
    "history": cmd_history,
    "sla": cmd_sla,
    "residency": cmd_residency,
    "forecast": cmd_forecast,
    **{command: cmd_control for command in CONTROL_COMMANDS},
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of `kubectl-modelserve`: 0 on success, 1 on an error (printed as `error: ...`)."""
    out = out or sys.stdout
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    try:
        if args.namespace is None:
            args.namespace = default_namespace(args.kubeconfig, args.context)
        cluster = Cluster(args.kubeconfig, args.context)
        return COMMANDS[args.command](cluster, args, out)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # API errors, unreachable cluster: one line, not a traceback
        from modelserve.k8s.transport import ApiException

        if isinstance(exc, ApiException):
            reason = exc.reason
            with contextlib.suppress(ValueError):
                reason = json.loads(exc.body or "{}").get("message") or reason
            print(f"error: the API server said {exc.status}: {reason}", file=sys.stderr)
            return 1
        if os.environ.get("MODELSERVE_DEBUG"):
            raise
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
