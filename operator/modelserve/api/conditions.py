"""Status conditions per the Kubernetes API conventions, computed purely."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool | None  # None = Unknown
    reason: str
    message: str = ""

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else ("True" if self.status else "False")


def merge_conditions(
    old: list[dict] | None, new: list[Condition], now: datetime, generation: int | None
) -> list[dict]:
    """The new conditions as status dicts; lastTransitionTime moves only when the status changes.

    Conditions of types not in `new` are kept as they were (another part of the operator owns them).
    """
    previous = {c.get("type"): c for c in (old or [])}
    result: dict[str, dict] = {t: dict(c) for t, c in previous.items() if t}
    for cond in new:
        before = previous.get(cond.type)
        changed = before is None or before.get("status") != cond.status_text
        entry = {
            "type": cond.type,
            "status": cond.status_text,
            "reason": cond.reason,
            "message": cond.message,
            "lastTransitionTime": rfc3339(now)
            if changed or before is None
            else before.get("lastTransitionTime", rfc3339(now)),
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        result[cond.type] = entry
    return [result[t] for t in sorted(result)]


def find_condition(conditions: list[dict] | None, type_: str) -> dict | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)
