"""Invalid modelserve.io resources (invalid_resources.yaml), each breaking one rule of its CRD.

Shared by the e2e test, where the API server rejects each, and the unit test of `modelserve render`'s
offline validator, which must reject each with the same field paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

SOURCE = Path(__file__).parent / "invalid_resources.yaml"
ROOT_PATH = "<nil>"  # how the API server names the object itself (a rule on the whole object)
_ERROR_TYPES = (
    "Invalid value|Required value|Unsupported value|Duplicate value|Forbidden|Too long|Too many|Not found"
)
_PATH = rf"{re.escape(ROOT_PATH)}|[A-Za-z][A-Za-z0-9_.\[\]-]*"
_FIELD_ERROR = re.compile(rf"(?:^|: |\[|, |\* )({_PATH}): (?:{_ERROR_TYPES})", re.M)


@dataclass(frozen=True)
class InvalidCase:
    title: str
    expect: str  # a substring of the API server's message
    paths: tuple[str, ...]  # the field path of each error, in the API server's order
    doc: dict


def load_cases() -> list[InvalidCase]:
    cases = []
    for chunk in SOURCE.read_text().split("\n---\n")[1:]:
        expect = re.search(r"^# expect: (.+)$", chunk, re.M)
        paths = re.search(r"^# paths: (.+)$", chunk, re.M)
        title = chunk.strip().splitlines()[0].lstrip("# ").strip()
        doc = yaml.safe_load(chunk)
        if expect and paths and doc:
            found = tuple(p.strip() for p in paths.group(1).split(","))
            cases.append(InvalidCase(title, expect.group(1).strip(), found, doc))
    return cases


def api_server_paths(message: str) -> tuple[str, ...]:
    """The field paths of the errors in an API server (or kubectl) message, in order:
    'The ModelDeployment "x" is invalid: spec.a: Required value' or, for several errors, kubectl's
    list of lines '* spec.a: Required value' (the API server's own: '[spec.a: ..., <nil>: ...]')."""
    _, _, errors = message.partition(" is invalid: ")
    return tuple(m.group(1) for m in _FIELD_ERROR.finditer(errors.strip()))


CASES = load_cases()
