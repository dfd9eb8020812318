"""LocalPrometheus: a real Prometheus server on loopback with a generated configuration."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import yaml

from modelserve.localcluster.processes import ManagedProcess, free_port, wait_for
from modelserve.localcluster.versions import prometheus_binary


class LocalPrometheus:
    """Prometheus with static scrape targets and rule files that tests can change at run time.

    `add_target("sim", "127.0.0.1:9100")` then `reload()`; `backfill(openmetrics_text)` writes
    historical blocks with promtool into the data directory, where the running server picks them up.
    """

    def __init__(self, workdir: Path, scrape_interval: str = "2s", evaluation_interval: str = "2s"):
        self.workdir = Path(workdir)
        self.data = self.workdir / "data"
        self.rules_dir = self.workdir / "rules"
        self.config_path = self.workdir / "prometheus.yml"
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.targets: dict[str, list[str]] = {}
        self.target_labels: dict[str, dict[str, str]] = {}
        self.port = 0
        self.proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalPrometheus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_config(self) -> None:
        config = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "rule_files": [str(self.rules_dir / "*.yaml")],
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [
                        {
                            "targets": targets,
                            **({"labels": labels} if (labels := self.target_labels.get(job)) else {}),
                        }
                    ],
                }
                for job, targets in sorted(self.targets.items())
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self, timeout: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rules_dir.mkdir(exist_ok=True)
        self.data.mkdir(exist_ok=True)
        self._write_config()
        self.port = free_port()
        self.proc = ManagedProcess(
            "prometheus",
            [
                str(prometheus_binary()),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--web.enable-remote-write-receiver",
                "--storage.tsdb.retention.time=30d",
                "--log.level=warn",
            ],
            self.workdir,
        )
        proc = self.proc
        wait_for(self.ready, timeout, "Prometheus /-/ready", on_timeout=proc.tail)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
            self.proc = None

    def ready(self) -> bool:
        with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
            return resp.status == 200

    def add_target(self, job: str, address: str, labels: Mapping[str, str] | None = None) -> None:
        """Scrape ``address`` in ``job``; ``labels`` are the job's target labels (as a PodMonitor's
        relabelling would attach them)."""
        if labels:
            self.target_labels[job] = dict(labels)
        self.targets.setdefault(job, [])
        if address not in self.targets[job]:
            self.targets[job].append(address)
        self._write_config()

    def remove_job(self, job: str) -> None:
        self.targets.pop(job, None)
        self.target_labels.pop(job, None)
        self._write_config()

    def write_rules(self, name: str, groups: dict) -> Path:
        path = self.rules_dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(groups, sort_keys=False))
        return path

    def reload(self) -> None:
        req = urllib.request.Request(self.url + "/-/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def query(self, promql: str, time: float | None = None) -> list[dict]:
        params = {"query": promql}
        if time is not None:
            params["time"] = str(time)
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read())
        return list(body["data"]["result"])

    def backfill(self, openmetrics: str) -> None:
        """Write historical samples (OpenMetrics text ending in `# EOF`, timestamps in seconds)
        into TSDB blocks with `promtool tsdb create-blocks-from openmetrics`."""
        src = self.workdir / "backfill.om"
        src.write_text(openmetrics if openmetrics.rstrip().endswith("# EOF") else openmetrics + "# EOF\n")
        out = self.workdir / "backfill-blocks"
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(
            [
                str(prometheus_binary("promtool")),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(src),
                str(out),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        for block in out.iterdir():
            if block.is_dir():
                shutil.move(str(block), str(self.data / block.name))
