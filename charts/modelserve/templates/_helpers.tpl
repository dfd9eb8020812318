{{/* Chart name, truncated to a DNS label. */}}
{{- define "modelserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of every object: <release>-<chart>, or just <release> when the release name already contains the
chart name (so `helm install modelserve ...` gives objects named "modelserve", like config/default).
*/}}
{{- define "modelserve.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "modelserve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that never change for the life of a release (used in selectors). */}}
{{- define "modelserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "modelserve.labels" -}}
helm.sh/chart: {{ include "modelserve.chart" . }}
{{ include "modelserve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: modelserve
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "modelserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelserve.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "modelserve.runtimesConfigMap" -}}
{{- default (printf "%s-runtimes" (include "modelserve.fullname" .)) .Values.runtimes.configMap.name }}
{{- end }}

{{- define "modelserve.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
RBAC rules for namespaced resources. In cluster-wide mode they go into the ClusterRole; with watchNamespaces
they go into one Role per namespace. Keep config/default/rbac.yaml identical (tests/unit/test_chart_kustomize.py).
No wildcards, no Secrets, no ConfigMaps.
*/}}
{{- define "modelserve.rules.namespaced" -}}
# The three modelserve resources: watched, never created or deleted; patched only for the
# modelserve.io/route-release finalizer of a model that writes into a user-owned route.
- apiGroups: ["modelserve.io"]
  resources: ["modeldeployments", "slapolicies", "regionplacements"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["modelserve.io"]
  resources: ["modeldeployments/status", "slapolicies/status", "regionplacements/status"]
  verbs: ["get", "patch", "update"]
# Owner references with blockOwnerDeletion need this where OwnerReferencesPermissionEnforcement is on.
- apiGroups: ["modelserve.io"]
  resources: ["modeldeployments/finalizers"]
  verbs: ["update"]
# Stable/candidate Deployments and Services of each model.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Residency enforcement evicts pods that landed outside the allowed regions.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "delete"]
- apiGroups: [""]
  resources: ["pods/eviction"]
  verbs: ["create"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# Predictive floors are written into HPA minReplicas.
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Traffic routers (used only when installed and selected by spec.traffic.router).
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["networking.istio.io"]
  resources: ["virtualservices"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# SLAPolicy burn-rate alerts.
- apiGroups: ["monitoring.coreos.com"]
  resources: ["prometheusrules"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Scraping of the model servers (when the Prometheus Operator is installed).
- apiGroups: ["monitoring.coreos.com"]
  resources: ["podmonitors"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# KEDA ScaledObjects instead of HPAs (spec.autoscaling.engine; when KEDA is installed).
- apiGroups: ["keda.sh"]
  resources: ["scaledobjects"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# kopf peering (namespaced mode uses one KopfPeering per namespace).
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}

{{/* RBAC rules for cluster-scoped resources: needed in both modes. */}}
{{- define "modelserve.rules.cluster" -}}
# Region/zone labels of nodes drive RegionPlacement.
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "list", "watch"]
# kopf's namespace discovery.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
# kopf scans which resources exist (and notices when optional CRDs such as HTTPRoute appear).
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/* Cluster-wide mode: the cluster-scoped peering. */}}
{{- define "modelserve.rules.clusterPeering" -}}
- apiGroups: ["kopf.dev"]
  resources: ["clusterkopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
