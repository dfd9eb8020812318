#!/usr/bin/env python3
"""Benchmark the canary judge against a threshold-only (Flagger-style) judge on simulated canaries.

    python benchmarks/canary_judge.py [--scenarios FILE] [--runs N] [--seed S] [--only A,B] [--json]

Each scenario simulates ``runs`` canaries. Per analysis interval, request counts to stable and canary
are Poisson (or negative binomial with ``dispersion`` > 1: variance = dispersion x mean), errors binomial
(or clustered: negative binomial with ``error_dispersion``), latencies lognormal, binned into
Prometheus-style buckets (a multinomial draw, which is exactly "sample latencies, then bucket them"),
and quality gauges normal around their mean. Rates, latencies and gauges may change from interval to
interval (a list of values, one per interval, the last one repeating), metrics may have gaps (intervals
whose samples never reach Prometheus) or no series at all. Both judges see the same traffic:

* ours: the operator's own path, ``modelserve.analysis`` (``plan_look`` -> ``analyse_interval``: judge,
  counters, decide) on cumulative windows since the start of the analysis step, with the per-interval
  counts a provider returns, the scenario's spec.rollout.analysis, and the step extended up to
  maxDuration while its evidence is inconclusive;
* flagger-style: each interval, error rate > max, p99 > maxMilliseconds or a gauge outside min/max is
  a failed check, no data or a failed query is a failed check, rollback after ``failureLimit`` failed
  checks, promotion when the analysis step's checks are done; no minimum sample size, no baseline.

Reported per scenario and judge: promote / rollback / pause rates, false promotions and false rollbacks
against the scenario's ``expect``, and the time to a decision (median and p95, in analysis intervals).
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
from modelserve.analysis.contract import DISPERSION_LOOKBACK_INTERVALS
from modelserve.analysis.judge import AnalysisCounters, analyse_interval, plan_look
from modelserve.analysis.samples import HistogramSample, RateSample, Sample, ValueSample
from modelserve.analysis.stats import histogram_quantile
from modelserve.analysis.verdict import DecisionAction
from modelserve.api.gates import KIND_HISTOGRAM, KIND_RATE, LATENCY_QUANTILES, AnalysisSpec, GateSpec
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


def per_interval(value: Any, looks: int) -> list[Any]:
    """A scenario value that may change over the run: a list gives one value per interval, the last one
    repeating; anything else is the same value every interval."""
    if isinstance(value, list):
        return [value[min(i, len(value) - 1)] for i in range(looks)]
    return [value] * looks


def overdispersed(rng: np.random.Generator, mean: np.ndarray, dispersion: float) -> np.ndarray:
    """Counts with the given means: Poisson at dispersion 1, else negative binomial with variance =
    dispersion x mean (the quasi-Poisson model of bursty traffic and clustered errors)."""
    mean = np.asarray(mean, dtype=float)
    if dispersion <= 1.0:
        return rng.poisson(mean)
    size = np.maximum(mean, 1e-12) / (dispersion - 1.0)
    return rng.negative_binomial(size, 1.0 / dispersion)


@dataclass
class Revision:
    """Per-interval draws of one revision, shape (runs, looks[, buckets])."""

    n: np.ndarray
    e: np.ndarray
    h: np.ndarray  # per-bucket counts, last column = above the largest finite bucket
    gauges: dict[str, np.ndarray]


def bucket_probabilities(latency: dict[str, float], bounds: np.ndarray) -> np.ndarray:
    cdf = ndtr((np.log(bounds * 1000.0) - math.log(latency["median_ms"])) / latency["sigma"])
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def simulate_revision(
    scn: dict[str, Any], rev: dict[str, Any], share: float, looks: int, runs: int, rng: np.random.Generator
) -> Revision:
    seconds = scn["interval_seconds"]
    bounds = np.asarray(scn["buckets"], dtype=float)
    mean = np.asarray(per_interval(scn["total_rps"], looks), dtype=float) * share * seconds
    n = overdispersed(rng, np.broadcast_to(mean, (runs, looks)), float(scn.get("dispersion", 1.0)))
    rates = np.asarray(per_interval(rev["error_rate"], looks), dtype=float)
    error_dispersion = float(scn.get("error_dispersion", scn.get("dispersion", 1.0)))
    if error_dispersion > 1.0:
        e = np.minimum(overdispersed(rng, n * rates, error_dispersion), n)
    else:
        e = rng.binomial(n, np.broadcast_to(rates, (runs, looks)))
    latencies = per_interval(rev["latency"], looks)
    h = np.stack(
        [rng.multinomial(n[:, k], bucket_probabilities(latencies[k], bounds)) for k in range(looks)], axis=1
    )
    gauges = {}
    for name, spec in (rev.get("gauges") or {}).items():
        means = np.asarray(per_interval(spec["mean"], looks), dtype=float)
        gauges[name] = means + rng.normal(0.0, float(spec.get("noise", 0.0)), size=(runs, looks))
    return Revision(n, e, h, gauges)


@dataclass
class Traffic:
    candidate: Revision
    stable: Revision
    #: The stable revision's intervals before the step (all its traffic, at the first interval's rates):
    #: the provider reads DISPERSION_LOOKBACK_INTERVALS of per-interval counts for it.
    history: Revision
    observed: np.ndarray  # (looks,) False for intervals lost in a metrics gap


def first_interval(rev: dict[str, Any]) -> dict[str, Any]:
    return {
        key: per_interval(value, 1)[0] if key in ("error_rate", "latency") else value
        for key, value in rev.items()
    }


def simulate(scn: dict[str, Any], runs: int, looks: int, rng: np.random.Generator) -> Traffic:
    weight = scn["canary_weight"]
    candidate = simulate_revision(scn, scn["candidate"], weight, looks, runs, rng)
    stable = simulate_revision(scn, scn["stable"], 1.0 - weight, looks, runs, rng)
    before = {**scn, "total_rps": per_interval(scn["total_rps"], 1)[0]}
    history = simulate_revision(
        before, first_interval(scn["stable"]), 1.0, DISPERSION_LOOKBACK_INTERVALS, runs, rng
    )
    observed = np.ones(looks, dtype=bool)
    for gap in scn.get("gaps") or ():
        observed[gap["at"] - 1 : gap["at"] - 1 + gap["intervals"]] = False
    return Traffic(candidate, stable, history, observed)


def histogram(per_bucket: np.ndarray, bounds: list[float]) -> HistogramSample:
    cumulative = np.cumsum(per_bucket)
    return HistogramSample(tuple(zip([*bounds, math.inf], cumulative.tolist(), strict=True)))


def gauge_key(gate: GateSpec) -> str:
    """Which simulated gauge a value gate reads: its builtin (accuracy, drift...) or, for a custom query,
    the gate's name."""
    return gate.builtin or gate.name


