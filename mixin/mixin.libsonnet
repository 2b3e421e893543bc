// mountleak_exporter's monitoring mixin: prometheusAlerts and grafanaDashboards, configured
// by _config (config.libsonnet). Vendor it with jsonnet-bundler like node-mixin, or render
// it with mixin/generate.sh, which writes the files deploy/ and dashboards/ ship.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'dashboards/mountleak.libsonnet')
