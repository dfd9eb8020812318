"""`python -m tests.simulator --kubeconfig K --namespace NS --model MD --port P`: simulated traffic for
the demo until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from tests.simulator.behaviour import parse_behaviour_option
from tests.simulator.simulator import Simulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.simulator", description=__doc__)
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig (default: KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--namespace", "-n", default="default")
    parser.add_argument(
        "--model", "-m", action="append", required=True, help="ModelDeployment name (repeatable)"
    )
    parser.add_argument("--port", type=int, default=9100, help="/metrics port on --host (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rps", type=float, default=20.0, help="requests per second per model")
    parser.add_argument(
        "--preview-rps",
        type=float,
        default=None,
        help="blue-green preview smoke requests per second (default rps/4)",
    )
    parser.add_argument("--tick", type=float, default=1.0, help="seconds per tick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--behaviour",
        "-b",
        action="append",
        default=[],
        metavar="SELECTOR:FIELD=V,...",
        help="e.g. candidate:error_rate=0.05,latency_ms=200 (selector: revision hash, "
        "stable, candidate or default; repeatable)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sim = Simulator.from_kubeconfig(
        args.kubeconfig,
        args.namespace,
        args.model,
        rps=args.rps,
        preview_rps=args.preview_rps,
        tick_seconds=args.tick,
        seed=args.seed,
        host=args.host,
        port=args.port,
    )
    for option in args.behaviour:
        selector, changes = parse_behaviour_option(option)
        sim.set_behaviour(selector, None, **changes)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    sim.start()
    print(
        f"simulating {', '.join(args.model)} in {args.namespace} at {args.rps} req/s; metrics on {sim.url}",
        flush=True,
    )
    done.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
