"""Parsing spec.rollout, durations, steps and manual controls."""

from __future__ import annotations

import pytest
from modelserve.api.durations import parse_duration
from modelserve.api.errors import SpecError
from modelserve.api.rollout import AnalysisStep, PauseStep, SetWeightStep, parse_rollout, parse_steps
from modelserve.rollout.spec import AnalysisOutcome, manual_control_from, rollout_spec_from_api
from modelserve.rollout.steps import effective_canary_steps
from modelserve.routers.replicas import candidate_share


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("7d", 604800), ("250ms", 0.25), ("1w", 604800)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "1.5m", "m5", "5 m"])
def test_parse_duration_rejects_and_names_the_field(text):
    with pytest.raises(ValueError, match=r"spec\.x"):
        parse_duration(text, field="spec.x")


def test_parse_steps():
    assert parse_steps(
        [
            {"setWeight": 10},
            {"pause": {}},
            {"pause": {"duration": "1m"}},
            {"analysis": {}},
            {"analysis": {"duration": "2m"}},
        ]
    ) == (SetWeightStep(10), PauseStep(None), PauseStep(60), AnalysisStep(None), AnalysisStep(120))


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"setWeight": 10, "pause": {}}], r"\[0\]: needs exactly one"),
        ([{}], r"\[0\]: needs exactly one"),
        ([{"setWeight": 20}, {"setWeight": 20}], r"\[1\]\.setWeight: 20 must be greater"),
        ([{"setWeight": 120}], r"\[0\]\.setWeight"),
        ([{"pause": {"duration": "soon"}}], r"\[0\]\.pause\.duration"),
    ],
)
def test_parse_steps_errors_name_the_step(steps, message):
    with pytest.raises(ValueError, match=message):
        parse_steps(steps)


def test_effective_steps_add_a_final_gate_only_when_needed():
    steps = parse_steps([{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}])
    assert effective_canary_steps(steps, gates_configured=False) == steps
    assert effective_canary_steps(steps, gates_configured=True) == (*steps, AnalysisStep())
    ending = parse_steps([{"setWeight": 10}, {"analysis": {}}])
    assert effective_canary_steps(ending, gates_configured=True) == ending


def test_candidate_share():
    assert [candidate_share(10, w) for w in (0, 1, 10, 15, 100)] == [0, 1, 1, 2, 10]


def test_manual_control_token_semantics():
    m = manual_control_from(parse_rollout({"promote": "full", "paused": False}), {}, spec_revision="r2")
    assert (m.promote, m.promote_token) == ("full", "spec:full:r2")
    m = manual_control_from(
        parse_rollout({"promote": "full"}),
        {
            "modelserve.io/promote": "step@1700000000",
            "modelserve.io/paused": "true",
            "modelserve.io/retry": "2024-05-01T12:00:00Z",
        },
        spec_revision="r2",
    )
    assert (m.promote, m.promote_token, m.paused) == ("step", "annotation:step@1700000000", True)
    assert m.retry_token == "annotation:2024-05-01T12:00:00Z" and m.resume_token is None and not m.abort
    with pytest.raises(ValueError, match=r"annotations\[modelserve.io/promote\]"):
        manual_control_from(parse_rollout({}), {"modelserve.io/promote": "now"}, spec_revision="r")


def test_rollout_spec_defaults_follow_the_api_contract():
    spec = rollout_spec_from_api(parse_rollout(None), spec_revision="r", weight_approximate=True)
    assert spec.strategy == "canary" and spec.canary.steps == ()
    assert spec.shadow.mirror_percent == 100 and spec.shadow.duration_seconds == 600
    assert spec.shadow.then == "promote"
    assert spec.blue_green.scale_down_delay_seconds == 600 and spec.blue_green.auto_promote
    assert spec.analysis_interval_seconds == 60 and spec.scale_down_delay_seconds == 30
    assert spec.progress_deadline_seconds == 1800 and spec.weight_approximate and not spec.gates_configured


def test_rollout_spec_from_api_full():
    spec = rollout_spec_from_api(
        parse_rollout(
            {
                "strategy": "shadow",
                "shadow": {"mirrorPercent": 20, "duration": "5m", "then": "canary"},
                "canary": {"steps": [{"setWeight": 5}]},
                "analysis": {
                    "interval": "30s",
                    "gates": [{"name": "err", "builtin": "errorRate", "max": 0.01}],
                },
                "scaleDownDelay": "1m",
                "progressDeadline": "10m",
                "abort": True,
            }
        ),
        spec_revision="r",
        weight_approximate=False,
    )
    assert spec.strategy == "shadow" and spec.shadow.mirror_percent == 20 and spec.shadow.then == "canary"
    assert spec.gates_configured and spec.analysis_interval_seconds == 30
    assert spec.scale_down_delay_seconds == 60 and spec.progress_deadline_seconds == 600 and spec.manual.abort
    assert spec.canary.steps == (SetWeightStep(5),)


@pytest.mark.parametrize(
    ("rollout", "field"),
    [
        ({"strategy": "linear"}, "spec.rollout.strategy"),
        ({"promote": "now"}, "spec.rollout.promote"),
        ({"shadow": {"then": "wait"}}, "spec.rollout.shadow.then"),
        ({"shadow": {"duration": "soon"}}, "spec.rollout.shadow.duration"),
        ({"canary": {"steps": [{"setWeight": 120}]}}, "spec.rollout.canary.steps[0].setWeight"),
        ({"analysis": {"onFailure": "ignore"}}, "spec.rollout.analysis.onFailure"),
        ({"analysis": {"gates": [{"name": "e", "builtin": "errorRate"}]}}, "spec.rollout.analysis.gates[e]"),
        ({"blueGreen": "yes"}, "spec.rollout.blueGreen"),
    ],
)
def test_parse_rollout_errors_name_the_field(rollout, field):
    with pytest.raises(SpecError) as raised:
        parse_rollout(rollout)
    assert raised.value.field_path == field


def test_analysis_outcome_validates_decision():
    with pytest.raises(ValueError, match="decision"):
        AnalysisOutcome("maybe")
