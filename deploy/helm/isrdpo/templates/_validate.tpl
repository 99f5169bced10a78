{{/*
Checks across values that values.schema.json cannot express. Each failure is one line naming the
values involved. Included by configmap.yaml, which every release renders.
*/}}
{{- define "isrdpo.validate" -}}
{{- $v := .Values }}
{{- if and $v.nats.enabled $v.externalNats.url }}
{{- fail "nats.enabled and externalNats.url are both set: use the chart's NATS (nats.enabled=true) or an external one (nats.enabled=false, externalNats.url=...), not both" }}
{{- end }}
{{- if and (not $v.nats.enabled) (not $v.externalNats.url) }}
{{- fail "no NATS: services in separate pods need one; set nats.enabled=true or externalNats.url" }}
{{- end }}
{{- if and $v.nats.enabled (eq $v.nats.auth "token") (not $v.credentials.existingSecret) (not $v.credentials.natsToken) }}
{{- fail "nats.auth=token needs credentials.natsToken (or credentials.existingSecret with key nats-token)" }}
{{- end }}
{{- if and $v.nats.enabled (eq $v.nats.auth "password") (not $v.credentials.existingSecret) (or (not $v.credentials.natsUser) (not $v.credentials.natsPassword)) }}
{{- fail "nats.auth=password needs credentials.natsUser and credentials.natsPassword (or credentials.existingSecret with keys nats-user, nats-password)" }}
{{- end }}
{{- if and $v.tls.enabled (not $v.tls.secretName) }}
{{- fail "tls.enabled=true needs tls.secretName (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- /* config.file must not set what the chart sets through the environment (which would win silently). */}}
{{- /* Under nats only the connection keys are the chart's: nats.ackWaitMs belongs in config.file. */}}
{{- $managed := dict "host" "(fixed: 0.0.0.0)" "port" "<service>.port" "metricsPort" "config.metricsPort" "logLevel" "config.logLevel or <service>.logLevel" "shutdownGraceMs" "config.shutdownGraceMs" "nats" "nats.* / externalNats.* / credentials.*" "nats.url" "nats.* / externalNats.url" "nats.user" "credentials.natsUser" "nats.password" "credentials.natsPassword" "nats.token" "credentials.natsToken" "nats.tlsCaFile" "externalNats.tlsCaSecret" "grpcToken" "credentials.grpcToken" "tls" "tls.*" "checkpointDir" "trainer.checkpoints.mountPath" "backend" "config.backend or <service>.backend" }}
{{- $paths := list }}
{{- range $k, $val := $v.config.file }}
{{- if and (eq $k "nats") (kindIs "map" $val) }}
{{- range $n := keys $val }}{{ $paths = append $paths (printf "nats.%s" $n) }}{{ end }}
{{- else }}{{ $paths = append $paths $k }}
{{- end }}
{{- end }}
{{- range $p := $paths | sortAlpha }}
{{- if hasKey $managed $p }}
{{- fail (printf "config.file.%s is set by the chart (the environment would override the file): use %s" $p (get $managed $p)) }}
{{- end }}
{{- end }}
{{- $enabled := list }}
{{- range $name := list "orchestrator" "inference" "context" "judge" "trainer" "evaluator" }}
{{- $svc := index $v $name }}
{{- if $svc.enabled }}{{ $enabled = append $enabled $name }}{{ end }}
{{- if and (hasKey $svc "autoscaling") $svc.autoscaling.enabled (gt (int $svc.autoscaling.minReplicas) (int $svc.autoscaling.maxReplicas)) }}
{{- fail (printf "%s.autoscaling.minReplicas (%d) is greater than %s.autoscaling.maxReplicas (%d)" $name (int $svc.autoscaling.minReplicas) $name (int $svc.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and (hasKey $svc "autoscaling") $svc.autoscaling.enabled (not $svc.autoscaling.targetCPUUtilizationPercentage) (not $svc.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail (printf "%s.autoscaling.enabled=true needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" $name) }}
{{- end }}
{{- if not (kindIs "invalid" $svc.terminationGracePeriodSeconds) }}
{{- if le (mul (int $svc.terminationGracePeriodSeconds) 1000) (int $v.config.shutdownGraceMs) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d s) must be longer than config.shutdownGraceMs (%d ms), or in-flight calls are killed" $name (int $svc.terminationGracePeriodSeconds) (int $v.config.shutdownGraceMs)) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name := $enabled }}
{{- if eq (int (index $v $name).port) (int $v.config.metricsPort) }}
{{- fail (printf "%s.port is config.metricsPort (%d): the gRPC and metrics ports of a pod must differ" $name (int $v.config.metricsPort)) }}
{{- end }}
{{- end }}
{{- end }}
