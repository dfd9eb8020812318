"""Durations as the CRDs write them: `30s`, `5m`, `1h30m`, `7d`, `2w`, `250ms`."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d|w))+$"


def parse_duration(text: str, field: str = "duration") -> float:
    """Seconds in `text`; ValueError naming `field` when it is not a well-formed duration."""
    if not isinstance(text, str) or not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{field}: {text!r} is not a duration such as 30s, 5m, 1h30m or 7d")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))


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
