#!/usr/bin/env python3
"""Benchmark the canary judge against a threshold-only (Flagger-style) judge on simulated canaries.

    python benchmarks/canary_judge.py [--scenarios FILE] [--runs N] [--seed S] [--json]

Each scenario simulates ``runs`` canaries. Per analysis interval, request counts to stable and canary
are Poisson, errors binomial, and latencies lognormal, binned into Prometheus-style buckets (a
multinomial draw, which is exactly "sample latencies, then bucket them"). Both judges see the same
traffic:

* ours: ``modelserve.analysis`` (judge_gate / judge_analysis / update_counters / decide) on
  cumulative windows since the start of the analysis step, with the scenario's spec.rollout.analysis;
* flagger-style: each interval, error rate > max or p99 > maxMilliseconds is a failed check, no data or
  a failed query is a failed check, rollback after ``failureLimit`` failed checks, promotion when the
  analysis step's checks are done; no minimum sample size, no baseline comparison.

Reported per scenario: rollback / promotion / pause rates, time to rollback in analysis intervals,
and the share of degraded canaries caught within 2 intervals.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from modelserve.analysis.contract import KIND_HISTOGRAM, KIND_RATE
from modelserve.analysis.judge import AnalysisCounters, AnalysisSpec, analyse_interval
from modelserve.analysis.samples import HistogramSample, RateSample
from modelserve.analysis.stats import histogram_quantile
from modelserve.analysis.verdict import DecisionAction
from scipy.special import ndtr

DEFAULT_SCENARIOS = Path(__file__).resolve().parent / "scenarios" / "canary_judge.yaml"
OUTCOMES = ("rollback", "promote", "pause", "undecided")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_scenarios(path: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    defaults = doc.get("defaults", {})
    scenarios = []
    for raw in doc["scenarios"]:
        scn = deep_merge(defaults, raw)
        scn["candidate"] = deep_merge(scn["stable"], raw.get("candidate", {}))
        scenarios.append(scn)
    return scenarios


@dataclass
class Traffic:
    """Per-interval draws, shape (runs, looks[, buckets])."""

    n_c: np.ndarray
    e_c: np.ndarray
    n_s: np.ndarray
    e_s: np.ndarray
    h_c: np.ndarray  # per-bucket counts, last column = above the largest finite bucket
    h_s: np.ndarray


def bucket_probabilities(latency: dict[str, float], bounds: np.ndarray) -> np.ndarray:
    cdf = ndtr((np.log(bounds * 1000.0) - math.log(latency["median_ms"])) / latency["sigma"])
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def simulate(scn: dict[str, Any], runs: int, rng: np.random.Generator) -> Traffic:
    looks = scn["analyses"] + scn["extra_analyses"]
    seconds = scn["interval_seconds"]
    canary_rate = scn["total_rps"] * scn["canary_weight"] * seconds
    stable_rate = scn["total_rps"] * (1.0 - scn["canary_weight"]) * seconds
    bounds = np.asarray(scn["buckets"], dtype=float)
    n_c = rng.poisson(canary_rate, size=(runs, looks))
    n_s = rng.poisson(stable_rate, size=(runs, looks))
    e_c = rng.binomial(n_c, scn["candidate"]["error_rate"])
    e_s = rng.binomial(n_s, scn["stable"]["error_rate"])
    h_c = rng.multinomial(n_c, bucket_probabilities(scn["candidate"]["latency"], bounds))
    h_s = rng.multinomial(n_s, bucket_probabilities(scn["stable"]["latency"], bounds))
    return Traffic(n_c, e_c, n_s, e_s, h_c, h_s)


def histogram(per_bucket: np.ndarray, bounds: list[float]) -> HistogramSample:
    cumulative = np.cumsum(per_bucket)
    return HistogramSample(tuple(zip([*bounds, math.inf], cumulative.tolist(), strict=True)))


def run_ours(scn: dict[str, Any], spec: AnalysisSpec, traffic: Traffic, run: int) -> tuple[str, int]:
    """Outcome and the analysis (1-based) at which it was decided."""
    bounds = list(map(float, scn["buckets"]))
    looks = scn["analyses"] + scn["extra_analyses"]
    counters = AnalysisCounters()
    cumulative = scn["window"] == "cumulative"
    for k in range(looks):
        lo = 0 if cumulative else k
        if scn["outage"]:
            samples: dict[str, Any] = {g.name: "connection refused" for g in spec.gates}
        else:
            samples = {}
            for gate in spec.gates:
                if gate.kind == KIND_RATE:
                    window = slice(lo, k + 1)
                    samples[gate.name] = (
                        RateSample(int(traffic.e_c[run, window].sum()), int(traffic.n_c[run, window].sum())),
                        RateSample(int(traffic.e_s[run, window].sum()), int(traffic.n_s[run, window].sum())),
                    )
                elif gate.kind == KIND_HISTOGRAM:
                    samples[gate.name] = (
                        histogram(traffic.h_c[run, lo : k + 1].sum(axis=0), bounds),
                        histogram(traffic.h_s[run, lo : k + 1].sum(axis=0), bounds),
                    )
                else:
                    raise SystemExit(f"scenario {scn['name']}: gate {gate.name} is not simulated")
        _, decision = analyse_interval(
            spec.gates, samples, counters, spec, step_complete=k + 1 >= scn["analyses"]
        )
        counters = decision.counters
        if decision.action is DecisionAction.ROLLBACK:
            return "rollback", k + 1
        if decision.action is DecisionAction.PROCEED:
            return "promote", k + 1
        if decision.action is DecisionAction.PAUSE:
            return "pause", k + 1
    return "undecided", looks


def run_flagger(scn: dict[str, Any], spec: AnalysisSpec, traffic: Traffic, run: int) -> tuple[str, int]:
    """Threshold-only judge: one-interval windows, failed checks counted until failureLimit."""
    bounds = list(map(float, scn["buckets"]))
    limit = max(1, spec.failure_limit)
    error_max = scn.get("flagger_error_max")
    if error_max is None:
        error_max = next((g.max for g in spec.gates if g.kind == KIND_RATE and g.max is not None), math.inf)
    latency_max = next(
        (g.max_milliseconds for g in spec.gates if g.kind == KIND_HISTOGRAM and g.max_milliseconds), math.inf
    )
    failed = 0
    for k in range(scn["analyses"]):
        n = int(traffic.n_c[run, k])
        if scn["outage"] or n == 0:
            check_failed = True  # query error / "no values found" halts the check as failed
        else:
            rate = traffic.e_c[run, k] / n
            cum = np.cumsum(traffic.h_c[run, k]).tolist()
            p99_ms = histogram_quantile(0.99, list(zip([*bounds, math.inf], cum, strict=True))) * 1000.0
            check_failed = bool(rate > error_max or p99_ms > latency_max)
        if check_failed:
            failed += 1
            if failed >= limit:
                return "rollback", k + 1
    return "promote", scn["analyses"]


def summarise(outcomes: list[tuple[str, int]]) -> dict[str, Any]:
    runs = len(outcomes)
    result: dict[str, Any] = {f"{o}_rate": sum(1 for x, _ in outcomes if x == o) / runs for o in OUTCOMES}
    times = [t for x, t in outcomes if x == "rollback"]
    result["rollback_within_2_rate"] = sum(1 for t in times if t <= 2) / runs
    result["mean_intervals_to_rollback"] = float(np.mean(times)) if times else None
    result["median_intervals_to_rollback"] = float(np.median(times)) if times else None
    return result


def run_scenario(scn: dict[str, Any], runs: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, zlib.crc32(scn["name"].encode())])  # stable across processes
    spec = AnalysisSpec.from_mapping(scn["analysis"])
    traffic = simulate(scn, runs, rng)
    ours = [run_ours(scn, spec, traffic, r) for r in range(runs)]
    flagger = [run_flagger(scn, spec, traffic, r) for r in range(runs)]
    return {
        "name": scn["name"],
        "expect": scn["expect"],
        "canary_rps": scn["total_rps"] * scn["canary_weight"],
        "stable_error_rate": scn["stable"]["error_rate"],
        "candidate_error_rate": scn["candidate"]["error_rate"],
        "candidate_median_ms": scn["candidate"]["latency"]["median_ms"],
        "runs": runs,
        "ours": summarise(ours),
        "flagger": summarise(flagger),
    }


def check_targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, evaluated on the default scenarios (skipped when a scenario is absent)."""
    by_name = {r["name"]: r for r in results}
    checks = []
    if "errors-5x-medium" in by_name:
        value = by_name["errors-5x-medium"]["ours"]["rollback_within_2_rate"]
        checks.append(
            {
                "target": "10 req/s, 0.5% -> 2.5%: rolled back within 2 intervals >= 95%",
                "value": value,
                "ok": value >= 0.95,
            }
        )
    for r in results:
        if r["expect"] == "healthy":
            value = r["ours"]["rollback_rate"]
            checks.append(
                {"target": f"{r['name']}: false rollbacks <= 0.5%", "value": value, "ok": value <= 0.005}
            )
        if r["expect"] == "outage":
            value = r["ours"]["promote_rate"]
            checks.append(
                {"target": f"{r['name']}: promotions on missing data == 0", "value": value, "ok": value == 0}
            )
    return checks


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def markdown(results: list[dict[str, Any]], checks: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"runs per scenario: {meta['runs']}, seed {meta['seed']}, {meta['seconds']:.1f}s",
        "",
        "| scenario | expect | canary req/s | error rate stable -> cand. | judge | rollback | within 2 "
        "| mean / median intervals | promote | pause | undecided |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for judge in ("ours", "flagger"):
            s = r[judge]
            lines.append(
                f"| {r['name']} | {r['expect']} | {r['canary_rps']:g} | "
                f"{100 * r['stable_error_rate']:g}% -> {100 * r['candidate_error_rate']:g}% | {judge} | "
                f"{pct(s['rollback_rate'])} | {pct(s['rollback_within_2_rate'])} | "
                f"{num(s['mean_intervals_to_rollback'])} / {num(s['median_intervals_to_rollback'])} | "
                f"{pct(s['promote_rate'])} | {pct(s['pause_rate'])} | {pct(s['undecided_rate'])} |"
            )
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for c in checks:
        lines.append(f"| {c['target']} | {pct(c['value'])} | {'yes' if c['ok'] else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenarios", type=Path, default=DEFAULT_SCENARIOS)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    scenarios = load_scenarios(args.scenarios)
    if args.only:
        wanted = set(args.only.split(","))
        scenarios = [s for s in scenarios if s["name"] in wanted]
    results = [run_scenario(s, args.runs, args.seed) for s in scenarios]
    checks = check_targets(results)
    meta = {
        "runs": args.runs,
        "seed": args.seed,
        "seconds": time.perf_counter() - start,
        "scenarios": str(args.scenarios),
    }
    if args.json:
        json.dump({"meta": meta, "results": results, "targets": checks}, sys.stdout, indent=2)
        print()
    else:
        print(markdown(results, checks, meta))
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
