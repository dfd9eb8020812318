#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries, etcd, kwok, helm, the SeaweedFS S3-compatible
# object store, the fake-gcs-server GCS emulator, prometheus-adapter and (only on request: `keda`) KEDA
# from their Go modules
# (through the Go module proxy) and caches them by version under $MODELSERVE_CACHE/bin.
# Idempotent: a binary already in the cache is not rebuilt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck disable=SC1091
source "$here/../operator/modelserve/localcluster/versions.env"
CACHE="${MODELSERVE_CACHE:-$HOME/.cache/modelserve}"
BIN="$CACHE/bin"
WORK="$CACHE/build"
mkdir -p "$BIN" "$WORK"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0

log() { echo "[build-binaries] $*" >&2; }

build_kubernetes() {
  local v="$KUBERNETES_VERSION" minor staging dir out
  out="$BIN/kubernetes-$v"
  if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" && -x "$out/kube-scheduler" && -x "$out/kubectl" ]]; then
    return
  fi
  staging="v0.${v#v1.}"
  minor="${v#v1.}"; minor="${minor%%.*}"
  dir="$WORK/kubernetes-$v"
  mkdir -p "$dir" "$out"
  {
    echo "module modelserve.local/k8sbuild"
    echo
    echo "go 1.25.0"
    echo
    echo "godebug default=go1.25"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider \
             cluster-bootstrap code-generator component-base component-helpers controller-manager \
             cri-api cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt \
             kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet \
             metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller; do
      echo "  k8s.io/$m => k8s.io/$m $staging"
    done
    if (( minor >= 36 )); then
      echo "  k8s.io/cri-streaming => k8s.io/cri-streaming $staging"
      echo "  k8s.io/streaming => k8s.io/streaming $staging"
    fi
    echo ")"
  } > "$dir/go.mod"
  cat > "$dir/tools.go" <<GO
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  local date ld pkg
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  log "resolving k8s.io/kubernetes $v"
  (cd "$dir" && go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go mod download k8s.io/kubernetes)
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    if [[ ! -x "$out/$c" ]]; then
      log "building $c $v"
      (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -ldflags "$ld" -o "$out/$c.tmp" "k8s.io/kubernetes/cmd/$c")
      mv "$out/$c.tmp" "$out/$c"
    fi
  done
}

build_etcd() {
  local v="$ETCD_VERSION" dir out="$BIN/etcd-$ETCD_VERSION"
  [[ -x "$out/etcd" ]] && return
  dir="$WORK/etcd-$v"; mkdir -p "$dir" "$out"
  printf 'module modelserve.local/etcdbuild\n\ngo 1.25.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$v" > "$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > "$dir/tools.go"
  log "building etcd $v"
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go mod tidy >/dev/null 2>&1 || true)
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$out/etcd.tmp" "$out/etcd"
}

build_seaweedfs() {
  # SeaweedFS's go.mod has a replace directive, so `go install module@version` refuses it: build the
  # `weed` command from a small wrapper module that requires it and repeats the replace.
  local v="$SEAWEEDFS_VERSION" dir out="$BIN/seaweedfs-$SEAWEEDFS_VERSION"
  [[ -x "$out/weed" ]] && return
  dir="$WORK/seaweedfs-$v"; mkdir -p "$dir" "$out"
  {
    printf 'module modelserve.local/seaweedfsbuild\n\ngo 1.26.6\n\nrequire github.com/seaweedfs/seaweedfs %s\n\n' "$v"
    printf 'replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0\n'
  } > "$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/seaweedfs/seaweedfs/weed"\n' > "$dir/tools.go"
  log "building seaweedfs (weed) $v"
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go mod tidy >/dev/null 2>&1 || true)
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -ldflags "-s -w" -o "$out/weed.tmp" github.com/seaweedfs/seaweedfs/weed)
  mv "$out/weed.tmp" "$out/weed"
}

