#!/usr/bin/env bash
# Fail when charts/modelserve/crds/, config/crd/bases/ or operator/modelserve/crds/ differ from crds/
# (fix: hack/sync-chart-crds.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
status=0
for dest in "$root/charts/modelserve/crds" "$root/config/crd/bases" "$root/operator/modelserve/crds"; do
  if ! diff -r "$root/crds" "$dest" >/dev/null 2>&1; then
    echo "check-chart-crds: ${dest#"$root"/} differs from crds/:" >&2
    diff -r "$root/crds" "$dest" >&2 || true
    status=1
  fi
done
if [ $status -ne 0 ]; then
  echo "check-chart-crds: run hack/sync-chart-crds.sh" >&2
else
  echo "check-chart-crds: chart, kustomize and package CRDs match crds/"
fi
exit $status
