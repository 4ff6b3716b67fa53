{{/* Names: every object is <fullname>-<component>. */}}
{{- define "ao.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ao.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains (include "ao.name" .) .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "ao.name" .) | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "name" "su"). */}}
{{- define "ao.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ao.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "ao.labels" -}}
{{ include "ao.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: ao
{{- end -}}

{{/*
One component's settings: `common` with the component's block merged over it, as YAML (callers
use fromYaml). Maps merge key by key; lists and scalars of the component replace common's.
*/}}
{{- define "ao.cfg" -}}
{{- $common := deepCopy .root.Values.common -}}
{{- $own := deepCopy (index .root.Values .name) -}}
{{- range $k, $v := $own -}}
{{- if and (kindIs "map" $v) (kindIs "map" (index $common $k)) -}}
{{- $_ := set $common $k (mergeOverwrite (index $common $k) $v) -}}
{{- else -}}
{{- $_ := set $common $k $v -}}
{{- end -}}
{{- end -}}
{{- if le (int $common.terminationGracePeriodSeconds) (int $common.shutdownGraceSeconds) -}}
{{- fail (printf "%s: terminationGracePeriodSeconds (%v) must be longer than shutdownGraceSeconds (%v), or Kubernetes kills the unit before its drain ends" .name $common.terminationGracePeriodSeconds $common.shutdownGraceSeconds) -}}
{{- end -}}
{{- toYaml $common -}}
{{- end -}}

{{- define "ao.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* HOST:PORT for a listener flag; IPv6 hosts in brackets. (dict "host" h "port" p) */}}
{{- define "ao.listen" -}}
{{- if contains ":" .host -}}[{{ .host }}]:{{ .port }}{{- else -}}{{ .host }}:{{ .port }}{{- end -}}
{{- end -}}

{{/* In-cluster DNS suffix of the release's namespace. */}}
{{- define "ao.svcSuffix" -}}
{{- printf "%s.svc.%s" .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{- define "ao.gatewayUrl" -}}
{{- if .Values.gatewayUrl -}}
{{- .Values.gatewayUrl -}}
{{- else if .Values.gateway.enabled -}}
{{- printf "http://%s-gateway.%s:%v" (include "ao.fullname" .) (include "ao.svcSuffix" .) .Values.gateway.httpPort -}}
{{- else -}}
{{- fail "gatewayUrl is required when gateway.enabled is false: set gatewayUrl (and bundlerUrl) to a real Arweave gateway and bundler, or gateway.enabled=true for a self-contained test network" -}}
{{- end -}}
{{- end -}}

{{- define "ao.bundlerUrl" -}}
{{- if .Values.bundlerUrl -}}
{{- .Values.bundlerUrl -}}
{{- else if .Values.gateway.enabled -}}
{{- include "ao.gatewayUrl" . -}}
{{- else -}}
{{- fail "bundlerUrl is required when gateway.enabled is false: set it to a real bundler (e.g. https://up.arweave.net)" -}}
{{- end -}}
{{- end -}}

{{/* The URL the CUs read new processes from: su-0's gRPC, unless cu.suUrl says otherwise. */}}
{{- define "ao.suUrl" -}}
{{- if .Values.cu.suUrl -}}
{{- .Values.cu.suUrl -}}
{{- else if .Values.su.enabled -}}
{{- printf "http://%s-su-0.%s-su-headless.%s:%v" (include "ao.fullname" .) (include "ao.fullname" .) (include "ao.svcSuffix" .) .Values.su.grpcPort -}}
{{- else -}}
{{- fail "cu.suUrl is required when su.enabled is false: the CUs need a default SU's gRPC URL" -}}
{{- end -}}
{{- end -}}

{{/* The gRPC URL the MUs send results requests to: the router, else cu-0. */}}
{{- define "ao.cuUrl" -}}
{{- if .Values.router.enabled -}}
{{- printf "http://%s-router.%s:%v" (include "ao.fullname" .) (include "ao.svcSuffix" .) .Values.router.grpcPort -}}
{{- else if .Values.cu.enabled -}}
{{- printf "http://%s-cu-0.%s-cu-headless.%s:%v" (include "ao.fullname" .) (include "ao.fullname" .) (include "ao.svcSuffix" .) .Values.cu.grpcPort -}}
{{- else -}}
{{- fail "mu needs a CU: enable router or cu" -}}
{{- end -}}
{{- end -}}

{{/* Flags every unit takes (ao_runtime::ServerArgs). (dict "cfg" $c "grpc" bool) */}}
{{- define "ao.serverArgs" -}}
- --http-addr={{ include "ao.listen" (dict "host" .cfg.listenHost "port" .cfg.httpPort) }}
{{- if .grpc }}
- --grpc-addr={{ include "ao.listen" (dict "host" .cfg.listenHost "port" .cfg.grpcPort) }}
{{- end }}
- --log-format={{ .cfg.logFormat }}
- --shutdown-grace={{ .cfg.shutdownGraceSeconds }}s
{{- end -}}

{{/* Environment: the pod's name (for $(POD_NAME) in flags), OTEL_*, extraEnv. */}}
{{- define "ao.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- range $k, $v := .otel }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- with .extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Readiness on /ready, liveness on /health (ao_runtime::health), on the HTTP port. */}}
{{- define "ao.probes" -}}
readinessProbe:
  httpGet: {path: /ready, port: http}
  {{- toYaml .readinessProbe | nindent 2 }}
livenessProbe:
  httpGet: {path: /health, port: http}
  {{- toYaml .livenessProbe | nindent 2 }}
{{- end -}}

{{/* Pod-level settings every workload shares. (dict "root" $ "cfg" $c) */}}
{{- define "ao.podCommon" -}}
serviceAccountName: {{ include "ao.fullname" .root }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ .cfg.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml .cfg.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The wallet from an existing Secret: an init container copies the pod's key (<pod name>.json, or the
CUs' wallet.sharedKey) to a
memory-backed volume with mode 0600 owned by the unit's user. The unit refuses a key others can read,
and Kubernetes mounts Secrets group-readable when fsGroup is set, so the Secret cannot be used in place.
*/}}
{{- define "ao.walletInit" -}}
- name: wallet
  image: {{ include "ao.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  command: ["install", "-m", "0600", "/wallet-secret/{{ .cfg.wallet.sharedKey | default "$(POD_NAME).json" }}", "/run/ao-wallet/wallet.json"]
  env:
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
  securityContext:
    {{- toYaml .cfg.securityContext | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {cpu: 100m, memory: 32Mi}
  volumeMounts:
    - {name: wallet-secret, mountPath: /wallet-secret, readOnly: true}
    - {name: wallet, mountPath: /run/ao-wallet}
{{- end -}}

{{- define "ao.walletVolumes" -}}
- name: wallet-secret
  secret:
    secretName: {{ .cfg.wallet.existingSecret }}
    defaultMode: 0440
- name: wallet
  emptyDir: {medium: Memory, sizeLimit: 1Mi}
{{- end -}}

{{/* volumeClaimTemplates of a StatefulSet with persistence, else nothing (an emptyDir is used). */}}
{{- define "ao.claims" -}}
{{- if .cfg.persistence.enabled -}}
volumeClaimTemplates:
  - metadata:
      name: data
      labels:
        {{- include "ao.selectorLabels" (dict "root" .root "name" .name) | nindent 8 }}
    spec:
      accessModes:
        {{- toYaml .cfg.persistence.accessModes | nindent 8 }}
      {{- with .cfg.persistence.storageClass }}
      storageClassName: {{ . }}
      {{- end }}
      resources:
        requests:
          storage: {{ .cfg.persistence.size }}
{{- end }}
{{- end -}}
