"""`modelserve render` output: every string reads back as a string, whatever the YAML reader.

PyYAML (YAML 1.1, the family of Go's yaml.v2 that kubectl uses) and ruamel.yaml (YAML 1.2 core) are
the two oracles; the e2e test tests/e2e/test_render_dry_run.py adds the API server itself.
"""

from __future__ import annotations

import io

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from modelserve.cli.render import render, render_yaml
from modelserve.cli.yaml_output import needs_quotes
from ruamel.yaml import YAML

# Plain scalars that some YAML 1.1 or 1.2 reader takes for a number, a bool, a null or a date.
NOT_STRINGS = [
    "1e5",
    "1E5",
    "678231e595",
    "1e-5",
    "+1e+5",
    "0x1f",
    "0X1F",
    "0o17",
    "017",
    "0b1010",
    "08",
    "09",
    "123",
    "-1",
    "+12",
    "1_000",
    "0x_1f",
    "1:20",
    "190:20:30",
    "1:20.5",
    "1.",
    ".5",
    "1.5",
    "-.5e3",
    ".inf",
    "-.Inf",
    "+.INF",
    ".nan",
    ".NaN",
    "true",
    "True",
    "TRUE",
    "false",
    "yes",
    "Yes",
    "no",
    "NO",
    "on",
    "On",
    "off",
    "OFF",
    "y",
    "Y",
    "n",
    "N",
    "null",
    "Null",
    "NULL",
    "~",
    "",
    "2026-12-03",
    "2026-12-03T12:00:00Z",
    "2026-12-03 12:00:00",
    "=",
    "<<",
]
NUMBER_LIKE = st.from_regex(r"\A[-+]?(0[xob])?[0-9a-fA-F_]{1,6}([.:][0-9_]{0,3})?([eE][-+]?[0-9]{1,3})?\Z")
SCALARS = st.one_of(st.sampled_from(NOT_STRINGS), NUMBER_LIKE, st.text(max_size=12))


def read_back(text: str) -> tuple[list, list]:
    return list(yaml.safe_load_all(text)), list(YAML(typ="safe", pure=True).load_all(io.StringIO(text)))


@settings(max_examples=1000, deadline=None)
@given(st.lists(SCALARS, min_size=1, max_size=5))
@example(NOT_STRINGS)
def test_every_string_reads_back_as_the_same_string(values: list[str]) -> None:
    doc = {"metadata": {"labels": {f"k{i}": v for i, v in enumerate(values)}}, "items": values}
    by_pyyaml, by_ruamel = read_back(render_yaml([doc]))
    assert by_pyyaml == [doc]
    assert by_ruamel == [doc]


def test_only_strings_a_reader_would_misread_are_quoted() -> None:
    assert all(needs_quotes(v) for v in NOT_STRINGS)
    for plain in ["iris", "s3://m/iris/1", "100m", "128Mi", "srv:1.4", "v1", "1.4.2", "e5", "x1f", "0xg"]:
        assert not needs_quotes(plain), plain
        assert f"- {plain}\n" in render_yaml([[plain]])


def test_numbers_and_bools_stay_typed() -> None:
    text = render_yaml([{"replicas": 3, "weight": 0.5, "enabled": True, "none": None, "s": "3"}])
    assert "replicas: 3\n" in text and "weight: 0.5\n" in text and "enabled: true\n" in text
    assert "s: '3'" in text
    assert yaml.safe_load(text) == {"replicas": 3, "weight": 0.5, "enabled": True, "none": None, "s": "3"}


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["1e5", "0x1f", "true", "null", "123", "08", "1e-5", "yes", "on", "n", "iris"]),
    version=st.sampled_from(NOT_STRINGS[:-3]),
)
def test_rendered_models_keep_string_labels_and_env(name: str, version: str) -> None:
    doc = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": name, "version": version or "v", "uri": f"s3://m/{name}"},
            "runtime": {"image": "srv:1"},
        },
    }
    objects = render([doc], namespace="ml")
    _, by_ruamel = read_back(render_yaml(objects))
    assert by_ruamel == objects
    for obj in by_ruamel:
        labels = obj["metadata"].get("labels") or {}
        assert all(isinstance(v, str) for v in labels.values()), labels
