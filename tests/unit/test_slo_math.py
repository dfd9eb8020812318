"""SLO maths, hand-computed: budget, burn rates, credits, attainment, partial windows, resets, no data."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelserve.slo import (
    Measurement,
    WindowCounts,
    compute_model_status,
    parse_sla_policy,
)
from modelserve.slo.math import (
    allowed_bad_events,
    attainment_percent,
    budget_remaining_ratio,
    burn_rate,
    counter_increase,
    error_budget_ratio,
    format_time_remaining,
    is_compliant,
    service_credit_percent,
    time_to_exhaustion_seconds,
)
from modelserve.slo.model import CreditTier

DAY = 86400.0
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CREDITS = (CreditTier(99.9, 10), CreditTier(99.0, 25), CreditTier(95.0, 50))


def spec_999(**extra: object) -> object:
    return parse_sla_policy(
        {
            "objectives": [{"name": "availability", "type": "availability", "target": 99.9}],
            "credits": [
                {"below": 99.9, "percent": 10},
                {"below": 99.0, "percent": 25},
                {"below": 95, "percent": 50},
            ],
            **extra,
        }
    )


# --- the worked example of docs/sla.md: 99.9% over 30d, 10M requests, 4,000 bad ---------------------
def test_worked_example_attainment_budget_burn_and_exhaustion() -> None:
    assert attainment_percent(10_000_000 - 4_000, 10_000_000) == pytest.approx(99.96)
    assert allowed_bad_events(10_000_000, 99.9) == pytest.approx(10_000)
    assert budget_remaining_ratio(4_000, 10_000_000, 99.9) == pytest.approx(0.60)
    assert is_compliant(99.96, 99.9)
    # Whole-window average burn: 0.04% bad / 0.1% budget.
    assert burn_rate(4_000, 10_000_000, 99.9) == pytest.approx(0.4)
    # Last hour: 20,000 requests, 100 bad = 0.5% -> 5x.
    assert burn_rate(100, 20_000, 99.9) == pytest.approx(5.0)
    # 60% of a 30d budget at 5x: 0.6 * 30d / 5 = 3.6d.
    assert time_to_exhaustion_seconds(0.6, 5.0, 30 * DAY) == pytest.approx(3.6 * DAY)
    assert format_time_remaining(3.6 * DAY) == "3d14h"
    assert service_credit_percent(99.96, CREDITS) == 0


def test_worked_example_through_compute_model_status() -> None:
    spec = spec_999()
    measurement = Measurement(
        window=WindowCounts(good=10_000_000 - 4_000, total=10_000_000),
        burn_windows={"5m": WindowCounts(1_650, 1_700), "1h": WindowCounts(19_900, 20_000)},
    )
    status = compute_model_status(
        spec, {"availability": measurement}, 30 * DAY, NOW, model="fraud", policy="gold"
    )
    objective = status.objectives[0]
    assert objective.attainment_percent == pytest.approx(99.96)
    assert objective.budget_remaining_percent == pytest.approx(60.0)
    assert objective.compliant and status.compliant
    assert not status.exhausted and not status.partial_window
    assert objective.current_burn_rate == pytest.approx(5.0)  # the 1h window: shortest long window
    assert status.time_to_exhaustion_seconds == pytest.approx(3.6 * DAY)
    assert status.budget_exhausted_at == datetime(2024, 5, 5, 2, 24, tzinfo=UTC)
    assert [(b.window, round(b.rate, 6)) for b in status.burn_rates] == [
        ("5m", round(50 / 1700 / 0.001, 6)),
        ("1h", 5.0),
    ]
    assert status.to_status_dict() == {
        "name": "fraud",
        "attainment": [{"objective": "availability", "target": 99.9, "compliant": True, "percent": 99.96}],
        "errorBudgetRemainingPercent": 60.0,
        "budgetTimeRemaining": "3d14h",
        "burnRates": [{"window": "5m", "rate": 29.412}, {"window": "1h", "rate": 5.0}],
        "compliant": True,
        "creditPercent": 0.0,
        "exhausted": False,
    }


# --- error budget ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("target", "ratio"), [(99.9, 0.001), (99.0, 0.01), (95.0, 0.05), (99.99, 0.0001)])
def test_error_budget_ratio_has_no_float_noise(target: float, ratio: float) -> None:
    assert error_budget_ratio(target) == ratio


def test_budget_remaining_goes_negative_when_overspent_and_status_reports_clamped_and_raw() -> None:
    # 99% target, 1,000 requests, 25 bad: allowed 10, 1 - 25/10 = -150%.
    assert budget_remaining_ratio(25, 1_000, 99.0) == pytest.approx(-1.5)
    spec = parse_sla_policy({"objectives": [{"name": "a", "type": "availability", "target": 99}]})
    status = compute_model_status(spec, {"a": Measurement(WindowCounts(975, 1_000))}, 30 * DAY, NOW)
    assert status.error_budget_remaining_percent_raw == pytest.approx(-150.0)
    assert status.error_budget_remaining_percent == 0.0
    assert status.exhausted and not status.compliant
    assert status.time_to_exhaustion_seconds == 0.0
    assert status.budget_time_remaining == "0s"


def test_exactly_on_target_is_compliant_despite_float_rounding() -> None:
    # 999/1000 = 0.999 but 99.9/100 = 0.9990000000000001 in IEEE doubles.
    assert is_compliant(attainment_percent(999, 1000), 99.9)
    assert budget_remaining_ratio(1, 1000, 99.9) == pytest.approx(0.0)


# --- burn rates ------------------------------------------------------------------------------------
def test_burn_rate_one_spends_the_budget_in_exactly_one_window() -> None:
    assert burn_rate(1, 1_000, 99.9) == pytest.approx(1.0)
    assert burn_rate(144, 10_000, 99.9) == pytest.approx(14.4)
    assert burn_rate(0, 10_000, 99.9) == 0.0
    # At 14.4x a 30d budget lasts 30d / 14.4 = 50h.
    assert time_to_exhaustion_seconds(1.0, 14.4, 30 * DAY) == pytest.approx(50 * 3600)


def test_time_to_exhaustion_edge_cases() -> None:
    assert time_to_exhaustion_seconds(0.5, 0.0, 30 * DAY) == math.inf
    assert time_to_exhaustion_seconds(None, 3.0, 30 * DAY) == math.inf
    assert time_to_exhaustion_seconds(-0.2, 3.0, 30 * DAY) == 0.0
    assert format_time_remaining(math.inf) == "never"


# --- credits ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attainment", "credit"),
    [(99.95, 0), (99.9, 0), (99.89, 10), (99.0, 10), (98.5, 25), (94.0, 50), (0.0, 50), (None, 0)],
)
def test_service_credit_is_the_highest_tier_whose_below_exceeds_attainment(
    attainment: float | None, credit: float
) -> None:
    assert service_credit_percent(attainment, CREDITS) == credit


def test_service_credit_without_tiers_is_zero() -> None:
    assert service_credit_percent(50.0, ()) == 0


def test_model_credit_comes_from_the_worst_objective() -> None:
    spec = parse_sla_policy(
        {
            "objectives": [
                {"name": "availability", "type": "availability", "target": 99.9},
                {
                    "name": "latency",
                    "type": "latency",
                    "target": 99,
                    "latency": {"thresholdMilliseconds": 250},
                },
            ],
            "credits": [{"below": 99.9, "percent": 10}, {"below": 99.0, "percent": 25}],
        }
    )
    status = compute_model_status(
        spec,
        {
            "availability": Measurement(WindowCounts(99_950, 100_000)),  # 99.95%: no credit
            "latency": Measurement(WindowCounts(98_500, 100_000)),  # 98.5%: 25%
        },
        30 * DAY,
        NOW,
    )
    assert status.credit_percent == 25
    assert [o.credit_percent for o in status.objectives] == [0, 25]
    assert not status.compliant  # latency misses 99%


# --- partial windows -------------------------------------------------------------------------------
def test_partial_window_computes_over_the_elapsed_part_and_says_so() -> None:
    spec = spec_999()
    # Policy 3 days old: 1M requests, 300 bad so far; last hour burning at 2x.
    measurement = Measurement(WindowCounts(1_000_000 - 300, 1_000_000), {"1h": WindowCounts(9_980, 10_000)})
    status = compute_model_status(spec, {"availability": measurement}, 3 * DAY, NOW)
    objective = status.objectives[0]
    assert status.partial_window and objective.partial_window
    assert status.effective_window == "3d"
    assert objective.attainment_percent == pytest.approx(99.97)
    assert objective.allowed_bad == pytest.approx(1_000)  # the budget of the elapsed part only
    assert objective.budget_remaining_percent == pytest.approx(70.0)
    # 70% of the elapsed 3d budget at 2x: 0.7 * 3d / 2 = 1.05d.
    assert status.time_to_exhaustion_seconds == pytest.approx(1.05 * DAY)
    assert any("partial window: computed over the elapsed 3d of 30d" in n for n in status.notes)


def test_full_window_has_no_partial_note() -> None:
    status = compute_model_status(
        spec_999(), {"availability": Measurement(WindowCounts(10, 10))}, 31 * DAY, NOW
    )
    assert not status.partial_window
    assert not any("partial" in n for n in status.notes)


# --- counter resets --------------------------------------------------------------------------------
def test_counter_increase_counts_a_reset_like_prometheus_increase() -> None:
    # 0->10->20 (+20), reset to 5 (5 events since the restart from 0), 5->15 (+10).
    assert counter_increase([0, 10, 20, 5, 15]) == 35


def test_counter_increase_conservative_reading_ignores_the_post_reset_value() -> None:
    # The post-reset sample is only a new baseline: 10 + 10 + 10.
    assert counter_increase([0, 10, 20, 5, 15], count_post_reset_value=False) == 30


@pytest.mark.parametrize(("samples", "expected"), [([], 0), ([7], 0), ([3, 3, 3], 0), ([5, 0, 0, 2], 2)])
def test_counter_increase_degenerate_series(samples: list[float], expected: float) -> None:
    assert counter_increase(samples) == expected


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=30))
def test_counter_increase_is_never_negative_and_equals_delta_without_resets(samples: list[float]) -> None:
    increase = counter_increase(samples)
    assert increase >= 0
    monotonic = sorted(samples)
    if len(monotonic) >= 2:
        assert counter_increase(monotonic) == pytest.approx(monotonic[-1] - monotonic[0])


# --- no data ---------------------------------------------------------------------------------------
def test_no_traffic_is_compliant_with_a_full_budget_and_a_note() -> None:
    assert attainment_percent(0, 0) is None
    assert budget_remaining_ratio(0, 0, 99.9) is None
    assert burn_rate(0, 0, 99.9) is None
    spec = spec_999()
    for measurements in (
        {},
        {"availability": Measurement(None)},
        {"availability": Measurement(WindowCounts(0, 0))},
    ):
        status = compute_model_status(spec, measurements, 30 * DAY, NOW)
        assert status.compliant
        assert status.error_budget_remaining_percent == 100.0
        assert not status.exhausted
        assert status.credit_percent == 0
        assert status.budget_time_remaining == "never"
        assert status.burn_rates == ()
        assert "availability: no data" in status.notes
        assert "percent" not in status.to_status_dict()["attainment"][0]


@given(
    total=st.integers(min_value=0, max_value=10**9),
    bad_fraction=st.floats(min_value=0, max_value=1),
    target=st.floats(min_value=0.1, max_value=99.999),
)
def test_compliance_matches_budget_sign(total: int, bad_fraction: float, target: float) -> None:
    """Compliant (attainment >= target) exactly when the raw remaining budget is >= 0 (up to rounding)."""
    bad = round(total * bad_fraction)
    remaining = budget_remaining_ratio(bad, total, target)
    attainment = attainment_percent(total - bad, total)
    if remaining is None:
        assert attainment is None and is_compliant(attainment, target)
    elif abs(remaining) > 1e-6:
        assert is_compliant(attainment, target) == (remaining > 0)
