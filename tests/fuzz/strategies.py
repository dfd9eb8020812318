"""Hypothesis strategies for modelserve.io resources, derived from the CRDs' OpenAPI schemas.

`resources(kind)` draws a ModelDeployment, RegionPlacement or SLAPolicy of any shape its schema allows:
every property (required ones always, optional ones sometimes), enums, integer and number bounds,
string lengths and patterns, int-or-string, maps, and list-map / set lists with unique keys. Values
lean towards the edges where the CEL rules bite (0, 1, the bounds, equal neighbours, empty lists),
and with `mutation_rate` > 0 a leaf now and then steps just outside its schema (bound + 1, one
character too many, a value outside the enum, a string breaking its pattern): invalid but
schema-shaped, so the API server's and the offline validator's messages get exercised too.

Only `spec` and `metadata.name` are generated: `status` is a subresource a create ignores.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable
from datetime import UTC
from functools import cache
from typing import Any

from hypothesis import Phase
from hypothesis import strategies as st
from modelserve.api.validation import packaged_kinds

# Shrinking a whole ModelDeployment can take hypothesis minutes: off unless MODELSERVE_FUZZ_SHRINK=1 (the
# failing example is printed either way, and kept as a regular test once understood).
PHASES = tuple(p for p in Phase if p != Phase.shrink or os.environ.get("MODELSERVE_FUZZ_SHRINK") == "1")
KINDS = ("ModelDeployment", "RegionPlacement", "SLAPolicy")
API_VERSION = "modelserve.io/v1alpha1"
MAX_ITEMS = 3  # lists longer than this add nothing a shorter one does not exercise, and cost CEL time
MAX_INT = 2**63 - 1  # what the API server stores (int64)
_ASCII = st.characters(codec="ascii", exclude_categories=("Cc",))
_KEY_ALPHABET = string.ascii_lowercase + string.digits + "-._/"
# Fields kept in nine cases of ten: without them most ModelDeployments fail the same rule (a runtime
# image or a known format), and the planner behind it would see too few accepted specs.
LIKELY = frozenset({"spec.runtime", "spec.runtime.image"})
# Fields whose useful values a schema cannot tell: the runtime catalogue's names.
HINTS: dict[str, st.SearchStrategy[Any]] = {
    "spec.runtime.name": st.sampled_from(["custom", "mlserver", "triton", "vllm", "tgi"]),
}
_RESOURCE_NAMES = st.one_of(
    st.sampled_from(["cpu", "memory", "ephemeral-storage", "nvidia.com/gpu", "example.com/x"]),
    st.text(_KEY_ALPHABET, min_size=1, max_size=20),
)
# Keys of maps (additionalProperties) whose meaningful values a schema cannot tell.
KEY_HINTS: dict[str, st.SearchStrategy[str]] = {
    "spec.runtime.resources.requests": _RESOURCE_NAMES,
    "spec.runtime.resources.limits": _RESOURCE_NAMES,
}


def spec_schema(kind: str) -> dict:
    """The openAPIV3Schema of `kind`'s `spec` (v1alpha1) as shipped in the package."""
    return packaged_kinds()[kind].schemas["v1alpha1"]["properties"]["spec"]