build_prometheus_adapter() {
  # `go install sigs.k8s.io/prometheus-adapter/cmd/adapter@v` fails: the proxy refuses the module's
  # version list (403), which go install reads for deprecations. A wrapper module builds it.
  local v="$PROMETHEUS_ADAPTER_VERSION" dir out="$BIN/prometheus-adapter-$PROMETHEUS_ADAPTER_VERSION"
  [[ -x "$out/prometheus-adapter" ]] && return
  dir="$WORK/prometheus-adapter-$v"; mkdir -p "$dir" "$out"
  printf 'module modelserve.local/adapterbuild\n\ngo 1.22.1\n\nrequire sigs.k8s.io/prometheus-adapter %s\n' "$v" > "$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/prometheus-adapter/cmd/adapter"\n' > "$dir/tools.go"
  log "building prometheus-adapter $v"
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go mod tidy >/dev/null 2>&1 || true)
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -ldflags "-s -w" -o "$out/prometheus-adapter.tmp" sigs.k8s.io/prometheus-adapter/cmd/adapter)
  mv "$out/prometheus-adapter.tmp" "$out/prometheus-adapter"
}

build_keda() {
  # KEDA (github.com/kedacore/keda/v2): its operator (`cmd/operator`, which creates the HPAs from
  # ScaledObjects) and its metrics API server (`cmd/adapter`, external.metrics.k8s.io). Not part of
  # `all`: a cold build takes many minutes (docs/autoscaling.md), so `make e2e-keda` builds it.
  # KEDA's go.mod has a replace directive and an exclude, which apply only in the main module:
  # a wrapper module repeats them (as for seaweedfs).
  local v="$KEDA_VERSION" dir out="$BIN/keda-$KEDA_VERSION" ld
  [[ -x "$out/keda-operator" && -x "$out/keda-adapter" ]] && return
  dir="$WORK/keda-$v"; mkdir -p "$dir" "$out"
  {
    printf 'module modelserve.local/kedabuild\n\ngo 1.26.0\n\nrequire github.com/kedacore/keda/v2 %s\n\n' "$v"
    printf 'replace github.com/nexus-rpc/nexus-proto-annotations v0.1.0 => github.com/nexus-rpc/nexus-proto-annotations v0.1.1-0.20260629224316-835bd8d49cb4\n\n'
    printf 'exclude github.com/go-chi/chi/v5 v5.2.3\n'
  } > "$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/kedacore/keda/v2/cmd/adapter"\n\t_ "github.com/kedacore/keda/v2/cmd/operator"\n)\n' > "$dir/tools.go"
  ld="-s -w -X github.com/kedacore/keda/v2/version.Version=$v"
  log "building keda $v (operator, adapter)"
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go mod tidy >/dev/null 2>&1 || true)
  local c
  for c in operator adapter; do
    if [[ ! -x "$out/keda-$c" ]]; then
      (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -ldflags "$ld" -o "$out/keda-$c.tmp" "github.com/kedacore/keda/v2/cmd/$c")
      mv "$out/keda-$c.tmp" "$out/keda-$c"
    fi
  done
}

go_install() { # name module version [extra ldflags]
  local name="$1" mod="$2" v="$3" extra="${4:-}" out="$BIN/$1-$3"
  [[ -x "$out/$name" ]] && return
  mkdir -p "$out"
  log "installing $name $v"
  GOBIN="$out" GOFLAGS="$GOFLAGS" go install -trimpath -ldflags "-s -w $extra" "$mod@$v"
}

install_helm() {
  # Stamp helm's own version and the Kubernetes version `helm template` assumes without a cluster
  # (unstamped it assumes v1.20 and rejects charts that need a newer Kubernetes).
  local minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
}

what="${1:-all}"
case "$what" in
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  kwok) go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION" ;;
  helm) install_helm ;;
  seaweedfs) build_seaweedfs ;;
  fake-gcs-server) go_install fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_SERVER_VERSION" ;;
  prometheus-adapter) build_prometheus_adapter ;;
  keda) build_keda ;;
  all)
    build_etcd
    go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
    build_kubernetes
    install_helm
    build_seaweedfs
    go_install fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_SERVER_VERSION"
    build_prometheus_adapter
    ;;
  *) echo "usage: $0 [all|kubernetes|etcd|kwok|helm|seaweedfs|fake-gcs-server|prometheus-adapter|keda]" >&2; exit 2 ;;
esac
