"""RegionPlacement: the typed spec, parsed once from the resource body with the CRD's defaults.

The CRD's OpenAPI schema and CEL rules catch most mistakes at admission time; `parse_region_placement`
checks them again (and a few the schema cannot express, such as label-key syntax) so the pure planners
can trust what they get, and so a RegionPlacement applied to an API server without CEL support still
fails loudly, naming the field, instead of placing replicas somewhere it should not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelserve.api.errors import SpecError

__all__ = [
    "DEFAULT_REGION_LABEL",
    "DEFAULT_ZONE_LABEL",
    "ENFORCEMENT_EVICT",
    "ENFORCEMENT_REPORT",
    "ON_UNAVAILABLE_HOLD",
    "ON_UNAVAILABLE_REDISTRIBUTE",
    "PlacementSpec",
    "RegionShare",
    "Residency",
    "SpecError",
    "ZoneSpread",
    "parse_region_placement",
]

DEFAULT_REGION_LABEL = "topology.kubernetes.io/region"
DEFAULT_ZONE_LABEL = "topology.kubernetes.io/zone"

ON_UNAVAILABLE_REDISTRIBUTE = "redistribute"
ON_UNAVAILABLE_HOLD = "hold"
ON_UNAVAILABLE_CHOICES = (ON_UNAVAILABLE_REDISTRIBUTE, ON_UNAVAILABLE_HOLD)

ENFORCEMENT_EVICT = "evict"
ENFORCEMENT_REPORT = "report"
ENFORCEMENT_CHOICES = (ENFORCEMENT_EVICT, ENFORCEMENT_REPORT)

WHEN_UNSATISFIABLE_CHOICES = ("DoNotSchedule", "ScheduleAnyway")

MAX_REGIONS = 32

# A label key is an optional DNS-subdomain prefix and a name of at most 63 characters
# (k8s.io/apimachinery validation.IsQualifiedName).
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# A label value: empty or up to 63 alphanumerics with -_. inside. Region names end up as label values
# (modelserve.io/region) and as node-affinity values, so they must be valid label values.
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class RegionShare:
    """One region's share of a model's replicas: `weight` relative to the other regions, bounded by
    `min_replicas` and `max_replicas` (None = no upper bound)."""

    name: str
    weight: int = 1
    min_replicas: int = 0
    max_replicas: int | None = None


@dataclass(frozen=True)
class Residency:
    """Where a model's pods may run: only in `allowed_regions`, never in `denied_regions`."""

    allowed_regions: tuple[str, ...]
    denied_regions: tuple[str, ...] = ()
    jurisdiction: str = ""

    def permits(self, region: str | None) -> bool:
        """True when a pod may run on a node labelled with `region` (None = the label is missing)."""
        return region is not None and region in self.allowed_regions and region not in self.denied_regions


@dataclass(frozen=True)
class ZoneSpread:
    """How a region's replicas spread over its zones (a pod topologySpreadConstraint)."""

    max_skew: int = 1
    when_unsatisfiable: str = "ScheduleAnyway"


@dataclass(frozen=True)
class PlacementSpec:
    """A parsed RegionPlacement spec with every default applied."""

    residency: Residency
    regions: tuple[RegionShare, ...]
    region_label: str = DEFAULT_REGION_LABEL
    zone_label: str = DEFAULT_ZONE_LABEL
    zone_spread: ZoneSpread = ZoneSpread()
    on_region_unavailable: str = ON_UNAVAILABLE_REDISTRIBUTE
    enforcement: str = ENFORCEMENT_EVICT
    name: str = ""  # metadata.name, when parsed from a whole body

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.regions)

    def region(self, name: str) -> RegionShare | None:
        return next((r for r in self.regions if r.name == name), None)


def parse_region_placement(body_or_spec: Mapping[str, Any]) -> PlacementSpec:
    """Parse a RegionPlacement body (with `spec`) or its bare `spec` into a PlacementSpec.

    Defaults follow the CRD. Raises SpecError(field_path, message) for input the schema or its CEL
    rules should have rejected and for semantic problems they cannot express.
    """
    if not isinstance(body_or_spec, Mapping):
        raise SpecError("spec", "must be an object")
    name = ""
    if "spec" in body_or_spec and ("metadata" in body_or_spec or "kind" in body_or_spec):
        name = str((body_or_spec.get("metadata") or {}).get("name") or "")
        spec = body_or_spec.get("spec")
    else:
        spec = body_or_spec
    if not isinstance(spec, Mapping):
        raise SpecError("spec", "must be an object")

    region_label = _label_key(spec.get("regionLabel", DEFAULT_REGION_LABEL), "spec.regionLabel")
    zone_label = _label_key(spec.get("zoneLabel", DEFAULT_ZONE_LABEL), "spec.zoneLabel")
    if region_label == zone_label:
        raise SpecError("spec.zoneLabel", f"must differ from spec.regionLabel ({region_label!r})")

    residency = _parse_residency(spec.get("residency"))
    regions = _parse_regions(spec.get("regions"), residency)

    spread_raw = _object(spec.get("zoneSpread"), "spec.zoneSpread")
    zone_spread = ZoneSpread(
        max_skew=_int(spread_raw.get("maxSkew", 1), "spec.zoneSpread.maxSkew", minimum=1),
        when_unsatisfiable=_choice(
            spread_raw.get("whenUnsatisfiable", "ScheduleAnyway"),
            "spec.zoneSpread.whenUnsatisfiable",
            WHEN_UNSATISFIABLE_CHOICES,
        ),
    )
    return PlacementSpec(
        name=name,
        residency=residency,
        regions=regions,
        region_label=region_label,
        zone_label=zone_label,
        zone_spread=zone_spread,
        on_region_unavailable=_choice(
            spec.get("onRegionUnavailable", ON_UNAVAILABLE_REDISTRIBUTE),
            "spec.onRegionUnavailable",
            ON_UNAVAILABLE_CHOICES,
        ),
        enforcement=_choice(
            spec.get("enforcement", ENFORCEMENT_EVICT), "spec.enforcement", ENFORCEMENT_CHOICES
        ),
    )


