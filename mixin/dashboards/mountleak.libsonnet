// The dashboard, one row per leaked mount in its Leaks table (the alerts group them by
// unit and container). Queries read the exporter's series through the Data source, Cluster,
// Job and Instance variables; _config.clusterLabel names the cluster label.
{
  grafanaDashboards+:: {
    'mountleak.json':
      local c = $._config;
      // Every query's common matchers, and the cluster label's name where it stands alone.
      local q(expr) = expr % {
        base: '%s=~"$cluster", job=~"$job", instance=~"$instance"' % c.clusterLabel,
        cluster: c.clusterLabel,
      };
      {
        title: c.dashboardTitle,
        uid: c.dashboardUid,
        description: 'Container mounts leaked into other mount namespaces, the units that hold them, and the health of mountleak_exporter. Alerts: mixin/ (deploy/prometheus/rules.yml); what to do: docs/runbook.md.',
        tags: c.dashboardTags,
        editable: true,
        graphTooltip: 1,
        schemaVersion: 39,
        version: 1,
        refresh: '1m',
        time: {
          from: 'now-6h',
          to: 'now',
        },
        timepicker: {},
        timezone: '',
        links: [
          {
            title: 'Runbook',
            type: 'link',
            icon: 'doc',
            targetBlank: true,
            url: 'https://github.com/mountleak/mountleak_exporter/blob/main/docs/runbook.md',
          },
        ],
        annotations: {
          list: [
            {
              builtIn: 1,
              datasource: {
                type: 'grafana',
                uid: '-- Grafana --',
              },
              enable: true,
              hide: true,
              iconColor: 'rgba(0, 211, 255, 1)',
              name: 'Annotations & Alerts',
              type: 'dashboard',
            },
          ],
        },
        templating: {
          list: [
            {
              name: 'datasource',
              label: 'Data source',
              type: 'datasource',
              query: 'prometheus',
              current: {},
              hide: 0,
              includeAll: false,
              multi: false,
              options: [],
              refresh: 1,
              regex: '',
              skipUrlSync: false,
            },
            {
              name: 'cluster',
              label: 'Cluster',
              description: 'The cluster label Prometheus adds (external_labels or relabeling), where it exists; All also matches series without it.',
              type: 'query',
              datasource: {
                type: 'prometheus',
                uid: '${datasource}',
              },
              query: q('label_values(mountleak_build_info, %(cluster)s)'),
              definition: q('label_values(mountleak_build_info, %(cluster)s)'),
              current: {},
              hide: 0,
              includeAll: true,
              allValue: '.*',
              multi: true,
              options: [],
              refresh: 2,
              regex: '',
              sort: 1,
              skipUrlSync: false,
            },
            {
              name: 'job',
              label: 'Job',
              type: 'query',
              datasource: {
                type: 'prometheus',
                uid: '${datasource}',
              },
              query: q('label_values(mountleak_build_info{%(cluster)s=~"$cluster"}, job)'),
              definition: q('label_values(mountleak_build_info{%(cluster)s=~"$cluster"}, job)'),
              current: {},
              hide: 0,
              includeAll: true,
              multi: true,
              options: [],
              refresh: 2,
              regex: '',
              sort: 1,
              skipUrlSync: false,
              allValue: '.+',
            },
            {
              name: 'instance',
              label: 'Instance',
              type: 'query',
              datasource: {
                type: 'prometheus',
                uid: '${datasource}',
              },
              query: q('label_values(mountleak_build_info{%(cluster)s=~"$cluster", job=~"$job"}, instance)'),
              definition: q('label_values(mountleak_build_info{%(cluster)s=~"$cluster", job=~"$job"}, instance)'),
              current: {},
              hide: 0,
              includeAll: true,
              multi: true,
              options: [],
              refresh: 2,
              regex: '',
              sort: 1,
              skipUrlSync: false,
              allValue: '.+',
            },
            {
              name: 'runtime',
              label: 'Runtime',
              type: 'query',
              datasource: {
                type: 'prometheus',
                uid: '${datasource}',
              },
              definition: q('label_values(mountleak_runtime_up{%(base)s}, runtime)'),
              query: q('label_values(mountleak_runtime_up{%(base)s}, runtime)'),
              current: {},
              hide: 0,
              includeAll: true,
              allValue: '.*',
              multi: true,
              options: [],
              refresh: 2,
              regex: '',
              skipUrlSync: false,
              sort: 1,
            },
          ],
        },
        panels: [
          {
            id: 1,
            type: 'stat',
            title: 'Stale leaks',
            description: 'Leaked container mounts that Docker has already unmounted and a holder\'s private copy keeps alive (sum of mountleak_unit_leaked_mounts{status="stale"}: a mount held by two units counts twice). These make docker rm fail on old kernels and pin shm, volumes and network namespaces on new ones.',
            gridPos: {
              x: 0,
              y: 0,
              w: 4,
              h: 4,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('sum(mountleak_unit_leaked_mounts{%(base)s, status="stale"}) or vector(0)'),
                refId: 'A',
                legendFormat: '__auto',
                range: false,
                instant: true,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'thresholds',
                },
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'orange',
                      value: 1,
                    },
                  ],
                },
                mappings: [],
              },
              overrides: [],
            },
            options: {
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'auto',
              justifyMode: 'auto',
              orientation: 'auto',
            },
          },
          {
            id: 2,
            type: 'stat',
            title: 'At-risk copies',
            description: "Private copies of running containers' mounts (status at_risk): harmless now, they turn into stale leaks when the container stops.",
            gridPos: {
              x: 4,
              y: 0,
              w: 4,
              h: 4,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('sum(mountleak_unit_leaked_mounts{%(base)s, status="at_risk"}) or vector(0)'),
                refId: 'A',
                legendFormat: '__auto',
                range: false,
                instant: true,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'thresholds',
                },
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'yellow',
                      value: 1,
                    },
                  ],
                },
                mappings: [],
              },
              overrides: [],
            },
            options: {
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'auto',
              justifyMode: 'auto',
              orientation: 'auto',
            },
          },
          {
            id: 3,
            type: 'stat',
            title: 'Units holding leaks',
            description: 'Distinct (instance, systemd unit) pairs holding stale or at-risk copies; unit "" counts processes outside any unit. Restarting a unit frees all its copies.',
            gridPos: {
              x: 8,
              y: 0,
              w: 4,
              h: 4,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('count(count by (instance, unit) (mountleak_unit_leaked_mounts{%(base)s})) or vector(0)'),
                refId: 'A',
                legendFormat: '__auto',
                range: false,
                instant: true,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'thresholds',
                },
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'orange',
                      value: 1,
                    },
                  ],
                },
                mappings: [],
              },
              overrides: [],
            },
            options: {
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'auto',
              justifyMode: 'auto',
              orientation: 'auto',
            },
          },
          {
            id: 4,
            type: 'stat',
            title: 'Containers affected',
            description: 'Distinct containers (removed ones included) with at least one leaked mount copy.',
            gridPos: {
              x: 12,
              y: 0,
              w: 4,
              h: 4,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('count(count by (instance, runtime, container_id) (mountleak_container_leaked_mounts{%(base)s, runtime=~"$runtime", container_id!=""})) or vector(0)'),
                refId: 'A',
                legendFormat: '__auto',
                range: false,
                instant: true,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'thresholds',
                },
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'orange',
                      value: 1,
                    },
                  ],
                },
                mappings: [],
              },
              overrides: [],
            },
            options: {
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'auto',
              justifyMode: 'auto',
              orientation: 'auto',
            },
          },
          {
            id: 5,
            type: 'stat',
            title: 'Runtimes reachable',
            description: "Whether each enabled runtime's last API call succeeded (mountleak_runtime_up: docker, podman, containerd), and Docker's alone (mountleak_docker_up, kept for compatibility), the minimum over the selected exporters. Without its runtime, leaks are still found but that runtime's container names and states are unknown (alert MountleakRuntimeUnreachable).",
            gridPos: {
              x: 16,
              y: 0,
              w: 4,
              h: 4,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('min(mountleak_docker_up{%(base)s})'),
                refId: 'A',
                legendFormat: 'docker_up',
                range: false,
                instant: true,
                format: 'time_series',
              },
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('min by (runtime) (mountleak_runtime_up{%(base)s, runtime=~"$runtime"})'),
                refId: 'B',
                legendFormat: '{{runtime}}',
                range: false,
                instant: true,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'none',
                color: {
                  mode: 'thresholds',
                },
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'green',
                      value: 1,
                    },
                  ],
                },
                mappings: [
                  {
                    type: 'value',
                    options: {
                      '1': {
                        text: 'Yes',
                        color: 'green',
                        index: 0,
                      },
                      '0': {
                        text: 'No',
                        color: 'red',
                        index: 1,
                      },
                    },
                  },
                ],
              },
              overrides: [],
            },
            options: {
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'auto',
              justifyMode: 'auto',
              orientation: 'auto',
            },
          },
          {
            id: 6,
            type: 'stat',
            title: 'Scans succeeding',
            description: "Whether every selected exporter's last scan could read the process table (mountleak_scan_success). A failing scan reports no leaks at all.",
            gridPos: {
              x: 20,
              y: 0,
              w: 4,
              h: 4,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('min(mountleak_scan_success{%(base)s})'),
                refId: 'A',
                legendFormat: '__auto',
                range: false,
                instant: true,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'none',
                color: {
                  mode: 'thresholds',
                },
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'green',
                      value: 1,
                    },
                  ],
                },
                mappings: [
                  {
                    type: 'value',
                    options: {
                      '1': {
                        text: 'Yes',
                        color: 'green',
                        index: 0,
                      },
                      '0': {
                        text: 'No',
                        color: 'red',
                        index: 1,
                      },
                    },
                  },
                ],
              },
              overrides: [],
            },
            options: {
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
              colorMode: 'background',
              graphMode: 'none',
              textMode: 'auto',
              justifyMode: 'auto',
              orientation: 'auto',
            },
          },
          {
            id: 7,
            type: 'table',
            title: 'Leaks',
            description: "Every leaked mount per holding namespace: the unit and holder process (the namespace's oldest process) to restart, the runtime and container it belongs to, its kind and status, and how long the exporter has seen it (time() - mountleak_leak_first_seen_timestamp_seconds). The fix: systemctl restart <unit>; for a holder that is itself a container docker restart, podman restart or crictl stop of it; else nsenter -t <pid> -m umount -l <mount point>; see docs/runbook.md.",
            gridPos: {
              x: 0,
              y: 4,
              w: 24,
              h: 9,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('time() - mountleak_leak_first_seen_timestamp_seconds{%(base)s, runtime=~"$runtime"}'),
                refId: 'A',
                legendFormat: '__auto',
                range: false,
                instant: true,
                format: 'table',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 's',
                custom: {
                  align: 'auto',
                  filterable: true,
                },
              },
              overrides: [
                {
                  matcher: {
                    id: 'byName',
                    options: 'Status',
                  },
                  properties: [
                    {
                      id: 'custom.cellOptions',
                      value: {
                        type: 'color-text',
                      },
                    },
                    {
                      id: 'mappings',
                      value: [
                        {
                          type: 'value',
                          options: {
                            stale: {
                              color: 'orange',
                              index: 0,
                            },
                            at_risk: {
                              color: 'yellow',
                              index: 1,
                            },
                          },
                        },
                      ],
                    },
                  ],
                },
              ],
            },
            options: {
              showHeader: true,
              cellHeight: 'sm',
              footer: {
                show: false,
              },
              sortBy: [
                {
                  displayName: 'Age',
                  desc: true,
                },
              ],
            },
            transformations: [
              {
                id: 'organize',
                options: {
                  excludeByName: {
                    Time: true,
                    __name__: true,
                    job: true,
                  },
                  indexByName: {
                    instance: 0,
                    unit: 1,
                    pid: 2,
                    comm: 3,
                    runtime: 4,
                    container_name: 5,
                    container_state: 6,
                    container_id: 7,
                    kind: 8,
                    status: 9,
                    mountpoint: 10,
                    Value: 11,
                  },
                  renameByName: {
                    instance: 'Instance',
                    unit: 'Unit',
                    pid: 'Holder pid',
                    comm: 'Holder',
                    runtime: 'Runtime',
                    container_name: 'Container',
                    container_state: 'State',
                    container_id: 'Container id',
                    kind: 'Kind',
                    status: 'Status',
                    mountpoint: 'Mount point',
                    Value: 'Age',
                  },
                },
              },
            ],
          },
          {
            id: 8,
            type: 'table',
            title: 'Processes holding leaked mounts',
            description: 'Every process whose mount namespace holds leaked container mounts, with its unit and the number of leaked mounts it sees (mountleak_process_leaked_mounts). All workers of a service share one namespace: they all appear here, and one restart of the unit frees them all.',
            gridPos: {
              x: 0,
              y: 13,
              w: 24,
              h: 7,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('mountleak_process_leaked_mounts{%(base)s}'),
                refId: 'A',
                legendFormat: '__auto',
                range: false,
                instant: true,
                format: 'table',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                custom: {
                  align: 'auto',
                  filterable: true,
                },
              },
              overrides: [],
            },
            options: {
              showHeader: true,
              cellHeight: 'sm',
              footer: {
                show: false,
              },
              sortBy: [
                {
                  displayName: 'Leaked mounts',
                  desc: true,
                },
              ],
            },
            transformations: [
              {
                id: 'organize',
                options: {
                  excludeByName: {
                    Time: true,
                    __name__: true,
                    job: true,
                  },
                  indexByName: {
                    instance: 0,
                    unit: 1,
                    pid: 2,
                    comm: 3,
                    status: 4,
                    Value: 5,
                  },
                  renameByName: {
                    instance: 'Instance',
                    unit: 'Unit',
                    pid: 'Pid',
                    comm: 'Process',
                    status: 'Status',
                    Value: 'Leaked mounts',
                  },
                },
              },
            ],
          },
          {
            id: 9,
            type: 'timeseries',
            title: 'Leaks over time',
            description: 'Leaked mount copies by status over time (sum of mountleak_unit_leaked_mounts). A step up after a docker stop is at-risk copies turning stale.',
            gridPos: {
              x: 0,
              y: 20,
              w: 12,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('sum by (status) (mountleak_unit_leaked_mounts{%(base)s})'),
                refId: 'A',
                legendFormat: '{{status}}',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            id: 10,
            type: 'timeseries',
            title: 'Leaks by unit',
            description: 'Leaked mounts held by each systemd unit\'s mount namespaces (mountleak_unit_leaked_mounts); unit "" is processes outside any unit.',
            gridPos: {
              x: 12,
              y: 20,
              w: 12,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('sum by (instance, unit, status) (mountleak_unit_leaked_mounts{%(base)s})'),
                refId: 'A',
                legendFormat: '{{unit}} {{status}} ({{instance}})',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            id: 11,
            type: 'timeseries',
            title: 'Leaked mounts by container',
            description: "Foreign copies of each container's mounts by runtime, kind (rootfs, shm, netns, volume) and status (mountleak_container_leaked_mounts); a removed container keeps its last name.",
            gridPos: {
              x: 0,
              y: 28,
              w: 12,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('sum by (runtime, container_name, container_state, kind, status) (mountleak_container_leaked_mounts{%(base)s, runtime=~"$runtime"})'),
                refId: 'A',
                legendFormat: '{{runtime}} {{container_name}} ({{container_state}}) {{kind}} {{status}}',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            id: 12,
            type: 'timeseries',
            title: 'Leaked volume mounts',
            description: "Foreign copies of named volumes' _data mounts by runtime (mountleak_volume_leaked_mounts): they outlive the removal of every container using the volume, until the volume is removed (docker volume rm, podman volume rm).",
            gridPos: {
              x: 12,
              y: 28,
              w: 12,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('sum by (runtime, volume, status) (mountleak_volume_leaked_mounts{%(base)s, runtime=~"$runtime"})'),
                refId: 'A',
                legendFormat: '{{runtime}} {{volume}} {{status}}',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            id: 13,
            type: 'timeseries',
            title: 'Scan duration',
            description: "How long the exporter's last scan of /proc took (mountleak_scan_duration_seconds). Scans run at scrape time and are reused for --scan.min-interval.",
            gridPos: {
              x: 0,
              y: 36,
              w: 8,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('mountleak_scan_duration_seconds{%(base)s}'),
                refId: 'A',
                legendFormat: '{{instance}}',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 's',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            id: 14,
            type: 'timeseries',
            title: 'Processes and namespaces scanned',
            description: 'Processes looked at and distinct mount namespaces (and process roots) covered by the last scan (mountleak_processes_scanned, mountleak_mount_namespaces_scanned), how many of their mount tables it read (mountleak_scan_namespaces_reread: the others had not changed) and in which mode (mountleak_scan_mode: listmount, or full where the kernel cannot say what changed), and processes of leak-holding namespaces left without a per-process series by --scan.max-processes-per-namespace (mountleak_holder_processes_unlisted).',
            gridPos: {
              x: 8,
              y: 36,
              w: 8,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('mountleak_processes_scanned{%(base)s}'),
                refId: 'A',
                legendFormat: 'processes ({{instance}})',
                range: true,
                instant: false,
                format: 'time_series',
              },
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('mountleak_mount_namespaces_scanned{%(base)s}'),
                refId: 'B',
                legendFormat: 'mount namespaces ({{instance}})',
                range: true,
                instant: false,
                format: 'time_series',
              },
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('mountleak_holder_processes_unlisted{%(base)s}'),
                refId: 'C',
                legendFormat: 'holder processes unlisted ({{instance}})',
                range: true,
                instant: false,
                format: 'time_series',
              },
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('mountleak_scan_namespaces_reread{%(base)s} * on(%(cluster)s, job, instance) group_left(mode) mountleak_scan_mode{%(base)s}'),
                refId: 'D',
                legendFormat: 'mount tables read, {{mode}} mode ({{instance}})',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            id: 15,
            type: 'timeseries',
            title: 'Scan errors by reason',
            description: 'What the last scan could not see, by reason (mountleak_scan_errors): vanished processes are normal; permission_denied means missing CAP_SYS_PTRACE; parse and other are bugs to report.',
            gridPos: {
              x: 16,
              y: 36,
              w: 8,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('sum by (reason) (mountleak_scan_errors{%(base)s})'),
                refId: 'A',
                legendFormat: '{{reason}}',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            id: 16,
            type: 'timeseries',
            title: 'Time since last scan',
            description: "Seconds since each exporter's last scan (time() - mountleak_last_scan_timestamp_seconds). It grows by the scrape interval between scrapes; steady growth beyond it means no scrapes are reaching it.",
            gridPos: {
              x: 0,
              y: 44,
              w: 8,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('time() - mountleak_last_scan_timestamp_seconds{%(base)s}'),
                refId: 'A',
                legendFormat: '{{instance}}',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 's',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            id: 17,
            type: 'timeseries',
            title: 'Propagated, unverified copies and dropped series',
            description: "Copies tied to Docker's mounts by propagation, which heal themselves and are not leaks (mountleak_propagated_mount_copies); copies at container-shaped paths that no runtime made, such as a user's unshare -Urm tmpfs (mountleak_unverified_mount_copies, not leaks); and leak series left out by --metrics.max-series (mountleak_series_dropped, should be 0).",
            gridPos: {
              x: 8,
              y: 44,
              w: 8,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('mountleak_propagated_mount_copies{%(base)s}'),
                refId: 'A',
                legendFormat: 'propagated copies ({{instance}})',
                range: true,
                instant: false,
                format: 'time_series',
              },
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('mountleak_unverified_mount_copies{%(base)s}'),
                refId: 'C',
                legendFormat: 'unverified copies ({{instance}})',
                range: true,
                instant: false,
                format: 'time_series',
              },
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('mountleak_series_dropped{%(base)s}'),
                refId: 'B',
                legendFormat: 'series dropped ({{instance}})',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            id: 18,
            type: 'table',
            title: 'Exporter versions',
            description: 'Version, revision and Rust compiler of each selected exporter (mountleak_build_info).',
            gridPos: {
              x: 16,
              y: 44,
              w: 8,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('mountleak_build_info{%(base)s}'),
                refId: 'A',
                legendFormat: '__auto',
                range: false,
                instant: true,
                format: 'table',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'none',
              },
              overrides: [],
            },
            options: {
              showHeader: true,
              cellHeight: 'sm',
              footer: {
                show: false,
              },
            },
            transformations: [
              {
                id: 'organize',
                options: {
                  excludeByName: {
                    Time: true,
                    __name__: true,
                    job: true,
                    Value: true,
                  },
                  renameByName: {
                    instance: 'Instance',
                    version: 'Version',
                    revision: 'Revision',
                    rustversion: 'Rust',
                  },
                },
              },
            ],
          },
          {
            id: 19,
            type: 'timeseries',
            title: 'Leaked mounts by Kubernetes pod',
            description: "Foreign copies of a pod's mounts, its containers' and kubelet's pod volumes (mountleak_pod_leaked_mounts; with --runtime.containerd, or containers carrying io.kubernetes.pod labels).",
            gridPos: {
              x: 0,
              y: 52,
              w: 24,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('sum by (pod_namespace, pod_name, kind, status) (mountleak_pod_leaked_mounts{%(base)s})'),
                refId: 'A',
                legendFormat: '{{pod_namespace}}/{{pod_name}} {{kind}} {{status}}',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'short',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
          {
            id: 20,
            type: 'timeseries',
            title: 'HTTP connections refused',
            description: 'Connections per second the exporter closed at accept because --web.max-connections were already open (rate of mountleak_http_connections_rejected_total). Anything above 0 means clients hold connections open: Prometheus scrapes can be refused too.',
            gridPos: {
              x: 0,
              y: 60,
              w: 12,
              h: 8,
            },
            datasource: {
              type: 'prometheus',
              uid: '${datasource}',
            },
            targets: [
              {
                datasource: {
                  type: 'prometheus',
                  uid: '${datasource}',
                },
                expr: q('rate(mountleak_http_connections_rejected_total{%(base)s}[$__rate_interval])'),
                refId: 'A',
                legendFormat: '{{instance}}',
                range: true,
                instant: false,
                format: 'time_series',
              },
            ],
            fieldConfig: {
              defaults: {
                unit: 'cps',
                color: {
                  mode: 'palette-classic',
                },
                custom: {
                  drawStyle: 'line',
                  lineWidth: 1,
                  fillOpacity: 10,
                  showPoints: 'never',
                  spanNulls: false,
                  axisSoftMin: 0,
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          },
        ],
      },
  },
}
