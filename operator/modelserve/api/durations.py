"""Durations as the CRDs write them: `30s`, `5m`, `1h30m`, `7d`, `2w`, `250ms`."""

from __future__ import annotations

import re

from modelserve.api.errors import SpecError

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d|w))+$"


def parse_duration(text: object, field: str = "duration", *, positive: bool = False) -> float:
    """Seconds in `text` (the CRDs' duration pattern, which the API server has already checked).

    Raises SpecError (a ValueError) naming `field` when `text` is not a well-formed duration, or, with
    `positive`, when it is zero. The one duration parser of the operator.
    """
    if not isinstance(text, str) or not re.fullmatch(DURATION_PATTERN, text):
        raise SpecError(field, f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m, 7d")
    seconds = float(sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text)))
    if positive and seconds <= 0:
        raise SpecError(field, f"duration {text!r} must be greater than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form: 90 -> '1m30s', 86400 -> '1d'."""
    seconds = round(seconds)
    if seconds <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)
