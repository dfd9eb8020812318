"""The one error type for a spec the API server accepted but the operator cannot use."""

from __future__ import annotations


class SpecError(ValueError):
    """A problem in a spec, naming the field path and the fix (e.g. ``spec.objectives[1].target``), so
    the message can go into a status condition and an Event as it is."""

    def __init__(self, field_path: str, message: str):
        super().__init__(f"{field_path}: {message}")
        self.field_path = field_path
        self.message = message
