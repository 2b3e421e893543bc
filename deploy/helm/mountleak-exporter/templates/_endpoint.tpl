{{/*
The scrape settings a ServiceMonitor endpoint and a PodMonitor podMetricsEndpoint share
(called with the monitor's values). `instance` is the node's name, not the pod's IP: the
fix (systemctl restart ...) runs on the node.
*/}}
{{- define "mountleak-exporter.endpoint" -}}
port: metrics
path: /metrics
scheme: {{ .scheme }}
{{- with .interval }}
interval: {{ . }}
{{- end }}
{{- with .scrapeTimeout }}
scrapeTimeout: {{ . }}
{{- end }}
{{- with .tlsConfig }}
tlsConfig:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .basicAuth }}
basicAuth:
  {{- toYaml . | nindent 2 }}
{{- end }}
relabelings:
  - sourceLabels:
      - __meta_kubernetes_pod_node_name
    targetLabel: instance
    action: replace
  {{- with .relabelings }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