def sample_of(
    gate: GateSpec,
    rev: Revision,
    run: int,
    window: np.ndarray,
    bounds: list[float],
    history: Revision | None = None,
) -> Sample | None:
    """What a provider returns for ``gate`` over the observed intervals ``window`` (None: no series);
    ``history``: the stable revision's intervals before the step, for its per-interval counts."""
    if not window.any():
        return None
    n, e = rev.n[run, window], rev.e[run, window]
    if gate.kind == KIND_RATE:
        intervals = list(zip(e.tolist(), n.tolist(), strict=True))
        if history is not None:
            earlier = max(0, DISPERSION_LOOKBACK_INTERVALS - len(intervals))
            past = zip(history.e[run, -earlier:].tolist(), history.n[run, -earlier:].tolist(), strict=True)
            intervals = (list(past) if earlier else []) + intervals
        return RateSample(int(e.sum()), int(n.sum()), tuple(intervals))
    if gate.kind == KIND_HISTOGRAM:
        return histogram(rev.h[run, window].sum(axis=0), bounds)
    values = rev.gauges.get(gauge_key(gate))
    if values is None:
        raise SystemExit(f"gate {gate.name}: no gauge {gauge_key(gate)!r} in the scenario's revisions")
    return ValueSample(float(values[run, window].mean()), int(n.sum()))


def step_seconds(scn: dict[str, Any]) -> float:
    return float(scn["analyses"] * scn["interval_seconds"])


def horizon(scn: dict[str, Any], spec: AnalysisSpec) -> int:
    """Analyses until the step's maxDuration (the operator's own rule, ``plan_look``)."""
    look = plan_look(
        1,
        0.0,
        None,
        interval_seconds=spec.interval_seconds,
        step_seconds=step_seconds(scn),
        max_duration_seconds=spec.max_duration_seconds,
    )
    return max(scn["analyses"], round(look.pass_checks * step_seconds(scn) / scn["interval_seconds"]))


