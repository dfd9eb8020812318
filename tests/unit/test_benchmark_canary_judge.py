"""benchmarks/canary_judge.py: the scenario format's new fields simulate what they say, older files run
unchanged, and the report counts outcomes against each scenario's expectation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_canary", ROOT / "benchmarks" / "canary_judge.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_canary"] = module
    spec.loader.exec_module(module)
    return module


@settings(max_examples=25, deadline=None)
@given(mean=st.floats(2.0, 500.0), dispersion=st.sampled_from([1.0, 2.0, 3.0, 5.0]))
def test_overdispersed_counts_have_the_asked_variance(bench, mean: float, dispersion: float) -> None:
    draws = bench.overdispersed(np.random.default_rng(1), np.full(40000, mean), dispersion)
    assert draws.mean() == pytest.approx(mean, rel=0.03)
    assert draws.var() / draws.mean() == pytest.approx(dispersion, rel=0.08)


def test_per_interval_values_repeat_the_last(bench) -> None:
    assert bench.per_interval([0.005, 0.05, 0.005], 5) == [0.005, 0.05, 0.005, 0.005, 0.005]
    assert bench.per_interval(0.01, 3) == [0.01, 0.01, 0.01]


def _scenario(bench, tmp_path: Path, extra: str) -> list[dict]:
    shipped = (ROOT / "benchmarks" / "scenarios" / "canary_judge.yaml").read_text()
    head = shipped.split("\nscenarios:")[0]
    path = tmp_path / "s.yaml"
    path.write_text(head + "\nscenarios:\n" + extra)
    return bench.load_scenarios(path)


def test_new_fields_are_simulated(bench, tmp_path: Path) -> None:
    (scn,) = _scenario(
        bench,
        tmp_path,
        """
  - name: x
    expect: healthy
    total_rps: 100
    dispersion: 3
    gaps: [{at: 2, intervals: 2}]
    stable:
      error_rate: [0.005, 0.05, 0.005]
      gauges: {accuracy: {mean: [0.9, 0.9, 0.5], noise: 0.0}}
""",
    )
    traffic = bench.simulate(scn, 4000, 6, np.random.default_rng(2))
    assert list(traffic.observed) == [True, False, False, True, True, True]
    rates = traffic.stable.e.sum(axis=0) / traffic.stable.n.sum(axis=0)
    assert rates[1] == pytest.approx(0.05, rel=0.05) and rates[0] == pytest.approx(0.005, rel=0.1)
    n = traffic.candidate.n[:, 0]
    assert n.var() / n.mean() == pytest.approx(3.0, rel=0.15)
    assert traffic.candidate.gauges["accuracy"][0].tolist() == [0.9, 0.9, 0.5, 0.5, 0.5, 0.5]
    assert traffic.history.n.shape == (4000, 30)


def test_missing_data_and_quality_gates_run_through_the_judge(bench, tmp_path: Path) -> None:
    scenarios = _scenario(
        bench,
        tmp_path,
        """
  - {name: none, expect: outage, total_rps: 100, no_series: [error-rate]}
  - name: drop
    expect: degraded
    total_rps: 100
    stable: {gauges: {accuracy: {mean: 0.95, noise: 0.0}}}
    candidate: {gauges: {accuracy: {mean: 0.8, noise: 0.0}}}
    analysis:
      gates: [{name: accuracy, builtin: accuracy, min: 0.9}]
""",
    )
    none, drop = (bench.run_scenario(s, 30, 1) for s in scenarios)
    assert none["ours"]["promote_rate"] == 0.0 and none["ours"]["pause_rate"] == 1.0
    assert none["flagger"]["rollback_rate"] == 1.0  # "no values" counts as a failed check
    assert drop["ours"]["rollback_rate"] == 1.0 and drop["ours"]["false_promotion_rate"] == 0.0
    assert drop["ours"]["median_intervals_to_decision"] == 2.0


def test_older_scenario_files_run_unchanged(bench, tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(
        yaml.safe_dump(
            {
                "defaults": {
                    "interval_seconds": 60,
                    "analyses": 5,
                    "extra_analyses": 5,
                    "canary_weight": 0.1,
                    "window": "cumulative",
                    "outage": False,
                    "stable": {"error_rate": 0.005, "latency": {"median_ms": 60, "sigma": 0.6}},
                    "candidate": {},
                    "analysis": {
                        "interval": "1m",
                        "failureLimit": 2,
                        "inconclusiveLimit": 5,
                        "gates": [{"name": "error-rate", "builtin": "errorRate", "max": 0.01}],
                    },
                    "buckets": [0.05, 0.1, 0.25, 0.5, 1],
                },
                "scenarios": [
                    {"name": "bad", "expect": "degraded", "total_rps": 100, "candidate": {"error_rate": 0.05}}
                ],
            }
        )
    )
    (scn,) = bench.load_scenarios(old)
    result = bench.run_scenario(scn, 50, 1)
    assert result["ours"]["rollback_rate"] == 1.0
    checks = bench.check_targets([result])
    assert checks == [{"target": "bad: false promotions <= 0.5%", "value": 0.0, "ok": True}]
