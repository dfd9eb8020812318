"""The HPA simulation against hand-computed steps of the Kubernetes algorithm."""

from modelserve.forecasting import HpaSimulator, replicas_for_metric


def test_replica_calculator_on_ready_pods():
    assert replicas_for_metric(4, 4, 100.0, 10.0) == 10  # ratio 2.5 -> ceil(2.5 * 4)
    assert replicas_for_metric(4, 4, 42.0, 10.0) == 4  # ratio 1.05: within the 0.1 tolerance
    assert replicas_for_metric(4, 4, 35.0, 10.0) == 4  # ratio 0.875 -> ceil(3.5) = 4
    assert replicas_for_metric(10, 10, 31.0, 10.0) == 4  # ratio 0.31 -> ceil(3.1)
    assert replicas_for_metric(3, 0, 500.0, 10.0) == 3  # no Ready pod, no metric: keep


def test_not_ready_pods_count_as_zero_on_scale_up_and_target_on_scale_down():
    # 4 Ready serve 60 (ratio 1.5); 2 starting count as 0 -> 60 / 60 = 1.0: within tolerance, keep 6
    assert replicas_for_metric(6, 4, 60.0, 10.0) == 6
    # 4 Ready serve 100 (ratio 2.5); with 2 at 0 -> 100 / 60 = 1.67 -> ceil(1.67 * 6) = 10
    assert replicas_for_metric(6, 4, 100.0, 10.0) == 10
    # scale-down: 4 Ready serve 8 (ratio 0.2); 2 starting count as 10 each -> 28 / 60 -> ceil(2.8) = 3
    assert replicas_for_metric(6, 4, 8.0, 10.0) == 3


def test_scale_up_is_limited_to_max_of_double_or_plus_four_per_15s_and_pods_start_late():
    hpa = HpaSimulator(
        min_replicas=1, max_replicas=100, target_per_pod=10.0, startup_seconds=60, initial_replicas=2
    )
    assert hpa.sync(0, 1000.0) == 6  # wants 100; max(2 * 2, 2 + 4) = 6
    assert hpa.ready(0) == 2 and hpa.ready(59) == 2 and hpa.ready(60) == 6
    # 15 s later: 2 Ready see 1000 (ratio 50), 4 starting count as 0 -> 1000 / 60 -> 100; limit max(12, 10)
    assert hpa.sync(15, 1000.0) == 12
    assert hpa.sync(30, 1000.0) == 24
    assert hpa.sync(45, 1000.0) == 48
    assert hpa.sync(60, 1000.0) == 96  # 6 Ready now: 1000 / (6 + 42 at 0) -> ceil(20.8 * 48) capped at 96
    # 12 Ready, 84 starting at 0 usage: 1000 / 960 = 1.04 is within tolerance -> keep 96
    assert hpa.sync(75, 1000.0) == 96
    hpa.sync(120, 1000.0)  # all 96 Ready: ratio 1.04 -> keep
    assert hpa.sync(135, 1100.0) == 100  # ratio 1.15 -> 111, capped by maxReplicas


def test_scale_down_waits_for_the_300s_stabilization_window():
    hpa = HpaSimulator(
        min_replicas=1, max_replicas=100, target_per_pod=10.0, startup_seconds=60, initial_replicas=10
    )
    assert hpa.sync(0, 100.0) == 10
    for t in range(15, 300, 15):
        assert hpa.sync(t, 20.0) == 10, t  # the recommendation of 10 at t=0 is still in the window
    assert hpa.sync(300, 20.0) == 2  # the t=0 recommendation left the window


def test_a_raised_min_replicas_applies_at_once_without_rate_limit():
    hpa = HpaSimulator(
        min_replicas=1, max_replicas=100, target_per_pod=10.0, startup_seconds=120, initial_replicas=2
    )
    assert hpa.sync(0, 20.0, min_replicas=30) == 30  # current < minReplicas: straight to it
    assert hpa.ready(0) == 2 and hpa.ready(120) == 30
    # Floor lowered again: back to the metric; 2 Ready see 20 -> ratio 1.0, missing pods at target
    assert hpa.sync(15, 20.0, min_replicas=1) == 30  # stabilization keeps the max of the window


def test_scale_down_removes_pods_that_are_not_ready_first():
    hpa = HpaSimulator(
        min_replicas=1, max_replicas=100, target_per_pod=10.0, startup_seconds=600, initial_replicas=4
    )
    hpa.sync(0, 100.0)  # -> 8, 4 of them starting
    assert hpa.replicas == 8
    hpa._scale_to(15, 5)
    assert hpa.ready(15) == 4 and hpa.replicas == 5


def test_max_replicas_clamps_a_deployment_above_it():
    hpa = HpaSimulator(
        min_replicas=1, max_replicas=5, target_per_pod=10.0, startup_seconds=0, initial_replicas=9
    )
    assert hpa.sync(0, 10.0) == 5