def run_ours(scn: dict[str, Any], spec: AnalysisSpec, traffic: Traffic, run: int) -> tuple[str, int]:
    """Outcome and the analysis (1-based) at which it was decided."""
    bounds = list(map(float, scn["buckets"]))
    looks = horizon(scn, spec)
    interval = float(scn["interval_seconds"])
    counters = AnalysisCounters()
    cumulative = scn["window"] == "cumulative"
    no_series = set(scn.get("no_series") or ())
    for k in range(looks):
        window = np.zeros(looks, dtype=bool)
        window[(0 if cumulative else k) : k + 1] = True
        window &= traffic.observed
        samples: dict[str, Any] = {}
        for gate in spec.gates:
            if scn["outage"]:
                samples[gate.name] = "connection refused"
            elif gate.name in no_series or not traffic.observed[k]:
                samples[gate.name] = (None, None)  # the query works, but no series (or a stale window)
            else:
                samples[gate.name] = (
                    sample_of(gate, traffic.candidate, run, window, bounds),
                    sample_of(gate, traffic.stable, run, window, bounds, traffic.history),
                )
        look = plan_look(
            k + 1,
            (k + 1) * interval,
            k * interval if k else None,
            interval_seconds=interval,
            step_seconds=step_seconds(scn),
            max_duration_seconds=spec.max_duration_seconds,
        )
        _, decision = analyse_interval(spec.gates, samples, counters, spec, look=look)
        counters = decision.counters
        if decision.action is DecisionAction.ROLLBACK:
            return "rollback", k + 1
        if decision.action is DecisionAction.PROCEED:
            return "promote", k + 1
        if decision.action is DecisionAction.PAUSE:
            return "pause", k + 1
    return "undecided", looks


def flagger_check_failed(
    scn: dict[str, Any], spec: AnalysisSpec, traffic: Traffic, run: int, k: int, bounds: list[float]
) -> bool:
    """One Flagger-style check of interval ``k``: any threshold crossed, or no data."""
    cand = traffic.candidate
    n = int(cand.n[run, k])
    if scn["outage"] or n == 0 or not traffic.observed[k] or set(scn.get("no_series") or ()):
        return True  # query error / "no values found" halts the check as failed
    for gate in spec.gates:
        if gate.kind == KIND_RATE:
            error_max = scn.get("flagger_error_max", gate.max)
            if error_max is not None and cand.e[run, k] / n > error_max:
                return True
        elif gate.kind == KIND_HISTOGRAM:
            if gate.max_milliseconds is None:
                continue
            cum = np.cumsum(cand.h[run, k]).tolist()
            q = LATENCY_QUANTILES[gate.builtin or ""]
            quantile_ms = histogram_quantile(q, list(zip([*bounds, math.inf], cum, strict=True))) * 1000.0
            if quantile_ms > gate.max_milliseconds:
                return True
        else:
            value = float(cand.gauges[gauge_key(gate)][run, k])
            if (gate.min is not None and value < gate.min) or (gate.max is not None and value > gate.max):
                return True
    return False


def run_flagger(scn: dict[str, Any], spec: AnalysisSpec, traffic: Traffic, run: int) -> tuple[str, int]:
    """Threshold-only judge: one-interval windows, failed checks counted until failureLimit."""
    bounds = list(map(float, scn["buckets"]))
    limit = max(1, spec.failure_limit)
    failed = 0
    for k in range(scn["analyses"]):
        if flagger_check_failed(scn, spec, traffic, run, k, bounds):
            failed += 1
            if failed >= limit:
                return "rollback", k + 1
    return "promote", scn["analyses"]


def summarise(outcomes: list[tuple[str, int]], expect: str, step_looks: int) -> dict[str, Any]:
    runs = len(outcomes)
    result: dict[str, Any] = {f"{o}_rate": sum(1 for x, _ in outcomes if x == o) / runs for o in OUTCOMES}
    rollbacks = [t for x, t in outcomes if x == "rollback"]
    decided = [t for x, t in outcomes if x != "undecided"]
    result["rollback_within_2_rate"] = sum(1 for t in rollbacks if t <= 2) / runs
    # Promoted by the end of the step's first extension (one more step duration).
    result["promote_within_extension_rate"] = (
        sum(1 for x, t in outcomes if x == "promote" and t <= 2 * step_looks) / runs
    )
    result["false_rollback_rate"] = result["rollback_rate"] if expect == "healthy" else None
    result["false_promotion_rate"] = result["promote_rate"] if expect in ("degraded", "outage") else None
    result["median_intervals_to_decision"] = float(np.median(decided)) if decided else None
    result["p95_intervals_to_decision"] = float(np.percentile(decided, 95)) if decided else None
    result["median_intervals_to_rollback"] = float(np.median(rollbacks)) if rollbacks else None
    return result


