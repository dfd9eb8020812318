"""`python -m modelserve.localcluster up|down|status`: the local control plane for `make cluster-up`."""

from __future__ import annotations

import argparse
import json
import sys

from modelserve.localcluster.cluster import LocalCluster, default_workdir, stop_recorded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelserve.localcluster")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--workdir", default=str(default_workdir()))
    args = parser.parse_args(argv)
    if args.command == "up":
        stop_recorded(args.workdir)
        cluster = LocalCluster(args.workdir)
        cluster.start()
        # The processes live on after this command exits; `down` stops them from state.json.
        for proc in cluster.procs:
            proc._log.close()
        print(f"cluster up in {cluster.startup_seconds:.1f}s: export KUBECONFIG={cluster.kubeconfig}")
        return 0
    if args.command == "down":
        print("cluster stopped" if stop_recorded(args.workdir) else "no cluster recorded")
        return 0
    try:
        with open(f"{args.workdir}/state.json") as fh:
            print(json.dumps(json.load(fh), indent=2))
    except FileNotFoundError:
        print("no cluster recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
