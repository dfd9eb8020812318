"""YAML for people and for other YAML readers: a string is quoted when any reader could take it for
something else.

PyYAML's safe_dump quotes what its own YAML 1.1 resolver would misread, but kubectl decodes with Go's
yaml.v2 (YAML 1.1 plus Go's number syntax) and other tools read YAML 1.2: to them `1e5`, `678231e595`
and `0o17` are numbers, so `modelserve render | kubectl apply -f -` failed with "cannot unmarshal
number into ... of type string". The check below is the union of the implicit types of YAML 1.1,
YAML 1.2 (core and JSON schemas) and Go's strconv; quoting a few strings too many is harmless.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_SIGN = r"[-+]?"
_NOT_STRINGS = [
    # Integers: binary, octal (0o17 and 1.1's 017), hex, decimal, with underscores (YAML 1.1, Go).
    rf"{_SIGN}0[bB][01_]+",
    rf"{_SIGN}0[oO]?[0-7_]+",
    rf"{_SIGN}0[xX][0-9a-fA-F_]+",
    rf"{_SIGN}[0-9][0-9_]*",
    # Sexagesimal integers and floats of YAML 1.1 (1:20, 190:20:30.15).
    rf"{_SIGN}[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?",
    # Floats: 1., .5, 1.5, 1e5, 1.5E-3 (YAML 1.2 and Go need no dot before the exponent).
    # Underscores count as digits: some readers drop them wherever they are (._ is a float to ruamel).
    rf"{_SIGN}([0-9_]+(\.[0-9_]*)?|\.[0-9_]+)([eE][-+]?[0-9_]+)?",
    rf"{_SIGN}\.(inf|Inf|INF)",
    r"\.(nan|NaN|NAN)",
    # Go's strconv also reads these where a number is expected.
    rf"{_SIGN}(inf|infinity|nan)",
    # Bools (YAML 1.1 has y/n/yes/no/on/off) and nulls, in any case.
    r"(?i:y|n|yes|no|on|off|true|false|null|~)",
    # Timestamps (YAML 1.1): 2026-12-03, 2026-12-03T12:00:00Z, ...
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?",
    # YAML 1.1's value and merge keys.
    r"=|<<",
]
_NOT_STRING = re.compile("|".join(f"(?:{p})" for p in _NOT_STRINGS))


def needs_quotes(value: str) -> bool:
    """True when `value`, printed as a plain scalar, would be read by some YAML reader as anything
    but this string (a number, bool, null or date), or is empty."""
    return value == "" or _NOT_STRING.fullmatch(value) is not None


# libyaml's emitter when PyYAML has it (five times faster on large renders), the same output.
_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _UnambiguousDumper(_SafeDumper):  # type: ignore[misc,valid-type]
    """SafeDumper that single-quotes every string needs_quotes() flags."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if needs_quotes(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_UnambiguousDumper.add_representer(str, _represent_str)


def dump_all(documents: list[Any]) -> str:
    """The documents as a YAML stream, keys in their given order, strings quoted as needs_quotes says."""
    return yaml.dump_all(documents, Dumper=_UnambiguousDumper, sort_keys=False)
