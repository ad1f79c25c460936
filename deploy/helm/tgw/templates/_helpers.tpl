{{/* Names and labels. */}}
{{- define "tgw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tgw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The pods of one role: (dict "root" $ "component" "api"). */}}
{{- define "tgw.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tgw.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The Secret with the shared secrets: the user's, or the chart's. */}}
{{- define "tgw.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- include "tgw.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* The bundled PostgreSQL's Service and Secret, named as the bitnami chart names them. */}}
{{- define "tgw.postgresql.fullname" -}}
{{- $pg := .Values.postgresql -}}
{{- if $pg.fullnameOverride -}}
{{- $pg.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "postgresql" $pg.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Where the database password is: [secret name, key]. */}}
{{- define "tgw.databasePasswordRef" -}}
{{- if .Values.postgresql.enabled -}}
name: {{ .Values.postgresql.auth.existingSecret | default (include "tgw.postgresql.fullname" .) }}
key: {{ .Values.postgresql.auth.secretKeys.userPasswordKey }}
{{- else if .Values.externalDatabase.existingSecret -}}
name: {{ .Values.externalDatabase.existingSecret }}
key: {{ .Values.externalDatabase.existingSecretPasswordKey }}
{{- else -}}
name: {{ include "tgw.fullname" . }}
key: database-password
{{- end -}}
{{- end -}}

{{/* The database URL, with $(DATABASE_PASSWORD) expanded by Kubernetes (not a TGW_ name:
tgw refuses TGW_ variables it does not know). */}}
{{- define "tgw.databaseUrl" -}}
{{- $db := .Values.externalDatabase -}}
{{- $host := $db.host -}}
{{- $port := $db.port -}}
{{- $user := $db.user -}}
{{- $name := $db.database -}}
{{- if .Values.postgresql.enabled -}}
{{- $host = include "tgw.postgresql.fullname" . -}}
{{- $port = 5432 -}}
{{- $user = .Values.postgresql.auth.username -}}
{{- $name = .Values.postgresql.auth.database -}}
{{- else if not $host -}}
{{- fail "set externalDatabase.host (or postgresql.enabled=true)" -}}
{{- end -}}
{{- printf "postgresql+asyncpg://%s:$(DATABASE_PASSWORD)@%s:%v/%s" $user $host $port $name -}}
{{- with $db.query }}{{ printf "?%s" . }}{{ end -}}
{{- end -}}

{{/* The pod template of a role: (dict "root" $ "component" "api" "role" .Values.api). */}}
{{- define "tgw.pod" -}}
{{- $root := .root -}}
{{- $role := .role -}}
metadata:
  labels:
    {{- include "tgw.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
  annotations:
    # A change of the configuration or the chart's Secret rolls the pods.
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
spec:
  # Kubernetes would put <SERVICE>_PORT and the like into the environment: those of a Service
  # named tgw-* start with TGW_, and tgw refuses TGW_ variables it does not know.
  enableServiceLinks: false
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ $role.terminationGracePeriodSeconds }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  {{- with $role.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $role.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $role.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "tgw.selectorLabels" . | nindent 10 }}
  containers:
    - name: tgw
      image: {{ include "tgw.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args: ["serve", "--role", {{ .component | quote }}]
      ports:
        - name: http
          containerPort: 8080
      env:
        - name: TGW_CONFIG
          value: /etc/tgw/tgw.toml
        - name: POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        # How the other processes (and GET /admin/cluster) reach this one: an api pod passes
        # logins and profile changes to the worker holding the session at this address.
        - name: TGW_CLUSTER__ADVERTISE_URL
          value: http://$(POD_IP):8080
        - name: TGW_TELEGRAM__LEASE_TTL_S
          value: {{ $root.Values.leaseTtlSeconds | quote }}
        {{- with $root.Values.publicUrl }}
        - name: TGW_SERVER__PUBLIC_URL
          value: {{ . | quote }}
        {{- end }}
        {{- with $root.Values.trustedProxies }}
        - name: TGW_SERVER__TRUSTED_PROXIES
          value: {{ join "," . | quote }}
        {{- end }}
        {{- if and (eq .component "worker") $role.maxSessions }}
        - name: TGW_CLUSTER__MAX_SESSIONS
          value: {{ $role.maxSessions | quote }}
        {{- end }}
        - name: DATABASE_PASSWORD
          valueFrom:
            secretKeyRef:
              {{- include "tgw.databasePasswordRef" $root | nindent 14 }}
        - name: TGW_DATABASE__URL
          value: {{ include "tgw.databaseUrl" $root | quote }}
        - name: TGW_SECURITY__ADMIN_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "tgw.secretName" $root }}
              key: admin-token
        - name: TGW_SECURITY__SECRET_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "tgw.secretName" $root }}
              key: secret-key
        - name: TGW_TELEGRAM__API_ID
          valueFrom:
            secretKeyRef:
              name: {{ include "tgw.secretName" $root }}
              key: telegram-api-id
              optional: true
        - name: TGW_TELEGRAM__API_HASH
          valueFrom:
            secretKeyRef:
              name: {{ include "tgw.secretName" $root }}
              key: telegram-api-hash
              optional: true
      # Every process migrates the database at start (they take turns): allow it a minute.
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 2
        failureThreshold: 30
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 10
        timeoutSeconds: 5
        failureThreshold: 3
      # Not ready (out of the Service; rollouts wait) while the database does not answer or
      # take writes.
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: 5
        timeoutSeconds: 5
        failureThreshold: 2
      {{- if $role.preStopSleepSeconds }}
      lifecycle:
        preStop:
          exec:
            command: ["sleep", {{ $role.preStopSleepSeconds | quote }}]
      {{- end }}
      resources:
        {{- toYaml $role.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/tgw
          readOnly: true
        # Request bodies too large for memory are spooled to /tmp.
        - name: tmp
          mountPath: /tmp
        # The image's working folder (nothing is written there with PostgreSQL and the
        # secrets set; it is a volume in the image).
        - name: data
          mountPath: /var/lib/tgw
  volumes:
    - name: config
      configMap:
        name: {{ include "tgw.fullname" $root }}
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
    - name: data
      emptyDir:
        sizeLimit: 64Mi
{{- end -}}
