{{/* Names */}}
{{- define "isrdpo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "isrdpo.fullname" -}}
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

{{/* Name of one component's objects: <fullname>-<component>, within the 63 characters of a DNS label. */}}
{{- define "isrdpo.componentName" -}}
{{- $full := include "isrdpo.fullname" .root | trunc (int (sub 62 (len .name))) | trimSuffix "-" }}
{{- printf "%s-%s" $full .name }}
{{- end }}

{{- define "isrdpo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. Argument: the root context. */}}
{{- define "isrdpo.labels" -}}
helm.sh/chart: {{ include "isrdpo.chart" . }}
app.kubernetes.io/name: {{ include "isrdpo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: isrdpo
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component. Argument: dict root, name. */}}
{{- define "isrdpo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "isrdpo.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "isrdpo.componentLabels" -}}
{{ include "isrdpo.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "isrdpo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "isrdpo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image of a service. Argument: dict root, svc (the service's values). */}}
{{- define "isrdpo.image" -}}
{{- $img := .root.Values.image }}
{{- $own := .svc.image | default dict }}
{{- $repo := default $img.repository $own.repository }}
{{- $tag := default (default .root.Chart.AppVersion $img.tag) $own.tag }}
{{- if and $img.digest (not $own.repository) (not $own.tag) }}
{{- printf "%s@%s" $repo $img.digest }}
{{- else }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{- define "isrdpo.configMapName" -}}
{{- printf "%s-config" (include "isrdpo.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* true when the chart creates the credentials Secret. */}}
{{- define "isrdpo.createSecret" -}}
{{- $c := .Values.credentials }}
{{- if and (not $c.existingSecret) (or $c.grpcToken $c.natsUser $c.natsPassword $c.natsToken) }}true{{ end }}
{{- end }}

{{- define "isrdpo.secretName" -}}
{{- if .Values.credentials.existingSecret }}
{{- .Values.credentials.existingSecret }}
{{- else }}
{{- printf "%s-credentials" (include "isrdpo.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* NATS */}}
{{- define "isrdpo.natsName" -}}
{{- include "isrdpo.componentName" (dict "root" . "name" "nats") }}
{{- end }}

{{- define "isrdpo.natsUrl" -}}
{{- if .Values.nats.enabled }}
{{- printf "nats://%s.%s.svc:%d" (include "isrdpo.natsName" .) .Release.Namespace (int .Values.nats.port) }}
{{- else }}
{{- .Values.externalNats.url }}
{{- end }}
{{- end }}

{{/* Seconds given to a pod between SIGTERM and SIGKILL. Argument: dict root, svc. */}}
{{- define "isrdpo.terminationGrace" -}}
{{- $min := add (div (int .root.Values.config.shutdownGraceMs) 1000) 5 }}
{{- if kindIs "invalid" .svc.terminationGracePeriodSeconds }}
{{- $min }}
{{- else }}
{{- int .svc.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* nats-server configuration. Argument: the root context. */}}
{{- define "isrdpo.natsConf" -}}
{{- $n := .Values.nats }}
{{- $name := include "isrdpo.natsName" . }}
{{- $headless := printf "%s-headless" $name | trunc 63 | trimSuffix "-" }}
{{- $replicas := int $n.replicas }}
# $VARIABLES are read from the container's environment by nats-server.
server_name: $POD_NAME
listen: 0.0.0.0:{{ int $n.port }}
http: 0.0.0.0:{{ int $n.monitorPort }}
lame_duck_grace_period: 10s
lame_duck_duration: 30s
jetstream {
  store_dir: /data
  max_memory_store: {{ $n.jetstream.maxMemoryStore }}
  max_file_store: {{ $n.jetstream.maxFileStore }}
}
{{- if eq $n.auth "token" }}
authorization {
  token: $NATS_TOKEN
}
{{- else if eq $n.auth "password" }}
authorization {
  user: $NATS_USER
  password: $NATS_PASSWORD
}
{{- end }}
{{- if gt $replicas 1 }}
cluster {
  name: {{ include "isrdpo.fullname" . }}
  listen: 0.0.0.0:{{ int $n.clusterPort }}
  routes: [
    {{- range $i := until $replicas }}
    nats://{{ $name }}-{{ $i }}.{{ $headless }}.{{ $.Release.Namespace }}.svc:{{ int $n.clusterPort }}
    {{- end }}
  ]
}
{{- end }}
{{- end }}
