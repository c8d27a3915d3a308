{{- define "leakpatrol.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "leakpatrol.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "leakpatrol.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "leakpatrol.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "leakpatrol.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leakpatrol.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "leakpatrol.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "leakpatrol.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "leakpatrol.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "leakpatrol.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "leakpatrol.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The flags of `leakpatrol operator` (tests/e2e/test_operator_ha.py runs two processes with these). */}}
{{- define "leakpatrol.operatorArgs" -}}
{{- if .Values.watch.allNamespaces }}
- --all-namespaces
{{- else }}
{{- range .Values.watch.namespaces }}
- --namespace={{ . }}
{{- end }}
{{- end }}
- --log-level={{ .Values.logLevel }}
{{- if .Values.sharding.enabled }}
- --sharding
- --shards={{ .Values.sharding.shards }}
- --lease-name={{ include "leakpatrol.fullname" . }}
- --lease-duration={{ .Values.leaderElection.leaseDuration }}
{{- else if .Values.leaderElection.enabled }}
- --leader-election
- --lease-name={{ include "leakpatrol.fullname" . }}
- --lease-duration={{ .Values.leaderElection.leaseDuration }}
{{- else }}
- --no-leader-election
{{- end }}
- --stall-after={{ .Values.stallAfter }}
{{- with .Values.remediation }}
{{- if .enabled }}
- {{ printf "--remediation-namespace-selector=%s" .namespaceSelector | quote }}
- --remediation-actions-per-hour={{ .actionsPerHour }}
- --remediation-namespace-actions-per-hour={{ .actionsPerHourPerNamespace }}
- --remediation-min-cooldown={{ .floors.cooldown }}
- --remediation-min-window={{ .floors.window }}
- --remediation-min-confirmations={{ .floors.minConfirmations }}
- --remediation-min-escalate-after={{ .floors.escalateAfter }}
- --remediation-min-samples={{ .floors.minSamples }}
- --remediation-max-p-value={{ .floors.maxPValue }}
- --remediation-min-growth-goroutines={{ .floors.minGrowthGoroutines }}
- --remediation-min-growth-heap={{ .floors.minGrowthHeap }}
- --{{ if not .tenantResume }}no-{{ end }}remediation-tenant-resume
{{- end }}
{{- end }}
- --max-target-timeout={{ .Values.tenancy.maxTargetTimeout }}
- --per-namespace-fetches={{ .Values.tenancy.fetchesPerNamespace }}
{{- if .Values.remediation.enabled }}
- --evidence-namespace={{ ternary "policy" "home" .Values.evidence.inPolicyNamespace }}
- --evidence-max-count={{ .Values.evidence.maxConfigMaps }}
- --evidence-max-mb={{ .Values.evidence.maxMiB }}
- --evidence-namespace-count={{ .Values.evidence.perNamespace.configMaps }}
- --evidence-namespace-mb={{ .Values.evidence.perNamespace.mib }}
{{- end }}
{{- end }}

{{/* Contradictory values fail the render with a message saying which to change. */}}
{{- define "leakpatrol.validate" -}}
{{- if and .Values.watch.allNamespaces .Values.watch.namespaces }}
{{- fail "watch.allNamespaces is true and watch.namespaces is set: choose one (set allNamespaces=false to watch only the listed namespaces)" }}
{{- end }}
{{- if and (not .Values.watch.allNamespaces) (not .Values.watch.namespaces) }}
{{- fail "watch.allNamespaces is false and watch.namespaces is empty: the operator would watch nothing" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) (not .Values.sharding.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled or sharding.enabled: without a Lease every replica would scan every policy" }}
{{- end }}
{{- if and .Values.evidence.inPolicyNamespace (not .Values.remediation.enabled) }}
{{- fail "evidence.inPolicyNamespace needs remediation.enabled: evidence is remediation's" }}
{{- end }}
{{- if and (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
{{- fail "serviceAccount.create is false: serviceAccount.name must name an existing ServiceAccount" }}
{{- end }}
{{- end }}
