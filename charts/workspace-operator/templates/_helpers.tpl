{{- define "wsop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wsop.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- end -}}

{{- define "wsop.serviceAccountName" -}}
{{- default (include "wsop.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "wsop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wsop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wsop.labels" -}}
{{ include "wsop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: workspace-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The username the API server sees for the operator: its ServiceAccount's,
unless operatorUser names another (an operator running outside the chart). */}}
{{- define "wsop.operatorUser" -}}
{{- if .Values.operatorUser -}}
{{ .Values.operatorUser }}
{{- else -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "wsop.serviceAccountName" . }}
{{- end -}}
{{- end -}}

{{/* The ClusterRole every WorkspaceRole must fit in: the one named in
tenantCeiling.clusterRole, or the one this chart makes. */}}
{{- define "wsop.tenantCeiling" -}}
{{- default (printf "%s:tenant-ceiling" (include "wsop.fullname" .)) .Values.tenantCeiling.clusterRole -}}
{{- end -}}

{{/* kube-controller-manager's namespace controller and garbage collector
(with --use-service-account-credentials, each runs as its own ServiceAccount;
without it, all run as system:kube-controller-manager):
they delete what is in a namespace being deleted and what lost its owner, so
no admission policy may stop them, or namespace deletion hangs. */}}
{{- define "wsop.kubeControllers" -}}
{{- toJson (list "system:serviceaccount:kube-system:namespace-controller" "system:serviceaccount:kube-system:generic-garbage-collector" "system:kube-controller-manager") -}}
{{- end -}}

{{/* The image: by digest when one is given. */}}
{{- define "wsop.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}
