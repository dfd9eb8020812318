"""Shared pytest configuration."""

from __future__ import annotations

from pathlib import Path

from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent

# No per-example deadline: tests check behaviour, not speed ("numbers live in benchmarks"), and the
# unit tests share the 2 cores with the e2e side lane's start (hack/e2e-lanes.sh --unit).
settings.register_profile("modelserve", deadline=None)
settings.load_profile("modelserve")
