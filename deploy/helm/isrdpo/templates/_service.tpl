{{/*
The objects of one isrdpo service: Deployment, Service, and for the scaled services an optional
HorizontalPodAutoscaler and a PodDisruptionBudget; for the trainer its checkpoint claim.
Argument: dict "root" $ "name" <service> "scaled" <bool>.
*/}}
{{- define "isrdpo.workload" -}}
{{- $root := .root }}
{{- $name := .name }}
{{- $svc := index $root.Values $name }}
{{- $fullName := include "isrdpo.componentName" (dict "root" $root "name" $name) }}
{{- $metricsPort := int $root.Values.config.metricsPort }}
{{- $autoscale := and .scaled $svc.autoscaling.enabled }}
{{- $isTrainer := eq $name "trainer" }}
{{- $c := $root.Values.credentials }}
{{- /* A GPU for the model (trainer, inference, judge, context, evaluator): the device in the limits, the
     driver capabilities that make the NVIDIA runtime mount its Vulkan driver, and gpu.backend
     unless the service names its own. */}}
{{- $gpu := $svc.gpu | default dict }}
{{- $backend := $svc.backend }}
{{- $resources := deepCopy ($svc.resources | default dict) }}
{{- if $gpu.enabled }}
{{- if not $backend }}{{ $backend = $gpu.backend }}{{ end }}
{{- $limits := deepCopy ($resources.limits | default dict) }}
{{- $_ := set $limits $gpu.resourceName (int $gpu.count) }}
{{- $_ := set $resources "limits" $limits }}
{{- end }}
{{- if $svc.enabled }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "isrdpo.componentLabels" (dict "root" $root "name" $name) | nindent 4 }}
spec:
  {{- if not $autoscale }}
  replicas: {{ if .scaled }}{{ int $svc.replicas }}{{ else }}1{{ end }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- if .scaled }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  {{- else }}
  # A single instance: never two at once (the trainer's volume is ReadWriteOnce; the orchestrator owns runs).
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "isrdpo.selectorLabels" (dict "root" $root "name" $name) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "isrdpo.selectorLabels" (dict "root" $root "name" $name) | nindent 8 }}
        app.kubernetes.io/part-of: isrdpo
        {{- with $svc.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if include "isrdpo.createSecret" $root }}
        checksum/credentials: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- end }}
        {{- if and $root.Values.metrics.podAnnotations (gt $metricsPort 0) }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $metricsPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "isrdpo.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ include "isrdpo.terminationGrace" (dict "root" $root "svc" $svc) }}
      containers:
        - name: {{ $name }}
          image: {{ include "isrdpo.image" (dict "root" $root "svc" $svc) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          # The image's entry point (deploy/docker/Dockerfile): `isrdpo` run through tsx.
          workingDir: /app/apps/cli
          command: ["node", "--import", "tsx", "src/main.ts"]
          args:
            - serve
            - {{ $name }}
            - --port
            - {{ $svc.port | quote }}
            - --metrics-port
            - {{ $metricsPort | quote }}
          ports:
            - name: grpc
              containerPort: {{ int $svc.port }}
              protocol: TCP
            {{- if gt $metricsPort 0 }}
            - name: metrics
              containerPort: {{ $metricsPort }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "isrdpo.configMapName" $root }}
          env:
            {{- if $c.existingSecret }}
            {{- range $var, $key := dict "ISRDPO_GRPC_TOKEN" "grpc-token" "ISRDPO_NATS_USER" "nats-user" "ISRDPO_NATS_PASSWORD" "nats-password" "ISRDPO_NATS_TOKEN" "nats-token" }}
            - name: {{ $var }}
              valueFrom:
                secretKeyRef:
                  name: {{ $c.existingSecret }}
                  key: {{ $key }}
                  optional: true
            {{- end }}
            {{- else }}
            {{- range $var, $pair := dict "ISRDPO_GRPC_TOKEN" (list "grpc-token" $c.grpcToken) "ISRDPO_NATS_USER" (list "nats-user" $c.natsUser) "ISRDPO_NATS_PASSWORD" (list "nats-password" $c.natsPassword) "ISRDPO_NATS_TOKEN" (list "nats-token" $c.natsToken) }}
            {{- if index $pair 1 }}
            - name: {{ $var }}
              valueFrom:
                secretKeyRef:
                  name: {{ include "isrdpo.secretName" $root }}
                  key: {{ index $pair 0 }}
            {{- end }}
            {{- end }}
            {{- end }}
            {{- if $svc.logLevel }}
            - name: ISRDPO_LOG_LEVEL
              value: {{ $svc.logLevel | quote }}
            {{- end }}
            {{- if $backend }}
            - name: ISRDPO_BACKEND
              value: {{ $backend | quote }}
            {{- end }}
            {{- if $gpu.enabled }}
            - name: NVIDIA_DRIVER_CAPABILITIES
              value: {{ $gpu.driverCapabilities | quote }}
            {{- end }}
            {{- if $isTrainer }}
            - name: ISRDPO_CHECKPOINT_DIR
              value: {{ $svc.checkpoints.mountPath | quote }}
            {{- end }}
            {{- if $root.Values.tls.enabled }}
            - name: ISRDPO_TLS_CERT_FILE
              value: /etc/isrdpo/tls/tls.crt
            - name: ISRDPO_TLS_KEY_FILE
              value: /etc/isrdpo/tls/tls.key
            {{- end }}
            {{- if and (not $root.Values.nats.enabled) $root.Values.externalNats.tlsCaSecret }}
            - name: ISRDPO_NATS_TLS_CA_FILE
              value: /etc/isrdpo/nats-ca/ca.crt
            {{- end }}
            {{- with $svc.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- if $root.Values.tls.enabled }}
          {{- /* Kubelet gRPC probes cannot speak TLS: check that the port accepts connections. */}}
          startupProbe:
            tcpSocket: { port: grpc }
            {{- toYaml $root.Values.probes.startup | nindent 12 }}
          readinessProbe:
            tcpSocket: { port: grpc }
            {{- toYaml $root.Values.probes.readiness | nindent 12 }}
          livenessProbe:
            tcpSocket: { port: grpc }
            {{- toYaml $root.Values.probes.liveness | nindent 12 }}
          {{- else }}
          # grpc.health.v1.Health/Check on the gRPC port: service "" (NOT_SERVING while NATS is
          # unreachable) for startup and readiness, "liveness" (the process answers) for liveness.
          startupProbe:
            grpc: { port: {{ int $svc.port }} }
            {{- toYaml $root.Values.probes.startup | nindent 12 }}
          readinessProbe:
            grpc: { port: {{ int $svc.port }} }
            {{- toYaml $root.Values.probes.readiness | nindent 12 }}
          livenessProbe:
            grpc: { port: {{ int $svc.port }}, service: liveness }
            {{- toYaml $root.Values.probes.liveness | nindent 12 }}
          {{- end }}
          resources:
            {{- toYaml $resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if $root.Values.config.file }}
            - name: config
              mountPath: /etc/isrdpo/config
              readOnly: true
            {{- end }}
            {{- if $root.Values.tls.enabled }}
            - name: tls
              mountPath: /etc/isrdpo/tls
              readOnly: true
            {{- end }}
            {{- if and (not $root.Values.nats.enabled) $root.Values.externalNats.tlsCaSecret }}
            - name: nats-ca
              mountPath: /etc/isrdpo/nats-ca
              readOnly: true
            {{- end }}
            {{- if $isTrainer }}
            - name: checkpoints
              mountPath: {{ $svc.checkpoints.mountPath }}
            {{- end }}
      volumes:
        # tsx's compile cache, the local artifact dir and other scratch files (the root filesystem is read-only).
        - name: tmp
          emptyDir: {}
        {{- if $root.Values.config.file }}
        - name: config
          configMap:
            name: {{ include "isrdpo.configMapName" $root }}-file
            items:
              - key: config.yaml
                path: config.yaml
        {{- end }}
        {{- if $root.Values.tls.enabled }}
        - name: tls
          secret:
            secretName: {{ $root.Values.tls.secretName }}
        {{- end }}
        {{- if and (not $root.Values.nats.enabled) $root.Values.externalNats.tlsCaSecret }}
        - name: nats-ca
          secret:
            secretName: {{ $root.Values.externalNats.tlsCaSecret }}
            items:
              - key: ca.crt
                path: ca.crt
        {{- end }}
        {{- if $isTrainer }}
        - name: checkpoints
          {{- if $svc.checkpoints.persistence.enabled }}
          persistentVolumeClaim:
            claimName: {{ default (printf "%s-checkpoints" $fullName) $svc.checkpoints.persistence.existingClaim }}
          {{- else }}
          emptyDir: {}
          {{- end }}
        {{- end }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "isrdpo.componentLabels" (dict "root" $root "name" $name) | nindent 4 }}
  {{- with $svc.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $svc.service.type }}
  selector:
    {{- include "isrdpo.selectorLabels" (dict "root" $root "name" $name) | nindent 4 }}
  ports:
    - name: grpc
      port: {{ int $svc.port }}
      targetPort: grpc
      protocol: TCP
      appProtocol: {{ if $root.Values.tls.enabled }}grpc{{ else }}kubernetes.io/h2c{{ end }}
    {{- if gt $metricsPort 0 }}
    - name: metrics
      port: {{ $metricsPort }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
    {{- end }}
{{- if $autoscale }}
{{- $as := $svc.autoscaling }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "isrdpo.componentLabels" (dict "root" $root "name" $name) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $fullName }}
  minReplicas: {{ int $as.minReplicas }}
  maxReplicas: {{ int $as.maxReplicas }}
  metrics:
    {{- if $as.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ int $as.targetCPUUtilizationPercentage }}
    {{- end }}
    {{- if $as.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ int $as.targetMemoryUtilizationPercentage }}
    {{- end }}
  {{- with $as.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- if and .scaled $svc.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $fullName }}
  labels:
    {{- include "isrdpo.componentLabels" (dict "root" $root "name" $name) | nindent 4 }}
spec:
  {{- $mu := $svc.podDisruptionBudget.maxUnavailable }}
  maxUnavailable: {{ if kindIs "string" $mu }}{{ $mu | quote }}{{ else }}{{ int $mu }}{{ end }}
  selector:
    matchLabels:
      {{- include "isrdpo.selectorLabels" (dict "root" $root "name" $name) | nindent 6 }}
{{- end }}
{{- if and $isTrainer $svc.checkpoints.persistence.enabled (not $svc.checkpoints.persistence.existingClaim) }}
{{- $p := $svc.checkpoints.persistence }}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ printf "%s-checkpoints" $fullName }}
  labels:
    {{- include "isrdpo.componentLabels" (dict "root" $root "name" $name) | nindent 4 }}
  {{- with $p.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  accessModes:
    {{- toYaml $p.accessModes | nindent 4 }}
  {{- if $p.storageClassName }}
  storageClassName: {{ $p.storageClassName | quote }}
  {{- end }}
  resources:
    requests:
      storage: {{ $p.size }}
{{- end }}
{{- end }}
{{- end }}
