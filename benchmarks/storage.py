#!/usr/bin/env python3
"""Benchmark `modelserve storage-init` against a plain boto3 `download_file` of the same object.

    python benchmarks/storage.py [--size 2GiB] [--size 256MiB ...] [--reps 3] [--json]

Starts the local S3-compatible server (SeaweedFS, `make binaries`), uploads a model of each --size
(random bytes, written to disk in 8 MiB chunks and uploaded in parts, so memory stays flat), then
downloads it, alternating, `--reps` times each way in one run:

* storage-init: `python -m modelserve storage-init --uri s3://... --dest DIR`, as the init container runs it;
  and once more per repetition with `--sha256` (the extra streaming pass that verifies the digest);
* storage-init over https: the same object through a presigned GET URL of the same server
  (`--uri http://.../key?X-Amz-...`), i.e. the https fetcher's parallel ranged GETs;
* boto3: a `python -c` child that builds a client and calls `download_file` with boto3's defaults.

Both are child processes timed from spawn to exit (interpreter start and imports included), with their
peak resident memory from `os.wait4` (ru_maxrss). Reported: median throughput of each, the ratio
(target >= 0.9x boto3) and the peak RSS (target < 200 MB whatever the size).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from modelserve.localcluster.s3 import LocalS3

BUCKET = "bench"
CHUNK = 8 * 2**20
UNITS = {"": 1, "B": 1, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9}
BOTO3_SCRIPT = """
import sys, boto3
client = boto3.client("s3")
client.download_file(sys.argv[1], sys.argv[2], sys.argv[3])
"""


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 256MiB, 2GiB)")
    return int(float(m.group(1)) * UNITS[(m.group(2) or "").upper()])


def human(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n / 2**20:g} MiB"


@dataclass
class Sample:
    tool: str
    seconds: float
    peak_rss_mb: float
    rc: int

    def mbps(self, size: int) -> float:
        return size / 1e6 / self.seconds


def timed_child(tool: str, argv: list[str], env: dict[str, str]) -> Sample:
    """Run a child, return its wall time and peak RSS (ru_maxrss of that child, KiB on Linux)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed ({proc.returncode}): {err.strip()}")
    return Sample(tool, seconds, usage.ru_maxrss / 1024, proc.returncode)


def make_model(path: Path, size: int) -> str:
    """Random bytes, written in chunks; returns their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            digest.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def bench_size(s3: LocalS3, work: Path, size: int, reps: int) -> dict:
    key = f"model-{size}.bin"
    src = work / key
    sha = make_model(src, size)
    s3.upload(BUCKET, key, src)
    src.unlink()
    env = {**os.environ, **s3.env(), "AWS_EC2_METADATA_DISABLED": "true"}
    dest = work / "dest"
    init = [
        sys.executable,
        "-m",
        "modelserve",
        "storage-init",
        "--uri",
        f"s3://{BUCKET}/{key}",
        "--dest",
        str(dest),
    ]
    presigned = s3.client().generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600
    )
    https = [*init[:4], "--uri", presigned, "--dest", str(dest)]
    runs: dict[str, list[Sample]] = {
        "storage-init": [],
        "storage-init --sha256": [],
        "storage-init https": [],
        "boto3": [],
    }
    for _ in range(reps):
        for tool, argv in (
            ("storage-init", init),
            ("boto3", [sys.executable, "-c", BOTO3_SCRIPT, BUCKET, key, str(dest / key)]),
            ("storage-init --sha256", [*init, "--sha256", sha]),
            ("storage-init https", https),
        ):
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            runs[tool].append(timed_child(tool, argv, env))
            assert (dest / key).stat().st_size == size
    shutil.rmtree(dest, ignore_errors=True)
    s3.client().delete_object(Bucket=BUCKET, Key=key)
    summary = {
        tool: {
            "median_seconds": statistics.median(x.seconds for x in samples),
            "median_mbps": statistics.median(x.mbps(size) for x in samples),
            "peak_rss_mb": max(x.peak_rss_mb for x in samples),
            "seconds": [round(x.seconds, 2) for x in samples],
        }
        for tool, samples in runs.items()
    }
    boto3_mbps = summary["boto3"]["median_mbps"]
    return {
        "size_bytes": size,
        "size": human(size),
        "reps": reps,
        "tools": summary,
        "ratio": summary["storage-init"]["median_mbps"] / boto3_mbps,
        "ratio_with_sha256": summary["storage-init --sha256"]["median_mbps"] / boto3_mbps,
        "ratio_https": summary["storage-init https"]["median_mbps"] / boto3_mbps,
    }


def report(results: list[dict], command: str) -> str:
    lines = [
        f"command: {command}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "| size | tool | median s | median MB/s | peak RSS MB | runs (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for tool, t in r["tools"].items():
            lines.append(
                f"| {r['size']} | {tool} | {t['median_seconds']:.2f} | {t['median_mbps']:.0f} | "
                f"{t['peak_rss_mb']:.0f} | {', '.join(map(str, t['seconds']))} |"
            )
    lines.append("")
    for r in results:
        rss = r["tools"]["storage-init"]["peak_rss_mb"]
        https_rss = r["tools"]["storage-init https"]["peak_rss_mb"]
        lines.append(
            f"{r['size']}: storage-init / boto3 throughput {r['ratio']:.2f}x (target >= 0.9x; "
            f"{r['ratio_with_sha256']:.2f}x with --sha256, {r['ratio_https']:.2f}x over https ranges), "
            f"storage-init peak RSS {rss:.0f} MB, over https {https_rss:.0f} MB (target < 200 MB)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size", type=parse_size, action="append", help="model size (repeatable; default 2GiB)"
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    sizes = args.size or [2 * 2**30]
    work = Path(tempfile.mkdtemp(prefix="modelserve-bench-storage-", dir=args.workdir))
    command = "python benchmarks/storage.py " + " ".join(f"--size {human(s).replace(' ', '')}" for s in sizes)
    command += f" --reps {args.reps}"
    try:
        with LocalS3(work / "s3", volume_size_limit_mb=1024) as s3:
            s3.create_bucket(BUCKET)
            results = [bench_size(s3, work, size, args.reps) for size in sizes]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2) if args.json else report(results, command))
    ok = all(r["ratio"] >= 0.9 and r["tools"]["storage-init"]["peak_rss_mb"] < 200 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
