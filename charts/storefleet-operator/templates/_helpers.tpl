{{- define "storefleet.name" -}}storefleet-operator{{- end -}}

{{- define "storefleet.labels" -}}
app.kubernetes.io/name: {{ include "storefleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "storefleet.selector" -}}
app.kubernetes.io/name: {{ include "storefleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "storefleet.fullname" -}}
{{- printf "%s-%s" .Release.Name (include "storefleet.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* An env var from a key of a Secret. */}}
{{- define "storefleet.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "%s: a Secret name is required when the integration is enabled" .env) .secret.name }}
      key: {{ .key }}
{{- end -}}
