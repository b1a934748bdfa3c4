{{/* Common labels. */}}
{{- define "goroscope.labels" -}}
app.kubernetes.io/name: {{ .Values.app.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "goroscope.selector" -}}
app.kubernetes.io/name: {{ .Values.app.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "goroscope.fullname" -}}
{{- printf "%s-%s" .Release.Name .Values.app.name | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/*
The sidecar container. A chart of your own can depend on this one and
include it in its pod spec: {{ include "goroscope.sidecar" . }}
*/}}
{{- define "goroscope.sidecar" -}}
- name: goroscope
  image: "{{ .Values.goroscope.image.repository }}:{{ .Values.goroscope.image.tag | default .Chart.AppVersion }}"
  imagePullPolicy: {{ .Values.goroscope.image.pullPolicy }}
  args:
    - serve
    - --config=/etc/goroscope/goroscope.yaml
    - --listen=0.0.0.0:{{ .Values.goroscope.port }}
  ports:
    - name: goroscope
      containerPort: {{ .Values.goroscope.port }}
  env:
    - name: K8S_POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: K8S_POD_UID
      valueFrom: {fieldRef: {fieldPath: metadata.uid}}
    - name: K8S_NAMESPACE_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    - name: K8S_NODE_NAME
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: OTEL_SERVICE_NAME
      value: {{ .Values.app.name | quote }}
  livenessProbe:
    httpGet: {path: /healthz, port: goroscope}
    periodSeconds: 20
  readinessProbe:
    httpGet: {path: /readyz, port: goroscope}
    periodSeconds: 10
  resources:
    {{- toYaml .Values.goroscope.resources | nindent 4 }}
  securityContext:
    runAsUser: 65532
    runAsGroup: 65532
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    privileged: false
    capabilities:
      drop: [ALL]
  volumeMounts:
    - name: goroscope-config
      mountPath: /etc/goroscope
      readOnly: true
    - name: goroscope-state
      mountPath: /var/lib/goroscope
{{- end }}
