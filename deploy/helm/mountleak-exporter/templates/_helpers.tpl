{{/* The chart's name, and the name of its objects: the release's, unless it already says it. */}}
{{- define "mountleak-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mountleak-exporter.fullname" -}}
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

{{- define "mountleak-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mountleak-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mountleak-exporter.labels" -}}
{{ include "mountleak-exporter.selectorLabels" . }}
app.kubernetes.io/component: exporter
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "mountleak-exporter.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}{{ $repo = printf "%s/%s" .Values.image.registry $repo }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* A runtime's `enabled` as the exporter's flag value: auto, true or false. */}}
{{- define "mountleak-exporter.toggle" -}}
{{- $v := toString . }}
{{- if not (has $v (list "auto" "true" "false")) }}
{{- fail (printf "runtimes.*.enabled must be auto, true or false, not %q" $v) }}
{{- end }}
{{- $v }}
{{- end }}

{{/* Where a host socket path shows in the container: under /host. */}}
{{- define "mountleak-exporter.inContainer" -}}
{{- if not (isAbs .) }}{{ fail (printf "runtime sockets are absolute host paths, not %q" .) }}{{ end }}
{{- printf "/host%s" (clean .) }}
{{- end }}

{{/*
The host directories to mount for the enabled runtimes' sockets, one per line: each socket's
directory (Docker's is /run itself), less those inside another one listed. By default that
is /run alone; without Docker, only the other runtimes' own directories (/run/containerd,
/run/podman, /run/crio), less of the host than all of /run.
*/}}
{{- define "mountleak-exporter.socketDirs" -}}
{{- $dirs := list }}
{{- range $name := list "docker" "containerd" "podman" "crio" }}
{{- $rt := index $.Values.runtimes $name }}
{{- if ne (include "mountleak-exporter.toggle" $rt.enabled) "false" }}
{{- $dirs = append $dirs (dir (clean $rt.socket)) }}
{{- end }}
{{- end }}
{{- range $d := $dirs | uniq }}
{{- $inside := false }}
{{- range $other := $dirs }}
{{- if and (ne $other $d) (hasPrefix (printf "%s/" (trimSuffix "/" $other)) $d) }}{{ $inside = true }}{{ end }}
{{- end }}
{{- if not $inside }}
{{ $d }}
{{- end }}
{{- end }}
{{- end }}

{{/* A host directory's volume name: /run/containerd is host-run-containerd. */}}
{{- define "mountleak-exporter.volumeName" -}}
{{- regexReplaceAll "[^a-z0-9]+" (printf "host%s" . | lower) "-" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mountleak-exporter.webConfigSecret" -}}
{{- default (printf "%s-web-config" (include "mountleak-exporter.fullname" .)) .Values.webConfig.existingSecret }}
{{- end }}

{{- define "mountleak-exporter.webConfigured" -}}
{{- if or .Values.webConfig.existingSecret .Values.webConfig.config }}true{{ end }}
{{- end }}