def _dns_1035(max_len: int) -> st.SearchStrategy[str]:
    label = st.from_regex(r"[a-z]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)
    return label.filter(lambda s: len(s) <= max_len)


def object_names(kind: str) -> st.SearchStrategy[str]:
    """metadata.name: mostly valid (a ModelDeployment's must be a DNS-1035 label of at most 40
    characters), sometimes just over the line (41 characters, a leading digit, a trailing '-')."""
    valid = _dns_1035(40)
    edge = st.sampled_from(["a" * 40, "a" * 41, "0abc", "abc-", "a", "a.b"])
    return st.integers(0, 9).flatmap(lambda n: edge if n == 9 else valid)


@cache
def resources(kind: str, mutation_rate: float = 0.0) -> st.SearchStrategy[dict]:
    """Whole documents of `kind` (apiVersion, kind, metadata.name, spec)."""
    spec = values(spec_schema(kind), mutation_rate, "spec")
    return st.builds(
        lambda name, s: {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": s},
        object_names(kind),
        spec,
    )


def values(schema: dict, mutation_rate: float = 0.0, path: str = "spec") -> st.SearchStrategy[Any]:
    """Values that `schema` (a structural OpenAPI v3 schema, at field `path`) accepts; with
    `mutation_rate`, each leaf is replaced by an out-of-schema neighbour with that probability."""
    valid = HINTS[path] if path in HINTS else _valid(schema, mutation_rate, path)
    if mutation_rate <= 0 or schema.get("type") in ("object", "array"):
        return valid
    bad = _just_outside(schema)
    if bad is None:
        return valid
    threshold = round(1 / mutation_rate)
    return st.integers(1, threshold).flatmap(lambda n: bad if n == threshold else valid)


def _valid(schema: dict, rate: float, path: str) -> st.SearchStrategy[Any]:
    if schema.get("x-kubernetes-int-or-string"):
        # A quantity (resources) has a pattern; a percentage or count (PDB, surge) has none.
        strings = (
            _strings({"type": "string", **schema}, rate, path)
            if "pattern" in schema
            else st.integers(0, 100).map(lambda n: f"{n}%")
        )
        numbers = _integers({"minimum": 0, "maximum": 100, **schema}, rate, path)
        return st.one_of(numbers, strings)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind is None and schema.get("anyOf"):
        branches = [{**schema, **branch, "anyOf": None} for branch in schema["anyOf"]]
        return st.one_of([_valid(b, rate, path) for b in branches])
    builder = _BUILDERS.get(kind or "")
    if builder is None:
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return _free_object()
        return st.none()
    return builder(schema, rate, path)


def _integers(schema: dict, _rate: float, _path: str) -> st.SearchStrategy[int]:
    lo = schema.get("minimum", -(2**31) if schema.get("format") != "int64" else -MAX_INT)
    hi = schema.get("maximum", 2**31 - 1 if schema.get("format") != "int64" else MAX_INT)
    lo = int(lo) + (1 if schema.get("exclusiveMinimum") else 0)
    hi = int(hi) - (1 if schema.get("exclusiveMaximum") else 0)
    edges = sorted({v for v in (lo, lo + 1, hi - 1, hi, 0, 1, 2) if lo <= v <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, min(hi, lo + 10)), st.integers(lo, hi))


def _numbers(schema: dict, _rate: float, _path: str) -> st.SearchStrategy[float | int]:
    lo = schema.get("minimum")
    hi = schema.get("maximum")
    floats = st.floats(
        min_value=lo,
        max_value=hi,
        exclude_min=bool(schema.get("exclusiveMinimum")),
        exclude_max=bool(schema.get("exclusiveMaximum")),
        allow_nan=False,
        allow_infinity=False,
        width=64,
    ).filter(lambda f: abs(f) < 1e300)
    candidates = [0, 0.5, 1, 0.99, 0.999, 50, 99.9, 100]
    ok = [
        v
        for v in candidates
        if (lo is None or v > lo or (v == lo and not schema.get("exclusiveMinimum")))
        and (hi is None or v < hi or (v == hi and not schema.get("exclusiveMaximum")))
    ]
    return st.one_of(st.sampled_from(ok), floats) if ok else floats


def _strings(schema: dict, _rate: float, _path: str) -> st.SearchStrategy[str]:
    lo = schema.get("minLength", 0)
    hi = min(schema.get("maxLength", 64), 80)
    pattern = schema.get("pattern")
    fmt = schema.get("format")
    if fmt == "date-time":
        return st.datetimes(timezones=st.just(UTC)).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if pattern:
        return st.from_regex(pattern, fullmatch=True, alphabet=_ASCII).filter(lambda s: lo <= len(s) <= hi)
    return st.one_of(
        st.text(_ASCII, min_size=lo, max_size=hi),
        st.sampled_from(["x" * lo or "a", "a" * hi]),
    )


def _arrays(schema: dict, rate: float, path: str) -> st.SearchStrategy[list]:
    items = schema.get("items") or {}
    lo = schema.get("minItems", 0)
    hi = max(lo, min(schema.get("maxItems", MAX_ITEMS), MAX_ITEMS))
    element = values(items, rate, f"{path}[]")
    unique_by: Callable[[Any], Any] | None = None
    if schema.get("x-kubernetes-list-type") == "map":
        keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())

        def unique_by(item: Any) -> Any:
            return tuple(repr(item.get(k)) if isinstance(item, dict) else None for k in keys)
    elif schema.get("x-kubernetes-list-type") == "set":
        unique_by = repr
    return st.lists(element, min_size=lo, max_size=hi, unique_by=unique_by)


def _objects(schema: dict, rate: float, path: str) -> st.SearchStrategy[dict]:
    props = schema.get("properties") or {}
    if not props:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            size = min(schema.get("maxProperties", MAX_ITEMS), MAX_ITEMS)
            keys = KEY_HINTS.get(path, st.text(_KEY_ALPHABET, min_size=1, max_size=20))
            return st.dictionaries(keys, values(extra, rate, f"{path}.*"), max_size=size)
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return _free_object()
        return st.just({})
    required = set(schema.get("required") or ())
    # Built once, outside the draw: building a strategy (a regex's above all) costs far more than drawing.
    fields = [
        (name, f"{path}.{name}" in LIKELY, name in required, values(sub, rate, f"{path}.{name}"))
        for name, sub in props.items()
    ]

    @st.composite
    def draw(d: st.DrawFn) -> dict:
        out: dict = {}
        for name, likely, required_, strategy in fields:
            # (Booleans, not a bounded integer: hypothesis draws those at their bounds far more often.)
            omit = d(st.booleans()) and (not likely or (d(st.booleans()) and d(st.booleans())))
            if required_ or not omit:
                out[name] = d(strategy)
        return out

    return draw()


def _free_object() -> st.SearchStrategy[dict]:
    leaf = st.one_of(st.text(_ASCII, max_size=10), st.integers(-5, 5), st.booleans())
    return st.dictionaries(st.text(string.ascii_lowercase, min_size=1, max_size=8), leaf, max_size=2)


_BUILDERS: dict[str, Callable[[dict, float, str], st.SearchStrategy[Any]]] = {
    "integer": _integers,
    "number": _numbers,
    "string": _strings,
    "array": _arrays,
    "object": _objects,
    "boolean": lambda _s, _r, _p: st.booleans(),
}


def _just_outside(schema: dict) -> st.SearchStrategy[Any] | None:
    """Values one step outside `schema`'s own bounds (not its type: a wrong type is not schema-shaped)."""
    options: list[Any] = []
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        options += [-1, "101%", "-1%", "abc"]
    elif "enum" in schema:
        options += ["", "Bogus", str(schema["enum"][0]).upper() + "x"]
    elif kind in ("integer", "number"):
        if "minimum" in schema:
            options.append(schema["minimum"] if schema.get("exclusiveMinimum") else schema["minimum"] - 1)
        if "maximum" in schema:
            options.append(schema["maximum"] if schema.get("exclusiveMaximum") else schema["maximum"] + 1)
        if kind == "number":
            options += [1e308, -1e-300]
    elif kind == "string":
        if "maxLength" in schema:
            options.append("a" * (schema["maxLength"] + 1))
        if schema.get("minLength"):
            options.append("a" * (schema["minLength"] - 1))
        if "pattern" in schema:
            options += ["-", "A B", "x" * 3 + "\u00e9"]
    return st.sampled_from(options) if options else None
