#!/usr/bin/env bash
# The e2e suite as two pytest sessions run at once ("lanes"), each with its own control plane,
# Prometheus and operator (free ports; network namespaces named per process), so neither sees the
# other's faults or operator pauses. The side lane runs the tests marked `side_lane`: long scenarios
# that mostly wait on the clock (the predictive one waits for times on the 5-minute forecasting grid).
# The suite keeps 2 cores about 20 % busy, so the lanes overlap rather than compete.
#
#   hack/e2e-lanes.sh [--unit] [pytest args...]
#
# --unit runs the unit tests in the main lane first, while the side lane starts. Both lanes must
# pass; the side lane's output is printed after the main lane's. `pytest tests/e2e` alone still runs
# every test in one session (tests/e2e/conftest.py, MODELSERVE_E2E_LANE).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
unit=0
if [ "${1:-}" = "--unit" ]; then unit=1; shift; fi

side_log=$(mktemp -t modelserve-e2e-side.XXXXXX)
MODELSERVE_E2E_LANE=side "$PY" -m pytest tests/e2e -q --durations=10 "$@" >"$side_log" 2>&1 &
side_pid=$!
# A background job of a script ignores SIGINT: the side lane is stopped with SIGTERM, which its
# session takes as Ctrl-C (tests/e2e/conftest.py), tearing its control plane down.
trap 'kill -TERM "$side_pid" 2>/dev/null; wait "$side_pid"; cat "$side_log"; rm -f "$side_log"; exit 130' INT TERM

main_rc=0
if [ "$unit" = 1 ]; then
  "$PY" -m pytest tests/unit -q "$@" || main_rc=$?
fi
if [ "$main_rc" = 0 ]; then
  MODELSERVE_E2E_LANE=main "$PY" -m pytest tests/e2e -q --durations=25 "$@" || main_rc=$?
else
  kill -TERM "$side_pid" 2>/dev/null
fi
side_rc=0
wait "$side_pid" || side_rc=$?
echo
echo "==== e2e side lane (tests marked side_lane, on a control plane of its own) ===="
cat "$side_log"
rm -f "$side_log"
# 5: the arguments selected no test in that lane (a -k naming tests of the other lane only).
[ "$main_rc" = 5 ] && main_rc=0
[ "$side_rc" = 5 ] && side_rc=0
if [ "$main_rc" != 0 ]; then exit "$main_rc"; fi
exit "$side_rc"
