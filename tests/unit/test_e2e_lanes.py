"""hack/e2e-lanes.sh splits the e2e suite into two sessions (tests/e2e/conftest.py): every e2e test
runs in exactly one lane, and the side lane holds the tests marked `side_lane`."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def collected(lane: str | None) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "MODELSERVE_E2E_LANE"}
    if lane:
        env["MODELSERVE_E2E_LANE"] = lane
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {line for line in out.stdout.splitlines() if "::" in line}


def test_every_e2e_test_runs_in_exactly_one_lane() -> None:
    everything, main, side = collected(None), collected("main"), collected("side")
    assert main | side == everything
    assert not main & side
    assert any("test_predictive.py::" in t for t in side)
    assert all("test_predictive.py::" not in t for t in main)
    assert len(main) > len(side) > 0
