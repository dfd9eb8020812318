"""The resync's relist: every object of our kinds becomes a queue key, so a creation whose watch
event never arrived is still reconciled (at the next resync)."""

from __future__ import annotations

from modelserve.handlers.operator import listed_keys

OBJECTS = {
    "ModelDeployment": [("team-a", "iris"), ("team-b", "fraud"), ("other", "x")],
    "SLAPolicy": [("team-a", "gold")],
}


def fake_list(calls: list):
    def list_fn(kind: str, namespace: str | None) -> list[dict]:
        calls.append((kind, namespace))
        if kind == "RegionPlacement":
            raise RuntimeError("the server is currently unable to handle the request")
        return [
            {"metadata": {"namespace": ns, "name": name}}
            for ns, name in OBJECTS.get(kind, [])
            if namespace is None or ns == namespace
        ]

    return list_fn


KINDS = ("ModelDeployment", "RegionPlacement", "SLAPolicy")


def test_cluster_wide_lists_every_object_and_skips_a_failing_kind() -> None:
    calls: list = []
    keys = listed_keys(fake_list(calls), KINDS, ())
    assert keys == {
        ("ModelDeployment", "team-a", "iris"),
        ("ModelDeployment", "team-b", "fraud"),
        ("ModelDeployment", "other", "x"),
        ("SLAPolicy", "team-a", "gold"),
    }
    assert calls == [(k, None) for k in KINDS]


def test_named_namespaces_are_listed_one_by_one() -> None:
    calls: list = []
    keys = listed_keys(fake_list(calls), ("ModelDeployment",), ("team-a", "team-b"))
    assert keys == {("ModelDeployment", "team-a", "iris"), ("ModelDeployment", "team-b", "fraud")}
    assert calls == [("ModelDeployment", "team-a"), ("ModelDeployment", "team-b")]


def test_namespace_patterns_filter_a_cluster_wide_list() -> None:
    calls: list = []
    keys = listed_keys(fake_list(calls), ("ModelDeployment", "SLAPolicy"), ("team-*",))
    assert keys == {
        ("ModelDeployment", "team-a", "iris"),
        ("ModelDeployment", "team-b", "fraud"),
        ("SLAPolicy", "team-a", "gold"),
    }
    assert calls == [("ModelDeployment", None), ("SLAPolicy", None)]
