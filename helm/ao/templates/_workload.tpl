{{/*
The StatefulSet every stateful unit (su, cu, mu, gateway) runs as: one pod per replica with its own
volume at /data, /tmp writable, the root filesystem read-only. Parameters:
(dict "root" $ "name" "su" "cfg" $c "command" "su" "args" LIST "grpc" bool "replicas" N-or-nil)
*/}}
{{- define "ao.statefulset" -}}
{{- $root := .root -}}
{{- $c := .cfg -}}
{{- $fullname := include "ao.fullname" $root -}}
{{- $wallet := and $c.wallet $c.wallet.existingSecret -}}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $fullname }}-{{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "ao.labels" (dict "root" $root "name" .name) | nindent 4 }}
spec:
  serviceName: {{ $fullname }}-{{ .name }}-headless
  {{- if not (kindIs "invalid" .replicas) }}
  replicas: {{ .replicas }}
  {{- end }}
  # Pods start and stop together, not one by one: each is independent (its own store), and a
  # pool that waits for pod N-1 before starting pod N starts slowly.
  podManagementPolicy: Parallel
  selector:
    matchLabels:
      {{- include "ao.selectorLabels" (dict "root" $root "name" .name) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "ao.selectorLabels" (dict "root" $root "name" .name) | nindent 8 }}
        {{- with $c.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $c.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- include "ao.podCommon" (dict "root" $root "cfg" $c) | nindent 6 }}
      {{- if $wallet }}
      initContainers:
        {{- include "ao.walletInit" (dict "root" $root "cfg" $c) | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .name }}
          image: {{ include "ao.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [{{ .command | quote }}]
          args:
            - --data-dir=/data
            {{- include "ao.serverArgs" (dict "cfg" $c "grpc" .grpc) | nindent 12 }}
            {{- if $wallet }}
            - --wallet=/run/ao-wallet/wallet.json
            {{- end }}
            {{- with .args }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $c.extraArgs }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          env:
            {{- include "ao.env" $c | nindent 12 }}
          ports:
            - {name: http, containerPort: {{ $c.httpPort }}, protocol: TCP}
            {{- if .grpc }}
            - {name: grpc, containerPort: {{ $c.grpcPort }}, protocol: TCP}
            {{- end }}
          {{- with $c.startupProbe }}
          # Until the first /health answer; liveness starts only after it.
          startupProbe:
            httpGet: {path: /health, port: http}
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- include "ao.probes" $c | nindent 10 }}
          resources:
            {{- toYaml $c.resources | nindent 12 }}
          securityContext:
            {{- toYaml $c.securityContext | nindent 12 }}
          volumeMounts:
            - {name: data, mountPath: /data}
            - {name: tmp, mountPath: /tmp}
            {{- if $wallet }}
            - {name: wallet, mountPath: /run/ao-wallet, readOnly: true}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 256Mi}
        {{- if not $c.persistence.enabled }}
        - name: data
          emptyDir: {}
        {{- end }}
        {{- if $wallet }}
        {{- include "ao.walletVolumes" (dict "cfg" $c) | nindent 8 }}
        {{- end }}
  {{- with include "ao.claims" (dict "root" $root "name" .name "cfg" $c) }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
Services of a StatefulSet unit: the headless one (stable pod names, DNS members) and, unless
"client" is false, a client Service. The Service a ServiceMonitor scrapes carries
ao.metrics/scrape. (dict "root" $ "name" "su" "cfg" $c "grpc" bool "client" bool "notReady" bool)
*/}}
{{- define "ao.services" -}}
{{- $root := .root -}}
{{- $c := .cfg -}}
{{- $fullname := include "ao.fullname" $root -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}-{{ .name }}-headless
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "ao.labels" (dict "root" $root "name" .name) | nindent 4 }}
    {{- if not .client }}
    ao.metrics/scrape: "true"
    {{- end }}
spec:
  clusterIP: None
  publishNotReadyAddresses: {{ .notReady | default false }}
  selector:
    {{- include "ao.selectorLabels" (dict "root" $root "name" .name) | nindent 4 }}
  ports:
    - {name: http, port: {{ $c.httpPort }}, targetPort: http, protocol: TCP}
    {{- if .grpc }}
    - {name: grpc, port: {{ $c.grpcPort }}, targetPort: grpc, protocol: TCP}
    {{- end }}
{{- if .client }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}-{{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "ao.labels" (dict "root" $root "name" .name) | nindent 4 }}
    ao.metrics/scrape: "true"
spec:
  type: ClusterIP
  selector:
    {{- include "ao.selectorLabels" (dict "root" $root "name" .name) | nindent 4 }}
  ports:
    - {name: http, port: {{ $c.httpPort }}, targetPort: http, protocol: TCP}
    {{- if .grpc }}
    - {name: grpc, port: {{ $c.grpcPort }}, targetPort: grpc, protocol: TCP}
    {{- end }}
{{- end }}
{{- end -}}

{{/* PodDisruptionBudget. (dict "root" $ "name" "cu" "cfg" $c) */}}
{{- define "ao.pdb" -}}
{{- if and .cfg.pdb .cfg.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "ao.fullname" .root }}-{{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ao.labels" (dict "root" .root "name" .name) | nindent 4 }}
spec:
  maxUnavailable: {{ .cfg.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "ao.selectorLabels" (dict "root" .root "name" .name) | nindent 6 }}
{{- end }}
{{- end -}}

{{/* HorizontalPodAutoscaler. (dict "root" $ "name" "cu" "cfg" $c "kind" "StatefulSet") */}}
{{- define "ao.hpa" -}}
{{- $h := .cfg.hpa -}}
{{- if and $h $h.enabled }}
{{- if gt (int $h.minReplicas) (int $h.maxReplicas) }}
{{- fail (printf "%s.hpa: minReplicas (%v) is larger than maxReplicas (%v)" .name $h.minReplicas $h.maxReplicas) }}
{{- end }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "ao.fullname" .root }}-{{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ao.labels" (dict "root" .root "name" .name) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {{ .kind }}
    name: {{ include "ao.fullname" .root }}-{{ .name }}
  minReplicas: {{ $h.minReplicas }}
  maxReplicas: {{ $h.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: {{ $h.targetCPUUtilizationPercentage }}}
    - type: Resource
      resource:
        name: memory
        target: {type: Utilization, averageUtilization: {{ $h.targetMemoryUtilizationPercentage }}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {{ $h.scaleDownStabilizationSeconds }}
      # One pod at a time: each removal hands its processes over.
      policies:
        - {type: Pods, value: 1, periodSeconds: 300}
{{- end }}
{{- end -}}

{{/* ServiceMonitor (prometheus-operator) on /metrics. (dict "root" $ "name" "cu" "cfg" $c) */}}
{{- define "ao.serviceMonitor" -}}
{{- if .cfg.serviceMonitor.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "ao.fullname" .root }}-{{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ao.labels" (dict "root" .root "name" .name) | nindent 4 }}
    {{- with .cfg.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "ao.selectorLabels" (dict "root" .root "name" .name) | nindent 6 }}
      ao.metrics/scrape: "true"
  endpoints:
    - port: http
      path: /metrics
      interval: {{ .cfg.serviceMonitor.interval }}
{{- end }}
{{- end -}}
