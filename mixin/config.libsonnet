// What a user of the mixin may change. Override in your own jsonnet:
//   (import 'mountleak-mixin/mixin.libsonnet') + { _config+:: { staleLeakFor: '30m' } }
{
  _config+:: {
    // The scrape jobs of the exporter, for the one alert that looks at Prometheus's own
    // `up`: `mountleak` (deploy/prometheus/prometheus.yml) and `mountleak-exporter`
    // (deploy/kubernetes and the Helm chart: prometheus-operator names a ServiceMonitor's
    // job after the Service).
    exporterSelector: 'job=~"mountleak|mountleak-exporter"',
    // Extra matchers for every mountleak_* series the alerts read, e.g. 'cluster="prod"'.
    // Empty by default: the metric names are the exporter's own.
    metricSelector: '',

    // How long a condition must hold before its alert fires.
    staleLeakFor: '15m',
    atRiskLeakFor: '1h',
    removedNetnsLeakFor: '5m',
    exporterDownFor: '5m',
    scanFailingFor: '5m',
    runtimeUnreachableFor: '10m',
    seriesDroppedFor: '15m',
    scanErrorsFor: '30m',

    // The leak alerts fire once per holding unit and container: these per-mount labels of
    // mountleak_leak_first_seen_timestamp_seconds are aggregated away (the description
    // lists the mounts; the dashboard's Leaks table keeps one row per mount). Labels your
    // scrape adds (cluster, namespace, pod) are kept.
    leakDetailLabels: ['pid', 'comm', 'container_state', 'kind', 'mountpoint'],
    // How many of a group's mounts a leak alert's description names (the oldest first).
    leakMountsListed: 5,

    // %s is the alert's name in lower case (docs/runbook.md's headings).
    runbookURLPattern: 'https://github.com/mountleak/mountleak_exporter/blob/main/docs/runbook.md#%s',

    // The dashboard.
    dashboardTitle: 'mountleak',
    dashboardUid: 'mountleak',
    dashboardTags: ['mountleak', 'docker', 'podman', 'containerd', 'mounts'],
    // The label that tells clusters apart where one Prometheus (or Thanos, Mimir) sees
    // several; the dashboard's Cluster variable reads it and matches series without it too.
    clusterLabel: 'cluster',
  },
}