def _parse_residency(raw: Any) -> Residency:
    path = "spec.residency"
    if raw is None:
        raise SpecError(
            path,
            "is required: list the regions this model's data may be processed in (residency.allowedRegions)",
        )
    raw = _object(raw, path)
    jurisdiction = raw.get("jurisdiction", "")
    if not isinstance(jurisdiction, str) or len(jurisdiction) > 63:
        raise SpecError(f"{path}.jurisdiction", "must be a string of at most 63 characters")
    allowed = _region_list(raw.get("allowedRegions"), f"{path}.allowedRegions", required=True)
    denied = _region_list(raw.get("deniedRegions", []), f"{path}.deniedRegions", required=False)
    both = sorted(set(allowed) & set(denied))
    if both:
        raise SpecError(
            f"{path}.deniedRegions",
            f"region(s) {', '.join(both)} are both allowed and denied; remove them from one of the lists",
        )
    return Residency(allowed_regions=allowed, denied_regions=denied, jurisdiction=jurisdiction)


def _parse_regions(raw: Any, residency: Residency) -> tuple[RegionShare, ...]:
    path = "spec.regions"
    if raw is None or (isinstance(raw, list) and not raw):
        raise SpecError(path, "is required: list at least one region to place replicas in")
    if not isinstance(raw, list):
        raise SpecError(path, "must be a list")
    if len(raw) > MAX_REGIONS:
        raise SpecError(path, f"at most {MAX_REGIONS} regions")
    shares: list[RegionShare] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        item_path = f"{path}[{i}]"
        item = _object(item, item_path)
        name = _region_name(item.get("name"), f"{item_path}.name")
        if name in seen:
            raise SpecError(f"{item_path}.name", f"region {name!r} is listed twice")
        seen.add(name)
        if name in residency.denied_regions:
            raise SpecError(f"{item_path}.name", f"region {name!r} is in residency.deniedRegions")
        if name not in residency.allowed_regions:
            raise SpecError(
                f"{item_path}.name",
                f"region {name!r} is not in residency.allowedRegions "
                f"({', '.join(residency.allowed_regions)})",
            )
        weight = _int(item.get("weight", 1), f"{item_path}.weight", minimum=1)
        min_replicas = _int(item.get("minReplicas", 0), f"{item_path}.minReplicas", minimum=0)
        max_raw = item.get("maxReplicas")
        max_replicas = None if max_raw is None else _int(max_raw, f"{item_path}.maxReplicas", minimum=0)
        if max_replicas is not None and max_replicas < min_replicas:
            raise SpecError(f"{item_path}.maxReplicas", f"{max_replicas} is below minReplicas {min_replicas}")
        shares.append(RegionShare(name, weight, min_replicas, max_replicas))
    return tuple(shares)


def _object(raw: Any, path: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(path, "must be an object")
    return raw


def _int(raw: Any, path: str, minimum: int) -> int:
    # bool is an int in Python; `weight: true` is a mistake, not 1.
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise SpecError(path, f"must be an integer, got {raw!r}")
    if raw < minimum:
        raise SpecError(path, f"must be at least {minimum}, got {raw}")
    return raw


def _choice(raw: Any, path: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise SpecError(path, f"must be one of {', '.join(choices)}, got {raw!r}")
    return str(raw)


def _region_name(raw: Any, path: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise SpecError(path, "must be a non-empty region name")
    if not _LABEL_VALUE.match(raw):
        raise SpecError(path, f"{raw!r} is not a valid label value (it must match a node's region label)")
    return raw


def _region_list(raw: Any, path: str, required: bool) -> tuple[str, ...]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise SpecError(path, "must be a list of region names")
    if required and not raw:
        raise SpecError(path, "must list at least one region")
    if len(raw) > MAX_REGIONS:
        raise SpecError(path, f"at most {MAX_REGIONS} regions")
    names = [_region_name(item, f"{path}[{i}]") for i, item in enumerate(raw)]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(path, f"region(s) {', '.join(duplicates)} listed twice")
    return tuple(names)


def _label_key(raw: Any, path: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise SpecError(path, "must be a non-empty label key")
    prefix, _, name = raw.rpartition("/")
    if raw.count("/") > 1 or (prefix == "" and "/" in raw):
        raise SpecError(path, f"{raw!r} is not a valid label key (at most one '/', prefix/name)")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise SpecError(path, f"{raw!r}: the prefix must be a DNS subdomain")
    if not _LABEL_NAME.match(name):
        raise SpecError(path, f"{raw!r}: the name part must be 1-63 alphanumerics, '-', '_' or '.'")
    return raw
