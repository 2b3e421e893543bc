// The alerts. Leak alerts fire once per holding unit and container (the labels left after
// _config.leakDetailLabels are aggregated away), not once per mount: a unit holding 500
// mounts of one container pages once, and the description names how many, the oldest few
// and how to release or restart. pid, comm and container_state are never part of an
// alert's identity: they change while the same leak persists (the container goes from
// exited to removed, the namespace's oldest process exits), which would resolve the alert
// and restart its `for:` while nothing was fixed; the description looks them up instead.
local t = import '../lib/templates.libsonnet';

local leakMetric = 'mountleak_leak_first_seen_timestamp_seconds';

{
  local c = $._config,
  // A selector's braces: `matchers` and the configured extra ones.
  local sel(matchers) =
    local all = std.filter(function(m) m != '', [matchers, c.metricSelector]);
    if all == [] then '' else '{%s}' % std.join(', ', all),
  // '5m' -> '5 minutes', for texts that say how long a condition held.
  local spell(d) =
    local n = std.parseInt(std.substr(d, 0, std.length(d) - 1));
    local unit = { s: 'second', m: 'minute', h: 'hour', d: 'day' }[d[std.length(d) - 1]];
    '%d %s%s' % [n, unit, if n == 1 then '' else 's'],
  local runbook(name) = c.runbookURLPattern % std.asciiLower(name),

  // The Go template statements that read a leak group back from Prometheus: `$sel`
  // matches its series (every label of the alert's identity), `$pid`/`$comm`/`$state`
  // come from its oldest holder, `$mounts` has one series per distinct mount point
  // (sorted), `$count` counts them, `$mount` is the last (the only one when $count is 1),
  // `$oldest` the _config.leakMountsListed first seen.
  local lookups(labels) =
    local extra = std.strReplace(std.strReplace(c.metricSelector, '\\', '\\\\'), '"', '\\"');
    local fmt = std.join(',', ['%s=%%q' % l for l in labels] + (if extra == '' then [] else [extra]));
    local args = std.join(' ', ['$labels.' + l for l in labels]);
    local q(expr) = '(printf "%s" $sel)' % std.strReplace(expr, 'SERIES', leakMetric + '{%s}');
    std.join('', [
      '{{- $sel := printf "%s" %s -}}' % [fmt, args],
      '{{- $pid := "?" }}{{ $comm := "?" }}{{ $state := "unknown" }}{{ $n := 0 -}}',
      '{{- range query %s | sortByLabel "pid" }}' % q('SERIES'),
      '{{ if eq $n 0 }}{{ $pid = .Labels.pid }}{{ $comm = .Labels.comm }}{{ $state = .Labels.container_state }}{{ end }}{{ $n = 1 }}{{ end -}}',
      '{{- $mounts := query %s | sortByLabel "mountpoint" -}}' % q('count by (mountpoint) (SERIES)'),
      '{{- $count := len $mounts }}{{ $mount := "" }}{{ range $mounts }}{{ $mount = .Labels.mountpoint }}{{ end -}}',
      '{{- $oldest := query %s | sortByLabel "mountpoint" -}}'
      % q('bottomk(%d, min by (mountpoint, kind) (SERIES))' % c.leakMountsListed),
    ]),
  // ", first seen ...: /a (shm), /b (netns)" with "(the 5 oldest)" when there are more.
  local listed(kinds=true) =
    '{{ if gt $count %(n)d }} (the %(n)d oldest){{ end }}: {{ range $i, $m := $oldest }}{{ if $i }}, {{ end }}{{ $m.Labels.mountpoint }}%(kind)s{{ end }}'
    % { n: c.leakMountsListed, kind: if kinds then ' ({{ $m.Labels.kind }})' else '' },
  local container = t.fold(|||
    {{- if $labels.container_id }} of container {{ or $labels.container_name "(unnamed)" }}
    ({{ $state }}, id {{ reReplaceAll "^(.{12}).*$" "$1" $labels.container_id }}){{ end }}
  |||),
  // The release of the group's copies: the container's when it is known, else the one
  // mount's, else every stale copy of the holder's namespace. `yes`: carried out, else a
  // dry run that says what it would release.
  local releaseCommand(yes) =
    'mountleak_exporter release --holder {{ $pid }}'
    + '{{ if $labels.container_id }} --container %s' % t.shellWord('$labels.container_id')
    + '{{ else if eq $count 1 }} --mount %s{{ end }}' % t.shellWord('$mount')
    + '{{ if eq $labels.status "at_risk" }} --include-at-risk{{ end }}'
    + (if yes then ' --yes' else ''),
  local release = releaseCommand(true),
  local identity = ['job', 'instance', 'unit', 'container_id', 'status'],
  local without(labels) = std.join(', ', labels),

  prometheusAlerts+:: {
    groups+: [{
      name: 'mountleak',
      rules: [
        {
          alert: 'MountleakStaleLeak',
          expr: |||
            min without (%s) (
              %s
            )
          ||| % [without(c.leakDetailLabels), leakMetric + sel('status="stale"')],
          'for': c.staleLeakFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: t.fold(|||
              %s pins stale mounts
              {{- if $labels.container_name }} of container {{ $labels.container_name }}{{ end }}
            ||| % t.unitOr('A process outside any systemd unit')),
            description: lookups(identity) + t.fold(|||
              On {{ $labels.instance }}, %(unit)s
              (pid {{ $pid }}, {{ $comm }}) holds {{ if eq $count 1 }}a stale copy of 1 mount{{ else }}stale copies of {{ $count }} mounts{{ end }}%(container)s,
              first seen {{ $value | humanizeTimestamp }}%(listed)s.
              The {{ or $labels.runtime "container" }} runtime has unmounted
              {{ if eq $count 1 }}it; this private copy keeps it alive (and makes{{ else }}them; these private copies keep them alive (and make{{ end }}
              removing the {{ if $labels.container_id }}container{{ else }}volume{{ if gt $count 1 }}s{{ end }}{{ end }} fail with
              "device or resource busy" on kernels before 3.18).
              Release (the holder keeps running):
              %(release)s
              Or restart. Fix:
              %(restart)s
            ||| % {
              unit: t.unitOr('a process outside any systemd unit'),
              container: container,
              listed: listed(),
              release: release,
              restart: t.restart('$mounts'),
            }),
            runbook_url: runbook('MountleakStaleLeak'),
          },
        },
        {
          alert: 'MountleakAtRiskLeak',
          expr: |||
            min without (%s) (
              %s
            )
          ||| % [without(c.leakDetailLabels), leakMetric + sel('status="at_risk"')],
          'for': c.atRiskLeakFor,
          labels: { severity: 'info' },
          annotations: {
            summary: t.fold(|||
              %s holds private copies of mounts
              {{- if $labels.container_name }} of running container {{ $labels.container_name }}{{ end }}
            ||| % t.unitOr('A process outside any systemd unit')),
            description: lookups(identity) + t.fold(|||
              On {{ $labels.instance }}, %(unit)s
              (pid {{ $pid }}, {{ $comm }}) has held {{ if eq $count 1 }}a private copy of 1 mount{{ else }}private copies of {{ $count }} mounts{{ end }}%(container)s
              since {{ $value | humanizeTimestamp }}%(listed)s. Nothing is broken yet, but
              {{ if eq $count 1 }}the copy does{{ else }}the copies do{{ end }} not receive the
              {{ or $labels.runtime "container" }} runtime's unmount: when the container stops
              {{ if eq $count 1 }}it turns into a stale leak{{ else }}they turn into stale leaks{{ end }}.
              Release, if the holder does not use {{ if eq $count 1 }}it{{ else }}them{{ end }}
              (the holder keeps running; a dry run until --yes is added):
              %(release)s
              Or restart, at a convenient time before the container is stopped or removed. Fix:
              %(restart)s
            ||| % {
              unit: t.unitOr('a process outside any systemd unit'),
              container: container,
              listed: listed(),
              release: releaseCommand(false),
              restart: t.restart('$mounts'),
            }),
            runbook_url: runbook('MountleakAtRiskLeak'),
          },
        },
        // A stale copy of a removed container's (or pod sandbox's) netns bind mount keeps
        // the whole network namespace alive (interfaces, addresses, sockets). The runtime
        // deletes the netns file (Docker within about a minute of `docker rm`, Podman at the
        // container's cleanup, containerd's CRI when the sandbox stops), which detaches
        // foreign copies on current kernels: one that outlives that is stuck.
        // MountleakStaleLeak fires for the same mount too.
        {
          alert: 'MountleakRemovedContainerNetnsLeak',
          local detail = std.filter(function(l) !std.member(['kind', 'container_state'], l), c.leakDetailLabels),
          expr: |||
            min without (%s) (
              %s
            )
          ||| % [without(detail), leakMetric + sel('kind="netns", container_state="removed"')],
          'for': c.removedNetnsLeakFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: t.fold(|||
              %s
              keeps the network namespace of removed container
              {{ if $labels.container_name }}{{ $labels.container_name }}{{ else }}(unknown){{ end }} alive
            ||| % t.unitOr('A process outside any systemd unit')),
            description: lookups(identity + ['kind', 'container_state']) + t.fold(|||
              On {{ $labels.instance }}, %(unit)s
              (pid {{ $pid }}, {{ $comm }}) holds a copy of the netns mount%(listed)s
              of container {{ if $labels.container_name }}{{ $labels.container_name }}{{ else }}(unknown){{ end }}
              (removed{{ if $labels.runtime }} from {{ $labels.runtime }}{{ end }}{{ if $labels.container_id }}, id {{ reReplaceAll "^(.{12}).*$" "$1" $labels.container_id }}{{ end }}),
              first seen {{ $value | humanizeTimestamp }}. The container is gone but its network
              namespace (interfaces, addresses, open sockets) stays alive as long as this copy does.
              Release (the holder keeps running):
              %(release)s
              Or restart. Fix:
              %(restart)s
            ||| % {
              unit: t.unitOr('a process outside any systemd unit'),
              listed: std.strReplace(listed(kinds=false), ': {{ range', ' {{ range'),
              release: release,
              restart: t.restart('$mounts'),
            }),
            runbook_url: runbook('MountleakRemovedContainerNetnsLeak'),
          },
        },
        {
          alert: 'MountleakExporterDown',
          expr: 'up{%s} == 0' % c.exporterSelector,
          'for': c.exporterDownFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'mountleak_exporter on {{ $labels.instance }} cannot be scraped',
            description: t.fold(|||
              Prometheus has failed to scrape mountleak_exporter at {{ $labels.instance }} (job
              {{ $labels.job }}) for %s. Leaks on that host are not seen, and the leak
              alerts for it have resolved without anything being fixed.
            ||| % spell(c.exporterDownFor)),
            runbook_url: runbook('MountleakExporterDown'),
          },
        },
        {
          alert: 'MountleakScanFailing',
          expr: 'mountleak_scan_success%s == 0' % sel(''),
          'for': c.scanFailingFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'mountleak_exporter on {{ $labels.instance }} cannot read the process table',
            description: t.fold(|||
              mountleak_exporter at {{ $labels.instance }} answers scrapes but its scans of /proc
              have failed for %s (mountleak_scan_success 0): it reports no leaks whether
              there are any or not. Check its --path.procfs and its log.
            ||| % spell(c.scanFailingFor)),
            runbook_url: runbook('MountleakScanFailing'),
          },
        },
        // Per enabled runtime. Without it the container view goes blind: containers started
        // meanwhile are unnamed, states are "unknown", and a removed container cannot be
        // told from a running one (so MountleakRemovedContainerNetnsLeak cannot fire for
        // them). Leaks are still found by path. 10m: a daemon restart or upgrade takes less.
        {
          alert: 'MountleakRuntimeUnreachable',
          expr: 'mountleak_runtime_up%s == 0' % sel(''),
          'for': c.runtimeUnreachableFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'mountleak_exporter on {{ $labels.instance }} cannot reach {{ $labels.runtime }}',
            description: t.fold(|||
              mountleak_exporter at {{ $labels.instance }} has not reached the {{ $labels.runtime }}
              API for %s (mountleak_runtime_up 0). Leaked mounts are still found by path,
              but {{ $labels.runtime }} containers started meanwhile have no name, their states are
              "unknown" and a removed one cannot be told from a running one, so alerts and the
              dashboard cannot say which container a leak belongs to. Check the daemon
              ({{ if eq $labels.runtime "podman" }}`podman --remote version`; the API is
              `podman system service`, often socket-activated by podman.socket)
              {{- else if eq $labels.runtime "containerd" }}`ctr version`, `crictl info`)
              {{- else if eq $labels.runtime "cri-o" }}`crictl info`, `systemctl status crio`)
              {{- else }}`docker version`){{ end }} and the exporter's
              {{ if eq $labels.runtime "podman" }}--podman.host
              {{- else if eq $labels.runtime "containerd" }}--containerd.address
              {{- else if eq $labels.runtime "cri-o" }}--cri-o.address
              {{- else }}--docker.host{{ end }}; on a host without {{ $labels.runtime }}, turn it off
              with --runtime.{{ $labels.runtime }}=false.
            ||| % spell(c.runtimeUnreachableFor)),
            runbook_url: runbook('MountleakRuntimeUnreachable'),
          },
        },
        {
          alert: 'MountleakSeriesDropped',
          expr: 'mountleak_series_dropped%s > 0' % sel(''),
          'for': c.seriesDroppedFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'mountleak_exporter on {{ $labels.instance }} drops leak series',
            description: t.fold(|||
              mountleak_exporter at {{ $labels.instance }} left {{ $value }} leak series out of its
              last scrape because of --metrics.max-series. The per-unit and per-container totals
              are complete, but per-leak alerts and the dashboard's leak table miss some leaks.
            |||),
            runbook_url: runbook('MountleakSeriesDropped'),
          },
        },
        // Vanished processes are normal (they exit between listing and reading); the other
        // reasons leave parts of the host unseen.
        {
          alert: 'MountleakScanErrors',
          expr: 'mountleak_scan_errors%s > 0' % sel('reason!="vanished"'),
          'for': c.scanErrorsFor,
          labels: { severity: 'info' },
          annotations: {
            summary: 'mountleak_exporter on {{ $labels.instance }} cannot see some processes ({{ $labels.reason }})',
            description: t.fold(|||
              mountleak_exporter at {{ $labels.instance }} could not read {{ $value }} processes or
              mount tables in its last scan ({{ $labels.reason }}) and has not for %s.
              Leaks they hold are not reported.
            ||| % spell(c.scanErrorsFor)),
            runbook_url: runbook('MountleakScanErrors'),
          },
        },
      ],
    }],
  },
}