def run_scenario(scn: dict[str, Any], runs: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, zlib.crc32(scn["name"].encode())])  # stable across processes
    spec = AnalysisSpec.from_mapping(scn["analysis"])
    traffic = simulate(scn, runs, horizon(scn, spec), rng)
    ours = [run_ours(scn, spec, traffic, r) for r in range(runs)]
    flagger = [run_flagger(scn, spec, traffic, r) for r in range(runs)]

    def first(value: Any) -> Any:
        return per_interval(value, 1)[0]

    def last(value: Any) -> Any:
        return value[-1] if isinstance(value, list) else value

    return {
        "name": scn["name"],
        "expect": scn["expect"],
        "canary_rps": first(scn["total_rps"]) * scn["canary_weight"],
        "dispersion": float(scn.get("dispersion", 1.0)),
        "stable_error_rate": first(scn["stable"]["error_rate"]),
        "candidate_error_rate": last(scn["candidate"]["error_rate"]),
        "runs": runs,
        "ours": summarise(ours, scn["expect"], scn["analyses"]),
        "flagger": summarise(flagger, scn["expect"], scn["analyses"]),
    }


def _target(text: str, value: float, ok: bool) -> dict[str, Any]:
    return {"target": text, "value": value, "ok": ok}


def check_targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets on every scenario they apply to (by ``expect``), plus the two named ones."""
    by_name = {r["name"]: r for r in results}
    checks = []
    if "errors-5x-medium" in by_name:
        value = by_name["errors-5x-medium"]["ours"]["rollback_within_2_rate"]
        text = "errors-5x-medium: rolled back within 2 intervals >= 95%"
        checks.append(_target(text, value, value >= 0.95))
    if "healthy-medium" in by_name:
        value = by_name["healthy-medium"]["ours"]["promote_within_extension_rate"]
        checks.append(
            _target("healthy-medium: promoted within its step + one extension >= 95%", value, value >= 0.95)
        )
    for r in results:
        ours = r["ours"]
        if r["expect"] == "healthy":
            value = ours["rollback_rate"]
            checks.append(_target(f"{r['name']}: false rollbacks <= 0.5%", value, value <= 0.005))
        elif r["expect"] == "degraded":
            value = ours["promote_rate"]
            checks.append(_target(f"{r['name']}: false promotions <= 0.5%", value, value <= 0.005))
        elif r["expect"] == "outage":
            value = ours["promote_rate"]
            checks.append(_target(f"{r['name']}: promotions on missing data == 0", value, value == 0))
    return checks


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def num(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def markdown(results: list[dict[str, Any]], checks: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"runs per scenario: {meta['runs']}, seed {meta['seed']}, {meta['seconds']:.1f}s",
        f"command: python benchmarks/canary_judge.py --scenarios {meta['scenarios']} --runs {meta['runs']} "
        f"--seed {meta['seed']}" + (f" --only {meta['only']}" if meta.get("only") else ""),
        "",
        "| scenario | expect | canary req/s | disp. | errors stable -> cand. | judge | promote | rollback "
        "| pause | false promote | false rollback | rollback within 2 | decided at (median / p95) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for judge in ("ours", "flagger"):
            s = r[judge]
            lines.append(
                f"| {r['name']} | {r['expect']} | {r['canary_rps']:g} | {r['dispersion']:g} | "
                f"{100 * r['stable_error_rate']:g}% -> {100 * r['candidate_error_rate']:g}% | {judge} | "
                f"{pct(s['promote_rate'])} | {pct(s['rollback_rate'])} | {pct(s['pause_rate'])} | "
                f"{pct(s['false_promotion_rate'])} | {pct(s['false_rollback_rate'])} | "
                f"{pct(s['rollback_within_2_rate'])} | "
                f"{num(s['median_intervals_to_decision'])} / {num(s['p95_intervals_to_decision'])} |"
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
        "only": args.only,
    }
    if args.json:
        json.dump({"meta": meta, "results": results, "targets": checks}, sys.stdout, indent=2)
        print()
    else:
        print(markdown(results, checks, meta))
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
