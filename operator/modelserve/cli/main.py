"""`modelserve`: run the operator, or render what it would own."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from modelserve.cli.storage_init import add_arguments as add_storage_init_arguments


def _env_list(name: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, "").split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelserve", description="Serve ML models on Kubernetes.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator")
    add_run_arguments(run)
    render = sub.add_parser("render", help="print the objects the operator would own, without a cluster")
    render.add_argument(
        "-f", "--filename", action="append", required=True, help="YAML file (repeatable, - = stdin)"
    )
    render.add_argument("-n", "--namespace", default="default")
    storage_init = sub.add_parser(
        "storage-init", help="download spec.model.uri into a directory (the model init container)"
    )
    add_storage_init_arguments(storage_init)
    return parser


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=None,
        help="watch this namespace (repeatable; env MODELSERVE_NAMESPACES; default: all)",
    )
    run.add_argument(
        "--prometheus-url",
        default=os.environ.get("MODELSERVE_PROMETHEUS_URL"),
        help="Prometheus base URL for gates, forecasts and SLOs (env MODELSERVE_PROMETHEUS_URL)",
    )
    run.add_argument(
        "--log-format", choices=["text", "json"], default=os.environ.get("MODELSERVE_LOG_FORMAT", "text")
    )
    run.add_argument(
        "--log-level",
        default=os.environ.get("MODELSERVE_LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
    )
    run.add_argument(
        "--metrics-port", type=int, default=int(os.environ.get("MODELSERVE_METRICS_PORT", "8080"))
    )
    run.add_argument("--health-port", type=int, default=int(os.environ.get("MODELSERVE_HEALTH_PORT", "8081")))
    run.add_argument(
        "--peering",
        default=os.environ.get("MODELSERVE_PEERING", "modelserve"),
        help="kopf peering name (safe upgrades: one active operator per peering)",
    )
    run.add_argument(
        "--leader-elect",
        action="store_true",
        default=os.environ.get("MODELSERVE_LEADER_ELECT", "").lower() in ("1", "true", "yes"),
        help="run as one of several replicas: act only while holding a coordination.k8s.io Lease "
        "(env MODELSERVE_LEADER_ELECT; replaces kopf peering)",
    )
    run.add_argument(
        "--leader-election-namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        help="namespace of the leader-election Lease (env POD_NAMESPACE)",
    )
    run.add_argument(
        "--leader-election-id",
        default=os.environ.get("MODELSERVE_LEADER_ELECTION_ID", "modelserve-operator"),
        help="name of the leader-election Lease",
    )
    run.add_argument(
        "--resync-seconds", type=float, default=float(os.environ.get("MODELSERVE_RESYNC_SECONDS", "60"))
    )
    run.add_argument("--workers", type=int, default=int(os.environ.get("MODELSERVE_WORKERS", "4")))
    run.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))


def run_operator(args: argparse.Namespace) -> int:
    from modelserve.observability import memory

    memory.limit_arenas(memory.arenas_from_environment())  # before any thread starts (memory.py)
    import kopf

    # Imported here, not at the top: `modelserve render` and `--help` need neither kopf nor the
    # API server transport. Importing modelserve.handlers registers every kopf handler.
    from modelserve.handlers import operator as handlers
    from modelserve.observability.metrics import serve

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    handlers.OPTIONS.kubeconfig = args.kubeconfig
    handlers.OPTIONS.prometheus_url = args.prometheus_url
    handlers.OPTIONS.resync_seconds = args.resync_seconds
    handlers.OPTIONS.workers = args.workers
    handlers.OPTIONS.peering = args.peering
    namespaces = args.namespace or _env_list("MODELSERVE_NAMESPACES")
    handlers.OPTIONS.namespaces = tuple(namespaces)
    kopf.configure(
        debug=args.log_level == "DEBUG",
        verbose=args.log_level == "DEBUG",
        quiet=args.log_level in ("WARNING", "ERROR"),
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(args.log_level)
    if args.metrics_port:
        serve(args.metrics_port)
    liveness = f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None
    if not args.leader_elect:
        kopf.run(
            clusterwide=not namespaces,
            namespaces=namespaces,
            peering_name=args.peering,
            standalone=False,
            liveness_endpoint=liveness,
        )
        return 0
    return _run_as_elected_leader(
        args,
        lambda: kopf.run(
            clusterwide=not namespaces, namespaces=namespaces, standalone=True, liveness_endpoint=liveness
        ),
    )


def _run_as_elected_leader(args: argparse.Namespace, run_kopf: Callable[[], None]) -> int:
    """Campaign for the Lease (answering liveness probes meanwhile), then run kopf while renewing it;
    exit at once when leadership is lost, release the Lease on a clean stop (handlers/leader.py). kopf
    runs standalone: its peering would pause every replica of the same priority, the leader included."""
    from modelserve.handlers.leader import LeaseElector, StandbyHealth, default_identity
    from modelserve.k8s.client import KubeClient

    kube = KubeClient.from_environment(args.kubeconfig)
    elector = LeaseElector(kube, args.leader_election_namespace, args.leader_election_id, default_identity())
    log = logging.getLogger("modelserve.leader")
    log.info(
        "leader election: %s campaigns for lease %s/%s", elector.identity, elector.namespace, elector.name
    )
    if args.health_port:
        with StandbyHealth(args.health_port):
            elector.campaign()
    else:
        elector.campaign()

    def lost(reason: str) -> None:
        # client-go's users exit here too: a replica that may no longer lead must not write once more.
        log.critical("leader election: leadership lost (%s); exiting", reason)
        logging.shutdown()
        os._exit(1)

    elector.keep_leading(lost)
    try:
        run_kopf()
    finally:
        elector.release()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return run_operator(args)
    if args.command == "render":
        from modelserve.cli.render import load_documents, render, render_yaml, validation_errors

        docs = load_documents(args.filename)
        errors = validation_errors(docs)
        if errors:
            sys.stderr.write("".join(f"error: {line}\n" for line in errors))
            return 1
        sys.stdout.write(render_yaml(render(docs, args.namespace)))
        return 0
    if args.command == "storage-init":
        from modelserve.cli.storage_init import run as run_storage_init

        return run_storage_init(args)
    return 2


def operator_main() -> int:
    """`modelserve-operator`: a shortcut for `modelserve run`."""
    return main(["run", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
