"""Validate a resource against its CRD offline, the way the API server does, with its field paths.

`modelserve render` runs this on every input so that a file the API server would reject fails
there too, with the same field path and message, instead of rendering nothing or something else.
Pure: the only input besides the resource is the CRD files shipped in the package (modelserve/crds,
copied from crds/ by hack/sync-chart-crds.sh).

The order follows the API server (apiextensions-apiserver, customResourceStrategy.Validate):
1. decoding: unknown fields are errors (kubectl apply's default --validate=strict), reported alone;
   nulls of non-nullable fields are dropped, then the schema's defaults are applied;
2. metadata.name: a DNS subdomain;
3. the OpenAPI schema: types, enums, bounds, lengths, patterns, required fields (kube-openapi);
4. the x-kubernetes-list-type map and set invariants (no duplicates);
5. the CEL rules (x-kubernetes-validations), unless steps 2-4 found a type, enum, required, length or
   count error: the API server then skips them and says so. Transition rules (oldSelf) only run on
   updates, never here.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import yaml

from modelserve.api.cel import RuleError, evaluate, is_transition_rule, rule_holds, to_cel

# Error types, named as the API server prints them (k8s.io/apimachinery/pkg/util/validation/field).
REQUIRED = "Required value"
INVALID = "Invalid value"
TYPE_INVALID = "Invalid type"  # printed as "Invalid value"; kept apart because it blocks CEL
NOT_SUPPORTED = "Unsupported value"
DUPLICATE = "Duplicate value"
FORBIDDEN = "Forbidden"
TOO_LONG = "Too long"
TOO_MANY = "Too many"
UNKNOWN_FIELD = "Unknown field"
# Errors after which the API server does not evaluate CEL rules (strategy.go hasBlockingErr).
BLOCKING = frozenset({NOT_SUPPORTED, REQUIRED, TOO_LONG, TOO_MANY, TYPE_INVALID})
SKIPPED_RULES = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)

_OMIT = object()  # a field error without a value (objects and lists, lengths)
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_REASONS = {
    "FieldValueRequired": REQUIRED,
    "FieldValueForbidden": FORBIDDEN,
    "FieldValueDuplicate": DUPLICATE,
}


@dataclass(frozen=True)
class FieldError:
    """One problem, as the API server reports it: `path` names the field ("" is the object itself,
    printed <nil> like the API server does), `type` the kind of problem, `detail` the rule's message."""

    path: str
    type: str
    detail: str = ""
    value: Any = _OMIT

    def __str__(self) -> str:
        body = INVALID if self.type == TYPE_INVALID else self.type
        if self.value is not _OMIT and self.type not in (REQUIRED, FORBIDDEN, TOO_LONG):
            body += f": {go_value(self.value)}"
        if self.detail:
            body += f": {self.detail}"
        return f"{self.path or '<nil>'}: {body}"


def go_float(value: float) -> str:
    """A float64 as Go's %v prints it: 100, 0.95, 1e+06, 1e-05."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    point = len(text) + exponent  # position of the decimal point in `text`
    x = point - 1
    if x < -4 or x >= 6:  # fmt's %v of a float64 is %g with the shortest digits: %e outside 1e-4..1e6
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out = f"{mantissa}e{'+' if x >= 0 else '-'}{abs(x):02d}"
    elif point <= 0:
        out = "0." + "0" * -point + text
    elif point >= len(text):
        out = text + "0" * (point - len(text))
    else:
        out = text[:point] + "." + text[point:]
    return ("-" if sign else "") + out


def go_value(value: Any) -> str:
    """A bad value as the API server prints it in "Invalid value: ...": %v, %q, or JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _has_type(value: Any, expected: str) -> bool:
    actual = _type_of(value)
    if expected == "integer":
        return actual == "integer" or (actual == "number" and float(value).is_integer())
    if expected == "number":
        return actual in ("integer", "number")
    return actual == expected


