"""SLO arithmetic: attainment, error budget, burn rate, time to exhaustion, service credits, and counter
increases from raw samples. Pure functions of numbers; docs/sla.md gives the formulas and a worked example.

Conventions: targets and attainments are percents (99.9), ratios are fractions (0.001). Functions whose
result is undefined without traffic return ``None`` instead of dividing by zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from modelserve.slo.model import CreditTier

# Float noise guard for comparisons such as 999/1000 >= 99.9/100 (which is False in IEEE doubles).
_EPSILON = 1e-9


def error_budget_ratio(target_percent: float) -> float:
    """Allowed fraction of bad events, ``1 - target/100`` (99.9 -> 0.001), rounded to drop float noise."""
    return round(1.0 - target_percent / 100.0, 12)


def counter_increase(samples: Iterable[float], *, count_post_reset_value: bool = True) -> float:
    """Increase of a counter over raw samples, treating any drop as a counter reset.

    With ``count_post_reset_value=True`` (Prometheus ``increase()`` semantics, without its
    extrapolation to the window edges) the first sample after a reset counts in full, because the
    counter restarted from zero: ``0,10,20,5,15 -> 10+10+5+10 = 35``. With ``False`` the sample after a
    reset only becomes the new baseline (the conservative reading, ``0,10,20,5,15 -> 30``), for sources
    whose counters do not restart from zero. Fewer than two samples -> 0.
    """
    total = 0.0
    previous: float | None = None
    for value in samples:
        if previous is not None:
            if value >= previous:
                total += value - previous
            elif count_post_reset_value:
                total += value
        previous = value
    return total


def attainment_percent(good: float, total: float) -> float | None:
    """``100 * good / total``; None when there were no events (attainment is undefined, not 0 or 100)."""
    if total <= 0:
        return None
    return 100.0 * min(max(good, 0.0), total) / total


def is_compliant(attainment: float | None, target_percent: float) -> bool:
    """attainment >= target; an undefined attainment (no traffic) counts as compliant."""
    if attainment is None:
        return True
    return attainment >= target_percent - _EPSILON


def allowed_bad_events(total: float, target_percent: float) -> float:
    """The error budget in events: ``(1 - target) * total``."""
    return error_budget_ratio(target_percent) * max(total, 0.0)


def budget_remaining_ratio(bad: float, total: float, target_percent: float) -> float | None:
    """Raw remaining error budget as a fraction, ``1 - bad / allowed_bad``; negative once overspent.

    None when there were no events (the caller reports 100% with a "no data" note).
    """
    if total <= 0:
        return None
    allowed = allowed_bad_events(total, target_percent)
    return 1.0 - max(bad, 0.0) / allowed


def clamp_percent(value: float) -> float:
    """Clamp a percent to [0, 100] for display (the raw value is reported next to it)."""
    return min(100.0, max(0.0, value))


def burn_rate(bad: float, total: float, target_percent: float) -> float | None:
    """``(bad / total) / (1 - target)``: 1.0 spends exactly the budget over one SLO window; None without
    events in the window."""
    if total <= 0:
        return None
    return (max(bad, 0.0) / total) / error_budget_ratio(target_percent)


def time_to_exhaustion_seconds(
    remaining_ratio: float | None, current_burn_rate: float | None, effective_window_seconds: float
) -> float:
    """Seconds until the remaining budget is gone if the current burn rate continues.

    A burn rate of 1 spends a whole budget in one window, so ``remaining * window / burn``. The window is
    the elapsed part for a partial window (the budget so far was earned over that time). Returns 0 when
    already exhausted and ``math.inf`` when nothing is burning or there is no data.
    """
    if remaining_ratio is None:
        return math.inf
    if remaining_ratio <= _EPSILON:
        return 0.0
    if not current_burn_rate or current_burn_rate <= 0:
        return math.inf
    return remaining_ratio * effective_window_seconds / current_burn_rate


def service_credit_percent(attainment: float | None, tiers: Sequence[CreditTier]) -> float:
    """The highest credit among tiers whose ``below`` exceeds the attainment; 0 when none applies or the
    attainment is undefined (no traffic, nothing to credit)."""
    if attainment is None:
        return 0.0
    return max((t.percent for t in tiers if attainment < t.below - _EPSILON), default=0.0)


def format_time_remaining(seconds: float) -> str:
    """Human duration for status.budgetTimeRemaining, coarse on purpose (two units) so the status does
    not change on every reconcile: ``"never"`` for infinity, ``"0s"`` when exhausted, e.g. ``"12d4h"``."""
    if math.isinf(seconds):
        return "never"
    seconds = int(max(seconds, 0))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2]) or "0s"
