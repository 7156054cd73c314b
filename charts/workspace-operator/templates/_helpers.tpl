{{- define "wsop.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "wsop.serviceAccountName" -}}
{{- default (include "wsop.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "wsop.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wsop.labels" -}}
{{ include "wsop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: workspace-operator
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The username the API server sees for the operator's ServiceAccount. */}}
{{- define "wsop.operatorUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "wsop.serviceAccountName" . }}
{{- end -}}