# ---- 1. decoding: unknown fields, nulls, defaults ---------------------------------------------------
def decode(obj: dict, schema: dict) -> tuple[dict, list[FieldError]]:
    """A copy of `obj` as the API server stores it (nulls dropped, defaults applied, status and unknown
    fields removed), and an error for each unknown field."""
    out = copy.deepcopy(obj)
    out.pop("status", None)  # the status subresource: ignored on create
    errors: list[FieldError] = []
    metadata = out.pop("metadata", None)
    _decode(out, schema, "", errors)
    if metadata is not None:
        out["metadata"] = metadata
    return out, errors


def _decode(value: Any, schema: dict, path: str, errors: list[FieldError]) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            _decode(item, schema.get("items") or {}, f"{path}[{i}]", errors)
        return
    if not isinstance(value, dict) or schema.get("type", "object") != "object":
        return
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    for key in list(value):
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if sub is None and not preserve and extra is not True:
            errors.append(FieldError(_child(path, key), UNKNOWN_FIELD, "field not declared in schema"))
            del value[key]
        elif value[key] is None and not (sub or {}).get("nullable"):
            del value[key]
    for key, sub in props.items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
    for key, item in value.items():
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if sub:
            _decode(item, sub, _child(path, key), errors)


# ---- 2. the OpenAPI schema ------------------------------------------------------------------------
def schema_errors(value: Any, schema: dict, path: str) -> list[FieldError]:
    """What kube-openapi's validator finds in `value` at `path` (messages "<path> in body should ...")."""
    expected = schema.get("type")
    int_or_string = schema.get("x-kubernetes-int-or-string")
    if value is None and schema.get("nullable"):
        return []
    if int_or_string and not (_has_type(value, "integer") or isinstance(value, str)):
        return [FieldError(path, TYPE_INVALID, f"{path} in body must be of type integer-or-string", value)]
    if expected and not int_or_string and not _has_type(value, expected):
        actual = _type_of(value)
        return [
            FieldError(path, TYPE_INVALID, f'{path} in body must be of type {expected}: "{actual}"', actual)
        ]
    errors: list[FieldError] = []
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(v if isinstance(v, str) else json.dumps(v)) for v in schema["enum"])
        errors.append(FieldError(path, NOT_SUPPORTED, f"supported values: {supported}", value))
    if isinstance(value, str):
        errors += _string_errors(value, schema, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        errors += _number_errors(value, schema, path)
    elif isinstance(value, list):
        errors += _array_errors(value, schema, path)
    elif isinstance(value, dict):
        errors += _object_errors(value, schema, path)
    return errors


def _at_most(n: int) -> str:
    return f"must have at most {n} item{'s' if n != 1 else ''}"


def _string_errors(value: str, schema: dict, path: str) -> list[FieldError]:
    errors = []
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        n = schema["maxLength"]
        errors.append(FieldError(path, TOO_LONG, f"may not be more than {n} byte{'s' if n != 1 else ''}"))
    if "minLength" in schema and len(value) < schema["minLength"]:
        detail = f"{path} in body should be at least {schema['minLength']} chars long"
        errors.append(FieldError(path, INVALID, detail, value))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(FieldError(path, INVALID, f"{path} in body should match '{schema['pattern']}'", value))
    return errors


def _number_errors(value: float, schema: dict, path: str) -> list[FieldError]:
    errors = []
    if "minimum" in schema:
        bound, exclusive = schema["minimum"], schema.get("exclusiveMinimum", False)
        if value < bound or (exclusive and value == bound):
            words = "greater than" if exclusive else "greater than or equal to"
            detail = f"{path} in body should be {words} {go_float(float(bound))}"
            errors.append(FieldError(path, INVALID, detail, value))
    if "maximum" in schema:
        bound, exclusive = schema["maximum"], schema.get("exclusiveMaximum", False)
        if value > bound or (exclusive and value == bound):
            words = "less than" if exclusive else "less than or equal to"
            detail = f"{path} in body should be {words} {go_float(float(bound))}"
            errors.append(FieldError(path, INVALID, detail, value))
    return errors


def _array_errors(value: list, schema: dict, path: str) -> list[FieldError]:
    errors = []
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        n = schema["maxItems"]
        errors.append(FieldError(path, TOO_MANY, _at_most(n), len(value)))
    if "minItems" in schema and len(value) < schema["minItems"]:
        detail = f"{path} in body should have at least {schema['minItems']} items"
        errors.append(FieldError(path, INVALID, detail, len(value)))
    for i, item in enumerate(value):
        errors += schema_errors(item, schema.get("items") or {}, f"{path}[{i}]")
    return errors


def _object_errors(value: dict, schema: dict, path: str) -> list[FieldError]:
    errors = []
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        n = schema["maxProperties"]
        errors.append(FieldError(path, TOO_MANY, _at_most(n), len(value)))
    for key in schema.get("required") or ():
        if key not in value:
            errors.append(FieldError(_child(path, key), REQUIRED))
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if sub is not None and not (path == "" and key == "metadata"):
            errors += schema_errors(item, sub, _child(path, key))
    return errors


# ---- 3. metadata and list types ---------------------------------------------------------------------
def metadata_errors(metadata: Any) -> list[FieldError]:
    """metadata.name of a custom resource: required, a DNS-1123 subdomain of at most 253 characters."""
    if not isinstance(metadata, dict):
        detail = 'metadata in body must be of type object: "' + _type_of(metadata) + '"'
        return [FieldError("metadata", TYPE_INVALID, detail, _type_of(metadata))]
    name = metadata.get("name")
    if not name and not metadata.get("generateName"):
        return [FieldError("metadata.name", REQUIRED, "name or generateName is required")]
    if name is None:
        return []
    if not isinstance(name, str) or not _DNS_SUBDOMAIN.fullmatch(name):
        return [FieldError("metadata.name", INVALID, _DNS_SUBDOMAIN_MESSAGE, name)]
    if len(name) > 253:
        return [FieldError("metadata.name", INVALID, "must be no more than 253 characters", name)]
    return []


def list_type_errors(value: Any, schema: dict, path: str) -> list[FieldError]:
    """Duplicates in x-kubernetes-list-type set (items) and map (x-kubernetes-list-map-keys) lists."""
    errors: list[FieldError] = []
    if isinstance(value, list):
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen: list[Any] = []
        for i, item in enumerate(value):
            if list_type == "set":
                key: Any = item
            elif list_type == "map" and isinstance(item, dict):
                key = {k: item[k] for k in keys if k in item}
            else:
                key = None
            if list_type in ("set", "map") and key in seen:
                errors.append(FieldError(f"{path}[{i}]", DUPLICATE, "", key))
            seen.append(key)
            errors += list_type_errors(item, schema.get("items") or {}, f"{path}[{i}]")
    elif isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub:
                errors += list_type_errors(item, sub, _child(path, key))
    return errors


# ---- 4. CEL rules ---------------------------------------------------------------------------------
def _rule_field_path(path: str, field_path: str) -> str:
    """The path an error of a rule with `fieldPath` names: ".maxReplicas" -> "<path>.maxReplicas"."""
    normalized = re.sub(r"\['([^']*)'\]", r".\1", field_path).lstrip(".")
    return _child(path, normalized) if normalized else path


def _cel_self(value: Any, schema: dict, path: str) -> Any:
    if path == "" and isinstance(value, dict):
        # At the root, CEL sees only metadata.name and metadata.generateName.
        meta = value.get("metadata") or {}
        value = {**value, "metadata": {k: meta[k] for k in ("name", "generateName") if k in meta}}
    return to_cel(value, schema)


def _apply_rules(value: Any, schema: dict, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    rules = [r for r in schema.get("x-kubernetes-validations") or () if not is_transition_rule(r["rule"])]
    if not rules:
        return errors
    self_value = _cel_self(value, schema, path)
    carried = _OMIT if schema.get("type") in ("object", "array") else value
    for rule in rules:
        try:
            if rule_holds(rule["rule"], self_value):
                continue
        except RuleError as exc:
            errors.append(FieldError(path, INVALID, f"{exc} evaluating rule: {rule['rule']}", carried))
            continue
        detail = _rule_message(rule, self_value)
        target = _rule_field_path(path, rule.get("fieldPath", ""))
        kind = _REASONS.get(rule.get("reason", ""), INVALID)
        errors.append(FieldError(target, kind, "" if kind == DUPLICATE else detail, carried))
    return errors


def _rule_message(rule: dict, self_value: Any) -> str:
    if rule.get("messageExpression"):
        try:
            return str(evaluate(rule["messageExpression"], self_value))
        except RuleError:
            pass  # the API server falls back to message as well
    return rule.get("message") or f"failed rule: {rule['rule'].strip()}"


def rule_errors(value: Any, schema: dict, path: str = "") -> list[FieldError]:
    """The errors of every x-kubernetes-validations rule in `schema`, at every level of `value`."""
    errors = _apply_rules(value, schema, path)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if path == "" and key == "metadata":
                continue
            if key in props:
                errors += rule_errors(item, props[key], _child(path, key))
            elif isinstance(extra, dict):
                errors += rule_errors(item, extra, f"{path}[{key}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            errors += rule_errors(item, schema.get("items") or {}, f"{path}[{i}]")
    return errors


# ---- the whole resource ----------------------------------------------------------------------------
def validate_resource(obj: dict, schema: dict) -> list[FieldError]:
    """Every error the API server would report for creating `obj` with the CRD `schema`
    (openAPIV3Schema), in its order; [] when it would be accepted."""
    decoded, errors = decode(obj, schema)
    if errors:  # strict decoding fails the request before any validation
        return errors
    errors += metadata_errors(decoded.get("metadata"))
    errors += schema_errors(decoded, schema, "")
    errors += list_type_errors(decoded, schema, "")
    if any(e.type in BLOCKING for e in errors):
        return [*errors, FieldError("", INVALID, SKIPPED_RULES, None)]
    return errors + rule_errors(decoded, schema)


@dataclass(frozen=True)
class CustomResourceKind:
    group: str
    kind: str
    schemas: dict[str, dict]  # openAPIV3Schema by served version


@cache
def packaged_kinds() -> dict[str, CustomResourceKind]:
    """The modelserve.io kinds by name, read from the CRDs shipped in the package (modelserve/crds)."""
    kinds: dict[str, CustomResourceKind] = {}
    for entry in sorted(resources.files("modelserve").joinpath("crds").iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(entry.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            schemas = {v["name"]: v["schema"]["openAPIV3Schema"] for v in spec["versions"] if v.get("served")}
            kinds[spec["names"]["kind"]] = CustomResourceKind(spec["group"], spec["names"]["kind"], schemas)
    return kinds


def validate_document(
    doc: dict, kinds: dict[str, CustomResourceKind] | None = None
) -> list[FieldError] | None:
    """Errors of `doc` against the CRD of its kind (None when its kind is not one of ours)."""
    kinds = packaged_kinds() if kinds is None else kinds
    crd = kinds.get(str(doc.get("kind", "")))
    api_version = str(doc.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    if crd is None or (api_version and group != crd.group):
        return None
    if api_version and version not in crd.schemas:
        served = ", ".join(f"{crd.group}/{v}" for v in crd.schemas)
        return [FieldError("apiVersion", NOT_SUPPORTED, f"supported values: {served}", api_version)]
    schema = crd.schemas[version] if api_version else next(iter(crd.schemas.values()))
    return validate_resource(doc, schema)
